package ingest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	stdjson "encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/seatline/seatline/pkg/events"
)

const (
	testSalt = "0123456789abcdef-test-salt"
	clearIP  = "203.0.113.17"
	clearUA  = "LeakyAgent/7.7 (X11; test)"
)

// hashOf is the stored form of v under --pii hash with testSalt, computed
// here independently of the scrubber.
func hashOf(v string) string {
	sum := sha256.Sum256([]byte(testSalt + v))
	return hex.EncodeToString(sum[:16])
}

func decode(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := stdjson.Unmarshal(b, &v); err != nil {
		t.Fatalf("not JSON: %v: %s", err, b)
	}
	return v
}

// Every shape a PII key can take in raw: any case, escaped, nested in
// objects and arrays, with any kind of value.
var rawCases = []struct {
	name     string
	in       string
	hash     string // expected with --pii hash (hashOf's values as H(...))
	drop     string // expected with --pii drop
	hashSame bool   // hash leaves it as it is
}{
	{name: "top level",
		in:   `{"a":1,"actor_ip":"203.0.113.17","user_agent":"LeakyAgent/7.7 (X11; test)","z":2}`,
		hash: `{"a":1,"actor_ip":"H(203.0.113.17)","user_agent":"H(LeakyAgent/7.7 (X11; test))","z":2}`,
		drop: `{"a":1,"z":2}`},
	{name: "case variants",
		in:   `{"Actor_IP":"203.0.113.17","USER_AGENT":"LeakyAgent/7.7 (X11; test)","Actor_Ip_x":"203.0.113.17"}`,
		hash: `{"Actor_IP":"H(203.0.113.17)","USER_AGENT":"H(LeakyAgent/7.7 (X11; test))","Actor_Ip_x":"203.0.113.17"}`,
		drop: `{"Actor_Ip_x":"203.0.113.17"}`},
	{name: "nested objects",
		in:   `{"data":{"actor_ip":"203.0.113.17","deeper":{"User_Agent":"LeakyAgent/7.7 (X11; test)","k":true}},"b":null}`,
		hash: `{"data":{"actor_ip":"H(203.0.113.17)","deeper":{"User_Agent":"H(LeakyAgent/7.7 (X11; test))","k":true}},"b":null}`,
		drop: `{"data":{"deeper":{"k":true}},"b":null}`},
	{name: "arrays",
		in:   `{"hops":[{"actor_ip":"203.0.113.17"},[{"x":1,"USER_agent":"LeakyAgent/7.7 (X11; test)"}],"203.0.113.17"]}`,
		hash: `{"hops":[{"actor_ip":"H(203.0.113.17)"},[{"x":1,"USER_agent":"H(LeakyAgent/7.7 (X11; test))"}],"203.0.113.17"]}`,
		drop: `{"hops":[{},[{"x":1}],"203.0.113.17"]}`},
	{name: "escaped keys and values",
		in:   `{"actor\u005fip":"203.0.113.\u0031\u0037","\u0055SER\u005FAGENT":"LeakyAgent\/7.7 (X11; test)","k":"v"}`,
		hash: `{"actor\u005fip":"H(203.0.113.17)","\u0055SER\u005FAGENT":"H(LeakyAgent/7.7 (X11; test))","k":"v"}`,
		drop: `{"k":"v"}`},
	{name: "long s folds like encoding/json",
		in:   `{"uſer_agent":"LeakyAgent/7.7 (X11; test)","k":"v"}`,
		hash: `{"uſer_agent":"H(LeakyAgent/7.7 (X11; test))","k":"v"}`,
		drop: `{"k":"v"}`},
	{name: "values of every kind",
		in:   `{"actor_ip":null,"ACTOR_IP":"","Actor_ip":3232235777,"user_agent":{"name":"LeakyAgent","actor_ip":"203.0.113.17"},"User_agent":["LeakyAgent",1],"k":0}`,
		hash: `{"actor_ip":null,"ACTOR_IP":"","Actor_ip":"H(3232235777)","user_agent":"H({\"name\":\"LeakyAgent\",\"actor_ip\":\"203.0.113.17\"})","User_agent":"H([\"LeakyAgent\",1])","k":0}`,
		drop: `{"k":0}`},
	{name: "only PII, pretty-printed",
		in:   "{\n  \"actor_ip\" : \"203.0.113.17\" ,\n  \"user_agent\": \"LeakyAgent/7.7 (X11; test)\"\n}",
		hash: "{\n  \"actor_ip\" : \"H(203.0.113.17)\" ,\n  \"user_agent\": \"H(LeakyAgent/7.7 (X11; test))\"\n}",
		drop: "{\n  \n  \n}"},
	{name: "dropped first, kept, dropped last",
		in:   `{"actor_ip":"203.0.113.17","user_agent":"u","a":[],"user_agent":"v","b":{},"actor_ip":"w"}`,
		hash: `{"actor_ip":"H(203.0.113.17)","user_agent":"H(u)","a":[],"user_agent":"H(v)","b":{},"actor_ip":"H(w)"}`,
		drop: `{"a":[],"b":{}}`},
	{name: "no PII", in: `{"action":"copilot.cfb_seat_added","actor_ipv6":"x","user":"u"}`, hashSame: true,
		drop: `{"action":"copilot.cfb_seat_added","actor_ipv6":"x","user":"u"}`},
}

// expand replaces H(x) in want by hashOf(x) (x may hold parentheses).
func expand(want string) string {
	var b strings.Builder
	for {
		i := strings.Index(want, `"H(`)
		if i < 0 {
			return b.String() + want
		}
		j := strings.Index(want[i:], `)"`)
		for j >= 0 && strings.Count(want[i+3:i+j], "(") != strings.Count(want[i+3:i+j], ")") {
			k := strings.Index(want[i+j+1:], `)"`)
			if k < 0 {
				j = -1
				break
			}
			j += k + 1
		}
		if j < 0 {
			panic("unbalanced H( in " + want)
		}
		inner := want[i+3 : i+j]
		var s string
		if stdjson.Unmarshal([]byte(`"`+inner+`"`), &s) != nil {
			s = inner
		}
		b.WriteString(want[:i] + `"` + hashOf(s) + `"`)
		want = want[i+j+2:]
	}
}

func TestScrubRawEveryShape(t *testing.T) {
	for _, tc := range rawCases {
		for _, mode := range []PII{PIIHash, PIIDrop} {
			s := newScrubber(mode, testSalt)
			in := []byte(tc.in)
			got := s.members(in, true, false)
			want := tc.drop
			if mode == PIIHash {
				want = expand(tc.hash)
				if tc.hashSame {
					want = tc.in
				}
			}
			if string(got) != want {
				t.Errorf("%s/%s:\n got %s\nwant %s", tc.name, mode, got, want)
			}
			if !stdjson.Valid(got) {
				t.Errorf("%s/%s: output is not JSON: %s", tc.name, mode, got)
			}
			if string(in) != tc.in {
				t.Errorf("%s/%s: the input was modified", tc.name, mode)
			}
		}
	}
}

func TestScrubRawUnchangedIsNotCopied(t *testing.T) {
	in := []byte(`{"action":"copilot.cfb_seat_added","user":"u"}`)
	got := newScrubber(PIIDrop, "").members(in, true, false)
	if &got[0] != &in[0] {
		t.Fatalf("an event without PII should be returned as is")
	}
}

func TestScrubEventTypedAndRaw(t *testing.T) {
	line := `{"@timestamp":1732406400000,"_document_id":"d1","action":"copilot.cfb_seat_added","org":"acme","user":"u1",` +
		`"actor_ip":"203.0.113.17","user_agent":"LeakyAgent/7.7 (X11; test)","data":{"Actor_IP":"203.0.113.17"}}`
	for _, tc := range []struct {
		mode   PII
		ip, ua string
	}{
		{PIIHash, hashOf(clearIP), hashOf(clearUA)},
		{PIIDrop, "", ""},
		{PIIKeep, clearIP, clearUA},
	} {
		ev, err := events.Parse([]byte(line))
		if err != nil {
			t.Fatal(err)
		}
		newScrubber(tc.mode, testSalt).event(&ev)
		if ev.ActorIP != tc.ip || ev.UserAgent != tc.ua {
			t.Errorf("%s: typed actor_ip=%q user_agent=%q, want %q %q", tc.mode, ev.ActorIP, ev.UserAgent, tc.ip, tc.ua)
		}
		leaks := bytes.Contains(ev.Raw, []byte(clearIP)) || bytes.Contains(ev.Raw, []byte("LeakyAgent"))
		if leaks != (tc.mode == PIIKeep) {
			t.Errorf("%s: raw %s", tc.mode, ev.Raw)
		}
		// Read back, the stored raw gives the same typed columns (enrich
		// rebuilds rows from it).
		again, err := events.Parse(ev.Raw)
		if err != nil {
			t.Fatalf("%s: scrubbed raw does not parse: %v", tc.mode, err)
		}
		if again.ActorIP != tc.ip || again.UserAgent != tc.ua || again.DocumentID != "d1" {
			t.Errorf("%s: raw parses to actor_ip=%q user_agent=%q", tc.mode, again.ActorIP, again.UserAgent)
		}
	}
}

func TestScrubHashIsSaltedAndDeterministic(t *testing.T) {
	a, b := newScrubber(PIIHash, testSalt), newScrubber(PIIHash, testSalt)
	other := newScrubber(PIIHash, testSalt+"x")
	if a.value(clearIP) != b.value(clearIP) || a.value(clearIP) != hashOf(clearIP) {
		t.Errorf("the same salt must give the same hash: %s %s %s", a.value(clearIP), b.value(clearIP), hashOf(clearIP))
	}
	if a.value(clearIP) == other.value(clearIP) {
		t.Error("another salt must give another hash")
	}
	unsalted := sha256.Sum256([]byte(clearIP))
	if a.value(clearIP) == hex.EncodeToString(unsalted[:16]) {
		t.Error("hash is not salted")
	}
	if len(a.value(clearIP)) != 32 || a.value("") != "" {
		t.Errorf("hash %q: want 32 hex characters, and nothing for nothing", a.value(clearIP))
	}
	// The typed column, raw, and an address found in a dead letter agree.
	raw := a.members([]byte(`{"x":{"ACTOR_IP":"203.0.113.17"}}`), true, false)
	dead := a.deadLetter([]byte(`{"x":"from 203.0.113.17`))
	if !bytes.Contains(raw, []byte(hashOf(clearIP))) || !bytes.Contains(dead, []byte(hashOf(clearIP))) {
		t.Errorf("raw %s and dead letter %s should carry the column's hash %s", raw, dead, hashOf(clearIP))
	}
}

// Dead letters that are not JSON get the pattern scrub; those that are get
// the event scrub and lose every IP address literal too.
func TestScrubDeadLetter(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		keep []string // must survive in both modes
	}{
		{name: "truncated inside the user agent",
			in: `{"_document_id":"dl-1","actor_ip":"203.0.113.17","User_Agent":"LeakyAgent/7.7 (X11`, keep: []string{`"_document_id":"dl-1"`}},
		{name: "cut after the key's quote",
			in: `{"_document_id":"dl-2","ACTOR_IP":"203.0.1`, keep: []string{`dl-2`}},
		{name: "unquoted value, escaped key",
			in: `{"action":"copilot.x","actor\u005fip": 203.0.113.17 , "n":1,, "usEr_agent":LeakyAgent/7.7 (X11; test)}`, keep: []string{`"action":"copilot.x"`, `"n":1`}},
		{name: "nested, broken later",
			in: `{"data":{"user_agent":{"v":"LeakyAgent/7.7 (X11; test)","ip":"203.0.113.17"}},"k":[1,2}`, keep: []string{`"k":[1,2}`}},
		{name: "garbage with addresses anywhere",
			in:   `<<garbage>> from 203.0.113.17:443 and [2001:db8::17] or ::ffff:203.0.113.17, at 2026-11-01T05:17:00Z v1.2.3 10:15:30 e3b0c44298fc`,
			keep: []string{`<<garbage>> from `, `2026-11-01T05:17:00Z v1.2.3 10:15:30 e3b0c44298fc`}},
		{name: "address cut by the end of the input", in: `junk, seen from 203.0.113.1`},
		{name: "IPv6 cut by the end of the input", in: `junk, seen from 2001:db8:85a3:0:0:8a2e:3`},
		{name: "valid JSON, wrong type, address elsewhere",
			in:   `{"@timestamp":"soon","action":"copilot.cfb_seat_added","note":"login from 203.0.113.17","203.0.113.17":1,"user_agent":"LeakyAgent/7.7 (X11; test)"}`,
			keep: []string{`"@timestamp":"soon"`, `"note":"login from `}},
		{name: "valid JSON, an escaped address", in: `["\u0032\u00303.0.113.17", {"Actor_Ip":"203.0.113.17"}]`},
		{name: "a JSON string", in: `"203.0.113.17"`},
		{name: "invalid UTF-8", in: "{\"actor_ip\":\"203.0.113.17\",\"x\":\"\xff\xfe\"}"},
	} {
		for _, mode := range []PII{PIIHash, PIIDrop} {
			in := []byte(tc.in)
			got := newScrubber(mode, testSalt).deadLetter(in)
			for _, leak := range []string{clearIP, "203.0.113.1", "203.0.1", "2001:db8", "LeakyAgent", "2\\u00303"} {
				if bytes.Contains(got, []byte(leak)) {
					t.Errorf("%s/%s: %q kept: %s", tc.name, mode, leak, got)
				}
			}
			for _, k := range tc.keep {
				if !bytes.Contains(got, []byte(k)) {
					t.Errorf("%s/%s: %q lost: %s", tc.name, mode, k, got)
				}
			}
			if stdjson.Valid(in) && !stdjson.Valid(got) {
				t.Errorf("%s/%s: JSON in, not JSON out: %s", tc.name, mode, got)
			}
			if string(in) != tc.in {
				t.Errorf("%s/%s: the input was modified", tc.name, mode)
			}
		}
	}
	if got := newScrubber(PIIKeep, "").deadLetter([]byte(`{"actor_ip":"203.0.113.17"`)); string(got) != `{"actor_ip":"203.0.113.17"` {
		t.Errorf("keep changed a dead letter: %s", got)
	}
}

func TestScrubDeadLetterReplacements(t *testing.T) {
	in := []byte(`{"actor_ip":"203.0.113.17","USER_AGENT":"LeakyAgent/7.7 (X11; test)","at":"198.51.100.9","x":`)
	hash := string(newScrubber(PIIHash, testSalt).deadLetter(in))
	want := `{"actor_ip":"` + hashOf(clearIP) + `","USER_AGENT":"` + hashOf(clearUA) + `","at":"` + hashOf("198.51.100.9") + `","x":`
	if hash != want {
		t.Errorf("hash:\n got %s\nwant %s", hash, want)
	}
	drop := string(newScrubber(PIIDrop, testSalt).deadLetter(in))
	if want := `{"actor_ip":"","USER_AGENT":"","at":"","x":`; drop != want {
		t.Errorf("drop:\n got %s\nwant %s", drop, want)
	}
}

func TestScrubReason(t *testing.T) {
	s := newScrubber(PIIDrop, "")
	if got := s.reason("malformed_json: invalid character 'x' (at byte offset 12)"); got != "malformed_json: invalid character 'x' (at byte offset 12)" {
		t.Errorf("a reason without addresses changed: %s", got)
	}
	if got := s.reason("source_error: fetch from 203.0.113.17 failed"); strings.Contains(got, clearIP) {
		t.Errorf("reason keeps the address: %s", got)
	}
}

func TestValidatePII(t *testing.T) {
	for _, tc := range []struct {
		mode  PII
		salt  string
		field string // "" = valid
	}{
		{PIIKeep, "", ""},
		{PIIDrop, "", ""},
		{PIIHash, "0123456789abcdef", ""},
		{PIIHash, "", "pii-salt"},
		{PIIHash, "short-SECRET", "pii-salt"},
		{"blur", "", "pii"},
	} {
		err := validatePII(tc.mode, tc.salt)
		switch {
		case tc.field == "" && err != nil:
			t.Errorf("%s %q: %v", tc.mode, tc.salt, err)
		case tc.field != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.field+":")):
			t.Errorf("%s %q: got %v, want an error naming %s", tc.mode, tc.salt, err, tc.field)
		case err != nil && tc.salt != "" && strings.Contains(err.Error(), tc.salt):
			t.Errorf("the error echoes the salt: %v", err)
		}
	}
}

// FuzzScrub: whatever JSON object comes in, the scrubbed raw is JSON with
// the same content but for the PII members (gone, or each value a hash);
// and no input makes the dead-letter scrub modify its input or turn JSON
// into something else.
func FuzzScrub(f *testing.F) {
	for _, tc := range rawCases {
		f.Add([]byte(tc.in))
	}
	f.Add([]byte(`{"a":[{"b":{"Actor_Ip":[1,{"c":2}]}},"u\u0073er_agent"],"user_agent":"x"}`))
	f.Add([]byte(`{"actor_ip":"203.0.113.17","x":"1.2.3.4`))
	f.Fuzz(func(t *testing.T, in []byte) {
		orig := append([]byte(nil), in...)
		dead := newScrubber(PIIHash, testSalt).deadLetter(in)
		if !bytes.Equal(in, orig) {
			t.Fatal("the input was modified")
		}
		if stdjson.Valid(in) && !stdjson.Valid(dead) {
			t.Fatalf("dead letter: JSON in, not JSON out: %s", dead)
		}
		if len(in) == 0 || in[0] != '{' || !stdjson.Valid(in) {
			return
		}
		for _, mode := range []PII{PIIHash, PIIDrop} {
			out := newScrubber(mode, testSalt).members(in, true, false)
			if !bytes.Equal(in, orig) {
				t.Fatal("the input was modified")
			}
			if !stdjson.Valid(out) {
				t.Fatalf("%s: not JSON out of %s: %s", mode, in, out)
			}
			want, got := masked(t, in, mode, false), masked(t, out, mode, true)
			if !reflect.DeepEqual(want, got) {
				t.Fatalf("%s: content changed:\n in %s\nout %s\nwant %v\n got %v", mode, in, out, want, got)
			}
		}
	})
}

// member is one key and value of an object, in order, duplicates kept.
type member struct {
	k string
	v any
}

// masked is doc as the standard library reads it (objects as ordered
// members) with every PII member removed (drop) or its value masked
// (hash): null and "" stay, anything else is "PII". scrubbed: doc is
// output, whose PII values must be hashes ("LEAK" otherwise).
func masked(t *testing.T, doc []byte, mode PII, scrubbed bool) any {
	dec := stdjson.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var read func() any
	read = func() any {
		tok, err := dec.Token()
		if err != nil {
			t.Fatalf("%v: %s", err, doc)
		}
		switch tok {
		case stdjson.Delim('{'):
			ms := []member{}
			for dec.More() {
				k, _ := dec.Token()
				v := read()
				if !isPIIKey([]byte(k.(string))) {
					ms = append(ms, member{k.(string), v})
					continue
				}
				if mode == PIIDrop {
					continue
				}
				if s, ok := v.(string); v != nil && !(ok && s == "") {
					switch {
					case !scrubbed || ok && len(s) == 32 && isHex(s):
						v = "PII"
					default:
						v = "LEAK"
					}
				}
				ms = append(ms, member{k.(string), v})
			}
			dec.Token()
			return ms
		case stdjson.Delim('['):
			vs := []any{}
			for dec.More() {
				vs = append(vs, read())
			}
			dec.Token()
			return vs
		}
		return tok
	}
	v := read()
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		t.Fatalf("trailing data in %s", doc)
	}
	return v
}

func isHex(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil
}

// A hostile dead letter costs time in proportion to its size: no input
// makes the scrub rescan what it has read (64 KiB in well under a second;
// a quadratic scan would take minutes).
func TestScrubDeadLetterLinear(t *testing.T) {
	const n = 64 << 10
	for name, in := range map[string][]byte{
		"escaped quotes":   append([]byte(`"`), bytes.Repeat([]byte(`\"`), n/2)...),
		"quotes":           bytes.Repeat([]byte(`"`), n),
		"keys":             bytes.Repeat([]byte(`"actor_ip":`), n/11),
		"unclosed values":  bytes.Repeat([]byte(`"User_Agent":{"a":[`), n/19),
		"backslashes":      append(bytes.Repeat([]byte(`\`), n-1), '"'),
		"address digits":   bytes.Repeat([]byte(`1.`), n/2),
		"address hex":      bytes.Repeat([]byte(`a:`), n/2),
		"valid, many keys": []byte(`{` + strings.Repeat(`"actor_ip":"1.2.3.4","a":"5.6.7.8",`, n/40) + `"z":0}`),
	} {
		for _, mode := range []PII{PIIHash, PIIDrop} {
			start := time.Now()
			newScrubber(mode, testSalt).deadLetter(in)
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("%s/%s: %s for %d bytes", name, mode, d, len(in))
			}
		}
	}
}
