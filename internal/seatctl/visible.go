package seatctl

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Visible returns s with every character a terminal would act on, or that
// hides or reorders text, written as an escape anyone can read: the C0
// controls (\t, \n, \r, and \x1b for ESC, \x07 for BEL, …), DEL (\x7f),
// the C1 controls (\u0085, \u009b, …), and Unicode's format and separator
// characters (bidi overrides and isolates such as \u202e and \u2066–\u2069,
// zero-width characters \u200b–\u200f, \u2060, \ufeff, the line and
// paragraph separators \u2028 and \u2029). A byte that is not UTF-8 is
// shown as \xNN: a terminal may read a lone 0x9b as CSI.
//
// It is the one filter between data and every human-readable output:
// table cells, verify's report, and the messages that quote a value. An
// event field can then neither retitle nor clear the auditor's terminal
// (ESC ] 0 ; … BEL, ESC [ 2 J) nor make a login read as another. csv and
// jsonl carry the exact values. A backslash is left as it is: the table is
// for reading, and a value that spells "\x1b" itself is harmless.
func Visible(s string) string {
	i := 0
	for i < len(s) {
		c := s[i]
		if c >= 0x20 && c < 0x7f {
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if c >= utf8.RuneSelf && !(r == utf8.RuneError && size == 1) && !hidden(r) {
			i += size
			continue
		}
		break
	}
	if i == len(s) {
		return s // the common case: nothing to escape, no copy
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	b.WriteString(s[:i])
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteString(`\x`)
			b.WriteByte(hexDigits[s[i]>>4])
			b.WriteByte(hexDigits[s[i]&0xf])
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x20 || r == 0x7f:
			b.WriteString(`\x`)
			b.WriteByte(hexDigits[r>>4])
			b.WriteByte(hexDigits[r&0xf])
		case hidden(r):
			if r > 0xffff {
				b.WriteString(`\U`)
				b.WriteString(pad(strconv.FormatInt(int64(r), 16), 8))
			} else {
				b.WriteString(`\u`)
				b.WriteString(pad(strconv.FormatInt(int64(r), 16), 4))
			}
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// hidden: a control (Cc: C0, DEL, C1), a format character (Cf: bidi
// embeddings, overrides, isolates and marks, zero-width space, joiners,
// word joiner, BOM, soft hyphen, tags, …) or a line or paragraph separator
// (Zl, Zp). None of them is shown as itself on a terminal.
func hidden(r rune) bool {
	return unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp)
}

func pad(s string, n int) string {
	if len(s) >= n {
		return s
	}
	return strings.Repeat("0", n-len(s)) + s
}

// visibleLines is Visible for a message of several lines: each line is
// made visible and the line breaks are kept.
func visibleLines(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = Visible(l)
	}
	return strings.Join(lines, "\n")
}
