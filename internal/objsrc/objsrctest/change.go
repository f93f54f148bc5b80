package objsrctest

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/seatline/seatline/internal/auditgen"
	"github.com/seatline/seatline/internal/ingestd"
	"github.com/seatline/seatline/internal/testenv"
	"github.com/seatline/seatline/internal/timeline"
)

// Overwrite: an object overwritten with other content is
// read again from line 1 on the next run; the timeline holds the events of
// both versions, each once, and the checkpoint has the new version tag
// (ETag, generation).
func Overwrite(t *testing.T, b *Bed) {
	b.WithKeys(t)
	exp := NewExpect()
	objs := GenObjects("", 3, 300, 21, time.Date(2026, 11, 7, 8, 0, 0, 0, time.UTC), 0.3, exp)
	b.Upload(t, objs)
	cfg := b.Config(t, "--since", "2026-11-07")
	if logs, err := b.Run(t, cfg, time.Minute); err != nil {
		t.Fatalf("run: %v\n%s", err, logs)
	}
	b.CheckExact(t, exp)
	source := b.Source("")
	old := b.Checkpoints(t, source)[objs[1].Key]

	// Overwrite the middle object: its old lines and 200 more.
	g := auditgen.New(auditgen.Config{Seed: 22, SeatFraction: 0.3, MalformedFraction: 0.005,
		Start: time.Date(2026, 11, 7, 8, 1, 30, 0, time.UTC), Step: 100 * time.Millisecond})
	lines := append([][]byte(nil), objs[1].Lines...)
	for range 200 {
		r := g.Next()
		exp.Record(r)
		lines = append(lines, r.Line)
	}
	changed := objs[1]
	changed.Lines, changed.Body = lines, GzipLines(lines)
	b.Upload(t, []Object{changed})

	logs, err := b.Run(t, cfg, time.Minute)
	if err != nil {
		t.Fatalf("second run: %v\n%s", err, logs)
	}
	if !strings.Contains(logs, "object changed since its checkpoint") || !strings.Contains(logs, "objects_to_read=1") {
		t.Errorf("the second run should read exactly the changed object again:\n%s", logs)
	}
	b.CheckExact(t, exp)
	cp := b.Checkpoints(t, source)[changed.Key]
	if cp.State != timeline.CheckpointDone || cp.Lines != uint64(len(lines)) || cp.ETag == old.ETag || cp.Size != uint64(len(changed.Body)) {
		t.Errorf("checkpoint after the change %+v (before: %+v): want done at line %d with a new version tag", cp, old, len(lines))
	}
	// The rows of the re-read lines are stored again (new copies), but the
	// timeline shows each event once (checked above).
	if n := b.Count(t, "SELECT count() FROM seat_events WHERE source_position LIKE ?", changed.Key+"/%"); n == 0 {
		t.Errorf("no rows from %s", changed.Key)
	}
}

// Follow: follow mode picks up objects as they appear, including a
// late object whose key sorts before keys already read (within the
// lookback), and stops cleanly on a signal with everything checkpointed.
func Follow(t *testing.T, b *Bed) {
	b.WithKeys(t)
	exp := NewExpect()
	start := time.Date(2026, 11, 9, 14, 0, 0, 0, time.UTC)
	wave1 := GenObjects("", 5, 200, 31, start, 0.3, exp)
	b.Upload(t, wave1)

	cfg := b.Config(t, b.Flag("mode"), "follow", "--since", "2026-11-09", b.Flag("poll-interval"), "200ms", b.Flag("lookback"), "30m")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs testenv.Buffer
	done := make(chan error, 1)
	go func() {
		done <- ingestd.Run(ctx, cfg, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	}()
	source := b.Source("")
	b.WaitDone(t, source, 5, time.Minute, done, &logs)

	// A new minute, and a late object of an earlier minute than the newest key read.
	wave2 := GenObjects("", 3, 200, 32, start.Add(10*time.Minute), 0.3, exp)
	late := GenObjects("", 1, 200, 33, start.Add(2*time.Minute), 0.3, exp)
	b.Upload(t, append(wave2, late...))
	b.WaitDone(t, source, 9, time.Minute, done, &logs)
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
	b.CheckExact(t, exp)
}
