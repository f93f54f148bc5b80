// Package recordstest holds the hostile corpus: inputs a careless operator
// or a hostile source produces (re-encoded exports, archives, damaged gzip,
// deep or huge elements, key tricks, NULs, BOMs, CRLF). The records stage's
// own tests check what each becomes; the source tests feed the same corpus
// through Kafka, S3 and files and check that all three store the same rows
// and the same dead letters.
package recordstest

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"embed"
	"fmt"
	"slices"
	"strings"
	"unicode/utf16"

	"github.com/klauspost/compress/zstd"
)

// Case is one input of the corpus: a whole unit (one Kafka message, one
// object, one file).
type Case struct {
	Name string // also the object key / file name (with its extension)
	Data []byte
	// Kept is the document ids of the records the records stage lets
	// through (to the decoder); Faults the dead letters it makes itself.
	Kept   []string
	Faults []Fault
	// Rows is the document ids that end in the timeline, and ParseFaults
	// the dead letters the event decoder then adds (for the source tests).
	Rows        []string
	ParseFaults []Fault
	Damaged     bool // the unit is checkpointed as error
}

// Fault is an expected dead letter: where and why.
type Fault struct {
	Line       int64
	Index      int // -1: not an array element
	Reason     string
	DocumentID string // "" when none can be read
}

// Event is a Copilot seat assignment with the given id and user.
func Event(id, user string) string {
	return fmt.Sprintf(`{"@timestamp":1709251200123,"_document_id":%q,"action":"copilot.cfb_seat_added","actor":"it-admin","actor_id":42,"org":"acme","org_id":7,"user":%q,"user_id":1001,"created_at":1709251200123}`, id, user)
}

func ndjson(lines ...string) []byte { return []byte(strings.Join(lines, "\n") + "\n") }

func events(prefix string, n int) (lines, ids []string) {
	for i := 1; i <= n; i++ {
		id := fmt.Sprintf("%s-%d", prefix, i)
		ids = append(ids, id)
		lines = append(lines, Event(id, fmt.Sprintf("user%d", i)))
	}
	return lines, ids
}

//go:embed testdata
var fixtures embed.FS

func fixture(name string) []byte {
	b, err := fixtures.ReadFile("testdata/" + name)
	if err != nil {
		panic(err)
	}
	return b
}

// BzipText is the text of testdata/<prefix>.ndjson.bz2 (bzip2 -9; the Go
// standard library reads bzip2 but cannot write it): three events with ids
// prefix-1…3.
func BzipText(prefix string) []byte {
	lines, _ := events(prefix, 3)
	return ndjson(lines...)
}

func utf16With(bom bool, bigEndian bool, s string) []byte {
	var out []byte
	put := func(u uint16) {
		if bigEndian {
			out = append(out, byte(u>>8), byte(u))
		} else {
			out = append(out, byte(u), byte(u>>8))
		}
	}
	if bom {
		put(0xfeff)
	}
	for _, u := range utf16.Encode([]rune(s)) {
		put(u)
	}
	return out
}

func gzipped(level int, parts ...[]byte) []byte {
	var buf bytes.Buffer
	for _, p := range parts { // one member each
		w, _ := gzip.NewWriterLevel(&buf, level)
		w.Write(p)
		w.Close()
	}
	return buf.Bytes()
}

func zstded(b []byte) []byte {
	enc, _ := zstd.NewWriter(nil)
	defer enc.Close()
	return enc.EncodeAll(b, nil)
}

func zipped(name string, b []byte) []byte {
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	f, _ := w.Create(name)
	f.Write(b)
	w.Close()
	return buf.Bytes()
}

// deep nests n arrays inside a seat event's "x" field.
func deep(id string, n int) string {
	return fmt.Sprintf(`{"@timestamp":1709251200123,"_document_id":%q,"action":"copilot.cfb_seat_added","user":"deep","x":%s%s}`,
		id, strings.Repeat("[", n), strings.Repeat("]", n))
}

// Hostile returns the corpus. maxBytes is the size limit the sources run
// with (the 2 MB element must exceed it).
func Hostile() []Case {
	return slices.Concat(encodings(), compressed(), unsupported(), damagedGzip(), overLimits(), trickyRecords())
}

// encodings: text in other encodings: UTF-16 with and without a byte-order mark.
func encodings() []Case {
	var cs []Case
	add := func(c Case) { cs = append(cs, c) }
	var l, ids []string
	l, ids = events("u16le", 3)
	add(Case{Name: "utf16le-bom.json", Data: utf16With(true, false, string(ndjson(l...))), Kept: ids, Rows: ids})
	l, ids = events("u16be", 3)
	add(Case{Name: "utf16be-bom-export.json", Data: utf16With(true, true, "[\r\n"+strings.Join(l, ",\r\n")+"\r\n]\r\n"), Kept: ids, Rows: ids})
	l, ids = events("u16nobom", 2)
	add(Case{Name: "utf16le-nobom.json", Data: utf16With(false, false, string(ndjson(l...))), Kept: ids, Rows: ids})
	return cs
}

// compressed: compressed with zstd and bzip2 (by content, whatever the name).
func compressed() []Case {
	var cs []Case
	add := func(c Case) { cs = append(cs, c) }
	var l, ids []string
	l, ids = events("zst", 3)
	add(Case{Name: "events.json.zst", Data: zstded(ndjson(l...)), Kept: ids, Rows: ids})
	_, ids = events("bz", 3)
	add(Case{Name: "events.json.bz2", Data: fixture("bz.ndjson.bz2"), Kept: ids, Rows: ids})
	_, ids = events("bzjson", 3)
	add(Case{Name: "bzip2-named.json", Data: fixture("bzjson.ndjson.bz2"), Kept: ids, Rows: ids})
	return cs
}

// unsupported: formats that are not read: zip, xz, random bytes.
func unsupported() []Case {
	var cs []Case
	add := func(c Case) { cs = append(cs, c) }
	var l []string
	l, _ = events("zip", 2)
	add(Case{Name: "export.zip", Data: zipped("export.json", ndjson(l...)), Damaged: true,
		Faults: []Fault{{Line: 1, Index: -1, Reason: "unsupported_format"}}})
	add(Case{Name: "events.json.xz", Data: fixture("bz.ndjson.xz"), Damaged: true,
		Faults: []Fault{{Line: 1, Index: -1, Reason: "unsupported_format"}}})
	add(Case{Name: "random.bin.json", Data: binary(4096), Damaged: true,
		Faults: []Fault{{Line: 1, Index: -1, Reason: "unsupported_format"}}})
	return cs
}

// damagedGzip: gzip damage only the CRC-32 or the trailer tells.
func damagedGzip() []Case {
	var cs []Case
	add := func(c Case) { cs = append(cs, c) }
	var l []string
	// A stored (uncompressed) gzip block with one byte changed: the deflate
	// stream still decodes, only the CRC-32 at the end tells.
	l, _ = events("flip", 3)
	l[2] = strings.Replace(l[2], `"user3"`, `"alice3"`, 1)
	flipped := gzipped(gzip.NoCompression, ndjson(l...))
	i := bytes.Index(flipped, []byte("alice3"))
	flipped[i] = 'm'
	add(Case{Name: "flipped.json.log.gz", Data: flipped, Damaged: true, Faults: []Fault{
		{Line: 1, Index: -1, Reason: "corrupt_object", DocumentID: "flip-1"},
		{Line: 2, Index: -1, Reason: "corrupt_object", DocumentID: "flip-2"},
		{Line: 3, Index: -1, Reason: "corrupt_object", DocumentID: "flip-3"},
		{Line: 4, Index: -1, Reason: "corrupt_object"},
	}})

	// Two members; the second loses the end of its trailer (CRC-32 and
	// length): its lines all decode, none can be verified.
	l1, ids1 := events("trunc-a", 2)
	l2, _ := events("trunc-b", 3)
	full := gzipped(gzip.BestSpeed, ndjson(l1...), ndjson(l2...))
	add(Case{Name: "truncated.json.log.gz", Data: full[:len(full)-6], Damaged: true, Kept: ids1, Rows: ids1,
		Faults: truncatedFaults()})
	return cs
}

// overLimits: records past the depth and size limits.
func overLimits() []Case {
	var cs []Case
	add := func(c Case) { cs = append(cs, c) }
	var l, ids []string
	l, ids = events("arr", 4)
	arr := "[" + l[0] + "," + l[1] + ",\n" + deep("arr-deep", 10001) + ",\n" + l[2] + "," + l[3] + "]"
	add(Case{Name: "deep-element.json", Data: []byte(arr), Kept: ids, Rows: ids,
		Faults: []Fault{{Line: 1, Index: 2, Reason: "too_deep", DocumentID: "arr-deep"}}})

	l, ids = events("big", 2)
	big := fmt.Sprintf(`{"_document_id":"big-huge","@timestamp":1709251200123,"action":"copilot.cfb_seat_added","user":"huge","pad":%q}`, strings.Repeat("x", 2<<20))
	add(Case{Name: "big-element.json", Data: []byte("[" + l[0] + "," + big + "," + l[1] + "]"), Kept: ids, Rows: ids,
		Faults: []Fault{{Line: 1, Index: 1, Reason: "oversize", DocumentID: "big-huge"}}})

	l, ids = events("deepline", 2)
	add(Case{Name: "deep-line.json", Data: ndjson(l[0], deep("deepline-x", 100000), l[1]), Kept: ids, Rows: ids,
		Faults: []Fault{{Line: 2, Index: -1, Reason: "too_deep", DocumentID: "deepline-x"}}})
	return cs
}

// trickyRecords: key tricks, NUL bytes, BOM, CRLF, Latin-1, wrong types, cut and pretty-printed records.
func trickyRecords() []Case {
	var cs []Case
	add := func(c Case) { cs = append(cs, c) }
	var l, ids []string
	// Key tricks are the event decoder's business: the records stage lets
	// them through; the timeline must show the lowercase keys only.
	caseVariant := `{"@timestamp":1709251200123,"_document_id":"case-1","action":"copilot.cfb_seat_added","user":"alice","org":"acme","User":"mallory","Action":"copilot.cfb_seat_cancelled"}`
	repeated := `{"@timestamp":1709251200123,"_document_id":"rep-1","action":"copilot.cfb_seat_added","user":"alice","org":"acme","user":"mallory"}`
	repeatedAction := `{"@timestamp":1709251200123,"_document_id":"rep-2","action":"copilot.cfb_seat_added","user":"bob","org":"acme","\u0061ction":"copilot.cfb_seat_cancelled"}`
	add(Case{Name: "key-tricks.json", Data: ndjson(caseVariant, repeated, repeatedAction),
		Kept: []string{"case-1", "rep-1", "rep-2"}, Rows: []string{"case-1"},
		ParseFaults: []Fault{{Line: 2, Index: -1, Reason: "ambiguous_field", DocumentID: "rep-1"},
			{Line: 3, Index: -1, Reason: "ambiguous_field", DocumentID: "rep-2"}}})

	l, ids = events("nul", 3)
	nul := strings.Replace(l[1], `"user2"`, "\"us\x00er2\"", 1)
	add(Case{Name: "nul-bytes.json", Data: ndjson(l[0], nul, "\x00\x00\x00\x00", l[2]), Kept: []string{ids[0], ids[2]}, Rows: []string{ids[0], ids[2]},
		Faults: []Fault{{Line: 2, Index: -1, Reason: "malformed_json", DocumentID: "nul-2"}, {Line: 3, Index: -1, Reason: "malformed_json"}}})

	l, ids = events("bom", 2)
	add(Case{Name: "bom.json", Data: append([]byte("\xef\xbb\xbf"), ndjson(l...)...), Kept: ids, Rows: ids})
	l, ids = events("crlf", 3)
	add(Case{Name: "crlf.json", Data: []byte(strings.Join(l, "\r\n") + "\r\n"), Kept: ids, Rows: ids})

	l, ids = events("latin1", 2)
	noise := "{\"@timestamp\":1709251200123,\"_document_id\":\"latin1-noise\",\"action\":\"git.clone\",\"actor\":\"Jos\xe9\"}"
	add(Case{Name: "latin1.json", Data: ndjson(l[0], noise, l[1]), Kept: ids, Rows: ids,
		Faults: []Fault{{Line: 2, Index: -1, Reason: "invalid_utf8", DocumentID: "latin1-noise"}}})

	wrongTS := `{"@timestamp":"yesterday","_document_id":"wts-1","action":"copilot.cfb_seat_added","user":"carol","org":"acme"}`
	add(Case{Name: "wrong-type.json", Data: ndjson(wrongTS), Kept: []string{"wts-1"},
		ParseFaults: []Fault{{Line: 1, Index: -1, Reason: "wrong_type", DocumentID: "wts-1"}}})

	l, ids = events("trail", 2)
	cut := l[0][:len(l[0])/2]
	add(Case{Name: "cut-line.json", Data: ndjson(cut, l[1]), Kept: []string{"trail-1", ids[1]}, Rows: []string{ids[1]},
		ParseFaults: []Fault{{Line: 1, Index: -1, Reason: "malformed_json", DocumentID: "trail-1"}}})

	pretty := "{\n  \"@timestamp\": 1709251200123,\n  \"_document_id\": \"pretty-1\",\n  \"action\": \"copilot.cfb_seat_added\",\n  \"user\": \"dana\",\n  \"org\": \"acme\"\n}\n"
	add(Case{Name: "pretty.json", Data: []byte(pretty), Kept: []string{"pretty-1"}, Rows: []string{"pretty-1"}})
	return cs
}

// truncatedFaults: the cut member's two whole lines, then the line it cuts.
func truncatedFaults() []Fault {
	return []Fault{
		{Line: 3, Index: -1, Reason: "corrupt_object", DocumentID: "trunc-b-1"},
		{Line: 4, Index: -1, Reason: "corrupt_object", DocumentID: "trunc-b-2"},
		{Line: 5, Index: -1, Reason: "corrupt_object", DocumentID: "trunc-b-3"},
		{Line: 6, Index: -1, Reason: "corrupt_object"},
	}
}

// binary is deterministic non-text bytes.
func binary(n int) []byte {
	b := make([]byte, n)
	x := uint32(2463534242)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}
