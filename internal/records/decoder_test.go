package records

import (
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/seatline/seatline/internal/records/recordstest"
	"github.com/seatline/seatline/pkg/events"
)

// got is a record as a test sees it (Data copied).
type got struct {
	Seq    uint64
	Line   int64
	Index  int
	Data   string
	Reason string
	Length int64
	SHA    [32]byte
	DocID  string
}

func (g got) String() string {
	d := g.Data
	if len(d) > 60 {
		d = d[:60] + "…"
	}
	return fmt.Sprintf("#%d %d%s %s %q len=%d doc=%q", g.Seq, g.Line, Loc{Index: g.Index}.Suffix(), g.Reason, d, g.Length, g.DocID)
}

type mode struct {
	name string
	run  func(d *Decoder, in []byte, emit func(*Record) error) (Summary, error)
}

// modes are the ways a unit reaches the decoder: a Kafka message in
// memory, an object read whole, or in the smallest pieces a reader can give.
var modes = []mode{
	{"bytes", func(d *Decoder, in []byte, emit func(*Record) error) (Summary, error) { return d.DecodeBytes(in, emit) }},
	{"reader", func(d *Decoder, in []byte, emit func(*Record) error) (Summary, error) {
		return d.Decode(bytes.NewReader(in), 0, emit)
	}},
	{"one-byte", func(d *Decoder, in []byte, emit func(*Record) error) (Summary, error) {
		return d.Decode(iotest.OneByteReader(bytes.NewReader(in)), 0, emit)
	}},
	{"half", func(d *Decoder, in []byte, emit func(*Record) error) (Summary, error) {
		return d.Decode(iotest.HalfReader(bytes.NewReader(in)), 0, emit)
	}},
}

func decode(t testing.TB, cfg Config, m mode, in []byte) ([]got, Summary) {
	t.Helper()
	d, err := NewDecoder(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var out []got
	sum, err := m.run(d, in, func(r *Record) error {
		g := got{Seq: r.Seq, Line: r.Line, Index: r.Index, Data: string(r.Data), Length: r.Length, DocID: r.DocumentID}
		if r.Fault != nil {
			g.Reason, g.SHA = string(r.Fault.Reason), r.SHA256
		}
		out = append(out, g)
		return nil
	})
	if err != nil {
		t.Fatalf("%s: %v", m.name, err)
	}
	return out, sum
}

func testConfig() Config {
	c := Defaults()
	c.Keep = events.MaybeSeatEvent
	return c
}

// decodeAll decodes in every mode and checks they agree; it returns the
// records of the first.
func decodeAll(t *testing.T, cfg Config, in []byte) ([]got, Summary) {
	t.Helper()
	first, sum := decode(t, cfg, modes[0], in)
	for _, m := range modes[1:] {
		g, s := decode(t, cfg, m, in)
		if !slices.Equal(g, first) || s != sum {
			t.Fatalf("%s disagrees with %s:\n%v %+v\nvs\n%v %+v", m.name, modes[0].name, g, s, first, sum)
		}
	}
	return first, sum
}

func TestHostileCorpus(t *testing.T) {
	cfg := testConfig()
	for _, c := range recordstest.Hostile() {
		t.Run(c.Name, func(t *testing.T) {
			recs, sum := decodeAll(t, cfg, c.Data)
			var kept []string
			var faults []recordstest.Fault
			for _, r := range recs {
				if r.Reason == "" {
					kept = append(kept, docIDOf(t, r.Data))
					continue
				}
				faults = append(faults, recordstest.Fault{Line: r.Line, Index: r.Index, Reason: r.Reason, DocumentID: r.DocID})
				if r.Length < int64(len(r.Data)) || len(r.Data) > MaxKept {
					t.Errorf("%v: kept %d bytes of %d", r, len(r.Data), r.Length)
				}
				if r.Length == int64(len(r.Data)) && r.SHA != sha256.Sum256([]byte(r.Data)) {
					t.Errorf("%v: SHA-256 is not that of the data", r)
				}
			}
			if !slices.Equal(kept, c.Kept) {
				t.Errorf("kept %v, want %v", kept, c.Kept)
			}
			if !slices.Equal(faults, c.Faults) {
				t.Errorf("faults %+v, want %+v\nrecords: %v", faults, c.Faults, recs)
			}
			if (sum.Damage != "") != c.Damaged {
				t.Errorf("damage %q, want damaged=%v", sum.Damage, c.Damaged)
			}
			if sum.Records != uint64(len(recs))+sum.Filtered {
				t.Errorf("summary %+v, %d records emitted", sum, len(recs))
			}
		})
	}
}

func docIDOf(t *testing.T, rec string) string {
	id := peekDocumentID([]byte(rec))
	if id == "" {
		t.Fatalf("no document id in kept record %q", rec)
	}
	return id
}

func TestBzipFixtures(t *testing.T) {
	for name, prefix := range map[string]string{"events.json.bz2": "bz", "bzip2-named.json": "bzjson"} {
		var c recordstest.Case
		for _, x := range recordstest.Hostile() {
			if x.Name == name {
				c = x
			}
		}
		b, err := io.ReadAll(bzip2.NewReader(bytes.NewReader(c.Data)))
		if err != nil || !bytes.Equal(b, recordstest.BzipText(prefix)) {
			t.Fatalf("the fixture of %s is not bzip2 of BzipText(%q): %v", name, prefix, err)
		}
	}
}

func TestFraming(t *testing.T) {
	cfg := Defaults() // keeps everything
	ev := func(id string) string { return recordstest.Event(id, "u") }
	for _, tc := range []struct {
		name string
		in   string
		want []string // "line#index data-or-reason"
	}{
		{"one event", ev("a"), []string{"1 a"}},
		{"ndjson with blank lines", ev("a") + "\n\n" + ev("b") + "\n   \n" + ev("c"), []string{"1 a", "3 b", "5 c"}},
		{"array", "[" + ev("a") + " , " + ev("b") + "]", []string{"1#0 a", "1#1 b"}},
		{"pretty array", "[\n  " + ev("a") + ",\n  " + ev("b") + "\n]\n", []string{"1#0 a", "1#1 b"}},
		{"arrays per line", "[" + ev("a") + "]\n[" + ev("b") + "," + ev("c") + "]", []string{"1#0 a", "2#0 b", "2#1 c"}},
		{"empty array", "[]\n" + ev("a"), []string{"2 a"}},
		{"empty elements", "[" + ev("a") + ",," + ev("b") + ",]", []string{"1#0 a", "1#1 malformed_json", "1#2 b", "1#3 malformed_json"}},
		{"unclosed array", "[" + ev("a") + "," + ev("b"), []string{"1#0 a", "1#1 b", "1#2 malformed_json"}},
		{"unclosed after comma", "[" + ev("a") + ",", []string{"1#0 a", "1#1 malformed_json"}},
		{"pretty object", "{\n \"_document_id\": \"p\",\n \"a\": {\n  \"b\": 1\n }\n}\n" + ev("a"), []string{"1 p", "7 a"}},
		{"cut line then event", `{"_document_id":"cut","action":"copilot.x","user":` + "\n" + ev("a"), []string{"1 cut", "2 a"}},
		{"open string at newline", `{"_document_id":"s","x":"abc` + "\n" + `def"}` + "\n" + ev("a"), []string{"1 s", "2 def\"}", "3 a"}},
		{"garbage lines", "hello\n" + ev("a") + "\n42", []string{"1 hello", "2 a", "3 42"}},
		{"cut line then text", `{"_document_id":"c","x":1` + "\nhello\n" + ev("a"), []string{"1 c", "2 hello", "3 a"}},
		{"unindented pretty object", "{\n\"_document_id\": \"u\",\n\"a\": 1\n}\n" + ev("a"), []string{"1 u", "5 a"}},
		{"crlf", ev("a") + "\r\n" + ev("b") + "\r\n", []string{"1 a", "2 b"}},
		{"text after array", "[" + ev("a") + "] junk\n" + ev("b"), []string{"1#0 a", "1 junk", "2 b"}},
		{"commas and brackets in strings", `[{"_document_id":"q","s":"],[,{"}]`, []string{"1#0 q"}},
		{"escaped quotes", `[{"_document_id":"e","s":"\"],\\"},` + ev("a") + `]`, []string{"1#0 e", "1#1 a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			recs, _ := decodeAll(t, cfg, []byte(tc.in))
			var out []string
			for _, r := range recs {
				what := r.Reason
				if what == "" {
					if what = peekDocumentID([]byte(r.Data)); what == "" {
						what = r.Data
					}
				}
				out = append(out, fmt.Sprintf("%d%s %s", r.Line, Loc{Index: r.Index}.Suffix(), what))
			}
			if !slices.Equal(out, tc.want) {
				t.Errorf("got  %q\nwant %q", out, tc.want)
			}
		})
	}
}

func TestLimitsSameEverywhere(t *testing.T) {
	cfg := Defaults()
	cfg.MaxBytes, cfg.MaxDepth = 100, 3
	small := `{"_document_id":"ok","a":[[1]]}`
	long := `{"_document_id":"long","pad":"` + strings.Repeat("y", 200) + `"}`
	deep4 := `{"_document_id":"deep","a":[[[1]]]}`
	trailing := `{"_document_id":"ws","pad":"` + strings.Repeat("z", 60) + `"}` + strings.Repeat(" ", 300)
	for _, layout := range []struct {
		name string
		in   string
		pos  []string
	}{
		{"ndjson", small + "\n" + long + "\n" + deep4 + "\n" + trailing, []string{"1", "2", "3", "4"}},
		{"array", "[" + small + "," + long + "," + deep4 + "," + trailing + "]", []string{"1#0", "1#1", "1#2", "1#3"}},
	} {
		t.Run(layout.name, func(t *testing.T) {
			recs, _ := decodeAll(t, cfg, []byte(layout.in))
			want := []string{"", "oversize", "too_deep", ""}
			if len(recs) != 4 {
				t.Fatalf("records: %v", recs)
			}
			for i, r := range recs {
				if r.Reason != want[i] || fmt.Sprintf("%d%s", r.Line, Loc{Index: r.Index}.Suffix()) != layout.pos[i] {
					t.Errorf("record %d: %v, want %q at %s", i, r, want[i], layout.pos[i])
				}
			}
			if o := recs[1]; o.Length != int64(len(long)) || o.SHA != sha256.Sum256([]byte(long)) || o.DocID != "long" {
				t.Errorf("oversize record: length %d sha %x doc %q; want %d, the whole record's SHA-256, long", o.Length, o.SHA, o.DocID, len(long))
			}
		})
	}
}

func TestOversizeStreamsInBoundedMemory(t *testing.T) {
	cfg := Defaults()
	huge := `{"_document_id":"huge","pad":"` + strings.Repeat("x", 8<<20) + `"}`
	in := "[" + recordstest.Event("a", "u") + "," + huge + "," + recordstest.Event("b", "u") + "]"
	d, _ := NewDecoder(cfg)
	var n int
	_, err := d.Decode(iotest.HalfReader(strings.NewReader(in)), 0, func(r *Record) error {
		n++
		if n == 2 && (r.Fault == nil || r.Length != int64(len(huge)) || r.SHA256 != sha256.Sum256([]byte(huge)) || len(r.Data) != MaxKept) {
			t.Errorf("oversize element: %+v len %d", r.Fault, r.Length)
		}
		return nil
	})
	if err != nil || n != 3 {
		t.Fatalf("%d records, %v", n, err)
	}
	if cap(d.p().buf) > cfg.MaxBytes+window {
		t.Errorf("the piece grew to %d bytes", cap(d.p().buf))
	}
}

func (d *Decoder) p() *piece { return &d.f.p }

func TestPrefilterSeesOnlyReadableText(t *testing.T) {
	var seen [][]byte
	cfg := Defaults()
	cfg.Keep = func(b []byte) bool { seen = append(seen, bytes.Clone(b)); return false }
	in := "{\"a\":\"\xff\"}\n{\"a\":\"b\x01\"}\n{\"a\":1}\n[1]\n\x00\x00\n"
	recs, sum := decode(t, cfg, modes[0], []byte(in))
	// Invalid UTF-8 is a dead letter, never noise; a control character in
	// a record that is not kept is noise like any other non-Copilot text;
	// a record that does not start like an object is never noise.
	if len(seen) != 2 || string(seen[0]) != "{\"a\":\"b\x01\"}" || string(seen[1]) != `{"a":1}` {
		t.Errorf("the pre-filter saw %q", seen)
	}
	if len(recs) != 3 || recs[0].Reason != "invalid_utf8" || recs[1].Reason != "" || recs[2].Reason != "malformed_json" || sum.Filtered != 2 {
		t.Errorf("records %v, summary %+v", recs, sum)
	}
}

func TestGzipMembersReleasedWhenVerified(t *testing.T) {
	cfg := Defaults()
	var m1, m2 bytes.Buffer
	for i := range 3 {
		fmt.Fprintln(&m1, recordstest.Event(fmt.Sprintf("m1-%d", i), "u"))
		fmt.Fprintln(&m2, recordstest.Event(fmt.Sprintf("m2-%d", i), "u"))
	}
	var z bytes.Buffer
	for _, m := range []*bytes.Buffer{&m1, &m2} {
		w := gzip.NewWriter(&z)
		w.Write(m.Bytes())
		w.Close()
	}
	whole := z.Bytes()
	// The second member's CRC is the 8 bytes before its size: break it.
	bad := bytes.Clone(whole)
	bad[len(bad)-5] ^= 0xff
	for _, m := range modes {
		recs, sum := decode(t, cfg, m, whole)
		if len(recs) != 6 || sum.Damage != "" {
			t.Fatalf("%s: intact: %v %+v", m.name, recs, sum)
		}
		recs, sum = decode(t, cfg, m, bad)
		var reasons []string
		for _, r := range recs {
			reasons = append(reasons, r.Reason)
		}
		want := []string{"", "", "", "corrupt_object", "corrupt_object", "corrupt_object", "corrupt_object"}
		if !slices.Equal(reasons, want) || !strings.Contains(sum.Damage, "failed its checksum") {
			t.Fatalf("%s: damaged second member: %v %q", m.name, recs, sum.Damage)
		}
	}
}

func TestHoldSpillsToDisk(t *testing.T) {
	cfg := testConfig()
	cfg.HoldBytes = 300 // two events
	var text bytes.Buffer
	for i := range 50 {
		fmt.Fprintln(&text, recordstest.Event(fmt.Sprintf("s-%d", i), "u"))
	}
	var z bytes.Buffer
	w := gzip.NewWriter(&z)
	w.Write(text.Bytes())
	w.Close()
	memory, _ := decodeAll(t, testConfig(), z.Bytes())
	spilled, _ := decodeAll(t, cfg, z.Bytes())
	if len(spilled) != 50 || !slices.Equal(memory, spilled) {
		t.Fatalf("spilled records differ: %d vs %d", len(spilled), len(memory))
	}
	bad := bytes.Clone(z.Bytes())
	bad[len(bad)-5] ^= 1
	recs, _ := decode(t, cfg, modes[1], bad)
	if len(recs) != 51 || recs[0].Reason != "corrupt_object" || recs[0].DocID != "s-0" || recs[49].Data != recordstest.Event("s-49", "u") {
		t.Fatalf("condemned spilled records: %d, first %v", len(recs), recs[0])
	}
}

func TestResumeSkips(t *testing.T) {
	cfg := testConfig()
	var text bytes.Buffer
	for i := range 10 {
		fmt.Fprintln(&text, recordstest.Event(fmt.Sprintf("r-%d", i), "u"))
	}
	d, _ := NewDecoder(cfg)
	var seqs []uint64
	sum, err := d.Decode(bytes.NewReader(text.Bytes()), 7, func(r *Record) error { seqs = append(seqs, r.Seq); return nil })
	if err != nil || !slices.Equal(seqs, []uint64{8, 9, 10}) || sum.Records != 10 {
		t.Fatalf("seqs %v, %+v, %v", seqs, sum, err)
	}
}

// failingReader gives n bytes, then fails as a broken download would.
type failingReader struct {
	r io.Reader
	n int
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, io.ErrClosedPipe
	}
	p = p[:min(len(p), f.n)]
	n, err := f.r.Read(p)
	f.n -= n
	return n, err
}

func TestReadErrorIsNotDamage(t *testing.T) {
	cfg := testConfig()
	var text bytes.Buffer
	for i := range 100 {
		fmt.Fprintln(&text, recordstest.Event(fmt.Sprintf("e-%d", i), "u"))
	}
	var z bytes.Buffer
	w := gzip.NewWriter(&z)
	w.Write(text.Bytes())
	w.Close()
	for _, in := range [][]byte{text.Bytes(), z.Bytes()} {
		d, _ := NewDecoder(cfg)
		var emitted []uint64
		_, err := d.Decode(&failingReader{r: bytes.NewReader(in), n: len(in) / 2}, 0, func(r *Record) error {
			if r.Fault != nil {
				t.Errorf("dead letter for a broken download: %v", r.Fault)
			}
			emitted = append(emitted, r.Seq)
			return nil
		})
		var re *ReadError
		if !errorsAs(err, &re) {
			t.Fatalf("error %v, want a *ReadError", err)
		}
		// Read again after what was emitted: every record exactly once.
		last := uint64(0)
		if len(emitted) > 0 {
			last = emitted[len(emitted)-1]
		}
		if _, err := d.Decode(bytes.NewReader(in), last, func(r *Record) error { emitted = append(emitted, r.Seq); return nil }); err != nil {
			t.Fatal(err)
		}
		if len(emitted) != 100 || emitted[99] != 100 {
			t.Fatalf("after the retry: %d records, last %d", len(emitted), emitted[len(emitted)-1])
		}
	}
}

func TestEmitErrorStops(t *testing.T) {
	d, _ := NewDecoder(Defaults())
	stop := fmt.Errorf("enough")
	n := 0
	_, err := d.DecodeBytes([]byte(strings.Repeat(recordstest.Event("x", "u")+"\n", 10)), func(*Record) error {
		n++
		return stop
	})
	if err != stop || n != 1 {
		t.Fatalf("err %v after %d records", err, n)
	}
}

func TestCounted(t *testing.T) {
	cfg := testConfig()
	var read, filtered int64
	cfg.Counted = func(r, f int64) { read += r; filtered += f }
	noise := `{"@timestamp":1,"_document_id":"n","action":"git.clone"}`
	in := strings.Repeat(noise+"\n", 9000) + recordstest.Event("s", "u") + "\n"
	d, _ := NewDecoder(cfg)
	if _, err := d.DecodeBytes([]byte(in), func(*Record) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if read != 9001 || filtered != 9000 {
		t.Fatalf("counted %d read, %d filtered", read, filtered)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []Config{{MaxBytes: 0, MaxDepth: 1}, {MaxBytes: 1, MaxDepth: 0}, {MaxBytes: 99999999999, MaxDepth: 1}, {MaxBytes: 1, MaxDepth: 1, HoldBytes: -1}} {
		if err := c.Validate(); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	if c := Defaults(); c.Validate() != nil {
		t.Error("defaults refused")
	}
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }
