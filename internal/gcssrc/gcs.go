package gcssrc

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/auth"
	"cloud.google.com/go/storage"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"

	"github.com/seatline/seatline/internal/objsrc"
)

// pageSize is the listing's page: GCS's largest.
const pageSize = 1000

// sdkAttempts bounds the SDK's own retries of one call, so that a failing
// store shows in the worker's log (objsrc.Retry warns and keeps retrying)
// instead of inside the SDK's silent, unbounded retry loop.
const sdkAttempts = 3

// NewClient builds a GCS client for cfg (validated): no credentials with
// Anonymous, the key file with CredentialsFile, else Application Default
// Credentials; cfg.Endpoint for an emulator or a private endpoint.
func NewClient(ctx context.Context, cfg Config) (*storage.Client, error) {
	var opts []option.ClientOption
	if cfg.Endpoint != "" {
		opts = append(opts, option.WithEndpoint(strings.TrimSuffix(cfg.Endpoint, "/")+"/storage/v1/"))
	}
	switch {
	case cfg.Anonymous:
		opts = append(opts, option.WithoutAuthentication())
	case cfg.CredentialsFile != "":
		kind, err := keyFileType(cfg.CredentialsFile)
		if err != nil {
			return nil, err
		}
		opts = append(opts, option.WithAuthCredentialsFile(kind, cfg.CredentialsFile))
	}
	c, err := storage.NewClient(ctx, opts...)
	if err != nil {
		if cfg.CredentialsFile == "" && !cfg.Anonymous {
			return nil, &objsrc.FatalError{Err: fmt.Errorf("gcs: no Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS, GKE workload identity, the metadata server): "+
				"give --gcs-credentials-file, set up workload identity, or --gcs-anonymous for a public bucket: %w", err)}
		}
		return nil, &objsrc.FatalError{Err: fmt.Errorf("gcs: %w", err)}
	}
	c.SetRetry(storage.WithMaxAttempts(sdkAttempts))
	return c, nil
}

// backend lists and opens a bucket's objects.
type backend struct {
	bucket *storage.BucketHandle
	name   string
	prefix string   // "" or ending in "/"
	days   []string // backfill with --since: list only these prefixes
	log    *slog.Logger
	page   int // objects per listing page; 0: pageSize
}

func (b *backend) Pages(ctx context.Context, startAfter string, fn func([]objsrc.Object) error) error {
	prefixes := b.days
	if prefixes == nil {
		prefixes = []string{b.prefix}
	}
	for _, p := range prefixes {
		q := &storage.Query{Prefix: p}
		if startAfter > p {
			q.StartOffset = startAfter // inclusive: the key itself is skipped below
		}
		if err := q.SetAttrSelection([]string{"Name", "Generation", "Size"}); err != nil {
			return err
		}
		size := b.page
		if size == 0 {
			size = pageSize
		}
		token := ""
		for {
			var attrs []*storage.ObjectAttrs
			next := ""
			warned := false
			err := objsrc.Retry(ctx, func() error {
				attrs = attrs[:0]
				var err error
				// A pager from the last page's token: a failed page is asked again, not skipped.
				next, err = iterator.NewPager(b.bucket.Objects(ctx, q), size, token).NextPage(&attrs)
				if err != nil {
					err = classify(err, b.name, "")
					var fe *objsrc.FatalError
					if !warned && !errors.As(err, &fe) && ctx.Err() == nil {
						warned = true
						b.log.Warn("listing GCS failed; retrying", "bucket", b.name, "prefix", p, "err", err)
					}
				}
				return err
			})
			if err != nil {
				return err
			}
			objs := make([]objsrc.Object, 0, len(attrs))
			for _, a := range attrs {
				if a.Name == startAfter || !objsrc.IsAuditKey(a.Name) {
					continue
				}
				objs = append(objs, objsrc.Object{Key: a.Name, ETag: generation(a.Generation), Size: a.Size})
			}
			if len(objs) > 0 {
				if err := fn(objs); err != nil {
					return err
				}
			}
			if next == "" {
				break
			}
			token = next
		}
	}
	return nil
}

// generation is the version tag checkpoints keep: the object's generation
// in decimal (a new one for every write of the name).
func generation(g int64) string { return strconv.FormatInt(g, 10) }

func (b *backend) Open(ctx context.Context, o objsrc.Object) (io.ReadCloser, objsrc.Object, error) {
	// The bytes as stored: an object uploaded with Content-Encoding: gzip
	// is not decompressed by GCS, so the records stage checks the gzip
	// trailer as it does for S3.
	r, err := b.bucket.Object(o.Key).ReadCompressed(true).NewReader(ctx)
	if err != nil {
		return nil, o, classify(err, b.name, o.Key)
	}
	return r, objsrc.Object{Key: o.Key, ETag: generation(r.Attrs.Generation), Size: r.Attrs.Size}, nil
}

// Lookback implements objsrc.Backend: a minute-aligned key d before maxKey.
func (b *backend) Lookback(maxKey string, d time.Duration) string {
	return objsrc.MinuteLookback(b.prefix, maxKey, d)
}

// Permissions the worker's identity needs, for the messages.
const (
	permissions = "storage.objects.list and storage.objects.get (role roles/storage.objectViewer on the bucket)"
	credsHint   = "check --gcs-credentials-file (a key deleted or disabled?), GOOGLE_APPLICATION_CREDENTIALS or the workload identity binding"
)

// classify turns an SDK error into objsrc.ErrVanished (no such object), an
// *objsrc.FatalError (configuration: bucket, credentials, permissions) or
// leaves it as a transient error.
func classify(err error, bucket, key string) error {
	if errors.Is(err, storage.ErrObjectNotExist) && key != "" {
		return objsrc.ErrVanished
	}
	if errors.Is(err, storage.ErrBucketNotExist) {
		return &objsrc.FatalError{Err: fmt.Errorf("gcs-bucket: bucket %q does not exist", bucket)}
	}
	var ae *googleapi.Error
	if errors.As(err, &ae) {
		msg := apiMessage(ae)
		switch ae.Code {
		case http.StatusNotFound:
			if key != "" {
				return objsrc.ErrVanished
			}
			return &objsrc.FatalError{Err: fmt.Errorf("gcs-bucket: bucket %q does not exist (%s)", bucket, msg)}
		case http.StatusForbidden:
			return &objsrc.FatalError{Err: fmt.Errorf("gcs: permission denied on bucket %q%s: the worker's identity needs %s: %s",
				bucket, keyNote(key), permissions, msg)}
		case http.StatusUnauthorized:
			return &objsrc.FatalError{Err: fmt.Errorf("gcs: credentials rejected (401 %s): %s", msg, credsHint)}
		case http.StatusBadRequest:
			for _, e := range ae.Errors {
				if e.Reason == "invalid" && strings.Contains(strings.ToLower(e.Message), "bucket") {
					return &objsrc.FatalError{Err: fmt.Errorf("gcs-bucket: %q: %s", bucket, e.Message)}
				}
			}
			if strings.Contains(msg, "requester pays") || strings.Contains(msg, "user project") {
				return &objsrc.FatalError{Err: fmt.Errorf("gcs: bucket %q: %s (requester-pays buckets are not supported)", bucket, msg)}
			}
		}
	}
	// The token endpoint refused the credentials (a deleted key, a
	// disabled service account, a wrong workload identity pool).
	var te *auth.Error
	if errors.As(err, &te) && te.Response != nil {
		if c := te.Response.StatusCode; c == http.StatusBadRequest || c == http.StatusUnauthorized || c == http.StatusForbidden {
			return &objsrc.FatalError{Err: fmt.Errorf("gcs: credentials rejected by the token endpoint (%d %s): %s", c, tokenReason(te), credsHint)}
		}
	}
	return err
}

// tokenReason is the OAuth error of a token response ("invalid_grant:
// Invalid JWT Signature."), read from its body's error fields only.
func tokenReason(te *auth.Error) string {
	var body struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if json.Unmarshal(te.Body, &body) != nil || body.Error == "" {
		return http.StatusText(te.Response.StatusCode)
	}
	if body.Description == "" {
		return body.Error
	}
	return body.Error + ": " + body.Description
}

// apiMessage is what GCS said: the JSON API's message, or the XML API's
// Details (reads go through the XML API, whose errors googleapi leaves as
// a raw body), else the status text.
func apiMessage(ae *googleapi.Error) string {
	if ae.Message != "" {
		return ae.Message
	}
	var x struct {
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
		Details string `xml:"Details"`
	}
	if xml.Unmarshal([]byte(ae.Body), &x) == nil {
		for _, m := range []string{x.Details, x.Message, x.Code} {
			if m != "" {
				return m
			}
		}
	}
	return http.StatusText(ae.Code)
}

func keyNote(key string) string {
	if key == "" {
		return ""
	}
	return " (object " + key + ")"
}
