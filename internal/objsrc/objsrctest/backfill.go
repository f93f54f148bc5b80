package objsrctest

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/seatline/seatline/internal/timeline"
)

// BackfillExact: a --since/--until backfill of a GitHub-layout bucket
// stores exactly the seat events and dead letters of the days asked for
// (objects of a later day and names that are not audit objects are not
// read), checkpoints every object done with the version tag its upload
// returned, exits cleanly, and a rerun adds nothing.
func BackfillExact(t *testing.T, b *Bed) {
	b.WithKeys(t)
	exp := NewExpect()
	objs := GenObjects("", 12, 500, 1, time.Date(2026, 11, 2, 23, 55, 0, 0, time.UTC), 0.3, exp) // 23:55 … 00:06: two days
	tags := b.Upload(t, objs)
	b.Upload(t, GenObjects("", 3, 100, 2, time.Date(2026, 11, 4, 10, 0, 0, 0, time.UTC), 0.3, NewExpect())) // after --until
	if _, err := b.Bucket.Put(context.Background(), "2026/11/03/00/00/README.txt", []byte("not an audit object")); err != nil {
		t.Fatal(err)
	}

	cfg := b.Config(t, "--since", "2026-11-02", "--until", "2026-11-03")
	logs, err := b.Run(t, cfg, 2*time.Minute)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, logs)
	}
	for _, want := range []string{"input finished", "stopped cleanly", b.Bucket.Kind() + " backfill finished"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
	b.CheckExact(t, exp)
	cps := b.Checkpoints(t, b.Source(""))
	if len(cps) != len(objs) {
		t.Fatalf("%d checkpoints, want %d (the objects of the two days)", len(cps), len(objs))
	}
	for _, o := range objs {
		cp := cps[o.Key]
		if cp.State != timeline.CheckpointDone || cp.Lines != uint64(len(o.Lines)) || cp.Size != uint64(len(o.Body)) || cp.ETag == "" || cp.ETag != tags[o.Key] {
			t.Errorf("checkpoint of %s = %+v, want done at line %d, size %d, version tag %q", o.Key, cp, len(o.Lines), len(o.Body), tags[o.Key])
		}
	}
	raw := b.Count(t, "SELECT count() FROM seat_events")

	// A rerun reads nothing: every object is done with the same version.
	logs, err = b.Run(t, cfg, time.Minute)
	if err != nil {
		t.Fatalf("rerun: %v\n%s", err, logs)
	}
	if n := b.Count(t, "SELECT count() FROM seat_events"); n != raw {
		t.Errorf("rerun added %d raw rows", n-raw)
	}
	if !strings.Contains(logs, "objects_already_done="+strconv.Itoa(len(objs))) {
		t.Errorf("rerun should report %d objects already done:\n%s", len(objs), logs)
	}
	b.CheckExact(t, exp)
}
