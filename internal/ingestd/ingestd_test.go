package ingestd_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// ev builds a streamed audit event shaped like GitHub's.
func ev(id, action, org, user string, ms int64, extra string) []byte {
	s := fmt.Sprintf(`{"@timestamp":%d,"_document_id":%q,"action":%q,"actor":"octo-admin","actor_id":901,"actor_is_bot":false,`+
		`"business":"acme-corp","business_id":23462,"created_at":%d,"operation_type":"create","org":%q,"org_id":34151345,`+
		`"user":%q,"user_id":4562345,"actor_ip":"203.0.113.9","user_agent":"Mozilla/5.0","actor_location":{"country_code":"DE"},`+
		`"request_id":"A1B2:C3D4","programmatic_access_type":"","request_access_security_header":null%s}`,
		ms, id, action, ms, org, user, extra)
	return []byte(s)
}

const t0 = int64(1732406400000) // 2024-11-24T00:00:00Z

func TestHappyPath(t *testing.T) {
	b := newBed(t, 3)
	noise := []byte(`{"@timestamp":1692655003441,"_document_id":"l-qlCkgECpbC74A-ELsoJA","action":"org.add_member","actor":"github-actor","actor_id":34525324,"business":"big-biz","business_id":23462,"created_at":1692655003441,"operation_type":"create","org":"github-org","org_id":34151345,"permission":"admin","user":"github_user","user_agent":"Mozilla/5.0 ...","user_id":4562345}`)
	ndjson := bytes.Join([][]byte{
		ev("doc-3", "copilot.cfb_seat_assignment_unassigned", "acme", "alice", t0+3000, ""),
		noise,
		ev("doc-4", "copilot.cfb_seat_cancelled", "acme", "alice", t0+4000, `,"seat_assignment":"alice"`),
	}, []byte("\n"))
	array := []byte("[" + string(ev("doc-5", "copilot.cfb_seat_added", "acme", "bob", t0+5000, "")) + "," +
		string(ev("doc-6", "copilot.brand_new_thing", "acme", "bob", t0+6000, `,"future_field":{"x":1}`)) + "]")
	b.produce(t,
		ev("doc-1", "copilot.cfb_seat_added", "acme", "alice", t0+1000, ""),
		noise,
		ev("doc-2", "copilot.seat_assignment_created", "acme", "carol", t0+2000, ""),
		ndjson,
		array,
		ev("doc-7", "copilot.cfb_seat_management_changed", "acme", "", t0+7000, `,"old_value":"assign_selected","new_value":"assign_all"`),
		ev("doc-8", "business.remove_seats", "acme", "carol", t0+8000, ""),
	)
	stop := b.run(t, b.config("happy"), nil)
	b.waitCaughtUp(t, "happy", 60*time.Second)
	if err := stop(); err != nil {
		t.Fatalf("clean stop: %v", err)
	}

	if n := b.count(t, "SELECT count() FROM seat_timeline"); n != 8 {
		t.Fatalf("timeline rows = %d, want 8", n)
	}
	if n := b.count(t, "SELECT count() FROM dead_letters"); n != 0 {
		t.Fatalf("dead letters = %d, want 0", n)
	}
	rows, err := b.store.Conn().Query(context.Background(),
		"SELECT document_id, toString(transition), org, user, event_ms, toString(enrichment), source, source_position, old_value, new_value FROM seat_timeline ORDER BY event_ms")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var id, tr, org, user, enr, src, pos, oldv, newv string
		var ms uint64
		if err := rows.Scan(&id, &tr, &org, &user, &ms, &enr, &src, &pos, &oldv, &newv); err != nil {
			t.Fatal(err)
		}
		if src != "kafka" || !strings.HasPrefix(pos, "audit/") {
			t.Errorf("%s: source %q position %q", id, src, pos)
		}
		got = append(got, fmt.Sprintf("%s %s %s/%s +%d %s %s>%s", id, tr, org, user, int64(ms)-t0, enr, oldv, newv))
	}
	want := []string{
		"doc-1 assigned acme/alice +1000 pending >",
		"doc-2 assigned acme/carol +2000 pending >",
		"doc-3 unassigned acme/alice +3000 pending >",
		"doc-4 cancelled acme/alice +4000 pending >",
		"doc-5 assigned acme/bob +5000 pending >",
		"doc-6 other acme/bob +6000 not_applicable >",
		"doc-7 policy_changed acme/ +7000 not_applicable assign_selected>assign_all",
		"doc-8 unassigned acme/carol +8000 pending >",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("timeline:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// A record inside an NDJSON message is addressed by its line, one in
	// a JSON-array message by its element.
	if n := b.count(t, "SELECT count() FROM seat_timeline WHERE document_id = 'doc-4' AND match(source_position, '^audit/[0-9]+/[0-9]+:3$')"); n != 1 {
		t.Errorf("doc-4 should be at line 3 of its message")
	}
	if n := b.count(t, "SELECT count() FROM seat_timeline WHERE document_id = 'doc-6' AND match(source_position, '^audit/[0-9]+/[0-9]+#1$')"); n != 1 {
		t.Errorf("doc-6 should be element #1 of its message")
	}
	// Current seat state: alice cancelled, bob assigned (the unknown action is not a seat change), carol pending.
	srows, err := b.store.Conn().Query(context.Background(), "SELECT user, state FROM seat_state WHERE org = 'acme' ORDER BY user")
	if err != nil {
		t.Fatal(err)
	}
	defer srows.Close()
	var states []string
	for srows.Next() {
		var u, s string
		if err := srows.Scan(&u, &s); err != nil {
			t.Fatal(err)
		}
		states = append(states, u+"="+s)
	}
	if got, want := strings.Join(states, " "), "alice=cancelled bob=active carol=pending_cancellation"; got != want {
		t.Fatalf("seat_state: %s, want %s", got, want)
	}
}

func TestDuplicatesVisibleOnce(t *testing.T) {
	b := newBed(t, 2)
	var first [][]byte
	for i := 0; i < 500; i++ {
		first = append(first, ev(fmt.Sprintf("dup-%03d", i), "copilot.cfb_seat_added", "acme", fmt.Sprintf("u%03d", i), t0+int64(i), ""))
	}
	// GitHub delivers at least once: every event twice, in separate messages.
	b.produce(t, first...)
	b.produce(t, first...)
	stop := b.run(t, b.config("dups"), nil)
	b.waitCaughtUp(t, "dups", 60*time.Second)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	// A second group re-reads the whole topic: a rebalance/replay after a crash.
	stop = b.run(t, b.config("dups-replay"), nil)
	b.waitCaughtUp(t, "dups-replay", 60*time.Second)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if n := b.count(t, "SELECT count() FROM seat_events"); n < 500 {
		t.Fatalf("raw rows = %d, want at least 500", n)
	}
	if n := b.count(t, "SELECT count() FROM seat_timeline"); n != 500 {
		t.Fatalf("visible rows = %d, want 500", n)
	}
	if n := b.count(t, "SELECT uniqExact(document_id) FROM seat_timeline"); n != 500 {
		t.Fatalf("distinct ids = %d, want 500", n)
	}
}

func TestPoisonBecomesDeadLetters(t *testing.T) {
	b := newBed(t, 2)
	huge := append([]byte(`{"action":"copilot.cfb_seat_added","pad":"`), bytes.Repeat([]byte("x"), 10<<20)...)
	huge = append(huge, `"}`...)
	invalidUTF8 := bytes.Replace(ev("bad-utf8", "copilot.cfb_seat_added", "acme", "zed", t0, ""), []byte("zed"), []byte("z\xff\xfe"), 1)
	poison := [][]byte{
		[]byte(`{"action":"copilot.cfb_seat_added","_document_id":"trunc","@timestamp":17324`), // truncated
		nil, // wrong type, set below
		huge,
		invalidUTF8,
		[]byte(`{"action":"copilot.cfb_seat_added","_document_id":"","@timestamp":1732406400000}`),    // empty _document_id
		[]byte(`{"action":"copilot.cfb_seat_added","_document_id":"badts","@timestamp":"yesterday"}`), // wrong timestamp type
		[]byte(`[{"action":"copilot.cfb_seat_added"`),                                                 // broken array: its one element is cut
		[]byte(`"copilot.cfb_seat_added"`),                                                            // not an object
	}
	poison[1] = []byte(strings.Replace(string(ev("wrong-type", "copilot.cfb_seat_added", "acme", "x", t0, "")), `"actor_id":901`, `"actor_id":"nine"`, 1))
	var good [][]byte
	for i := 0; i < 100; i++ {
		good = append(good, ev(fmt.Sprintf("good-%03d", i), "copilot.cfb_seat_assignment_created", "acme", fmt.Sprintf("u%d", i), t0+int64(i), ""))
	}
	var all [][]byte
	for i, g := range good {
		all = append(all, g)
		if i < len(poison) {
			all = append(all, poison[i])
		}
	}
	b.produce(t, all...)
	stop := b.run(t, b.config("poison"), nil)
	b.waitCaughtUp(t, "poison", 90*time.Second)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if n := b.count(t, "SELECT count() FROM seat_timeline"); n != 100 {
		t.Fatalf("good rows = %d, want 100", n)
	}
	rows, err := b.store.Conn().Query(context.Background(), "SELECT reason_code, reason, raw_length, length(raw), position FROM dead_letters ORDER BY reason_code")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	codes := map[string]int{}
	for rows.Next() {
		var code, reason, pos string
		var rawLen, kept uint64
		if err := rows.Scan(&code, &reason, &rawLen, &kept, &pos); err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(pos, "#0") && code != "malformed_json" {
			t.Errorf("the cut array element %s: %s, want malformed_json", pos, code)
		}
		t.Logf("dead letter %s: %s (%d bytes, %d kept)", code, reason, rawLen, kept)
		codes[code]++
		if code == "oversize" && (rawLen < 10<<20 || kept != 64<<10) {
			t.Errorf("oversize dead letter keeps %d of %d bytes", kept, rawLen)
		}
	}
	for _, want := range []string{"malformed_json", "wrong_type", "oversize", "invalid_utf8", "missing_field", "not_an_object"} {
		if codes[want] == 0 {
			t.Errorf("no dead letter with reason %s (got %v)", want, codes)
		}
	}
	total := 0
	for _, n := range codes {
		total += n
	}
	if total != len(poison) {
		t.Errorf("dead letters = %d, want %d (%v)", total, len(poison), codes)
	}
}
