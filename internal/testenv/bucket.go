package testenv

import (
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Bucket is one bucket (S3, GCS) or container (Azure Blob) on a running
// object-store test server: what the bucket sources' shared tests
// (internal/objsrc/objsrctest) need from any of them.
type Bucket interface {
	// Kind is the --source value that reads it, also the prefix of its
	// flags (--s3-mode, --azblob-mode, --gcs-mode).
	Kind() string
	// Put stores body under key (replacing what was there) and returns the
	// version tag the source checkpoints (ETag, generation).
	Put(ctx context.Context, key string, body []byte) (string, error)
	// Delete removes key.
	Delete(ctx context.Context, key string) error
	// Open reads key with the store's own client (the benchmark's raw-read
	// baseline).
	Open(ctx context.Context, key string) (io.ReadCloser, error)
	// IngestArgs are the ingest flags that read this bucket: --source and
	// where it is; credentials come from Env.
	IngestArgs() []string
	// Env is the environment a child ingest process needs (credentials);
	// in-process tests set it with t.Setenv.
	Env() []string
	// Checkpoint is the source name the checkpoints of a read of keys
	// under prefix are kept under ("s3:bucket/prefix/").
	Checkpoint(prefix string) string
}

// S3Bucket is a bucket on a versitygw server.
type S3Bucket struct {
	*S3
	Name string
}

// NewS3Bucket starts an S3 server for the test (NewS3) with one bucket.
func NewS3Bucket(tb testing.TB, name string) *S3Bucket {
	tb.Helper()
	b := &S3Bucket{S3: NewS3(tb), Name: name}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.CreateBucket(ctx, name); err != nil {
		tb.Fatal(err)
	}
	return b
}

func (b *S3Bucket) Kind() string { return "s3" }

func (b *S3Bucket) Put(ctx context.Context, key string, body []byte) (string, error) {
	return b.S3.Put(ctx, b.Name, key, body)
}

func (b *S3Bucket) Delete(ctx context.Context, key string) error {
	if _, err := b.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(b.Name), Key: aws.String(key)}); err != nil {
		return fmt.Errorf("testenv: deleting %s/%s: %w", b.Name, key, err)
	}
	return nil
}

func (b *S3Bucket) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	out, err := b.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(b.Name), Key: aws.String(key)})
	if err != nil {
		return nil, fmt.Errorf("testenv: reading %s/%s: %w", b.Name, key, err)
	}
	return out.Body, nil
}

func (b *S3Bucket) IngestArgs() []string { return b.S3.IngestArgs(b.Name) }

func (b *S3Bucket) Checkpoint(prefix string) string { return "s3:" + b.Name + "/" + prefix }
