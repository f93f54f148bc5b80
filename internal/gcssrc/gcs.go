package gcssrc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/auth"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"
	"google.golang.org/api/option/internaloption"
	storage "google.golang.org/api/storage/v1"
	htransport "google.golang.org/api/transport/http"

	"github.com/seatline/seatline/internal/objsrc"
)

// The worker reads GCS through Google's generated JSON API client
// (google.golang.org/api/storage/v1) and, for an object's bytes, one GET on
// the same authenticated HTTP client, as cloud.google.com/go/storage does
// inside. That package also links gRPC, xDS and OpenTelemetry's SDK: 60 MB
// of a 97 MB worker and 20 MiB of its resident memory, for a listing and a
// read. Neither call retries on its own: objsrc.Retry does, and says so in
// the worker's log.

// pageSize is the listing's page: GCS's largest.
const pageSize = 1000

// Client is a GCS connection: the JSON API for listings, its HTTP client
// and endpoint for object reads.
type Client struct {
	api      *storage.Service
	http     *http.Client
	endpoint string // ".../storage/v1/"
}

// NewClient builds a GCS client for cfg (validated): no credentials with
// Anonymous, the key file with CredentialsFile, else Application Default
// Credentials; cfg.Endpoint for an emulator or a private endpoint.
func NewClient(ctx context.Context, cfg Config) (*Client, error) {
	opts := []option.ClientOption{
		option.WithScopes(storage.DevstorageReadOnlyScope),
		// What storage.NewService sets: the endpoint for any universe
		// domain, and the auth library whose errors classify reads.
		internaloption.WithDefaultEndpointTemplate("https://storage.UNIVERSE_DOMAIN/storage/v1/"),
		internaloption.WithDefaultMTLSEndpoint("https://storage.mtls.googleapis.com/storage/v1/"),
		internaloption.EnableNewAuthLibrary(),
	}
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
	hc, endpoint, err := htransport.NewClient(ctx, opts...)
	if err == nil {
		var api *storage.Service
		api, err = storage.NewService(ctx, option.WithHTTPClient(hc), option.WithEndpoint(endpoint))
		if err == nil {
			return &Client{api: api, http: hc, endpoint: endpoint}, nil
		}
	}
	if cfg.CredentialsFile == "" && !cfg.Anonymous {
		return nil, &objsrc.FatalError{Err: fmt.Errorf("gcs: no Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS, GKE workload identity, the metadata server): "+
			"give --gcs-credentials-file, set up workload identity, or --gcs-anonymous for a public bucket: %w", err)}
	}
	return nil, &objsrc.FatalError{Err: fmt.Errorf("gcs: %w", err)}
}

// backend lists and opens a bucket's objects.
type backend struct {
	client *Client
	name   string
	prefix string   // "" or ending in "/"
	days   []string // backfill with --since: list only these prefixes
	log    *slog.Logger
	page   int // objects per listing page; 0: pageSize
}

func newBackend(c *Client, cfg Config, days []string, log *slog.Logger) *backend {
	return &backend{client: c, name: cfg.Bucket, prefix: cfg.prefixDir(), days: days, log: log}
}

func (b *backend) Pages(ctx context.Context, startAfter string, fn func([]objsrc.Object) error) error {
	prefixes := b.days
	if prefixes == nil {
		prefixes = []string{b.prefix}
	}
	size := b.page
	if size == 0 {
		size = pageSize
	}
	for _, p := range prefixes {
		token := ""
		for {
			var page *storage.Objects
			warned := false
			err := objsrc.Retry(ctx, func() error {
				// From the last page's token: a failed page is asked again, not skipped.
				call := b.client.api.Objects.List(b.name).Prefix(p).MaxResults(int64(size)).PageToken(token).
					Fields("nextPageToken", "items(name,generation,size)").Context(ctx)
				if startAfter > p {
					call = call.StartOffset(startAfter) // inclusive: the key itself is skipped below
				}
				var err error
				page, err = call.Do()
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
			objs := make([]objsrc.Object, 0, len(page.Items))
			for _, a := range page.Items {
				if a.Name == startAfter || !objsrc.IsAuditKey(a.Name) {
					continue
				}
				objs = append(objs, objsrc.Object{Key: a.Name, ETag: generation(a.Generation), Size: int64(a.Size)})
			}
			if len(objs) > 0 {
				if err := fn(objs); err != nil {
					return err
				}
			}
			if page.NextPageToken == "" {
				break
			}
			token = page.NextPageToken
		}
	}
	return nil
}

// generation is the version tag checkpoints keep: the object's generation
// in decimal (a new one for every write of the name).
func generation(g int64) string { return strconv.FormatInt(g, 10) }

func (b *backend) Open(ctx context.Context, o objsrc.Object) (io.ReadCloser, objsrc.Object, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, googleapi.ResolveRelative(b.client.endpoint, "b/{bucket}/o/{object}")+"?alt=media", nil)
	if err != nil {
		return nil, o, err
	}
	// The name escaped as the generated client escapes it (every byte but
	// the unreserved ones).
	googleapi.Expand(req.URL, map[string]string{"bucket": b.name, "object": o.Key})
	// The bytes as stored: asked with Accept-Encoding: gzip, GCS does not
	// decompress an object uploaded with Content-Encoding: gzip, and Go's
	// transport leaves a body it did not ask for compressed alone. The
	// records stage checks the gzip trailer as it does for S3. (The
	// generated client's Download refuses this header.)
	req.Header.Set("Accept-Encoding", "gzip")
	res, err := b.client.http.Do(req)
	if err != nil {
		return nil, o, classify(err, b.name, o.Key)
	}
	if err := googleapi.CheckMediaResponse(res); err != nil {
		res.Body.Close()
		return nil, o, classify(err, b.name, o.Key)
	}
	// What was read: the generation GCS served (a later write of the name
	// than the listing's, perhaps) and its stored size.
	read := objsrc.Object{Key: o.Key, ETag: res.Header.Get("X-Goog-Generation"), Size: res.ContentLength}
	if read.ETag == "" {
		read.ETag = o.ETag
	}
	return res.Body, read, nil
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

// apiMessage is what GCS said: the JSON API's message (a media read's
// error body is left raw by the client), else the status text.
func apiMessage(ae *googleapi.Error) string {
	if ae.Message != "" {
		return ae.Message
	}
	var body struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal([]byte(ae.Body), &body) == nil && body.Error.Message != "" {
		return body.Error.Message
	}
	return http.StatusText(ae.Code)
}

func keyNote(key string) string {
	if key == "" {
		return ""
	}
	return " (object " + key + ")"
}
