package seatctl

import (
	"bytes"
	"encoding/csv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// The attack from the issue: retitle the terminal (OSC 0 … BEL), then
// clear it (CSI 2 J).
const pwned = "\x1b]0;pwned\x07\x1b[2J"

func TestVisibleEscapesWhatATerminalWouldAct(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"mona", "mona"},
		{"ünïcödé ✓ 😀 日本 مرحبا", "ünïcödé ✓ 😀 日本 مرحبا"},
		{pwned, `\x1b]0;pwned\x07\x1b[2J`},
		{"tab\there\nnl\rcr", `tab\there\nnl\rcr`},
		{"nul\x00 del\x7f", `nul\x00 del\x7f`},
		{"c1 \u0085 \u009b31m", `c1 \u0085 \u009b31m`},
		{"raw c1 \x9b31m", `raw c1 \x9b31m`}, // not UTF-8: a terminal may read 0x9b as CSI
		{"admin\u202etxt.exe", `admin\u202etxt.exe`},
		{"\u2066isolate\u2069 \u2067\u2068", `\u2066isolate\u2069 \u2067\u2068`},
		{"zero\u200bwidth\u200c\u200d\u200e\u200f", `zero\u200bwidth\u200c\u200d\u200e\u200f`},
		{"\ufeffbom \u2060joiner \u00adsoft", `\ufeffbom \u2060joiner \u00adsoft`},
		{"line\u2028para\u2029", `line\u2028para\u2029`},
		{"tag\U000e0041", `tag\U000e0041`},
		{`back\slash \x1b`, `back\slash \x1b`}, // text that spells an escape is shown as it is
	} {
		if got := Visible(c.in); got != c.want {
			t.Errorf("Visible(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	// Whatever the input, nothing a terminal acts on or hides is left.
	var all strings.Builder
	for r := rune(0); r < 0x3000; r++ {
		all.WriteRune(r)
	}
	all.WriteString("\xff\xfe\x80\U000e0001\U000e007f")
	out := Visible(all.String())
	if !utf8.ValidString(out) {
		t.Fatal("Visible output is not UTF-8")
	}
	for _, r := range out {
		if r < 0x20 || r == 0x7f || unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp) {
			t.Fatalf("Visible left %U", r)
		}
	}
	if got := visibleLines("line one\x1b[2J\nline two\u202e"); got != "line one\\x1b[2J\nline two\\u202e" {
		t.Errorf("visibleLines: %q", got)
	}
}

// Every table cell goes through Visible: the row stays one line, the
// columns stay aligned, and no control byte reaches the terminal.
func TestTableShowsControlsVisibly(t *testing.T) {
	var buf bytes.Buffer
	tw := newTableWriter(&buf, []column{{name: "user", head: "USER"}, {name: "actor", head: "ACTOR"}, {name: "x", head: "X"}})
	for _, r := range [][]string{
		{"mona", "admin" + pwned, "a"},
		{"evil\u202e\u2066", "tab\tnl\ncr\r", ""},
	} {
		if err := tw.Row(r); err != nil {
			t.Fatal(err)
		}
	}
	tw.Close()
	out := buf.String()
	for i := 0; i < len(out); i++ {
		if c := out[i]; c < 0x20 && c != '\n' || c == 0x7f {
			t.Fatalf("control byte %#x in table output:\n%q", c, out)
		}
	}
	if strings.ContainsAny(out, "\u202e\u2066") {
		t.Fatalf("bidi control in table output: %q", out)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	want := []string{
		`USER              ACTOR                         X`,
		`mona              admin\x1b]0;pwned\x07\x1b[2J  a`,
		`evil\u202e\u2066  tab\tnl\ncr\r                 -`,
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("table:\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}

// csv guards formula-leading cells as OWASP's CSV Injection page says
// (a ' in front; quotes doubled by encoding/csv), in text columns only.
func TestCSVGuardsFormulaCells(t *testing.T) {
	cols := []column{{name: "text"}, {name: "n", kind: kindNumber}, {name: "when", kind: kindNullable}}
	cases := []struct {
		text, n string
		line    string // as written
	}{
		{"acme", "1", `acme,1,`},
		{"", "", `,,`},
		{"=cmd|' /C calc'!A0", "-3", `'=cmd|' /C calc'!A0,-3,`},
		{"+1", "0", `'+1,0,`},
		{"-1", "-1", `'-1,-1,`},
		{"@SUM(A1:A9)", "2", `'@SUM(A1:A9),2,`},
		{"\tx", "3", "'\tx,3,"},
		{"\rx", "4", "\"'\rx\",4,"},
		{"\x00x", "5", "'\x00x,5,"},
		{"'quoted", "6", `''quoted,6,`},
		{"a=b", "7", `a=b,7,`},
		// OWASP's two examples, byte for byte.
		{`=1+2";=1+2`, "8", `"'=1+2"";=1+2",8,`},
		{`=1+2'" ;,=1+2`, "9", `"'=1+2'"" ;,=1+2",9,`},
	}
	var buf bytes.Buffer
	w, err := newCSVWriter(&buf, cols, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		if err := w.Row([]string{c.text, c.n, ""}); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	want := "text,n,when\n"
	for _, c := range cases {
		want += c.line + "\n"
	}
	if buf.String() != want {
		t.Errorf("csv:\n%s\nwant\n%s", buf.String(), want)
	}
	// The guard is undone exactly: drop the first ' of a text cell that
	// begins with one.
	r := csv.NewReader(strings.NewReader(buf.String()))
	r.Read()
	for _, c := range cases {
		rec, err := r.Read()
		if err != nil {
			t.Fatal(err)
		}
		text := strings.TrimPrefix(rec[0], "'")
		if text != c.text || rec[1] != c.n {
			t.Errorf("read back %q, %q; want %q, %q", rec[0], rec[1], c.text, c.n)
		}
	}
}
