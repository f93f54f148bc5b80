package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"unsafe"
)

func TestRecords(t *testing.T) {
	type rec struct {
		i int
		s string
	}
	collect := func(payload string) ([]rec, error) {
		var out []rec
		err := Records([]byte(payload), func(i int, b []byte) { out = append(out, rec{i, string(b)}) })
		return out, err
	}
	tests := []struct {
		name, payload string
		want          []rec
		batchErr      bool
	}{
		{name: "empty", payload: ""},
		{name: "blank", payload: " \n\r\n "},
		{name: "single", payload: `{"a":1}`, want: []rec{{0, `{"a":1}`}}},
		{name: "single newline", payload: "{\"a\":1}\r\n", want: []rec{{0, `{"a":1}`}}},
		{name: "leading blank lines", payload: "\n\n  {\"a\":1}", want: []rec{{2, `{"a":1}`}}},
		{name: "ndjson", payload: "{\"a\":1}\n\n{\"b\":2}\r\n  \n{\"c\":3}\n", want: []rec{{0, `{"a":1}`}, {2, `{"b":2}`}, {4, `{"c":3}`}}},
		{name: "truncated last line", payload: "{\"a\":1}\n{\"b\":2}\n{\"c\":", want: []rec{{0, `{"a":1}`}, {1, `{"b":2}`}, {2, `{"c":`}}},
		{name: "truncated first line", payload: "{\"a\":\n{\"b\":2}", want: []rec{{0, `{"a":`}, {1, `{"b":2}`}}},
		{name: "pretty printed", payload: "{\n  \"a\": 1,\n  \"b\": [1,\n 2]\n}\n", want: []rec{{0, "{\n  \"a\": 1,\n  \"b\": [1,\n 2]\n}"}}},
		{name: "array", payload: ` [ {"a":"x,]}"} , {"b":[1,2,{"c":"\"]"}]},3 ,"s"] `, want: []rec{{0, `{"a":"x,]}"}`}, {1, `{"b":[1,2,{"c":"\"]"}]}`}, {2, `3`}, {3, `"s"`}}},
		{name: "empty array", payload: `[]`},
		{name: "array newlines", payload: "[\n{\"a\":1},\n{\"b\":2}\n]\n", want: []rec{{0, `{"a":1}`}, {1, `{"b":2}`}}},
		{name: "truncated array", payload: `[{"a":1},{"b":`, batchErr: true},
		{name: "array trailing", payload: `[{"a":1}] {"b":2}`, batchErr: true},
		{name: "array ndjson", payload: "[{\"a\":1}]\n[{\"b\":2}]", batchErr: true},
		{name: "array garbage", payload: `[copilot.]`, batchErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := collect(tc.payload)
			if tc.batchErr {
				var ie *InvalidError
				if !errors.As(err, &ie) || ie.Reason != ReasonMalformedBatch {
					t.Fatalf("err = %v, want malformed_batch", err)
				}
				if len(got) != 0 {
					t.Errorf("fn called on a malformed batch: %v", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("got  %v\nwant %v", got, tc.want)
			}
		})
	}
}

func TestRecordsThenParseSeedFile(t *testing.T) {
	data, err := os.ReadFile("testdata/seed_events.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	err = Records(data, func(i int, rec []byte) {
		_, err := Parse(rec)
		switch r, invalid := ReasonOf(err); {
		case err == nil:
			counts["ok"]++
		case errors.Is(err, ErrNotSeatEvent):
			counts["filtered"]++
		case invalid:
			counts[string(r)]++
		default:
			t.Errorf("line %d: unexpected error %v", i, err)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	// The line without _document_id is accepted with a derived id.
	want := map[string]int{"ok": 11, "filtered": 1, "wrong_type": 1, "invalid_timestamp": 1, "malformed_json": 1, "not_an_object": 1}
	if fmt.Sprint(counts) != fmt.Sprint(want) {
		t.Errorf("counts = %v, want %v", counts, want)
	}
}

func BenchmarkRecordsNDJSON(b *testing.B) {
	var buf bytes.Buffer
	for i := 0; i < 100; i++ {
		buf.WriteString(noiseEvent600)
		buf.WriteByte('\n')
	}
	payload := buf.Bytes()
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		_ = Records(payload, func(int, []byte) {})
	}
}

func BenchmarkRecordsArray(b *testing.B) {
	var buf bytes.Buffer
	buf.WriteByte('[')
	for i := 0; i < 100; i++ {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.WriteString(noiseEvent600)
	}
	buf.WriteByte(']')
	payload := buf.Bytes()
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		_ = Records(payload, func(int, []byte) {})
	}
}

func TestValidJSONDepth(t *testing.T) {
	for _, n := range []int{maxJSONDepth - 1, maxJSONDepth, maxJSONDepth + 1} {
		b := []byte(strings.Repeat("[", n) + strings.Repeat("]", n))
		if got, want := validJSON(b), json.Valid(b); got != want {
			t.Errorf("depth %d: validJSON %v, json.Valid %v", n, got, want)
		}
	}
}

func BenchmarkValidJSON(b *testing.B) {
	rec := []byte(noiseEvent600)
	b.SetBytes(int64(len(rec)))
	for b.Loop() {
		if !validJSON(rec) {
			b.Fatal("invalid")
		}
	}
}

func BenchmarkJSONValidStdlib(b *testing.B) {
	rec := []byte(noiseEvent600)
	b.SetBytes(int64(len(rec)))
	for b.Loop() {
		if !json.Valid(rec) {
			b.Fatal("invalid")
		}
	}
}

// FuzzRecords: Records never panics; records are non-empty, trimmed,
// in increasing index order and point into the payload; only a payload
// starting with '[' can fail, and then fn is never called.
func FuzzRecords(f *testing.F) {
	seeds := seedRecords(f)
	f.Add(bytes.Join(seeds, []byte("\n")))
	f.Add(append([]byte("["), append(bytes.Join(seeds[:6], []byte(",")), ']')...))
	f.Add([]byte("[\n" + seatEvent600 + ",\n" + noiseEvent600 + "\n]"))
	f.Add([]byte("{\n  \"a\": 1,\n  \"b\": \"copilot.x\"\n}\n"))
	f.Add([]byte("\n\n" + seatEvent600 + "\r\n\r\n" + seatEvent600[:100]))
	f.Add([]byte(`[{"a":"\"],"},1,[2,[3]],"x"]`))
	f.Add([]byte(`[{"a":1},`))
	for _, s := range seeds[:4] {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		trimmed := trimJSONSpace(payload)
		last := -1
		base := uintptr(unsafe.Pointer(unsafe.SliceData(payload)))
		err := Records(payload, func(i int, rec []byte) {
			if i <= last {
				t.Fatalf("index %d after %d", i, last)
			}
			last = i
			if len(rec) == 0 || isJSONSpace(rec[0]) || isJSONSpace(rec[len(rec)-1]) {
				t.Fatalf("record %d not trimmed or empty: %q", i, rec)
			}
			if p := uintptr(unsafe.Pointer(unsafe.SliceData(rec))); p < base || p+uintptr(len(rec)) > base+uintptr(len(payload)) {
				t.Fatalf("record %d does not alias the payload", i)
			}
			if trimmed[0] == '[' {
				if !json.Valid(rec) {
					t.Fatalf("array element %d is not valid JSON: %q", i, rec)
				}
			} else if bytes.IndexByte(rec, '\n') >= 0 && !bytes.Equal(rec, trimmed) {
				t.Fatalf("NDJSON record %d spans lines: %q", i, rec)
			}
			_, _ = Parse(rec)
		})
		if err != nil {
			var ie *InvalidError
			if !errors.As(err, &ie) || ie.Reason != ReasonMalformedBatch {
				t.Fatalf("unexpected error %v", err)
			}
			if trimmed[0] != '[' || last >= 0 {
				t.Fatalf("malformed_batch for a non-array payload or after calling fn")
			}
			if json.Valid(trimmed) {
				t.Fatalf("malformed_batch for a valid array")
			}
		} else if len(trimmed) > 0 && trimmed[0] == '[' && !json.Valid(trimmed) {
			t.Fatalf("invalid array accepted: %q", payload)
		}
	})
}

// FuzzValidJSON: validJSON agrees with json.Valid on every input.
func FuzzValidJSON(f *testing.F) {
	for _, rec := range seedRecords(f) {
		f.Add(rec)
	}
	for _, s := range []string{`[1,2]`, `-0.5e+3`, `01`, `1.`, `1e`, `-`, `"\u12"`, `"\ud800"`, "\"\x01\"", `[1,]`,
		`{"a":1,}`, `{"a" 1}`, ` true `, `nul`, `[[[[]]]]`, `{"a":[{"b":null}]}`, "\"\xff\"", `"\/\b\f\n\r\t\"\\"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := validJSON(b), json.Valid(b); got != want {
			t.Fatalf("validJSON(%q) = %v, json.Valid = %v", b, got, want)
		}
	})
}
