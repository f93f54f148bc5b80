package testenv

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// ErrNoVersityGW is returned (wrapped) by StartS3 when no versitygw binary
// can be found.
var ErrNoVersityGW = errors.New("versitygw (the S3 server of the test bed) not found; install it: " +
	"go install github.com/versity/versitygw/cmd/versitygw@v1.8.0 (about 5 minutes on 2 cores), " +
	"or run scripts/deps.sh (make test does); or point $VERSITYGW at the binary")

// S3Region is the region the test S3 server answers for.
const S3Region = "us-east-1"

// S3 is a private versitygw S3 gateway (posix backend: buckets are
// directories of Dir) on a free 127.0.0.1 port, with generated root keys.
// Clients must use path-style addressing.
type S3 struct {
	Endpoint  string // http://127.0.0.1:PORT
	AccessKey string
	SecretKey string
	Region    string

	bin    string
	dir    string
	ownDir bool
	logf   func(string, ...any)

	mu     sync.Mutex
	proc   *process
	closed bool
	client *s3.Client
}

// S3Options configures StartS3.
type S3Options struct {
	// Dir holds the buckets (data/) and the server's output (versitygw.log).
	// "" means a new temporary directory that Close removes.
	Dir string
	// Logf, if set, receives progress messages.
	Logf func(string, ...any)
}

// StartS3 starts versitygw on a free loopback port and waits until it
// answers (at most 30 s, less if ctx ends sooner). The binary is
// $VERSITYGW if set, else versitygw on PATH, else $(go env GOPATH)/bin/versitygw.
func StartS3(ctx context.Context, opt S3Options) (*S3, error) {
	bin, err := findVersityGW()
	if err != nil {
		return nil, err
	}
	s := &S3{bin: bin, Region: S3Region, logf: opt.Logf, AccessKey: "seatline" + randHex(6), SecretKey: randHex(20)}
	if s.logf == nil {
		s.logf = func(string, ...any) {}
	}
	if opt.Dir == "" {
		if s.dir, err = os.MkdirTemp("", "testenv-s3-"); err != nil {
			return nil, fmt.Errorf("testenv: %w", err)
		}
		s.ownDir = true
	} else {
		if s.dir, err = filepath.Abs(opt.Dir); err != nil {
			return nil, fmt.Errorf("testenv: %w", err)
		}
	}
	if err := os.MkdirAll(filepath.Join(s.dir, "data"), 0o755); err != nil {
		return nil, fmt.Errorf("testenv: %w", err)
	}
	var lastErr error
	for attempt := 1; attempt <= startAttempts; attempt++ {
		ports, err := freePorts(1)
		if err != nil {
			lastErr = err
			break
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0]))
		s.Endpoint = "http://" + addr
		t0 := time.Now()
		p, err := s.spawn(addr)
		if err != nil {
			lastErr = err
			break
		}
		if err = s.waitReady(ctx, p); err == nil {
			s.proc = p
			s.logf("testenv: versitygw pid %d ready in %v on %s (dir %s)", p.pid, time.Since(t0).Round(time.Millisecond), s.Endpoint, s.dir)
			s.client = s.newClient()
			return s, nil
		}
		_ = p.cmd.Process.Kill()
		<-p.done
		lastErr = err
		if ctx.Err() != nil || !strings.Contains(err.Error(), "address already in use") {
			break
		}
	}
	if s.ownDir {
		os.RemoveAll(s.dir)
	}
	return nil, lastErr
}

func findVersityGW() (string, error) { return findGoTool("VERSITYGW", "versitygw", ErrNoVersityGW) }

// spawn starts versitygw from a goroutine locked to its thread, as
// ClickHouse.spawn does, so Pdeathsig fires only when the test binary dies.
func (s *S3) spawn(addr string) (*process, error) {
	logFile, err := os.OpenFile(filepath.Join(s.dir, "versitygw.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("testenv: %w", err)
	}
	defer logFile.Close()
	cmd := exec.Command(s.bin, "--access", s.AccessKey, "--secret", s.SecretKey, "--region", s.Region,
		"--port", addr, "--health", "/health", "--quiet", "posix", filepath.Join(s.dir, "data"))
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// The root keys are on the command line (a private loopback server with
	// throw-away keys); keep the user's AWS settings out of its environment.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + s.dir}
	cmd.SysProcAttr = sysProcAttr()
	return startChild(cmd)
}

func (s *S3) waitReady(ctx context.Context, p *process) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{Proxy: nil}}
	defer client.CloseIdleConnections()
	t0 := time.Now()
	for {
		if p.exited() {
			return fmt.Errorf("testenv: versitygw (%s, pid %d) exited during startup after %v: %v%s",
				s.bin, p.pid, time.Since(t0).Round(time.Millisecond), p.err, s.logTail())
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.Endpoint+"/health", nil)
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.done:
		case <-ctx.Done():
			return fmt.Errorf("testenv: versitygw (pid %d) not ready on %s after %v: %v%s",
				p.pid, s.Endpoint, time.Since(t0).Round(time.Millisecond), context.Cause(ctx), s.logTail())
		case <-time.After(30 * time.Millisecond):
		}
	}
}

func (s *S3) logTail() string { return fileTail(filepath.Join(s.dir, "versitygw.log")) }

func (s *S3) newClient() *s3.Client {
	return s3.New(s3.Options{
		Region:       s.Region,
		BaseEndpoint: aws.String(s.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, ""),
		HTTPClient:   &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 16}},
	})
}

// Client is an S3 client for this server (path-style, its root keys).
func (s *S3) Client() *s3.Client { return s.client }

// Dir is the server's directory (data/ holds one directory per bucket).
func (s *S3) Dir() string { return s.dir }

// PID of the server, 0 once stopped.
func (s *S3) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return 0
	}
	return s.proc.pid
}

// CreateBucket creates bucket.
func (s *S3) CreateBucket(ctx context.Context, bucket string) error {
	if _, err := s.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		return fmt.Errorf("testenv: creating bucket %s: %w", bucket, err)
	}
	return nil
}

// Put stores body as bucket/key and returns its ETag (without quotes).
func (s *S3) Put(ctx context.Context, bucket, key string, body []byte) (string, error) {
	out, err := s.client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body)})
	if err != nil {
		return "", fmt.Errorf("testenv: putting %s/%s: %w", bucket, key, err)
	}
	return strings.Trim(aws.ToString(out.ETag), `"`), nil
}

// Env is what a child process (the ingest binary) needs to reach this
// server through the AWS default credential chain. IMDS is turned off so
// nothing tries a non-loopback address, and the user's own AWS settings
// (profile, CA bundle, endpoint) are blanked.
func (s *S3) Env() []string {
	return []string{
		"AWS_ACCESS_KEY_ID=" + s.AccessKey, "AWS_SECRET_ACCESS_KEY=" + s.SecretKey, "AWS_REGION=" + s.Region,
		"AWS_EC2_METADATA_DISABLED=true", "AWS_CONFIG_FILE=" + os.DevNull, "AWS_SHARED_CREDENTIALS_FILE=" + os.DevNull,
		"AWS_PROFILE=", "AWS_CA_BUNDLE=", "AWS_ENDPOINT_URL=", "AWS_ENDPOINT_URL_S3=", "AWS_SESSION_TOKEN=",
	}
}

// IngestArgs are the ingest flags for reading bucket from this server.
func (s *S3) IngestArgs(bucket string) []string {
	return []string{"--source", "s3", "--s3-bucket", bucket, "--s3-endpoint", s.Endpoint, "--s3-path-style", "--s3-region", s.Region}
}

// Kill sends SIGKILL to the server and waits for it to exit (the data stays).
func (s *S3) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return
	}
	_ = s.proc.cmd.Process.Kill()
	<-s.proc.done
	s.proc = nil
}

// Close stops the server (SIGTERM, SIGKILL after 10 s) and removes its
// directory if StartS3 created it. Calling it more than once is safe.
func (s *S3) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if p := s.proc; p != nil {
		s.proc = nil
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	}
	if s.ownDir {
		if err := os.RemoveAll(s.dir); err != nil {
			return fmt.Errorf("testenv: %w", err)
		}
	}
	return nil
}

// NewS3 starts an S3 server (see StartS3) that is closed when the test
// ends. A missing versitygw fails the test with how to install it.
func NewS3(tb testing.TB) *S3 {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := StartS3(ctx, S3Options{Logf: tb.Logf})
	if err != nil {
		tb.Fatalf("%v", err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
