// Package s3src reads GitHub's audit-log stream from S3 (GitHub's streaming
// target) or any S3-compatible store: the S3 client and its listing; the
// object engine (internal/objsrc) does the rest.
package s3src

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/seatline/seatline/internal/flagval"
	"github.com/seatline/seatline/internal/ingest"
	"github.com/seatline/seatline/internal/objsrc"
	"github.com/seatline/seatline/internal/source"
)

func init() {
	source.Register(source.Kind{Name: "s3", Help: "GitHub's audit-log streaming bucket, or any S3-compatible store",
		New: func(common *source.Common) source.Config {
			c := Defaults()
			c.Stream = objsrc.NewStream("s3", common)
			return &c
		}})
}

// Config of the S3 source. Defaults() has the values the flags show.
type Config struct {
	Bucket string
	// Prefix under which GitHub writes YYYY/MM/DD/HH/mm/<uuid>.json.log.gz
	// (a directory: "audit" and "audit/" are the same).
	Prefix    string
	Region    string // "": from the AWS environment/profile, else us-east-1
	Endpoint  string // S3-compatible endpoint (MinIO, versitygw, …): http(s)://host:port
	PathStyle bool   // path-style addressing (most S3-compatible stores need it)

	objsrc.Stream // --s3-mode, --s3-poll-interval, --s3-lookback, --s3-concurrency; --shard, --since, --until

	// HTTPClient and Credentials override the AWS defaults (tests,
	// embedding). Credentials otherwise come from the AWS default chain:
	// environment, shared profile, web identity (IRSA), ECS, EC2 IMDS.
	HTTPClient  *http.Client
	Credentials aws.CredentialsProvider
}

// Defaults are the S3 source's defaults.
func Defaults() Config { return Config{Stream: objsrc.NewStream("s3", nil)} }

// RegisterFlags binds the S3 flags to fs, with Defaults.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Bucket, "s3-bucket", "", "S3 bucket GitHub streams the audit log to (required with --source s3)")
	fs.StringVar(&c.Prefix, "s3-prefix", "", "key prefix above GitHub's YYYY/MM/DD/HH/mm/<uuid>.json.log.gz keys")
	fs.StringVar(&c.Region, "s3-region", "", "bucket region (default: AWS_REGION / the shared profile, else us-east-1)")
	fs.StringVar(&c.Endpoint, "s3-endpoint", "", "S3-compatible endpoint URL, http(s)://host[:port], e.g. http://minio:9000 (default: AWS; no credentials in it: they come from the AWS environment)")
	fs.BoolVar(&c.PathStyle, "s3-path-style", false, "path-style addressing (MinIO, versitygw and most S3-compatible stores)")
	c.Stream.RegisterFlags(fs)
}

// CheckValues names the first value given that is malformed or out of
// range, whatever --source says; it requires nothing.
func (c *Config) CheckValues() error {
	if c.Bucket != "" && (strings.ContainsAny(c.Bucket, "/ \t") || len(c.Bucket) > 255) {
		return fmt.Errorf("s3-bucket: %q is not a bucket name", c.Bucket)
	}
	if strings.ContainsAny(c.Region, " \t/") {
		return fmt.Errorf("s3-region: %q is not a region name (such as eu-west-1)", c.Region)
	}
	if c.Endpoint != "" {
		if _, err := flagval.HTTPURL("s3-endpoint", c.Endpoint); err != nil {
			return err
		}
	}
	return c.Stream.CheckValues()
}

// Validate names the first invalid field; it changes nothing.
func (c *Config) Validate() error {
	if c.Bucket == "" {
		return fmt.Errorf("s3-bucket: required with --source s3")
	}
	if err := c.CheckValues(); err != nil {
		return err
	}
	return c.Stream.Validate()
}

// prefixDir is Prefix as a directory: "" or ending in "/".
func (c *Config) prefixDir() string { return objsrc.Dir(c.Prefix) }

// SourceName is how the source's checkpoints are keyed: "s3:bucket/prefix".
func (c *Config) SourceName() string { return "s3:" + c.Bucket + "/" + c.prefixDir() }

// Describe implements source.Config.
func (c *Config) Describe() []any {
	return append([]any{"bucket", c.Bucket, "prefix", c.Prefix, "endpoint", flagval.Redact(c.Endpoint)}, c.Stream.Describe()...)
}

// Open implements source.Config: it validates c and builds the source.
func (c *Config) Open(ctx context.Context, deps source.Deps) (ingest.Source, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	client, err := NewClient(ctx, *c)
	if err != nil {
		return nil, err
	}
	log := deps.Log
	if log == nil {
		log = slog.Default()
	}
	opts, days := c.Stream.Read("s3", c.SourceName(), c.prefixDir())
	be := &backend{client: client, bucket: c.Bucket, prefix: c.prefixDir(), days: days, log: log}
	return objsrc.New(opts, be, deps)
}
