package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"testing"
	"unicode/utf8"
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
		// Case variants and repeated keys.
		[]byte(`{"@timestamp":1709251200123,"_document_id":"x","action":"copilot.cfb_seat_added","user":"alice","User":"mallory"}`),
		[]byte(`{"@timestamp":1709251200123,"_document_id":"x","action":"copilot.cfb_seat_added","Action":"copilot.cfb_seat_cancelled"}`),
		[]byte(`{"@timestamp":1709251200123,"_document_id":"x","action":"copilot.x","user":"a","\u0075ser":"b"}`),
		[]byte(`{"@timestamp":1709251200123,"_document_id":"x","action":"git.clone","action":"copilot.x"}`),
		[]byte(`{"@timestamp":1709251200123,"_document_id":"x","action":"copilot.x","actor_location":{"country_code":"US","Country_Code":"XX"}}`),
		[]byte(`{"@timestamp":1709251200123,"_document_id":"x","action":"copilot.x","operation_type":"a","operation_type":"b"}`),
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
		ev, err := Parse(rec)
		if !bytes.Equal(rec, orig) {
			t.Fatal("Parse modified its input")
		}
		checkTopKeys(t, rec)
		var ie *InvalidError
		switch {
		case err == nil:
			if counts, ok := refTopKeys(ev.Raw); !ok {
				t.Fatalf("Raw is not a JSON object: %q", ev.Raw)
			} else {
				for _, k := range identityKeyNames[1:] {
					if counts[k] > 1 {
						t.Fatalf("accepted an event with %d %q keys: %q", counts[k], k, ev.Raw)
					}
				}
			}
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
			// A dead letter from a decoded object names its event exactly
			// when there is one top-level _document_id and it is a string.
			if ie.Reason != ReasonMalformedJSON && ie.Reason != ReasonNotObject && utf8.Valid(rec) {
				if want := refDocumentID(t, ev.Raw); ev.DocumentID != want {
					t.Fatalf("%v: DocumentID %q, want %q in %q", err, ev.DocumentID, want, rec)
				}
			}
		default:
			t.Fatalf("unexpected error type %T: %v", err, err)
		}
	})
}

// refDocumentID is the record's _document_id by encoding/json: the value of
// the one top-level "_document_id" key when it is a string, else "".
func refDocumentID(t *testing.T, raw []byte) string {
	counts, ok := refTopKeys(raw)
	if !ok {
		t.Fatalf("not a JSON object: %q", raw)
	}
	if counts["_document_id"] != 1 {
		return ""
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	var id string
	if json.Unmarshal(m["_document_id"], &id) != nil {
		return ""
	}
	return id
}
