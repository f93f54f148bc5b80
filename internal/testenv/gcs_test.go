package testenv

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/storage"
)

func TestFindFakeGCSEnv(t *testing.T) {
	t.Setenv("FAKE_GCS_SERVER", filepath.Join(t.TempDir(), "no-such-fake-gcs-server"))
	_, err := StartGCS(context.Background(), GCSOptions{})
	if !errors.Is(err, ErrNoFakeGCS) {
		t.Fatalf("err = %v, want ErrNoFakeGCS", err)
	}
	if !strings.Contains(err.Error(), "go install github.com/fsouza/fake-gcs-server@"+FakeGCSVersion) {
		t.Errorf("error lacks the install hint: %v", err)
	}
}

// TestGCSBucket: what the shared bucket tests rely on: every write of a
// name is a new generation, reads see the newest, a deleted object is
// gone, and Close stops the server.
func TestGCSBucket(t *testing.T) {
	b := NewGCSBucket(t, "audit-stream")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	key := "2026/11/03/00/01/aaaa.json.log.gz"
	g1, err := b.Put(ctx, key, []byte("first\n"))
	if err != nil {
		t.Fatal(err)
	}
	g2, err := b.Put(ctx, key, []byte("second\n"))
	if err != nil {
		t.Fatal(err)
	}
	if g1 == "" || g1 == "0" || g1 == g2 {
		t.Errorf("generations %q then %q: want two different non-zero ones", g1, g2)
	}
	r, err := b.Open(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	r.Close()
	if err != nil || string(got) != "second\n" {
		t.Errorf("read %q, %v; want the second write", got, err)
	}
	if err := b.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Open(ctx, key); !errors.Is(err, storage.ErrObjectNotExist) {
		t.Errorf("reading a deleted object: %v, want ErrObjectNotExist", err)
	}
	if args := strings.Join(b.IngestArgs(), " "); !strings.Contains(args, "--gcs-endpoint "+b.Endpoint) || !strings.Contains(args, "--gcs-bucket audit-stream") {
		t.Errorf("IngestArgs %s", args)
	}
	pid := b.PID()
	if err := b.Close(); err != nil || b.PID() != 0 || pid == 0 {
		t.Errorf("Close: %v, pid %d → %d", err, pid, b.PID())
	}
}
