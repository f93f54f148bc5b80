package gcssrc_test

import (
	"strings"
	"testing"
	"time"

	"github.com/seatline/seatline/internal/objsrc/objsrctest"
	"github.com/seatline/seatline/internal/timeline"
)

// TestBackfill: a backfill with --since/--until reads exactly the objects
// of those days from fake-gcs-server (an object of the day before is not
// listed), lands every seat event once and every malformed line as a dead
// letter, and checkpoints each object done under "gcs:bucket/prefix/"
// with its generation as the version tag; a rerun reads nothing again.
func TestBackfill(t *testing.T) {
	b, g := newBed(t, nil)
	exp := objsrctest.NewExpect()
	objs := objsrctest.GenObjects("audit/", 6, 200, 1, time.Date(2026, 11, 3, 23, 57, 0, 0, time.UTC), 0.3, exp) // 3 on the 3rd, 3 on the 4th
	before := objsrctest.GenObjects("audit/", 1, 50, 2, time.Date(2026, 11, 2, 12, 0, 0, 0, time.UTC), 0.3, objsrctest.NewExpect())
	gens := upload(t, g, append(objs, before...))

	cfg := b.Config(t, "--gcs-prefix", "audit", "--since", "2026-11-03", "--until", "2026-11-04")
	logs, err := b.Run(t, cfg, 2*time.Minute)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, logs)
	}
	b.CheckExact(t, exp)

	cps := b.Checkpoints(t, "gcs:audit-stream/audit/")
	if len(cps) != len(objs) {
		t.Errorf("%d checkpoints, want %d (one per object of the range): %v", len(cps), len(objs), cps)
	}
	for _, o := range objs {
		cp := cps[o.Key]
		if cp.State != timeline.CheckpointDone || cp.ETag != gens[o.Key] || cp.Lines != uint64(len(o.Lines)) || cp.Size != uint64(len(o.Body)) {
			t.Errorf("checkpoint of %s = %+v, want done, generation %s, %d lines, %d bytes", o.Key, cp, gens[o.Key], len(o.Lines), len(o.Body))
		}
	}
	if _, ok := cps[before[0].Key]; ok {
		t.Errorf("%s, a day before --since, was read", before[0].Key)
	}

	rows := b.Count(t, "SELECT count() FROM seat_events")
	logs, err = b.Run(t, cfg, time.Minute)
	if err != nil {
		t.Fatalf("rerun: %v\n%s", err, logs)
	}
	if n := b.Count(t, "SELECT count() FROM seat_events"); n != rows {
		t.Errorf("rerun added %d rows", n-rows)
	}
	if !strings.Contains(logs, "objects_already_done=6") {
		t.Errorf("rerun should find all 6 objects done:\n%s", logs)
	}
}
