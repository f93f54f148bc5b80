package timeline_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/seatline/seatline/internal/auditgen"
	"github.com/seatline/seatline/internal/testenv"
	"github.com/seatline/seatline/internal/timeline"
	"github.com/seatline/seatline/pkg/events"
)

// BenchmarkAppendSeatRows is the CPU of filling one seat_events INSERT
// block column by column: 4,096 enriched seat rows from the generator,
// appended to a real driver batch prepared on the test server (prepared
// and aborted outside the timer: nothing is sent).
func BenchmarkAppendSeatRows(b *testing.B) {
	ch := testenv.SharedClickHouse(b)
	db := testenv.NewDatabase(b, ch)
	ctx := context.Background()
	s := testenv.OpenTimeline(b, timeline.Config{Addrs: []string{ch.Addr()}, Database: db})
	if err := s.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	g := auditgen.New(auditgen.Config{Seed: 1, SeatFraction: 1})
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	rows := make([]timeline.Row, 0, 4096)
	for len(rows) < cap(rows) {
		ev, err := events.Parse(g.Next().Line)
		if err != nil {
			continue
		}
		r := timeline.NewRow(ev, "kafka", fmt.Sprintf("audit/0/%d", len(rows)), now)
		at := now.Add(time.Second)
		r.Enrichment, r.EnrichedAt, r.Attempts, r.Version = timeline.EnrichmentEnriched, &at, 1, 1
		r.Seat = timeline.SeatDetail{Status: timeline.SeatActive, PlanType: "business", TeamSlug: "core", TeamName: "Core",
			TeamKind: timeline.TeamOrg, CreatedAt: &at, LastActivityAt: &at, LastActivityEditor: "vscode/1.99", LastAuthenticatedAt: &at}
		rows = append(rows, r)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		batch, err := s.Conn().PrepareBatch(ctx, timeline.InsertRows)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := timeline.AppendRows(batch, rows); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := batch.Abort(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(rows)), "ns/row")
}
