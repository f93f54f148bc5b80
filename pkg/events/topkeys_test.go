package events

import (
	"bytes"
	stdjson "encoding/json"
	"strings"
	"testing"

	"github.com/segmentio/encoding/json"
)

func BenchmarkScanTopKeys(b *testing.B) {
	rec := []byte(seatEvent600)
	b.SetBytes(int64(len(rec)))
	b.ReportAllocs()
	for b.Loop() {
		var tk topKeys
		scanTopKeys(rec, &tk)
		if !tk.complete || tk.n[keyUser] != 1 {
			b.Fatal("scan")
		}
	}
}

// BenchmarkScanTopKeysTokenizer is the alternative the scanner was measured
// against: segmentio's json.Tokenizer over the same record, counting the
// identity keys at depth 1.
func BenchmarkScanTopKeysTokenizer(b *testing.B) {
	rec := []byte(seatEvent600)
	b.SetBytes(int64(len(rec)))
	b.ReportAllocs()
	var buf [64]byte
	for b.Loop() {
		var tk topKeys
		tok := json.NewTokenizer(rec)
		for tok.Next() {
			if tok.IsKey && tok.Depth == 1 {
				if k := lookupKey(tok.Value.AppendUnquote(buf[:0])); k != keyNone {
					tk.n[k]++
				}
			}
		}
		if tok.Err != nil || tk.n[keyUser] != 1 {
			b.Fatal("scan", tok.Err)
		}
	}
}

// refTopKeys counts the top-level keys of the JSON object b with
// encoding/json's tokenizer (keys unescaped, compared exactly).
func refTopKeys(b []byte) (map[string]int, bool) {
	dec := stdjson.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != stdjson.Delim('{') {
		return nil, false
	}
	counts := map[string]int{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, false
		}
		counts[tok.(string)]++
		var v stdjson.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, false
		}
	}
	if _, err := dec.Token(); err != nil {
		return nil, false
	}
	return counts, true
}

// checkTopKeys fails t when scanTopKeys disagrees with refTopKeys on a valid
// JSON object.
func checkTopKeys(t *testing.T, rec []byte) {
	t.Helper()
	rec = trimSpace(rec)
	if len(rec) == 0 || rec[0] != '{' || !stdjson.Valid(rec) {
		return
	}
	want, ok := refTopKeys(rec)
	if !ok {
		t.Fatalf("reference tokenizer failed on valid JSON %q", rec)
	}
	var tk topKeys
	scanTopKeys(rec, &tk)
	if !tk.complete {
		t.Fatalf("scanTopKeys incomplete on valid JSON %q", rec)
	}
	for k := keyNone + 1; k < numKeys; k++ {
		if tk.n[k] != want[identityKeyNames[k]] {
			t.Fatalf("%s: scanTopKeys counts %d, encoding/json %d in %q", identityKeyNames[k], tk.n[k], want[identityKeyNames[k]], rec)
		}
	}
}

func TestScanTopKeys(t *testing.T) {
	for _, rec := range []string{
		`{}`, ` { } `, "{\n\t\"user\" :\r\n \"a\" ,\n\"user\":1}",
		`{"a":{"user":1,"user":2},"b":["user","user"],"user":"x"}`,
		`{"a":"\\","user":"\\\"","b":"\"user\":","action":[{"}":"{"}],"org":-1.5e+3}`,
		`{"\u0075\u0073\u0065\u0072":1,"us\u0065r":2,"\u0055ser":3,"user\u0000":4,"us\"er":5}`,
		`{"\u005f\u0064\u006f\u0063\u0075\u006d\u0065\u006e\u0074\u005f\u0069\u0064":"x","_document_id":"y"}`,
		`{"\ud83d\ude00user":1,"\u00e4ction":2,"a\/b":3,"\b\f\n\r\t":4,"_document_id_and_more":5}`,
		`{"user":true,"org":false,"actor":null,"action":[],"business":{}}`,
		`{"` + strings.Repeat("x", 100) + `":1,"org_id":[1,[2,[3]]]}`,
	} {
		checkTopKeys(t, []byte(rec))
	}
	for _, rec := range seedRecords(t) {
		checkTopKeys(t, rec)
	}
	// The scan never runs off malformed input.
	for _, rec := range []string{`{`, `{"`, `{"user`, `{"user":`, `{"user":"a`, `{"user":"a\`, `{"user":[`, `{"user":1`,
		`{"user":1,`, `{"user" 1}`, `{1:2}`, `{"a":"b"]`, `{"user":"\`} {
		var tk topKeys
		scanTopKeys([]byte(rec), &tk)
		if tk.complete {
			t.Errorf("%s: complete", rec)
		}
	}
	seat := []byte(seatEvent600)
	if n := testing.AllocsPerRun(100, func() {
		var tk topKeys
		scanTopKeys(seat, &tk)
	}); n != 0 {
		t.Errorf("scanTopKeys allocates %v times", n)
	}
}
