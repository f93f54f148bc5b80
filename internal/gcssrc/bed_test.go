package gcssrc_test

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

const bucketName = "audit-stream"

func newBucket(t *testing.T) testenv.Bucket { return testenv.NewGCSBucket(t, bucketName) }

// TestBucketSource runs the tests every bucket source passes (exact
// backfill, hostile corpus, kill -9 backfill, shards, overwrite, follow
// mode) on fake-gcs-server.
func TestBucketSource(t *testing.T) { objsrctest.Run(t, newBucket) }

// reroute is the test bucket read with other ingest flags: through another
// endpoint, with other credentials.
type reroute struct {
	*testenv.GCSBucket
	args []string
}

func (r reroute) IngestArgs() []string { return r.args }

// newBed is a bed on a fake-gcs-server bucket whose worker reads with the
// flags args gives (nil: the bucket's own, anonymous). No Google client
// library in the test may look beyond loopback for credentials.
func newBed(t *testing.T, args func(g *testenv.GCSBucket) []string) *objsrctest.Bed {
	t.Helper()
	g := testenv.NewGCSBucket(t, bucketName)
	var bucket testenv.Bucket = g
	if args != nil {
		bucket = reroute{g, args(g)}
	}
	b := objsrctest.NewBed(t, bucket)
	b.WithKeys(t)
	return b
}
