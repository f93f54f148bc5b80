package objsrctest

import (
	"testing"

	"github.com/seatline/seatline/internal/testenv"
)

// Run runs the shared bucket-source tests against a store: each subtest
// gets a new bucket from newBucket (on a server of its own) and a
// ClickHouse database of its own.
func Run(t *testing.T, newBucket func(t *testing.T) testenv.Bucket) {
	for _, tc := range []struct {
		name string
		test func(t *testing.T, b *Bed)
	}{
		{"BackfillExact", BackfillExact},
		{"HostileCorpus", HostileCorpus},
		{"Kill9Backfill", func(t *testing.T, b *Bed) {
			if testing.Short() {
				t.Skip("long crash test: run without -short")
			}
			Kill9Backfill(t, b, 120, 3)
		}},
		{"Shards", Shards},
		{"Overwrite", Overwrite},
		{"Follow", Follow},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.test(t, NewBed(t, newBucket(t))) })
	}
}
