package s3src_test

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

func newBucket(t *testing.T) testenv.Bucket { return testenv.NewS3Bucket(t, bucketName) }

// newBed is a bed with a versitygw bucket.
func newBed(t *testing.T) *objsrctest.Bed { return objsrctest.NewBed(t, newBucket(t)) }

// TestBucketSource runs the tests every bucket source passes (hostile
// corpus, kill -9 backfill, shards, overwrite, follow mode) on versitygw.
func TestBucketSource(t *testing.T) { objsrctest.Run(t, newBucket) }
