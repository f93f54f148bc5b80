package s3src

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// Open validates cfg and builds the S3 source. Positions are read from and
// written to cps (a *timeline.Store). Listing starts with the first Next.
func Open(ctx context.Context, cfg Config, cps Checkpoints, log *slog.Logger) (*Source, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	client, err := NewClient(ctx, cfg)
	if err != nil {
		return nil, err
	}
	be := &s3Backend{client: client, bucket: cfg.Bucket, prefix: cfg.prefixDir, log: log}
	ec := engineConfig{
		kind: "s3", source: cfg.SourceName(),
		follow: cfg.Mode == ModeFollow, pollInterval: cfg.PollInterval, lookback: cfg.Lookback,
		concurrency: cfg.Concurrency, shard: cfg.shard, maxLineBytes: cfg.MaxLineBytes,
		progress: cfg.Progress, progressInterval: cfg.ProgressInterval, filtered: cfg.Filtered,
	}
	if cfg.hasSince {
		if ec.follow {
			ec.startAfter = cfg.prefixDir + cfg.since.Format("2006/01/02/")
		} else {
			be.days = DayPrefixes(cfg.prefixDir, cfg.since, cfg.until)
		}
	}
	return newSource(ec, be, cps, log), nil
}

// NewClient builds an S3 client for cfg (validated): credentials from the
// AWS default chain unless cfg.Credentials, cfg.Region else the
// environment's else us-east-1, cfg.Endpoint and path-style addressing for
// S3-compatible stores.
func NewClient(ctx context.Context, cfg Config) (*s3.Client, error) {
	var opts []func(*config.LoadOptions) error
	if cfg.Region != "" {
		opts = append(opts, config.WithRegion(cfg.Region))
	}
	if cfg.HTTPClient != nil {
		opts = append(opts, config.WithHTTPClient(cfg.HTTPClient))
	}
	if cfg.Credentials != nil {
		opts = append(opts, config.WithCredentialsProvider(cfg.Credentials))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("s3: loading the AWS configuration (environment, shared profile): %w", err)
	}
	if awsCfg.Region == "" {
		awsCfg.Region = "us-east-1"
	}
	return s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		o.UsePathStyle = cfg.PathStyle
	}), nil
}

// DayPrefixes are the key prefixes of the days from since to until
// (inclusive): prefix + "YYYY/MM/DD/".
func DayPrefixes(prefix string, since, until time.Time) []string {
	var out []string
	for d := since.UTC().Truncate(24 * time.Hour); !d.After(until); d = d.AddDate(0, 0, 1) {
		out = append(out, prefix+d.Format("2006/01/02/"))
	}
	return out
}

type s3Backend struct {
	client *s3.Client
	bucket string
	prefix string   // "" or ending in "/"
	days   []string // backfill with --since: list only these prefixes
	log    *slog.Logger
}

// isObjectKey: GitHub's .json.log.gz (and .json.gz, .json), NDJSON .jsonl /
// .ndjson, optionally gzipped; folder markers and anything else are skipped.
func isObjectKey(key string) bool {
	k := strings.TrimSuffix(strings.ToLower(key), ".gz")
	for _, ext := range []string{".json", ".jsonl", ".ndjson", ".json.log"} {
		if strings.HasSuffix(k, ext) {
			return true
		}
	}
	return false
}

func (b *s3Backend) pages(ctx context.Context, startAfter string, fn func([]object) error) error {
	prefixes := b.days
	if prefixes == nil {
		prefixes = []string{b.prefix}
	}
	for _, p := range prefixes {
		in := &s3.ListObjectsV2Input{Bucket: aws.String(b.bucket), Prefix: aws.String(p)}
		if startAfter > p {
			in.StartAfter = aws.String(startAfter)
		}
		pg := s3.NewListObjectsV2Paginator(b.client, in)
		for pg.HasMorePages() {
			var out *s3.ListObjectsV2Output
			warned := false
			err := retry(ctx, func() error {
				var err error
				out, err = pg.NextPage(ctx)
				if err != nil {
					err = classify(err, b.bucket, "")
					var fe *fatalError
					if !warned && !errors.As(err, &fe) && ctx.Err() == nil {
						warned = true
						b.log.Warn("listing S3 failed; retrying", "bucket", b.bucket, "prefix", p, "err", err)
					}
				}
				return err
			})
			if err != nil {
				return err
			}
			objs := make([]object, 0, len(out.Contents))
			for _, c := range out.Contents {
				key := aws.ToString(c.Key)
				if !isObjectKey(key) {
					continue
				}
				objs = append(objs, object{Key: key, ETag: strings.Trim(aws.ToString(c.ETag), `"`), Size: aws.ToInt64(c.Size)})
			}
			if len(objs) > 0 {
				if err := fn(objs); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func (b *s3Backend) open(ctx context.Context, o object) (io.ReadCloser, object, error) {
	out, err := b.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(b.bucket), Key: aws.String(o.Key)})
	if err != nil {
		return nil, o, classify(err, b.bucket, o.Key)
	}
	got := object{Key: o.Key, ETag: strings.Trim(aws.ToString(out.ETag), `"`), Size: aws.ToInt64(out.ContentLength)}
	if out.ContentLength == nil {
		got.Size = -1
	}
	return out.Body, got, nil
}

// lookback: GitHub's keys start with YYYY/MM/DD/HH/mm/ after the prefix;
// start again at the minute d before maxKey's. Other layouts restart at
// maxKey itself.
func (b *s3Backend) lookback(maxKey string, d time.Duration) string {
	rest := strings.TrimPrefix(maxKey, b.prefix)
	if len(rest) < 16 {
		return maxKey
	}
	t, err := time.Parse("2006/01/02/15/04", rest[:16])
	if err != nil {
		return maxKey
	}
	return b.prefix + t.Add(-d).Format("2006/01/02/15/04/")
}

// classify turns an SDK error into errVanished (no such key), a
// *fatalError (configuration: bucket, credentials, permissions, region) or
// leaves it as a transient error.
func classify(err error, bucket, key string) error {
	var nsk *types.NoSuchKey
	if errors.As(err, &nsk) {
		return errVanished
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "NoSuchKey", "NotFound":
			if key != "" {
				return errVanished
			}
			return &fatalError{fmt.Errorf("s3-bucket: bucket %q not found (%s)", bucket, ae.ErrorCode())}
		case "NoSuchBucket":
			return &fatalError{fmt.Errorf("s3-bucket: bucket %q does not exist", bucket)}
		case "AccessDenied", "AllAccessDisabled", "Forbidden":
			return &fatalError{fmt.Errorf("s3: access denied to bucket %q%s: check the credentials' permissions (s3:ListBucket, s3:GetObject): %s",
				bucket, keyNote(key), ae.ErrorMessage())}
		case "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken", "TokenRefreshRequired":
			return &fatalError{fmt.Errorf("s3: credentials rejected (%s): check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, AWS_PROFILE or the web identity role", ae.ErrorCode())}
		case "AuthorizationHeaderMalformed", "PermanentRedirect", "IllegalLocationConstraintException":
			return &fatalError{fmt.Errorf("s3-region: bucket %q is in another region (%s): %s", bucket, ae.ErrorCode(), ae.ErrorMessage())}
		case "InvalidBucketName":
			return &fatalError{fmt.Errorf("s3-bucket: %q is not a valid bucket name", bucket)}
		}
	}
	var se *v4.SigningError
	if errors.As(err, &se) {
		return &fatalError{fmt.Errorf("s3: no usable AWS credentials (environment, shared profile, web identity, instance role): %w", err)}
	}
	var mr *aws.MissingRegionError
	if errors.As(err, &mr) {
		return &fatalError{fmt.Errorf("s3-region: %w", err)}
	}
	return err
}

func keyNote(key string) string {
	if key == "" {
		return ""
	}
	return " (object " + key + ")"
}
