package seatctl

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/seatline/seatline/pkg/events"
)

func TestParseTime(t *testing.T) {
	now := time.Date(2025, 6, 15, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		in       string
		endOfDay bool
		want     time.Time
	}{
		{"2025-03-01", false, time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)},
		{"2025-03-31", true, time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC)},
		{"2025-03-01T09:30:00Z", true, time.Date(2025, 3, 1, 9, 30, 0, 0, time.UTC)},
		{"2025-03-01T09:30:00.250+02:00", false, time.Date(2025, 3, 1, 7, 30, 0, 250e6, time.UTC)},
		{"2025-03-01 09:30:00", false, time.Date(2025, 3, 1, 9, 30, 0, 0, time.UTC)},
		{"2025-03-01T09:30", false, time.Date(2025, 3, 1, 9, 30, 0, 0, time.UTC)},
		{"now", false, now},
		{"30d", false, now.AddDate(0, 0, -30)},
		{"2w", false, now.AddDate(0, 0, -14)},
		{"12h", false, now.Add(-12 * time.Hour)},
		{"1h30m", false, now.Add(-90 * time.Minute)},
	}
	for _, c := range cases {
		got, err := ParseTime(c.in, now, c.endOfDay)
		if err != nil || !got.Equal(c.want) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "yesterday", "2025-13-01", "-5d", "0d", "30x"} {
		if _, err := ParseTime(bad, now, false); err == nil {
			t.Errorf("ParseTime(%q) accepted", bad)
		}
	}
}

func TestParseRange(t *testing.T) {
	now := time.Date(2025, 6, 15, 12, 0, 0, 0, time.UTC)
	r, err := ParseRange("2025-01-01", "2025-03-31", now)
	if err != nil || !r.Since.Equal(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)) || !r.Until.Equal(time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("got %+v, %v", r, err)
	}
	r, err = ParseRange("", "", now)
	if err != nil || !r.Since.IsZero() || !r.Until.Equal(now) {
		t.Fatalf("defaults: %+v, %v", r, err)
	}
	_, err = ParseRange("2025-04-01", "2025-03-01", now)
	if err == nil || !strings.Contains(err.Error(), "since (2025-04-01T00:00:00.000Z) is after until (2025-03-02T00:00:00.000Z)") {
		t.Fatalf("since after until: %v", err)
	}
	if _, err = ParseRange("1d", "1d", now); err == nil {
		t.Fatal("empty range accepted")
	}
}

// The exact csv reader reads back what encoding/csv writes, byte for byte,
// including \r inside a value (which encoding/csv's reader would drop).
func TestCSVRoundTrip(t *testing.T) {
	recs := [][]string{
		{"a", "b", "c"},
		{"", "plain", "with,comma"},
		{"quote \"inside\"", "line\nbreak", "cr\r\nlf"},
		{" leading space", "\r", `\.`},
		{"ünïcödé ✓", "tab\there", "end"},
	}
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	for _, r := range recs {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	w.Flush()
	r := newCSVReader(bytes.NewReader(buf.Bytes()))
	for i, want := range recs {
		got, err := r.Read()
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if strings.Join(got, "\x00") != strings.Join(want, "\x00") {
			t.Fatalf("record %d: got %q want %q", i, got, want)
		}
	}
	if _, err := r.Read(); err != io.EOF {
		t.Fatalf("want EOF, got %v", err)
	}
	if _, err := newCSVReader(strings.NewReader("a,b\"c\n")).Read(); err == nil {
		t.Fatal("bare quote accepted")
	}
	if _, err := newCSVReader(strings.NewReader("\"open\n")).Read(); err == nil {
		t.Fatal("unclosed quote accepted")
	}
}

func TestAppendJSONStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain", "q\"b\\s", "nl\ncr\rtab\t", "\x00\x01\x1f", "ünï ✓ 😀", "<&>", "\u2028\u2029"} {
		got := appendJSONString(nil, s)
		var back string
		if err := json.Unmarshal(got, &back); err != nil || back != s {
			t.Errorf("%q: wrote %s, read back %q (%v)", s, got, back, err)
		}
	}
}

func TestCanonicalIsUnambiguous(t *testing.T) {
	a := canonical(nil, []string{"ab", "c"})
	b := canonical(nil, []string{"a", "bc"})
	if bytes.Equal(a, b) {
		t.Fatal("different rows, same canonical bytes")
	}
	if got := string(canonical(nil, []string{"", "x,y"})); got != "0:,3:x,y," {
		t.Fatalf("got %q", got)
	}
	c := newChain()
	h1 := c.add([]string{"a"})
	sum := c.link([32]byte{}, []string{"a"})
	if h1 != hex.EncodeToString(sum[:]) {
		t.Fatal("add and link disagree")
	}
}

func TestKeyFormats(t *testing.T) {
	dir := t.TempDir()
	privPEM, pubPEM, pub, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	priv, err := LoadPrivateKey(write("k.pem", privPEM))
	if err != nil {
		t.Fatal(err)
	}
	if !priv.Public().(ed25519.PublicKey).Equal(pub) {
		t.Fatal("PEM private key does not match")
	}
	for name, b := range map[string][]byte{
		"seed.bin": priv.Seed(), "key.bin": priv, "seed.hex": []byte(hex.EncodeToString(priv.Seed()) + "\n"),
		"seed.b64": []byte(base64.StdEncoding.EncodeToString(priv.Seed())),
	} {
		k, err := LoadPrivateKey(write(name, b))
		if err != nil || !k.Equal(priv) {
			t.Errorf("%s: %v", name, err)
		}
	}
	for name, b := range map[string][]byte{
		"pub.pem": pubPEM, "pub.bin": pub, "pub.hex": []byte(hex.EncodeToString(pub)),
	} {
		k, err := LoadPublicKey(write(name, b))
		if err != nil || !k.Equal(pub) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Anything but a public key is refused as --pub-key, saying what the
	// file holds and never what is in it.
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, err := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		b    []byte
		want string
	}{
		"priv-as-pub.pem": {privPEM, `a private key (PEM "PRIVATE KEY")`},
		"priv-as-pub.bin": {priv, "64 bytes, an ed25519 private key"},
		"priv-as-pub.hex": {[]byte(hex.EncodeToString(priv)), "64 bytes, an ed25519 private key"},
		"openssh.pem":     {pem.EncodeToMemory(&pem.Block{Type: "OPENSSH PRIVATE KEY", Bytes: priv}), `a private key (PEM "OPENSSH PRIVATE KEY")`},
		"certificate.pem": {pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("x")}), `PEM "CERTIFICATE"`},
		"ecdsa-pub.pem":   {pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: ecDER}), "a public key of another algorithm (ECDSA)"},
		"seven-bytes.bin": {[]byte("\x01\x02\x03\x04\x05\x06\x07"), "7 bytes"},
	} {
		path := write(name, c.b)
		_, err := LoadPublicKey(path)
		if err == nil || exitCode(err) != ExitUsage || !strings.Contains(err.Error(), "pub-key: "+path+" is not an ed25519 public key: it holds "+c.want) {
			t.Errorf("%s as --pub-key: %v", name, err)
			continue
		}
		if strings.Contains(err.Error(), hex.EncodeToString(priv.Seed())) || strings.Contains(err.Error(), base64.StdEncoding.EncodeToString(priv.Seed())) {
			t.Errorf("%s: the error shows the key: %v", name, err)
		}
	}
	if _, err := LoadPrivateKey(write("pub-as-priv.pem", pubPEM)); err == nil || exitCode(err) != ExitUsage {
		t.Errorf("public key accepted as private: %v", err)
	}
	if _, err := LoadPublicKey(filepath.Join(dir, "missing")); err == nil || exitCode(err) != ExitUsage {
		t.Errorf("missing key file: %v", err)
	}
	if !strings.HasPrefix(Fingerprint(pub), "sha256:") || len(Fingerprint(pub)) != 7+64 {
		t.Errorf("fingerprint %q", Fingerprint(pub))
	}
}

// everyQuery builds each of seatctl's queries with hostile filter values,
// in the given form: the one list the rendering tests and the chdb test
// run.
func everyQuery(form Binding, evil string) map[string]Stmt {
	rng := TimeRange{Since: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Until: time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)}
	at := time.Date(2026, 3, 15, 12, 0, 0, 123e6, time.UTC)
	hf := HistoryFilter{Orgs: []string{evil, "acme"}, Users: []string{evil}, Teams: []string{evil}, Actors: []string{evil},
		Transitions: []string{"assigned"}, Actions: []string{evil}, Range: rng}
	last := hf
	last.Last = 3
	limit := hf
	limit.Limit = 5
	sf := SeatFilter{Orgs: []string{evil}, Users: []string{evil}, Teams: []string{evil}, Plans: []string{evil}, States: []string{"active"}}
	pf := PeriodFilter{Scopes: []string{evil}, Users: []string{evil}, Teams: []string{evil}}
	summary, err := SummaryQuery(sf, "team", form)
	if err != nil {
		panic(err)
	}
	return map[string]Stmt{
		"history":       HistoryQuery(hf, form),
		"history-last":  HistoryQuery(last, form),
		"history-limit": HistoryQuery(limit, form),
		"seats":         CurrentSeatsQuery(sf, form),
		"summary":       summary,
		"idle":          IdleQuery(sf, 30, form),
		"undescribed":   UndescribedQuery(sf, form),
		"pending":       PendingQuery(sf, at, form),
		"held-at":       HeldAtQuery(pf, at, form),
		"periods":       PeriodsQuery(pf, form),
		"seat-days":     SeatDaysQuery([]string{evil}, rng.Since, rng.Until, true, form),
		"orphans":       OrphansQuery(pf, at, form),
		"export":        ExportQuery(ExportOptions{Orgs: []string{evil}, Users: []string{evil}, Range: rng, IncludeRaw: true}, form),
	}
}

var placeholderRe = regexp.MustCompile(`\{(p[0-9]+):([A-Za-z0-9()]+)\}`)

// Filters are bound, never pasted: hostile values end up only in the
// values, in both forms, and each form has exactly one placeholder per
// value.
func TestQueriesBindEveryValue(t *testing.T) {
	evil := "x' OR 1=1 --"
	client, server := everyQuery(ClientBinding, evil), everyQuery(ServerParams, evil)
	for name, q := range client {
		if strings.Contains(q.SQL, evil) || strings.Count(q.SQL, "?") != len(q.Values) || strings.Contains(q.SQL, "{p") {
			t.Errorf("%s (client-side): %d placeholders, %d values:\n%s", name, strings.Count(q.SQL, "?"), len(q.Values), q.SQL)
		}
		for i, a := range q.Args() {
			if a != q.Values[i] {
				t.Errorf("%s (client-side): arg %d is %v, want the bare value %v", name, i, a, q.Values[i])
			}
		}
	}
	for name, q := range server {
		ph := placeholderRe.FindAllStringSubmatch(q.SQL, -1)
		if strings.Contains(q.SQL, evil) || strings.Contains(q.SQL, "?") || len(ph) != len(q.Values) {
			t.Errorf("%s (server params): %d placeholders, %d values:\n%s", name, len(ph), len(q.Values), q.SQL)
			continue
		}
		for i, m := range ph {
			if m[1] != fmt.Sprintf("p%d", i) || m[2] != paramType(q.Values[i]) {
				t.Errorf("%s: placeholder %d is %s, value %#v", name, i, m[0], q.Values[i])
			}
			if nv, ok := q.Args()[i].(driver.NamedValue); !ok || nv.Name != m[1] || fmt.Sprint(nv.Value) != fmt.Sprint(q.Values[i]) {
				t.Errorf("%s: arg %d is %#v, want %s named", name, i, q.Args()[i], m[1])
			}
		}
		// One text, two renderings: with the placeholders undone they agree,
		// except that an IN list is one array parameter, not one "?" a value.
		c := client[name]
		flat := placeholderRe.ReplaceAllString(q.SQL, "?")
		listed := regexp.MustCompile(`IN \(\?(, \?)*\)`).ReplaceAllString(c.SQL, "IN ?")
		if flat != listed {
			t.Errorf("%s: the two forms differ beyond placeholders:\n%s\n---\n%s", name, c.SQL, q.SQL)
		}
	}
	if len(exportColumns) != strings.Count(exportSelect, ",")+2 { // + event_time, + 1 for n-1 commas
		t.Errorf("%d export columns, select list has %d", len(exportColumns), strings.Count(exportSelect, ",")+1)
	}
}

// The rendering, spelled out once for one query.
func TestServerParamsRendering(t *testing.T) {
	f := HistoryFilter{Orgs: []string{"acme", "globex"}, Transitions: []string{"assigned"}, Last: 2,
		Range: TimeRange{Since: time.UnixMilli(1000), Until: time.UnixMilli(2000)}}
	q := HistoryQuery(f, ServerParams)
	for _, want := range []string{
		"WHERE event_ms >= {p0:UInt64} AND event_ms < {p1:UInt64}\n  AND org IN {p2:Array(String)}\n  AND transition IN {p3:Array(String)}",
		"LIMIT {p4:Int64}",
	} {
		if !strings.Contains(q.SQL, want) {
			t.Errorf("no %q in\n%s", want, q.SQL)
		}
	}
	if fmt.Sprint(q.Values) != "[1000 2000 [acme globex] [assigned] 2]" {
		t.Errorf("values %v", q.Values)
	}
	c := HistoryQuery(f, ClientBinding)
	if !strings.Contains(c.SQL, "WHERE event_ms >= ? AND event_ms < ?\n  AND org IN (?, ?)\n  AND transition IN (?)") ||
		fmt.Sprint(c.Values) != "[1000 2000 acme globex assigned 2]" {
		t.Errorf("client-side form: %v\n%s", c.Values, c.SQL)
	}
	// Times go to the second in both forms: a DateTime parameter refuses a fraction.
	at := time.Date(2026, 3, 15, 12, 0, 0, 999e6, time.FixedZone("x", 3600))
	o := OrphansQuery(PeriodFilter{}, at, ServerParams)
	if !strings.Contains(o.SQL, "orphaned_since <= {p0:DateTime} AND billable_end > {p1:DateTime}") ||
		!o.Values[0].(time.Time).Equal(time.Date(2026, 3, 15, 11, 0, 0, 0, time.UTC)) {
		t.Errorf("orphans: %v\n%s", o.Values, o.SQL)
	}
}

func TestExitCodes(t *testing.T) {
	var out, errb bytes.Buffer
	ctx := t.Context()
	if c := Main(ctx, []string{"--help"}, &out, &errb); c != ExitOK || !strings.Contains(out.String(), "Exit codes") {
		t.Errorf("--help: %d %q", c, out.String())
	}
	for _, cmd := range []string{"history", "seats", "pending", "export", "verify", "keygen"} {
		out.Reset()
		if c := Main(ctx, []string{cmd, "--help"}, &out, &errb); c != ExitOK || !strings.Contains(out.String(), "Examples:") || !strings.Contains(out.String(), "Exit codes") {
			t.Errorf("%s --help: exit %d, output %q", cmd, c, out.String())
		}
	}
	for _, args := range [][]string{
		{},
		{"nope"},
		{"history", "--bogus"},
		{"history", "--since", "2025-04-01", "--until", "2025-03-01"},
		{"history", "--transition", "given"},
		{"history", "--format", "xml"},
		{"seats", "--idle", "soon"},
		{"export", "--since", "2025-01-01"},
		{"verify"},
		{"verify", filepath.Join(t.TempDir(), "nothing-here")},
	} {
		errb.Reset()
		if c := Main(ctx, args, &out, &errb); c != ExitUsage {
			t.Errorf("%q: exit %d, want %d (%s)", args, c, ExitUsage, errb.String())
		}
	}
	errb.Reset()
	Main(ctx, []string{"history", "--since", "2025-04-01", "--until", "2025-03-01"}, &out, &errb)
	if !strings.Contains(errb.String(), "since (2025-04-01T00:00:00.000Z) is after until") {
		t.Errorf("bad range message: %q", errb.String())
	}
}

// The jsonl fast path reads what export writes exactly like encoding/json.
func TestJSONLFastPathAgreesWithEncodingJSON(t *testing.T) {
	cols := []column{{name: "a"}, {name: "n", kind: kindNumber}, {name: "t", kind: kindNullable}, {name: ChainColumn}}
	names := []string{"a", "n", "t", ChainColumn}
	for _, cells := range [][]string{
		{"plain", "12", "2025-01-01", "x"},
		{"q\"uote\\ \n\t ✓ \u2028 <&>", "0", "", ""},
		{"", "18446744073709551615", "", "y"},
	} {
		var buf bytes.Buffer
		w := newJSONLWriter(&buf, cols, nil)
		if err := w.Row(cells); err != nil {
			t.Fatal(err)
		}
		w.Close()
		fast := &jsonlRows{cols: names}
		got, ok := fast.fast(buf.Bytes())
		if !ok || strings.Join(got, "\x00") != strings.Join(cells, "\x00") {
			t.Errorf("fast path: %q from %s (ok %v)", got, buf.Bytes(), ok)
		}
		slow := &jsonlRows{r: bufio.NewReader(strings.NewReader(strings.Replace(buf.String(), "{", "{ ", 1))), cols: names}
		got, _, err := slow.next()
		if err != nil || strings.Join(got, "\x00") != strings.Join(cells, "\x00") {
			t.Errorf("slow path: %q (%v)", got, err)
		}
	}
	// Not what export writes: the fast path declines.
	for _, line := range []string{`{"n":1,"a":"x","t":null,"chain_sha256":""}`, `{"a":"x","n":01,"t":null,"chain_sha256":""}`, `{"a":"x","n":1,"t":true,"chain_sha256":""}`, `{"a":"x"}`} {
		if _, ok := (&jsonlRows{cols: names}).fast([]byte(line)); ok {
			t.Errorf("fast path accepted %s", line)
		}
	}
}

// Enum filters are checked before anything is sent (current servers answer
// an unknown Enum name with no rows, not an error): exit 2, naming the
// flag, the value, the closest name and every accepted one. No server is
// given: the check must come first.
func TestEnumFiltersAreCheckedBeforeSending(t *testing.T) {
	ctx := t.Context()
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"history", "--transition", "assigned,asigned"}, []string{`transition: "asigned" is not one of other, assigned,`, "licence_removed", `did you mean "assigned"?`}},
		{[]string{"history", "--transition", "Unassigned"}, []string{`"Unassigned"`, `did you mean "unassigned"?`}},
		{[]string{"history", "--transition", "zzz"}, []string{`transition: "zzz" is not one of`}},
		{[]string{"seats", "--state", "activ"}, []string{`state: "activ" is not one of active, pending_cancellation; did you mean "active"?`}},
	} {
		var out, errb bytes.Buffer
		args := append(c.args, "--clickhouse-addr", "127.0.0.1:1")
		if code := Main(ctx, args, &out, &errb); code != ExitUsage {
			t.Errorf("%q: exit %d, want %d: %s", c.args, code, ExitUsage, errb.String())
		}
		for _, w := range c.want {
			if !strings.Contains(errb.String(), w) {
				t.Errorf("%q: no %q in %q", c.args, w, errb.String())
			}
		}
		if strings.Contains(errb.String(), "cannot reach ClickHouse") {
			t.Errorf("%q: tried the server before checking: %s", c.args, errb.String())
		}
	}
	if err := (&HistoryFilter{Transitions: []string{"zzz"}}).Validate(); err == nil || strings.Contains(err.Error(), "did you mean") {
		t.Errorf("a far-off name gets no suggestion: %v", err)
	}
	// What ingest writes is what the column accepts.
	names := transitionNames()
	for _, tr := range events.Transitions() {
		if !slices.Contains(names, tr.String()) {
			t.Errorf("events.Transition %q is not a name of seat_events.transition (%v)", tr, names)
		}
	}
}

// seatctl's own flags refuse values that make no sense: exit 2, naming the
// flag, before any connection (nothing listens on 127.0.0.1:1).
func TestSeatctlFlagsRefuseNonsense(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	out := filepath.Join(dir, "bundle")
	missing := filepath.Join(dir, "missing.key")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"export", "--out", out, "--checkpoint-every", "0"}, "checkpoint-every: must be 1 or more"},
		{[]string{"export", "--out", out, "--checkpoint-every", "-5"}, "checkpoint-every: must be 1 or more (a checkpoint every that many rows), got -5"},
		{[]string{"export", "--out", out, "--formats", "xml"}, `formats: "xml" is not csv or jsonl`},
		{[]string{"export", "--out", out, "--formats", ""}, "formats: give csv, jsonl or csv,jsonl"},
		{[]string{"export", "--out", out, "--formats", "csv,csv"}, "formats: csv given twice"},
		{[]string{"export", "--out", ""}, "out: the bundle directory is required"},
		{[]string{"export", "--out", out, "--sign-key", missing}, "sign-key: cannot read the key file"},
		{[]string{"export", "--out", out, "--since", "soon"}, "since: "},
		{[]string{"keygen", "--out", ""}, `out: "" is not a file name prefix`},
		{[]string{"keygen", "--out", dir + "/"}, "is not a file name prefix"},
		{[]string{"history", "--limit", "-1"}, "limit: must be 0 (every event) or more, got -1"},
		{[]string{"history", "--last", "-2"}, "last: must be 0 (every event) or more, got -2"},
		{[]string{"history", "--limit", "1", "--last", "1"}, "--limit and --last cannot be combined"},
		{[]string{"history", "--limit", "many"}, "-limit"},
		{[]string{"history", "--format", "xml"}, `format: "xml" is not one of table, csv, jsonl`},
		{[]string{"seats", "--idle", "0d"}, "idle: "},
		{[]string{"seats", "--by", "colour"}, `by: "colour" is not one of org, team, plan`},
		{[]string{"seats", "--at", "soon"}, "at: "},
		{[]string{"pending", "--before", "soon"}, "before: "},
		{[]string{"periods"}, "user: required"},
		{[]string{"seat-days", "--month", "2025-13"}, `month: "2025-13" is not a month`},
		{[]string{"seat-days", "--by", "plan"}, `by: "plan" is not org or team`},
		{[]string{"seat-days", "--since", "2025-05", "--until", "2025-04"}, "until: 2025-04 is before since 2025-05"},
		{[]string{"orphans", "--at", ""}, "at: "},
		{[]string{"verify", dir, "--pub-key", missing}, "pub-key: cannot read the key file"},
	} {
		var stdout, stderr bytes.Buffer
		args := append(c.args, "--clickhouse-addr", "127.0.0.1:1")
		if c.args[0] == "verify" || c.args[0] == "keygen" {
			args = c.args
		}
		code := Main(ctx, args, &stdout, &stderr)
		if code != ExitUsage || !strings.Contains(stderr.String(), c.want) || strings.Contains(stderr.String(), "cannot reach") {
			t.Errorf("%q: exit %d, want %d naming %q: %s", c.args, code, ExitUsage, c.want, stderr.String())
		}
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a refused export created its directory")
	}
	// The ranges are stated in --help.
	var help bytes.Buffer
	Main(ctx, []string{"export", "--help"}, &help, &help)
	if !strings.Contains(help.String(), "every this many rows (1 or more)") || !strings.Contains(help.String(), "OWASP's CSV-injection guard") {
		t.Errorf("export --help:\n%s", help.String())
	}
	for _, cmd := range []string{"history", "seats", "pending", "periods", "seat-days", "orphans"} {
		help.Reset()
		Main(ctx, []string{cmd, "--help"}, &help, &help)
		if !strings.Contains(help.String(), "Output (--format):") || !strings.Contains(help.String(), "a text value beginning with =, +, -, @, TAB, CR, NUL or ' is written") {
			t.Errorf("%s --help says nothing of the csv guard:\n%s", cmd, help.String())
		}
	}
}
