package enrich_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/seatline/seatline/internal/enrich"
	"github.com/seatline/seatline/internal/ghsim"
	"github.com/seatline/seatline/internal/timeline"
	"github.com/seatline/seatline/pkg/events"
	"github.com/seatline/seatline/pkg/ghclient"
)

// An event newer than a cached answer is looked up again: an unassignment
// right after a lookup must not be enriched with the seat as it was before.
func TestChangeAfterCachedLookupIsLookedUpAgain(t *testing.T) {
	const tok = "ghp_enrichTestToken000000000000000000"
	sim := ghsim.New(ghsim.Options{Tokens: []string{tok}, Start: time.Now().Add(-time.Hour)})
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	if err := sim.AddOrg("acme", ghsim.AssignSelected, "business"); err != nil {
		t.Fatal(err)
	}
	sim.AddUser("mona")
	if err := sim.AddMember("acme", "mona"); err != nil {
		t.Fatal(err)
	}
	if err := sim.Assign("acme", "", "mona"); err != nil {
		t.Fatal(err)
	}
	gh, err := ghclient.New(ghclient.Config{BaseURL: sim.URL() + "/", Token: tok}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	cfg := enrich.WorkerDefaults()
	cfg.Budget = 5 * time.Second
	e, err := enrich.New(ghclient.NewLookup(gh, ghclient.LookupConfig{}), gh, cfg)
	if err != nil {
		t.Fatal(err)
	}
	row := func(action string, at time.Time) []timeline.Row {
		tr, _ := events.Classify(action)
		ev := events.Event{DocumentID: action, Action: action, Transition: tr, Org: "acme", User: "mona", Timestamp: at}
		return []timeline.Row{timeline.NewRow(ev, "test", "p", time.Now())}
	}
	first := row("copilot.cfb_seat_added", time.Now().Add(-time.Minute))
	e.Enrich(context.Background(), first)
	if first[0].Seat.Status != timeline.SeatActive {
		t.Fatalf("after assignment: %s", first[0].Seat.Status)
	}
	if err := sim.Unassign("acme", "", "mona"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond)
	second := row("copilot.cfb_seat_assignment_unassigned", time.Now())
	e.Enrich(context.Background(), second)
	if second[0].Seat.Status != timeline.SeatPendingCancellation || second[0].Seat.BillableUntil == nil {
		t.Fatalf("after unassignment the cached 'active' was used: %s, billable until %v", second[0].Seat.Status, second[0].Seat.BillableUntil)
	}
	// An old event (a backfill) is answered from the fresh cache: no request.
	before := sim.TotalRequests()
	old := row("copilot.cfb_seat_assignment_created", time.Now().Add(-30*time.Minute))
	e.Enrich(context.Background(), old)
	if sim.TotalRequests() != before {
		t.Errorf("an event older than the cached answer cost %d requests", sim.TotalRequests()-before)
	}
}
