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

	"github.com/seatline/seatline/internal/objsrc"
)

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

// backend lists and opens a bucket's objects.
type backend struct {
	client *s3.Client
	bucket string
	prefix string   // "" or ending in "/"
	days   []string // backfill with --since: list only these prefixes
	log    *slog.Logger
}

func (b *backend) Pages(ctx context.Context, startAfter string, fn func([]objsrc.Object) error) error {
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
			err := objsrc.Retry(ctx, func() error {
				var err error
				out, err = pg.NextPage(ctx)
				if err != nil {
					err = classify(err, b.bucket, "")
					var fe *objsrc.FatalError
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
			objs := make([]objsrc.Object, 0, len(out.Contents))
			for _, c := range out.Contents {
				key := aws.ToString(c.Key)
				if !objsrc.IsAuditKey(key) {
					continue
				}
				objs = append(objs, objsrc.Object{Key: key, ETag: strings.Trim(aws.ToString(c.ETag), `"`), Size: aws.ToInt64(c.Size)})
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

func (b *backend) Open(ctx context.Context, o objsrc.Object) (io.ReadCloser, objsrc.Object, error) {
	out, err := b.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(b.bucket), Key: aws.String(o.Key)})
	if err != nil {
		return nil, o, classify(err, b.bucket, o.Key)
	}
	got := objsrc.Object{Key: o.Key, ETag: strings.Trim(aws.ToString(out.ETag), `"`), Size: aws.ToInt64(out.ContentLength)}
	if out.ContentLength == nil {
		got.Size = -1
	}
	return out.Body, got, nil
}

// Lookback implements objsrc.Backend: a minute-aligned key d before maxKey.
func (b *backend) Lookback(maxKey string, d time.Duration) string {
	return objsrc.MinuteLookback(b.prefix, maxKey, d)
}

// classify turns an SDK error into objsrc.ErrVanished (no such key), an
// *objsrc.FatalError (configuration: bucket, credentials, permissions, region) or
// leaves it as a transient error.
func classify(err error, bucket, key string) error {
	var nsk *types.NoSuchKey
	if errors.As(err, &nsk) {
		return objsrc.ErrVanished
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "NoSuchKey", "NotFound":
			if key != "" {
				return objsrc.ErrVanished
			}
			return &objsrc.FatalError{Err: fmt.Errorf("s3-bucket: bucket %q not found (%s)", bucket, ae.ErrorCode())}
		case "NoSuchBucket":
			return &objsrc.FatalError{Err: fmt.Errorf("s3-bucket: bucket %q does not exist", bucket)}
		case "AccessDenied", "AllAccessDisabled", "Forbidden":
			return &objsrc.FatalError{Err: fmt.Errorf("s3: access denied to bucket %q%s: check the credentials' permissions (s3:ListBucket, s3:GetObject): %s",
				bucket, keyNote(key), ae.ErrorMessage())}
		case "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken", "TokenRefreshRequired":
			return &objsrc.FatalError{Err: fmt.Errorf("s3: credentials rejected (%s): check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, AWS_PROFILE or the web identity role", ae.ErrorCode())}
		case "AuthorizationHeaderMalformed", "PermanentRedirect", "IllegalLocationConstraintException":
			return &objsrc.FatalError{Err: fmt.Errorf("s3-region: bucket %q is in another region (%s): %s", bucket, ae.ErrorCode(), ae.ErrorMessage())}
		case "InvalidBucketName":
			return &objsrc.FatalError{Err: fmt.Errorf("s3-bucket: %q is not a valid bucket name", bucket)}
		}
	}
	var se *v4.SigningError
	if errors.As(err, &se) {
		return &objsrc.FatalError{Err: fmt.Errorf("s3: no usable AWS credentials (environment, shared profile, web identity, instance role): %w", err)}
	}
	var mr *aws.MissingRegionError
	if errors.As(err, &mr) {
		return &objsrc.FatalError{Err: fmt.Errorf("s3-region: %w", err)}
	}
	return err
}

func keyNote(key string) string {
	if key == "" {
		return ""
	}
	return " (object " + key + ")"
}
