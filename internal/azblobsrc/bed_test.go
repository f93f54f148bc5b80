package azblobsrc_test

import (
	"os"
	"testing"

	"github.com/seatline/seatline/internal/objsrc/objsrctest"
	"github.com/seatline/seatline/internal/testenv"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.Shutdown()
	os.Exit(code)
}

func newContainer(t *testing.T) *testenv.AzureContainer {
	return testenv.NewAzureContainer(t, "audit-stream")
}

// TestBucketSource runs the tests every bucket source passes (exact
// backfill, hostile corpus, kill -9 backfill, shards, overwrite, follow
// mode) on Azurite.
func TestBucketSource(t *testing.T) {
	objsrctest.Run(t, func(t *testing.T) testenv.Bucket { return newContainer(t) })
}
