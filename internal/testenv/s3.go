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
	"strconv"
	"strings"
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

	*daemon
	client *s3.Client
}

// S3Options configures StartS3: Dir holds the buckets (data/) and
// versitygw.log.
type S3Options = DaemonOptions

// StartS3 starts versitygw on a free loopback port and waits until it
// answers (at most 30 s, less if ctx ends sooner). The binary is
// $VERSITYGW if set, else versitygw on PATH, else $(go env GOPATH)/bin/versitygw.
func StartS3(ctx context.Context, opt S3Options) (*S3, error) {
	bin, err := findVersityGW()
	if err != nil {
		return nil, err
	}
	s := &S3{Region: S3Region, AccessKey: "seatline" + randHex(6), SecretKey: randHex(20)}
	// The root keys are on the command line (a private loopback server
	// with throw-away keys).
	if s.daemon, err = startDaemon(ctx, daemonSpec{name: "versitygw", bin: bin, tmp: "testenv-s3-", options: opt,
		args: func(data string, port int) []string {
			return []string{"--access", s.AccessKey, "--secret", s.SecretKey, "--region", s.Region,
				"--port", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), "--health", "/health", "--quiet", "posix", data}
		},
		ready: "/health", wait: 30 * time.Second, inUse: "address already in use"}); err != nil {
		return nil, err
	}
	s.Endpoint = "http://" + s.addr
	s.client = s.newClient()
	return s, nil
}

func findVersityGW() (string, error) { return findGoTool("VERSITYGW", "versitygw", ErrNoVersityGW) }

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

// Close stops the server (SIGTERM, SIGKILL after 10 s) and removes its
// directory if StartS3 created it. Calling it more than once is safe.
func (s *S3) Close() error { return s.stop() }

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
