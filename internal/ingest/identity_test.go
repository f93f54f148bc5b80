package ingest_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/seatline/seatline/internal/ingest"
	"github.com/seatline/seatline/internal/testenv"
	"github.com/seatline/seatline/internal/timeline"
)

// seatEvent is a seat assignment with the given identity and content.
func seatEvent(id, action, org, user string, ms int64) []byte {
	return []byte(fmt.Sprintf(`{"@timestamp":%d,"_document_id":%q,"action":%q,"org":%q,"user":%q,"actor":"admin"}`, ms, id, action, org, user))
}

// A copy of a known _document_id that says something else never becomes a
// second timeline row nor replaces the first: it is a dead letter naming
// both versions, and counted. Redeliveries of the same content pass.
// Copies meet their first version in the same batch, in a batch still
// being written (one row per batch, two writers), and in ClickHouse from an
// earlier run, including rows stored before content hashes existed.
func TestConflictingCopiesAreDeadLetters(t *testing.T) {
	ch := testenv.SharedClickHouse(t)
	db := testenv.NewDatabase(t, ch)
	ctx := context.Background()
	store := testenv.OpenTimeline(t, timeline.Config{Addrs: []string{ch.Addr()}, Database: db})
	const t0 = 1732406400000
	add, cancel := "copilot.cfb_seat_added", "copilot.cfb_seat_cancelled"
	run := func(batchRows int, msgs ...[]byte) *ingest.Metrics {
		t.Helper()
		var log []string
		var mu sync.Mutex
		src := &memSource{mu: &mu, committed: -1, log: &log, msgs: msgs}
		cfg := ingest.Defaults()
		cfg.BatchRows, cfg.Writers = batchRows, 2
		m := ingest.NewMetrics(nil)
		p, err := ingest.New(cfg, src, store, nil, m)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Run(ctx); err != nil {
			t.Fatal(err)
		}
		return m
	}

	// A row stored before the documents table had content hashes.
	// (A batch: 18.16 waits for a data block after INSERT … VALUES through Exec.)
	old, err := store.Conn().PrepareBatch(ctx, "INSERT INTO documents (document_id, content_hash, action, event_ms, org, user, actor, source, source_position)")
	if err != nil {
		t.Fatal(err)
	}
	if err := old.Append("old-1", uint64(0), add, uint64(t0), "acme", "olga", "admin", "kafka", "seat-audit/0/7"); err != nil {
		t.Fatal(err)
	}
	if err := old.Send(); err != nil {
		t.Fatal(err)
	}

	m := run(1,
		seatEvent("id-1", add, "acme", "alice", t0),
		seatEvent("id-1", add, "acme", "alice", t0),   // redelivery: same content
		seatEvent("id-1", add, "acme", "mallory", t0), // another user: next batch, first still in flight
		seatEvent("id-2", add, "acme", "bob", t0+1),
		seatEvent("id-2", cancel, "acme", "bob", t0+1), // another action: would replace the first
		seatEvent("old-1", add, "acme", "olga", t0),    // same as the pre-hash row
		seatEvent("old-1", add, "evil", "olga", t0),    // another org than the pre-hash row
		[]byte(`{"@timestamp":1732406400000,"_document_id":"m-1","action":"team.add_member","org":"acme","team":"acme/dev","user":"carol"}`),
		[]byte(`{"@timestamp":1732406400000,"_document_id":"m-1","action":"team.add_member","org":"acme","team":"acme/admins","user":"carol"}`),
	)
	if got := testutil.ToFloat64(m.Conflicts); got != 4 {
		t.Errorf("conflicts counted: %v, want 4", got)
	}
	// A later run: the first versions come from ClickHouse; one batch holds
	// a conflict of its own too.
	m = run(100,
		seatEvent("id-1", add, "acme", "alice", t0+60000), // another time
		seatEvent("id-1", add, "acme", "alice", t0),       // redelivery
		seatEvent("id-3", add, "acme", "dave", t0+2),
		seatEvent("id-3", add, "acme", "eve", t0+2),
	)
	if got := testutil.ToFloat64(m.Conflicts); got != 2 {
		t.Errorf("conflicts counted in the second run: %v, want 2", got)
	}

	q := func(sql string) string {
		t.Helper()
		rows, err := store.Conn().Query(ctx, sql)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			out = append(out, s)
		}
		return strings.Join(out, "\n")
	}
	if got, want := q(`SELECT concat(document_id, ' ', action, ' ', org, '/', user, ' ', toString(event_ms)) FROM seat_timeline ORDER BY document_id`),
		"id-1 copilot.cfb_seat_added acme/alice 1732406400000\n"+
			"id-2 copilot.cfb_seat_added acme/bob 1732406400001\n"+
			"id-3 copilot.cfb_seat_added acme/dave 1732406400002\n"+
			"old-1 copilot.cfb_seat_added acme/olga 1732406400000"; got != want {
		t.Errorf("timeline:\n%s\nwant:\n%s", got, want)
	}
	if got := q(`SELECT concat(document_id, ' ', team) FROM membership_timeline`); got != "m-1 acme/dev" {
		t.Errorf("membership timeline: %s", got)
	}
	if got := q(`SELECT toString(count()) FROM seat_history FINAL`); got != "4" {
		t.Errorf("seat_history rows: %s, want 4", got)
	}
	dead := q(`SELECT concat(document_id, ' | ', reason, ' | ', raw) FROM ingest_errors FINAL WHERE reason_code = 'conflicting_copy' ORDER BY document_id, reason`)
	for _, want := range []string{
		`id-1 | conflicting copy of _document_id "id-1": first stored from mem mem/0, this copy differs in user "alice" → "mallory"`,
		`id-1 | conflicting copy of _document_id "id-1": first stored from mem mem/0, this copy differs in time "2024-11-24T00:00:00.000Z" → "2024-11-24T00:01:00.000Z"`,
		`id-2 | conflicting copy of _document_id "id-2": first stored from mem mem/3, this copy differs in action "copilot.cfb_seat_added" → "copilot.cfb_seat_cancelled"`,
		`id-3 | conflicting copy of _document_id "id-3": first stored from mem mem/2, this copy differs in user "dave" → "eve"`,
		`m-1 | conflicting copy of _document_id "m-1": first stored from mem mem/7, this copy differs in team "acme/dev" → "acme/admins"`,
		`old-1 | conflicting copy of _document_id "old-1": first stored from kafka seat-audit/0/7, this copy differs in org "acme" → "evil"`,
		`"user":"mallory"`, // the copy itself is kept, to compare with the first
	} {
		if !strings.Contains(dead, want) {
			t.Errorf("dead letters lack %s; have:\n%s", want, dead)
		}
	}
	if n := strings.Count(dead, "\n") + 1; n != 6 {
		t.Errorf("%d conflict dead letters, want 6:\n%s", n, dead)
	}
	if got := q(`SELECT toString(count()) FROM ingest_errors FINAL WHERE reason_code != 'conflicting_copy'`); got != "0" {
		t.Errorf("%s other dead letters", got)
	}
}

// slowStore acknowledges each write after a delay and knows no stored
// document: a copy can only meet its first version among the batches still
// being written.
type slowStore struct {
	mu   sync.Mutex
	rows []timeline.Row
	dead []timeline.DeadLetter
}

func (s *slowStore) Documents(context.Context, []string) (map[string]timeline.Document, error) {
	return nil, nil
}

func (s *slowStore) WriteBatch(_ context.Context, b *timeline.Batch) error {
	time.Sleep(300 * time.Millisecond)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rows = append(s.rows, b.Rows...)
	s.dead = append(s.dead, b.Dead...)
	return nil
}

func TestConflictingCopyMeetsABatchInFlight(t *testing.T) {
	var log []string
	var mu sync.Mutex
	src := &memSource{mu: &mu, committed: -1, log: &log, msgs: [][]byte{
		seatEvent("id-1", "copilot.cfb_seat_added", "acme", "alice", 1732406400000),
		seatEvent("id-1", "copilot.cfb_seat_added", "acme", "mallory", 1732406400000),
	}}
	store := &slowStore{}
	cfg := ingest.Defaults()
	cfg.BatchRows, cfg.Writers = 1, 2
	p, err := ingest.New(cfg, src, store, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(store.rows) != 1 || store.rows[0].Event.User != "alice" || len(store.dead) != 1 || store.dead[0].ReasonCode != ingest.ReasonConflictingCopy {
		t.Fatalf("rows %d (first user %q), dead letters %+v", len(store.rows), store.rows[0].Event.User, store.dead)
	}
}
