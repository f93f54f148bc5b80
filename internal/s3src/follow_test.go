package s3src_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/seatline/seatline/internal/auditgen"
	"github.com/seatline/seatline/internal/ingestd"
	"github.com/seatline/seatline/internal/timeline"
)

// TestETagChangeReprocesses: an object overwritten with other content is
// read again from line 1 on the next run; the timeline holds the events of
// both versions, each once, and the checkpoint has the new ETag.
func TestETagChangeReprocesses(t *testing.T) {
	b := newBed(t)
	b.withKeys(t)
	exp := newExpect()
	objs := genObjects("", 3, 300, 21, time.Date(2026, 11, 7, 8, 0, 0, 0, time.UTC), 0.3, exp)
	b.upload(t, objs)
	cfg := b.config(t, "--since", "2026-11-07")
	if logs, err := b.run(t, cfg, time.Minute); err != nil {
		t.Fatalf("run: %v\n%s", err, logs)
	}
	b.checkExact(t, exp)
	source := "s3:" + b.bucket + "/"
	old := b.checkpoints(t, source)[objs[1].key]

	// Overwrite the middle object: its old lines and 200 more.
	g := auditgen.New(auditgen.Config{Seed: 22, SeatFraction: 0.3, MalformedFraction: 0.005,
		Start: time.Date(2026, 11, 7, 8, 1, 30, 0, time.UTC), Step: 100 * time.Millisecond})
	lines := append([][]byte(nil), objs[1].lines...)
	for range 200 {
		r := g.Next()
		exp.record(r)
		lines = append(lines, r.Line)
	}
	changed := objs[1]
	changed.lines, changed.body = lines, gzipLines(lines)
	b.upload(t, []object{changed})

	logs, err := b.run(t, cfg, time.Minute)
	if err != nil {
		t.Fatalf("second run: %v\n%s", err, logs)
	}
	if !strings.Contains(logs, "object changed since its checkpoint") || !strings.Contains(logs, "objects_to_read=1") {
		t.Errorf("the second run should read exactly the changed object again:\n%s", logs)
	}
	b.checkExact(t, exp)
	cp := b.checkpoints(t, source)[changed.key]
	if cp.State != timeline.CheckpointDone || cp.Lines != uint64(len(lines)) || cp.ETag == old.ETag || cp.Size != uint64(len(changed.body)) {
		t.Errorf("checkpoint after the change %+v (before: %+v): want done at line %d with a new ETag", cp, old, len(lines))
	}
	// The rows of the re-read lines are stored again (new copies), but the
	// timeline shows each event once (checked above).
	if n := b.count(t, "SELECT count() FROM seat_events WHERE source_position LIKE ?", changed.key+"/%"); n == 0 {
		t.Errorf("no rows from %s", changed.key)
	}
}

// TestFollowMode: follow mode picks up objects as they appear, including a
// late object whose key sorts before keys already read (within the
// lookback), and stops cleanly on a signal with everything checkpointed.
func TestFollowMode(t *testing.T) {
	b := newBed(t)
	b.withKeys(t)
	exp := newExpect()
	start := time.Date(2026, 11, 9, 14, 0, 0, 0, time.UTC)
	wave1 := genObjects("", 5, 200, 31, start, 0.3, exp)
	b.upload(t, wave1)

	cfg := b.config(t, "--s3-mode", "follow", "--since", "2026-11-09", "--s3-poll-interval", "200ms", "--s3-lookback", "30m")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs syncBuf
	done := make(chan error, 1)
	go func() {
		done <- ingestd.Run(ctx, cfg, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	}()
	source := "s3:" + b.bucket + "/"
	waitDone := func(n int) {
		t.Helper()
		for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			got := 0
			for _, cp := range b.checkpoints(t, source) {
				if cp.State == timeline.CheckpointDone {
					got++
				}
			}
			if got == n {
				return
			}
			select {
			case err := <-done:
				t.Fatalf("follow mode ended: %v\n%s", err, logs.String())
			default:
			}
		}
		t.Fatalf("%d objects not done within a minute:\n%s", n, logs.String())
	}
	waitDone(5)

	// A new minute, and a late object of an earlier minute than the newest key read.
	wave2 := genObjects("", 3, 200, 32, start.Add(10*time.Minute), 0.3, exp)
	late := genObjects("", 1, 200, 33, start.Add(2*time.Minute), 0.3, exp)
	b.upload(t, append(wave2, late...))
	waitDone(9)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("follow mode stop: %v\n%s", err, logs.String())
		}
	case <-time.After(time.Minute):
		t.Fatal("follow mode did not stop within a minute")
	}
	if !strings.Contains(logs.String(), "stopped cleanly") {
		t.Errorf("no clean stop:\n%s", logs.String())
	}
	b.checkExact(t, exp)
}
