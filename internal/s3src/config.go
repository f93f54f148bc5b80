// Package s3src reads GitHub audit events from objects: S3 (GitHub's
// audit-log streaming target, or any S3-compatible store) and local files
// (an audit-log export, a directory of streamed objects). One engine serves
// both: listing, sharding, parallel downloads, gzip and line reading,
// JSON-array exports, and checkpoints in ClickHouse (source_checkpoints).
//
// Every line of an object is one ingest.Message: Stream is the object key
// (or the file's absolute path), Offset its 1-based line number (for a
// JSON-array file, the element number), so dead letters and timeline rows
// carry positions like "2026/11/01/05/17/<uuid>.json.log.gz/42".
//
// Guarantees, as for Kafka: a checkpoint is written only when the pipeline
// commits, i.e. after ClickHouse acknowledged every row before it; a
// restarted worker skips objects done with the same ETag and resumes an
// object after its last acknowledged line. A damaged object (truncated or
// corrupt gzip) gives the lines before the damage plus one dead letter and
// is checkpointed as "error"; it never stops the stream.
package s3src

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// Mode of the S3 source.
const (
	ModeFollow   = "follow"   // poll for new objects, forever
	ModeBackfill = "backfill" // read a date range (or the whole prefix) once, then end
)

// DateLayout is the format of Since and Until.
const DateLayout = "2006-01-02"

// Config of the S3 source. Zero values take the defaults noted.
type Config struct {
	Bucket string // required
	// Prefix under which GitHub writes YYYY/MM/DD/HH/mm/<uuid>.json.log.gz
	// (treated as a directory: "audit" and "audit/" are the same).
	Prefix    string
	Region    string // default: from the AWS environment/profile, else us-east-1
	Endpoint  string // S3-compatible endpoint (MinIO, versitygw, …): http(s)://host:port
	PathStyle bool   // path-style addressing (most S3-compatible stores need it)

	Mode string // follow (default) or backfill
	// Since and Until (YYYY-MM-DD, UTC, both inclusive) bound a backfill to
	// the key prefixes of those days, so other days are never listed.
	// Backfill: Since empty means the whole prefix; Until defaults to today.
	// Follow: Since is where to start (default: the whole prefix); no Until.
	Since, Until string
	// PollInterval between listings in follow mode (default 30 s).
	PollInterval time.Duration
	// Lookback: follow mode lists again from this long before the newest key
	// seen (default 1 h), for objects that appear late with an earlier key
	// (keys within a minute sort by a random UUID). Objects already done are
	// skipped by their checkpoint.
	Lookback time.Duration

	Concurrency int    // objects downloaded at once (default 4, at most 64)
	Shard       string // "i/n": this worker reads keys whose FNV-1a hash mod n is i (default 0/1)
	// MaxLineBytes: a longer line becomes an oversize dead letter without
	// being held in memory (default 1 MiB; ingestd passes --max-event-bytes).
	MaxLineBytes int

	// Progress, if set, gets a progress bar (objects, bytes, events, ETA)
	// for a backfill; otherwise progress is logged every ProgressInterval
	// (default 10 s).
	Progress         io.Writer
	ProgressInterval time.Duration

	// Filtered, if set, is told how many lines the source dropped with the
	// byte pre-filter (events.MaybeSeatEvent, the pipeline's own first step):
	// ingestd counts them as read and filtered in the pipeline's metrics.
	Filtered func(lines int64)

	// HTTPClient and Credentials override the AWS defaults (tests, embedding).
	// Credentials otherwise come from the AWS default chain: environment,
	// shared config/credentials profile, web identity (IRSA), ECS, EC2 IMDS.
	HTTPClient  *http.Client
	Credentials aws.CredentialsProvider

	shard     Shard
	since     time.Time
	until     time.Time
	hasSince  bool
	prefixDir string
}

// Validate fills defaults and names the first invalid field.
func (c *Config) Validate() error {
	if c.Bucket == "" {
		return fmt.Errorf("s3-bucket: required with --source s3")
	}
	if strings.ContainsAny(c.Bucket, "/ ") {
		return fmt.Errorf("s3-bucket: %q is not a bucket name", c.Bucket)
	}
	c.prefixDir = strings.TrimLeft(c.Prefix, "/")
	if c.prefixDir != "" && !strings.HasSuffix(c.prefixDir, "/") {
		c.prefixDir += "/"
	}
	if c.Endpoint != "" {
		u, err := url.Parse(c.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("s3-endpoint: %q is not an http(s)://host[:port] URL", c.Endpoint)
		}
	}
	switch c.Mode {
	case "":
		c.Mode = ModeFollow
	case ModeFollow, ModeBackfill:
	default:
		return fmt.Errorf("s3-mode: must be follow or backfill, got %q", c.Mode)
	}
	var err error
	if c.Since != "" {
		if c.since, err = time.Parse(DateLayout, c.Since); err != nil {
			return fmt.Errorf("since: %q is not a date YYYY-MM-DD", c.Since)
		}
		c.hasSince = true
	}
	if c.Until != "" {
		if c.Mode != ModeBackfill {
			return fmt.Errorf("until: only with --s3-mode backfill (follow mode never ends)")
		}
		if c.until, err = time.Parse(DateLayout, c.Until); err != nil {
			return fmt.Errorf("until: %q is not a date YYYY-MM-DD", c.Until)
		}
		if !c.hasSince {
			return fmt.Errorf("until: needs --since (the first day to read)")
		}
		if c.until.Before(c.since) {
			return fmt.Errorf("until: %s is before since %s", c.Until, c.Since)
		}
	} else if c.hasSince {
		c.until = time.Now().UTC().Truncate(24 * time.Hour)
		if c.until.Before(c.since) {
			c.until = c.since
		}
	}
	if c.hasSince && c.until.Sub(c.since) > 20*366*24*time.Hour {
		return fmt.Errorf("since: %s to %s is more than 20 years", c.Since, c.until.Format(DateLayout))
	}
	if c.PollInterval == 0 {
		c.PollInterval = 30 * time.Second
	}
	if c.PollInterval < 0 {
		return fmt.Errorf("s3-poll-interval: must be positive, got %s", c.PollInterval)
	}
	if c.Lookback == 0 {
		c.Lookback = time.Hour
	}
	if c.Lookback < 0 {
		return fmt.Errorf("s3-lookback: must be positive, got %s", c.Lookback)
	}
	if err := validateCommon(&c.Concurrency, 4, "s3-concurrency", &c.MaxLineBytes, &c.ProgressInterval); err != nil {
		return err
	}
	if c.shard, err = ParseShard(c.Shard); err != nil {
		return err
	}
	return nil
}

// SourceName is how the source's checkpoints are keyed: "s3:bucket/prefix".
func (c *Config) SourceName() string { return "s3:" + c.Bucket + "/" + c.prefixDir }

// FileConfig of the local-file source.
type FileConfig struct {
	// Paths: files (any name; gzip detected by content) or directories,
	// read recursively for *.json, *.jsonl, *.ndjson, *.json.log, each optionally
	// .gz. Required.
	Paths            []string
	Concurrency      int    // files read at once (default 2)
	Shard            string // as Config.Shard
	MaxLineBytes     int    // as Config.MaxLineBytes
	Progress         io.Writer
	ProgressInterval time.Duration
	Filtered         func(lines int64) // as Config.Filtered

	shard Shard
}

// Validate fills defaults and names the first invalid field.
func (c *FileConfig) Validate() error {
	if len(c.Paths) == 0 {
		return fmt.Errorf("files: required with --source file (files or directories, comma-separated)")
	}
	if err := validateCommon(&c.Concurrency, 2, "files-concurrency", &c.MaxLineBytes, &c.ProgressInterval); err != nil {
		return err
	}
	var err error
	c.shard, err = ParseShard(c.Shard)
	return err
}

// FileSourceName keys the file source's checkpoints (keys are absolute paths).
const FileSourceName = "file:local"

func validateCommon(conc *int, defConc int, concName string, maxLine *int, every *time.Duration) error {
	if *conc == 0 {
		*conc = defConc
	}
	if *conc < 1 || *conc > 64 {
		return fmt.Errorf("%s: must be 1 to 64, got %d", concName, *conc)
	}
	if *maxLine == 0 {
		*maxLine = 1 << 20
	}
	if *maxLine < 0 {
		return fmt.Errorf("max-event-bytes: must be positive, got %d", *maxLine)
	}
	if *every <= 0 {
		*every = 10 * time.Second
	}
	return nil
}

// Shard is one worker's share of the keys.
type Shard struct{ Index, Count int }

// ParseShard reads "i/n" (0 ≤ i < n); "" is 0/1 (every key).
func ParseShard(s string) (Shard, error) {
	if s == "" {
		return Shard{0, 1}, nil
	}
	a, b, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(strings.TrimSpace(a))
	n, err2 := strconv.Atoi(strings.TrimSpace(b))
	if !ok || err1 != nil || err2 != nil || n < 1 || i < 0 || i >= n {
		return Shard{}, fmt.Errorf("shard: must be i/n with 0 ≤ i < n (e.g. 0/3), got %q", s)
	}
	return Shard{i, n}, nil
}

// Owns reports whether key belongs to this shard: FNV-1a 64 of the key
// modulo Count. Stable across processes and versions, so n workers with
// shards 0/n … n-1/n read every key exactly once.
func (s Shard) Owns(key string) bool {
	if s.Count <= 1 {
		return true
	}
	const offset64, prime64 = 14695981039346656037, 1099511628211
	h := uint64(offset64)
	for i := 0; i < len(key); i++ {
		h ^= uint64(key[i])
		h *= prime64
	}
	return h%uint64(s.Count) == uint64(s.Index)
}

func (s Shard) String() string { return strconv.Itoa(s.Index) + "/" + strconv.Itoa(s.Count) }
