package timeline_test

import (
	"context"
	"testing"
	"time"

	"github.com/seatline/seatline/internal/timeline"
)

// A checkpoint without a state or a time is written in progress, now; a
// later write of the same key wins (its version is higher).
func TestCheckpointsRoundTrip(t *testing.T) {
	s, ctx := migrated(t), context.Background()
	before := time.Now().Add(-time.Second)
	if err := s.WriteCheckpoints(ctx, []timeline.Checkpoint{
		{Source: "s3:b/", Key: "a", ETag: "e1", Size: 10, Lines: 3},
		{Source: "s3:b/", Key: "b", ETag: "e2", Size: 20, Lines: 5},
	}); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	if err := s.WriteCheckpoints(ctx, []timeline.Checkpoint{
		{Source: "s3:b/", Key: "b", ETag: "e2", Size: 20, Lines: 9, State: timeline.CheckpointError, Detail: "gzip: truncated at line 10", UpdatedAt: at},
	}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Checkpoints(ctx, "s3:b/", "", "")
	if err != nil {
		t.Fatal(err)
	}
	a, b := got["a"], got["b"]
	if len(got) != 2 || a.State != timeline.CheckpointInProgress || a.ETag != "e1" || a.Size != 10 || a.Lines != 3 || a.UpdatedAt.Before(before) {
		t.Errorf("a: %+v (of %d keys), want in_progress e1 10 bytes 3 lines, updated now", a, len(got))
	}
	// updated_at is max() over the key's writes: the default "now" of the first.
	if b.State != timeline.CheckpointError || b.Lines != 9 || b.Detail != "gzip: truncated at line 10" || !b.Finished("e2") {
		t.Errorf("b: %+v, want the second write (error at line 9)", b)
	}
}

// A claimed document reads back as written, every column of it; an id
// never claimed is absent.
func TestDocumentsRoundTrip(t *testing.T) {
	s, ctx := migrated(t), context.Background()
	d := timeline.Document{ID: "d1", ContentHash: 0xfeedface, Action: "copilot.cfb_seat_added", EventMs: 1767225600123,
		Business: "acme-corp", Org: "acme", User: "alice", Actor: "bob", Team: "acme/core", EnterpriseTeam: "ent:core",
		Source: "kafka", Position: "audit/0/7"}
	if err := s.WriteBatch(ctx, &timeline.Batch{Claims: []timeline.Document{d}}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Documents(ctx, []string{"d1", "never-claimed"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got["d1"] != d {
		t.Fatalf("documents %+v, want only %+v", got, d)
	}
}
