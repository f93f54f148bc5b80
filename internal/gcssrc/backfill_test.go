package gcssrc_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/seatline/seatline/internal/timeline"
)

// TestBackfill: a backfill with --since/--until reads exactly the objects
// of those days from fake-gcs-server (an object of the day before is not
// listed), lands every seat event once and every malformed line as a dead
// letter, and checkpoints each object done under "gcs:bucket/prefix/"
// with its generation as the version tag; a rerun reads nothing again.
func TestBackfill(t *testing.T) {
	b := newBed(t)
	exp := newExpect()
	objs := genObjects("audit/", 6, 200, 1, time.Date(2026, 11, 3, 23, 57, 0, 0, time.UTC), exp) // 3 on the 3rd, 3 on the 4th
	before := genObjects("audit/", 1, 50, 2, time.Date(2026, 11, 2, 12, 0, 0, 0, time.UTC), newExpect())
	gens := b.upload(t, append(objs, before...))

	cfg := b.config(t, "--gcs-prefix", "audit", "--since", "2026-11-03", "--until", "2026-11-04")
	logs, err := b.run(t, cfg, 2*time.Minute)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, logs)
	}
	b.checkExact(t, exp)

	cps, err := b.store.Checkpoints(context.Background(), "gcs:audit-stream/audit/", "", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(cps) != len(objs) {
		t.Errorf("%d checkpoints, want %d (one per object of the range): %v", len(cps), len(objs), cps)
	}
	for _, o := range objs {
		cp := cps[o.key]
		if cp.State != timeline.CheckpointDone || cp.ETag != gens[o.key] || cp.Lines != uint64(len(o.lines)) || cp.Size != uint64(len(o.body)) {
			t.Errorf("checkpoint of %s = %+v, want done, generation %s, %d lines, %d bytes", o.key, cp, gens[o.key], len(o.lines), len(o.body))
		}
	}
	if _, ok := cps[before[0].key]; ok {
		t.Errorf("%s, a day before --since, was read", before[0].key)
	}

	rows := b.count(t, "SELECT count() FROM seat_events")
	logs, err = b.run(t, cfg, time.Minute)
	if err != nil {
		t.Fatalf("rerun: %v\n%s", err, logs)
	}
	if n := b.count(t, "SELECT count() FROM seat_events"); n != rows {
		t.Errorf("rerun added %d rows", n-rows)
	}
	if !strings.Contains(logs, "objects_already_done=6") {
		t.Errorf("rerun should find all 6 objects done:\n%s", logs)
	}
}
