package timeline_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/seatline/seatline/internal/seatctl/seatdata"
	"github.com/seatline/seatline/schema"
)

// The read models, kept by materialized views while rows arrive (with
// redeliveries and enrichment versions), equal a rebuild from the
// timeline; a damaged model is found and a rebuild repairs it.
func TestReadModelsFollowTheTimeline(t *testing.T) {
	s, _, _ := open(t)
	ctx := context.Background()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	res, err := seatdata.Demo(ctx, s, seatdata.DemoOptions{Events: 2000, Now: time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("fixture: %d events, %d redelivered, %d enriched, %d snapshot rows", res.Rows, res.Duplicates, res.Enriched, res.Snapshot)

	diffs, err := s.CheckReadModels(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range diffs {
		t.Errorf("after ingest: %s", d)
	}

	// seat_state from the models answers as migration 5's definition.
	answer := func(q string) map[string]bool {
		rows, err := s.Conn().Query(ctx, "SELECT concat(org, '/', user, ' ', last_transition, ' ', last_actor, ' ', toString(last_change), ' ', toString(first_assigned)) FROM ("+q+")")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		out := map[string]bool{}
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				t.Fatal(err)
			}
			out[line] = true
		}
		return out
	}
	// seat_state as migration 5 defined it, straight over the
	// deduplicated timeline.
	before, err := schema.ViewAsOf("seat_state", 5)
	if err != nil {
		t.Fatal(err)
	}
	got, want := answer("SELECT * FROM seat_state"), answer(before)
	if len(want) == 0 {
		t.Fatal("no seats in the fixture")
	}
	for line := range want {
		if !got[line] {
			t.Errorf("seat_state lacks %s", line)
		}
	}
	for line := range got {
		if !want[line] {
			t.Errorf("seat_state has %s, which the timeline does not say", line)
		}
	}

	// Damage seat_current: one seat's last change made up.
	if err := s.Conn().Exec(ctx, `INSERT INTO seat_current (org, user, business, user_id, last_ms, last_transition, last_actor)
		SELECT org, user, maxState(business), maxState(user_id), maxIfState(toUInt64(4102444800000), 1),
			argMaxIfState(transition, toUInt64(-1), 1), argMaxIfState('mallory', toUInt64(-1), 1)
		FROM seat_events WHERE (org, user) IN (SELECT org, user FROM seat_state LIMIT 1) GROUP BY org, user`); err != nil {
		t.Fatal(err)
	}
	diffs, err = s.CheckReadModels(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(diffs) != 1 || diffs[0].Target != "seat_current" {
		t.Fatalf("after damaging seat_current, check found %v", diffs)
	}
	if d := diffs[0].String(); !strings.Contains(d, "model: ") || !strings.Contains(d, "mallory") || !strings.Contains(d, "rebuild: ") {
		t.Errorf("the diff shows no example of the damaged seat:\n%s", d)
	}
	var rebuilt []string
	if err := s.RebuildReadModels(ctx, func(target string, rows uint64, took time.Duration) {
		rebuilt = append(rebuilt, target)
	}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(rebuilt, " "), "seat_current") {
		t.Errorf("rebuilt %v", rebuilt)
	}
	if diffs, err = s.CheckReadModels(ctx); err != nil || len(diffs) != 0 {
		t.Fatalf("after rebuild: %v, %v", diffs, err)
	}
	if got := answer("SELECT * FROM seat_state"); len(got) != len(want) {
		t.Errorf("after rebuild seat_state has %d seats, want %d", len(got), len(want))
	}
	var mallory uint64
	if err := s.Conn().QueryRow(ctx, "SELECT count() FROM seat_state WHERE last_actor = 'mallory'").Scan(&mallory); err != nil || mallory != 0 {
		t.Errorf("made-up change survives the rebuild: %d, %v", mallory, err)
	}
}
