package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"testing"
	"unsafe"
)

// seedRecords returns the real-shaped seed events (testdata/seed_events.ndjson:
// Copilot seat, policy and plan events, the real org.add_member event, and
// broken ones) plus a few inline edge cases.
func seedRecords(tb testing.TB) [][]byte {
	data, err := os.ReadFile("testdata/seed_events.ndjson")
	if err != nil {
		tb.Fatal(err)
	}
	var out [][]byte
	for _, l := range bytes.Split(data, []byte("\n")) {
		if len(l) > 0 {
			out = append(out, l)
		}
	}
	return append(out,
		[]byte(seatEvent600), []byte(noiseEvent600),
		[]byte("{\"@timestamp\":1709251200123,\"_document_id\":\"x\",\"action\":\"copilot.cfb_seat_added\",\"user\":\"\xff\xfe\"}"),
		[]byte(`{"@timestamp":1709251200123,"_document_id":"x","action":"copilot\u002ecfb_seat_added"}`),
		[]byte(`{"@timestamp":1709251200123,"_document_id":"x","action":"business.remove_seats","actor_id":1e3}`),
		[]byte(`{"@timestamp":1709251200123,"_document_id":"x","action":"copilot.x","ACTION":"git.clone"}`),
		[]byte(`{"@timestamp":1709251200123,"_document_id":"x","action":"copilot.x","actor_location":{"country_code":null}}`),
		[]byte(` {} `), []byte(`[]`), []byte(``), []byte(`{"action":null}`),
	)
}

// FuzzParse: Parse never panics; it returns an error or a valid event; and
// the pre-filter never rejects a record Parse would accept.
func FuzzParse(f *testing.F) {
	for _, rec := range seedRecords(f) {
		f.Add(rec)
	}
	f.Fuzz(func(t *testing.T, rec []byte) {
		orig := bytes.Clone(rec)
		ev, err := Parse(rec, 4096)
		if !bytes.Equal(rec, orig) {
			t.Fatal("Parse modified its input")
		}
		var ie *InvalidError
		switch {
		case err == nil:
			if ev.DocumentID == "" {
				t.Fatal("accepted event without _document_id")
			}
			if ms := ev.Timestamp.UnixMilli(); ms < minTimestampMs || ms >= maxTimestampMs {
				t.Fatalf("accepted timestamp %d out of range", ms)
			}
			if !ev.CreatedAt.IsZero() {
				if ms := ev.CreatedAt.UnixMilli(); ms < minTimestampMs || ms >= maxTimestampMs {
					t.Fatalf("accepted created_at %d out of range", ms)
				}
			}
			if tr, ok := Classify(ev.Action); !ok || tr != ev.Transition {
				t.Fatalf("accepted action %q classified %v %v, event says %v", ev.Action, tr, ok, ev.Transition)
			}
			if !json.Valid(ev.Raw) || len(ev.Raw) == 0 || ev.Raw[0] != '{' {
				t.Fatalf("Raw is not a JSON object: %q", ev.Raw)
			}
			if !MaybeSeatEvent(rec) {
				t.Fatalf("MaybeSeatEvent rejected an accepted event: %q", rec)
			}
		case errors.Is(err, ErrNotSeatEvent):
			if _, ok := Classify(ev.Action); ok {
				t.Fatalf("ErrNotSeatEvent for seat action %q", ev.Action)
			}
		case errors.As(err, &ie):
			if ie.Reason == "" || err.Error() == "" {
				t.Fatalf("empty reason: %#v", ie)
			}
			if ie.Reason == ReasonMalformedBatch {
				t.Fatalf("Parse returned %v", err)
			}
		default:
			t.Fatalf("unexpected error type %T: %v", err, err)
		}
	})
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
			_, _ = Parse(rec, 0)
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
