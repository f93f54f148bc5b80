package testenv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/storage"
	"google.golang.org/api/option"
)

// FakeGCSVersion is the fake-gcs-server scripts/deps.sh installs.
const FakeGCSVersion = "v1.56.1"

// ErrNoFakeGCS is returned (wrapped) by StartGCS when no fake-gcs-server
// binary can be found.
var ErrNoFakeGCS = errors.New("fake-gcs-server (the GCS server of the test bed) not found; install it: " +
	"GOFLAGS=-buildvcs=false go install github.com/fsouza/fake-gcs-server@" + FakeGCSVersion + " (about 3 minutes on 2 cores), " +
	"or run scripts/deps.sh (make test does); or point $FAKE_GCS_SERVER at the binary")

// GCS is a private fake-gcs-server (filesystem backend under Dir) on a
// free 127.0.0.1 port, speaking GCS's JSON API and XML reads over http.
// It checks no credentials: clients go anonymous or send any token.
type GCS struct {
	Endpoint string // http://127.0.0.1:PORT (the JSON API is under /storage/v1/)

	*daemon
	client *storage.Client
}

// GCSOptions configures StartGCS: Dir holds the buckets (data/) and
// fake-gcs-server.log.
type GCSOptions = DaemonOptions

// StartGCS starts fake-gcs-server on a free loopback port and waits until
// it answers (at most 30 s, less if ctx ends sooner). The binary is
// $FAKE_GCS_SERVER if set, else fake-gcs-server on PATH, else
// $(go env GOPATH)/bin/fake-gcs-server.
func StartGCS(ctx context.Context, opt GCSOptions) (*GCS, error) {
	bin, err := findGoTool("FAKE_GCS_SERVER", "fake-gcs-server", ErrNoFakeGCS)
	if err != nil {
		return nil, err
	}
	g := &GCS{}
	// -public-host: XML reads (GET /bucket/object, the SDK's default read
	// path) are answered for this Host header.
	if g.daemon, err = startDaemon(ctx, daemonSpec{name: "fake-gcs-server", bin: bin, tmp: "testenv-gcs-", options: opt,
		args: func(data string, port int) []string {
			addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
			return []string{"-scheme", "http", "-host", "127.0.0.1", "-port", strconv.Itoa(port),
				"-backend", "filesystem", "-filesystem-root", data,
				"-public-host", addr, "-external-url", "http://" + addr, "-log-level", "warn"}
		},
		ready: "/storage/v1/b", wait: 30 * time.Second, inUse: "address already in use"}); err != nil {
		return nil, err
	}
	g.Endpoint = "http://" + g.addr
	if g.client, err = g.newClient(ctx); err != nil {
		_ = g.Close()
		return nil, err
	}
	return g, nil
}

func (g *GCS) newClient(ctx context.Context) (*storage.Client, error) {
	c, err := storage.NewClient(ctx, option.WithEndpoint(g.Endpoint+"/storage/v1/"), option.WithoutAuthentication(),
		option.WithHTTPClient(&http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 16}}))
	if err != nil {
		return nil, fmt.Errorf("testenv: GCS client: %w", err)
	}
	return c, nil
}

// Client is an anonymous GCS client for this server.
func (g *GCS) Client() *storage.Client { return g.client }

// CreateBucket creates bucket.
func (g *GCS) CreateBucket(ctx context.Context, bucket string) error {
	if err := g.client.Bucket(bucket).Create(ctx, "seatline-test", nil); err != nil {
		return fmt.Errorf("testenv: creating bucket %s: %w", bucket, err)
	}
	return nil
}

// Put stores body as bucket/key and returns its generation in decimal.
func (g *GCS) Put(ctx context.Context, bucket, key string, body []byte) (string, error) {
	w := g.client.Bucket(bucket).Object(key).NewWriter(ctx)
	w.ChunkSize = 0 // one request: the bodies are small
	if _, err := w.Write(body); err != nil {
		w.Close()
		return "", fmt.Errorf("testenv: putting %s/%s: %w", bucket, key, err)
	}
	if err := w.Close(); err != nil {
		return "", fmt.Errorf("testenv: putting %s/%s: %w", bucket, key, err)
	}
	return strconv.FormatInt(w.Attrs().Generation, 10), nil
}

// Env is what a process that reads this server needs so that no Google
// client library probes anything but loopback: the metadata server is a
// closed loopback port, and the user's own Application Default
// Credentials, emulator and mTLS settings are blanked. Clients still name
// their credentials (--gcs-anonymous, --gcs-credentials-file).
func (g *GCS) Env() []string {
	return []string{
		"GCE_METADATA_HOST=" + closedLoopback(), "GOOGLE_APPLICATION_CREDENTIALS=", "STORAGE_EMULATOR_HOST=",
		"GOOGLE_API_USE_CLIENT_CERTIFICATE=false", "GOOGLE_CLOUD_UNIVERSE_DOMAIN=", "GOOGLE_CLOUD_QUOTA_PROJECT=",
	}
}

var closedPort struct {
	once sync.Once
	addr string
}

// closedLoopback is a loopback address where nothing listens (a port that
// was free when asked): connections to it are refused at once.
func closedLoopback() string {
	closedPort.once.Do(func() {
		port := 9 // discard: nothing listens on it on a test machine
		if ports, err := freePorts(1); err == nil {
			port = ports[0]
		}
		closedPort.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	})
	return closedPort.addr
}

// IngestArgs are the ingest flags for reading bucket from this server.
func (g *GCS) IngestArgs(bucket string) []string {
	return []string{"--source", "gcs", "--gcs-bucket", bucket, "--gcs-endpoint", g.Endpoint, "--gcs-anonymous"}
}

// Close stops the server (SIGTERM, SIGKILL after 10 s) and removes its
// directory if StartGCS created it. Calling it more than once is safe.
func (g *GCS) Close() error {
	if g.client != nil {
		_ = g.client.Close()
	}
	return g.stop()
}

// NewGCS starts a GCS server (see StartGCS) that is closed when the test
// ends. A missing fake-gcs-server fails the test with how to install it.
func NewGCS(tb testing.TB) *GCS {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	g, err := StartGCS(ctx, GCSOptions{Logf: tb.Logf})
	if err != nil {
		tb.Fatalf("%v", err)
	}
	tb.Cleanup(func() { _ = g.Close() })
	return g
}

// GCSBucket is a bucket on a fake-gcs-server.
type GCSBucket struct {
	*GCS
	Name string
}

// NewGCSBucket starts a GCS server for the test (NewGCS) with one bucket.
func NewGCSBucket(tb testing.TB, name string) *GCSBucket {
	tb.Helper()
	b := &GCSBucket{GCS: NewGCS(tb), Name: name}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.CreateBucket(ctx, name); err != nil {
		tb.Fatal(err)
	}
	return b
}

func (b *GCSBucket) Kind() string { return "gcs" }

func (b *GCSBucket) Put(ctx context.Context, key string, body []byte) (string, error) {
	return b.GCS.Put(ctx, b.Name, key, body)
}

func (b *GCSBucket) Delete(ctx context.Context, key string) error {
	if err := b.client.Bucket(b.Name).Object(key).Delete(ctx); err != nil {
		return fmt.Errorf("testenv: deleting %s/%s: %w", b.Name, key, err)
	}
	return nil
}

func (b *GCSBucket) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	r, err := b.client.Bucket(b.Name).Object(key).ReadCompressed(true).NewReader(ctx)
	if err != nil {
		return nil, fmt.Errorf("testenv: reading %s/%s: %w", b.Name, key, err)
	}
	return r, nil
}

func (b *GCSBucket) IngestArgs() []string { return b.GCS.IngestArgs(b.Name) }

func (b *GCSBucket) Checkpoint(prefix string) string { return "gcs:" + b.Name + "/" + prefix }

var _ Bucket = (*GCSBucket)(nil)
