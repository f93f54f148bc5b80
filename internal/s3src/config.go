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
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/seatline/seatline/internal/flagval"
	"github.com/seatline/seatline/internal/ingest"
	"github.com/seatline/seatline/internal/objsrc"
	"github.com/seatline/seatline/internal/source"
)

// Mode of the S3 source.
const (
	ModeFollow   = "follow"   // poll for new objects, forever
	ModeBackfill = "backfill" // read a date range (or the whole prefix) once, then end
)

func init() {
	source.Register(source.Kind{Name: "s3", Help: "GitHub's audit-log streaming bucket, or any S3-compatible store",
		New: func(common *source.Common) source.Config { c := Defaults(); c.common = common; return &c }})
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

	Mode         string        // follow or backfill
	PollInterval time.Duration // follow: between listings
	// Lookback: follow mode lists again from this long before the newest
	// key seen, for objects that appear late with an earlier key (keys
	// within a minute sort by a random UUID). Objects already done are
	// skipped by their checkpoint.
	Lookback    time.Duration
	Concurrency int // objects downloaded at once

	// HTTPClient and Credentials override the AWS defaults (tests,
	// embedding). Credentials otherwise come from the AWS default chain:
	// environment, shared profile, web identity (IRSA), ECS, EC2 IMDS.
	HTTPClient  *http.Client
	Credentials aws.CredentialsProvider

	common *source.Common // --shard, --since, --until
}

// Defaults are the S3 source's defaults.
func Defaults() Config {
	return Config{Mode: ModeFollow, PollInterval: 30 * time.Second, Lookback: time.Hour, Concurrency: 4, common: &source.Common{}}
}

// Ranges of the S3 flags.
var (
	pollIntervalFlag = flagval.Duration{Name: "s3-poll-interval", Min: 100 * time.Millisecond, Max: 24 * time.Hour}
	lookbackFlag     = flagval.Duration{Name: "s3-lookback", Min: 0, Max: 7 * 24 * time.Hour}
	concurrencyFlag  = flagval.Int{Name: "s3-concurrency", Min: 1, Max: 64}
)

// RegisterFlags binds the S3 flags to fs, with Defaults.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	d := Defaults()
	fs.StringVar(&c.Bucket, "s3-bucket", "", "S3 bucket GitHub streams the audit log to (required with --source s3)")
	fs.StringVar(&c.Prefix, "s3-prefix", "", "key prefix above GitHub's YYYY/MM/DD/HH/mm/<uuid>.json.log.gz keys")
	fs.StringVar(&c.Region, "s3-region", "", "bucket region (default: AWS_REGION / the shared profile, else us-east-1)")
	fs.StringVar(&c.Endpoint, "s3-endpoint", "", "S3-compatible endpoint URL, http(s)://host[:port], e.g. http://minio:9000 (default: AWS; no credentials in it: they come from the AWS environment)")
	fs.BoolVar(&c.PathStyle, "s3-path-style", false, "path-style addressing (MinIO, versitygw and most S3-compatible stores)")
	fs.StringVar(&c.Mode, "s3-mode", d.Mode, "follow: poll for new objects for ever; backfill: read --since..--until once, then exit 0")
	fs.DurationVar(&c.PollInterval, pollIntervalFlag.Name, d.PollInterval, pollIntervalFlag.Usage("follow mode: time between listings"))
	fs.DurationVar(&c.Lookback, lookbackFlag.Name, d.Lookback, lookbackFlag.Usage("follow mode: list again from this long before the newest key seen (late objects)"))
	fs.IntVar(&c.Concurrency, concurrencyFlag.Name, d.Concurrency, concurrencyFlag.Usage("objects downloaded and read at once"))
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
	switch c.Mode {
	case ModeFollow, ModeBackfill:
	default:
		return fmt.Errorf("s3-mode: must be follow or backfill, got %q", c.Mode)
	}
	if err := flagval.First(pollIntervalFlag.Check(c.PollInterval), lookbackFlag.Check(c.Lookback), concurrencyFlag.Check(c.Concurrency)); err != nil {
		return err
	}
	_, err := objsrc.ParseShard(c.common.Shard)
	return err
}

// Validate names the first invalid field; it changes nothing.
func (c *Config) Validate() error {
	if c.Bucket == "" {
		return fmt.Errorf("s3-bucket: required with --source s3")
	}
	if err := c.CheckValues(); err != nil {
		return err
	}
	_, _, err := objsrc.ParseDays(c.common.Since, c.common.Until, c.Mode == ModeBackfill, time.Now())
	return err
}

// prefixDir is Prefix as a directory: "" or ending in "/".
func (c *Config) prefixDir() string {
	p := strings.TrimLeft(c.Prefix, "/")
	if p != "" && !strings.HasSuffix(p, "/") {
		p += "/"
	}
	return p
}

// SourceName is how the source's checkpoints are keyed: "s3:bucket/prefix".
func (c *Config) SourceName() string { return "s3:" + c.Bucket + "/" + c.prefixDir() }

// Describe implements source.Config.
func (c *Config) Describe() []any {
	return []any{"bucket", c.Bucket, "prefix", c.Prefix, "mode", c.Mode, "since", c.common.Since, "until", c.common.Until,
		"endpoint", flagval.Redact(c.Endpoint), "concurrency", c.Concurrency, "shard", shardOrAll(c.common.Shard)}
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
	shard, _ := objsrc.ParseShard(c.common.Shard)
	log := deps.Log
	if log == nil {
		log = slog.Default()
	}
	be := &backend{client: client, bucket: c.Bucket, prefix: c.prefixDir(), log: log}
	opts := objsrc.Options{
		Kind: "s3", Checkpoint: c.SourceName(),
		Follow: c.Mode == ModeFollow, PollInterval: c.PollInterval, Lookback: c.Lookback,
		Concurrency: c.Concurrency, Shard: shard,
	}
	if days, ok, _ := objsrc.ParseDays(c.common.Since, c.common.Until, !opts.Follow, time.Now()); ok {
		if opts.Follow {
			opts.StartAfter = c.prefixDir() + days.Since.Format("2006/01/02/")
		} else {
			be.days = days.Prefixes(c.prefixDir())
		}
	}
	return objsrc.New(opts, be, deps)
}

func shardOrAll(s string) string {
	if s == "" {
		return "0/1"
	}
	return s
}
