package timeline_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/seatline/seatline/internal/timeline"
	"github.com/seatline/seatline/pkg/events"
)

// A batch several times an INSERT block is sent as blocks of one INSERT:
// every row arrives whole, and the server squashes the blocks into one
// part per table, as a single block would have been.
func TestWriteBatchInBlocksIsOneInsert(t *testing.T) {
	s, ch, db := open(t)
	ctx := context.Background()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	tables := []string{"seat_events", "membership_events", "ingest_errors"}
	// No merges: a merge would hide the parts the insert made.
	for _, table := range tables {
		if _, err := ch.Query(ctx, "SYSTEM STOP MERGES "+db+"."+table); err != nil {
			t.Fatal(err)
		}
	}
	pad := strings.Repeat("x", 1000)
	ts := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	var b timeline.Batch
	var rawBytes uint64
	for i := range 4000 { // ~4 MB of raw rows: 4 blocks
		raw := fmt.Sprintf(`{"_document_id":"d%d","pad":"%s"}`, i, pad)
		rawBytes += uint64(len(raw))
		ev := events.Event{DocumentID: fmt.Sprintf("d%d", i), Timestamp: ts.Add(time.Duration(i) * time.Second),
			Action: "copilot.cfb_seat_added", Transition: events.TransitionAssigned, Org: "acme", User: fmt.Sprintf("u%d", i), Raw: []byte(raw)}
		b.Rows = append(b.Rows, timeline.NewRow(ev, "kafka", fmt.Sprintf("audit/0/%d", i), ts))
	}
	for i := range 2000 {
		ev := events.Event{DocumentID: fmt.Sprintf("m%d", i), Timestamp: ts, Action: "team.add_member", Membership: events.TeamMemberAdded,
			Org: "acme", Team: "acme/core", User: fmt.Sprintf("u%d", i), Raw: []byte(`{"pad":"` + pad + `"}`)}
		b.Members = append(b.Members, timeline.Member{Event: ev, Source: "kafka", SourcePosition: fmt.Sprintf("audit/1/%d", i), IngestedAt: ts})
	}
	for i := range 100 { // 3 MB of dead letters: 3 blocks
		raw := []byte(strings.Repeat("{", 30000))
		b.Dead = append(b.Dead, timeline.NewDeadLetter("kafka", fmt.Sprintf("audit/2/%d", i), "malformed_json", "bad", raw, ts))
	}
	if err := s.WriteBatch(ctx, &b); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		table, check string
		want         uint64
	}{
		{"seat_events", "sum(length(raw))", rawBytes},
		{"seat_events", "uniqExact(document_id)", 4000},
		{"membership_events", "count()", 2000},
		{"ingest_errors", "sum(length(raw))", 100 * 30000},
	} {
		var got uint64
		if err := s.Conn().QueryRow(ctx, "SELECT "+c.check+" FROM "+c.table).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("%s: %s = %d, want %d", c.table, c.check, got, c.want)
		}
	}
	for _, table := range tables {
		var parts uint64
		if err := s.Conn().QueryRow(ctx, "SELECT count() FROM system.parts WHERE database = ? AND table = ? AND active", db, table).Scan(&parts); err != nil {
			t.Fatal(err)
		}
		if parts != 1 {
			t.Errorf("%s: the insert made %d parts, want 1 (blocks of one INSERT are squashed)", table, parts)
		}
	}
}
