package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strings"
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
		// Odd real shapes.
		[]byte(`{"@timestamp":1709251200123,"_document_id":"x","action":"copilot.user_access_revoked","org":[],"org_id":[]}`),
		[]byte(`{"@timestamp":1709251200123,"_document_id":"x","action":"copilot.user_access_revoked","org":["acme"],"org_id":[163237012]}`),
		[]byte(`{"action":"copilot.cfb_seat_added","created_at":1609459200123,"user":"u"}`),
		// Case variants and repeated keys.
		[]byte(`{"@timestamp":1709251200123,"_document_id":"x","action":"copilot.cfb_seat_added","user":"alice","User":"mallory"}`),
		[]byte(`{"@timestamp":1709251200123,"_document_id":"x","action":"copilot.cfb_seat_added","Action":"copilot.cfb_seat_cancelled"}`),
		[]byte(`{"@timestamp":1709251200123,"_document_id":"x","action":"copilot.x","user":"a","\u0075ser":"b"}`),
		[]byte(`{"@timestamp":1709251200123,"_document_id":"x","action":"git.clone","action":"copilot.x"}`),
		[]byte(`{"@timestamp":1709251200123,"_document_id":"x","action":"copilot.x","actor_location":{"country_code":"US","Country_Code":"XX"}}`),
		[]byte(`{"@timestamp":1709251200123,"_document_id":"x","action":"copilot.x","operation_type":"a","operation_type":"b"}`),
	)
}

// FuzzParse: Parse never panics; it returns an error or a valid event; the
// pre-filter never rejects a record Parse would accept; an accepted event
// has no top-level identity key twice and its fields are the values of the
// exact lowercase keys (by encoding/json); a dead letter names its event
// when its one _document_id can be read; the top-level key scan agrees with
// encoding/json on every valid object.
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
			if tr, _ := Classify(ev.Action); !Admitted(ev.Action) || tr != ev.Transition {
				t.Fatalf("accepted action %q classified %v, event says %v", ev.Action, tr, ev.Transition)
			}
			if m, _ := ClassifyMembership(ev.Action); m != ev.Membership {
				t.Fatalf("accepted action %q is membership %v, event says %v", ev.Action, m, ev.Membership)
			}
			if !json.Valid(ev.Raw) || len(ev.Raw) == 0 || ev.Raw[0] != '{' {
				t.Fatalf("Raw is not a JSON object: %q", ev.Raw)
			}
			if !MaybeSeatEvent(rec) {
				t.Fatalf("MaybeSeatEvent rejected an accepted event: %q", rec)
			}
			if utf8.Valid(rec) { // Parse's precondition
				checkExactFields(t, ev)
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

// checkExactFields checks an accepted event's identity fields against the
// values of the exact lowercase top-level keys, decoded by encoding/json
// (which never folds case when decoding into a map).
func checkExactFields(t *testing.T, ev Event) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(ev.Raw))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("Raw does not decode: %v", err)
	}
	// one unwraps the array shape of org/org_id: [] is absent, [x] is x.
	one := func(v any) any {
		if a, ok := v.([]any); ok {
			if len(a) == 0 {
				return nil
			}
			return a[0]
		}
		return v
	}
	str := func(key string, v any, got string) {
		want, _ := v.(string) // absent or null: ""
		if got != want {
			t.Fatalf("%s = %q, want %q from the exact key in %q", key, got, want, ev.Raw)
		}
	}
	num := func(key string, v any, got int64) {
		var want int64
		if n, ok := v.(json.Number); ok {
			if i, err := n.Int64(); err == nil {
				want = i
			} else if f, err := n.Float64(); err == nil && f == math.Trunc(f) {
				if float64(got) != f {
					t.Fatalf("%s = %d, want %v from the exact key in %q", key, got, f, ev.Raw)
				}
				return
			} else {
				t.Fatalf("%s: accepted %v", key, n)
			}
		}
		if got != want {
			t.Fatalf("%s = %d, want %d from the exact key in %q", key, got, want, ev.Raw)
		}
	}
	str("action", m["action"], ev.Action)
	str("user", m["user"], ev.User)
	str("actor", m["actor"], ev.Actor)
	str("business", m["business"], ev.Business)
	str("org", one(m["org"]), ev.Org)
	num("user_id", m["user_id"], ev.UserID)
	num("actor_id", m["actor_id"], ev.ActorID)
	num("business_id", m["business_id"], ev.BusinessID)
	num("org_id", one(m["org_id"]), ev.OrgID)
	if id, ok := m["_document_id"]; ok {
		str("_document_id", id, ev.DocumentID)
		if ev.DocumentIDDerived {
			t.Fatalf("GitHub's id marked derived: %q", ev.Raw)
		}
	} else if !ev.DocumentIDDerived || ev.DocumentID != derivedDocumentID(ev.Raw) {
		t.Fatalf("no _document_id, DocumentID %q derived %v", ev.DocumentID, ev.DocumentIDDerived)
	}
	ts := m["@timestamp"]
	if ts == nil {
		ts = m["created_at"]
	}
	num("@timestamp", ts, ev.Timestamp.UnixMilli())
	if loc, ok := m["actor_location"].(map[string]any); ok {
		if counts, _ := refTopKeys(ev.Raw); counts["actor_location"] == 1 { // a repeated object merges in the decoder
			str("actor_location.country_code", loc["country_code"], ev.ActorCountry)
		}
	}
}

// TestParseRandomShapes generates events with random case variants,
// escaped keys, repeated keys (identity or not), array-shaped org/org_id and
// missing ids, and checks Parse against the same invariants as FuzzParse
// plus the expected outcome of each mutation.
func TestParseRandomShapes(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	values := map[string][]string{
		"_document_id": {`"id-1"`, `"id-2"`, `"a\"b"`},
		"@timestamp":   {`1709251200000`, `1.7092512e12`},
		"created_at":   {`1609459200123`, `null`},
		"action":       {`"copilot.cfb_seat_added"`, `"copilot.cfb_seat_cancelled"`, `"copilot.x"`},
		"user":         {`"alice"`, `"mallory"`, `null`},
		"user_id":      {`1`, `2`, `null`},
		"org":          {`"acme"`, `[]`, `["acme"]`, `null`},
		"org_id":       {`7`, `[]`, `[163237012]`, `null`},
		"actor":        {`"admin"`, `"bot"`},
		"actor_id":     {`3`, `4e0`},
		"business":     {`"biz"`},
		"business_id":  {`4242`},
	}
	caseVariant := func(k string) string {
		b := []byte(k)
		for {
			i := r.IntN(len(b))
			if 'a' <= b[i] && b[i] <= 'z' {
				b[i] -= 'a' - 'A'
				return string(b)
			}
		}
	}
	escapeKey := func(k string) string {
		var sb strings.Builder
		for _, c := range []byte(k) {
			if r.IntN(3) == 0 {
				fmt.Fprintf(&sb, `\u%04x`, c)
			} else {
				sb.WriteByte(c)
			}
		}
		return sb.String()
	}
	pick := func(k string) string { v := values[k]; return v[r.IntN(len(v))] }
	for i := 0; i < 5000; i++ {
		var fields []string
		counts := map[string]int{}
		for _, k := range identityKeyNames[1:] {
			if k == "_document_id" && r.IntN(5) == 0 {
				continue // an older export
			}
			fields = append(fields, fmt.Sprintf(`"%s":%s`, escapeKey(k), pick(k)))
			counts[k]++
		}
		repeated := ""
		switch r.IntN(4) {
		case 0: // a repeated identity key
			k := identityKeyNames[1+r.IntN(len(identityKeyNames)-1)]
			fields = append(fields, fmt.Sprintf(`"%s":%s`, escapeKey(k), pick(k)))
			counts[k]++
			if counts[k] > 1 {
				repeated = k
			}
		case 1: // a case variant
			k := identityKeyNames[1+r.IntN(len(identityKeyNames)-1)]
			fields = append(fields, fmt.Sprintf(`"%s":%s`, caseVariant(k), `"variant"`))
		case 2: // a repeated ordinary key
			fields = append(fields, `"operation_type":"create"`, `"operation_type":"remove"`)
		}
		fields = append(fields, `"actor_location":{"country_code":"US","Country_Code":"XX"}`)
		r.Shuffle(len(fields), func(i, j int) { fields[i], fields[j] = fields[j], fields[i] })
		rec := []byte("{" + strings.Join(fields, ",") + "}")

		ev, err := Parse(rec)
		checkTopKeys(t, rec)
		if repeated != "" {
			var ie *InvalidError
			if !errors.As(err, &ie) || ie.Reason != ReasonAmbiguousField {
				t.Fatalf("%q repeated: %v\n%s", repeated, err, rec)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%v\n%s", err, rec)
		}
		checkExactFields(t, ev)
		if ev.ActorCountry != "US" {
			t.Fatalf("country %q", ev.ActorCountry)
		}
	}
}
