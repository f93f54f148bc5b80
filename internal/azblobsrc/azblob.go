package azblobsrc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/seatline/seatline/internal/objsrc"
)

// newDefaultCredential is azidentity's default chain (environment,
// workload identity, managed identity, Azure CLI): a variable so a test
// can see it chosen without letting it probe a metadata service.
var newDefaultCredential = func() (azcore.TokenCredential, error) {
	return azidentity.NewDefaultAzureCredential(nil)
}

// newClient builds the container client for c (validated) with the one
// credential resolve chose: the SAS, the connection string, or
// c.Credential else DefaultAzureCredential.
func (c *Config) newClient() (*container.Client, credKind, error) {
	p, kind, err := c.resolve()
	if err != nil {
		return nil, "", err
	}
	opts := &container.ClientOptions{}
	if c.ClientOptions != nil {
		opts.ClientOptions = *c.ClientOptions
	}
	containerURL := p.serviceURL + url.PathEscape(p.container)
	var client *container.Client
	switch kind {
	case credSAS:
		client, err = container.NewClientWithNoCredential(containerURL+"?"+p.sas, opts)
	case credConnectionString:
		client, err = container.NewClientFromConnectionString(c.ConnectionString, p.container, opts)
		if err != nil { // the SDK's message never holds the string; say which flag
			err = fmt.Errorf("azblob-connection-string: %w", err)
		}
	default:
		cred := c.Credential
		if cred == nil {
			if cred, err = newDefaultCredential(); err != nil {
				return nil, "", &objsrc.FatalError{Err: fmt.Errorf("azblob: DefaultAzureCredential (no SAS or connection string given): %w", err)}
			}
		}
		client, err = container.NewClient(containerURL, cred, opts)
	}
	if err != nil {
		return nil, "", &objsrc.FatalError{Err: err}
	}
	return client, kind, nil
}

// backend lists and opens a container's blobs.
type backend struct {
	client *container.Client
	where  place
	cred   credKind
	prefix string   // "" or ending in "/"
	days   []string // backfill with --since: list only these prefixes
	log    *slog.Logger

	ignoredStart sync.Once // warned that the service ignores startFrom
}

// Pages implements objsrc.Backend. A listing after startAfter asks the
// service to start there (startFrom, inclusive; Azure and Azurite honour
// it), so follow mode lists only what is new, and drops what is not after
// it in case a service ignores the parameter.
func (b *backend) Pages(ctx context.Context, startAfter string, fn func([]objsrc.Object) error) error {
	prefixes := b.days
	if prefixes == nil {
		prefixes = []string{b.prefix}
	}
	for _, p := range prefixes {
		opts := &container.ListBlobsFlatOptions{Prefix: &p}
		if startAfter > p {
			opts.StartFrom = &startAfter
		} else if startAfter != "" && !strings.HasPrefix(startAfter, p) {
			continue // the whole prefix sorts before startAfter
		}
		pg := b.client.NewListBlobsFlatPager(opts)
		for pg.More() {
			var page container.ListBlobsFlatResponse
			warned := false
			err := objsrc.Retry(ctx, func() error {
				var err error
				page, err = pg.NextPage(ctx)
				if err != nil {
					err = b.classify(err, "")
					var fe *objsrc.FatalError
					if !warned && !errors.As(err, &fe) && ctx.Err() == nil {
						warned = true
						b.log.Warn("listing Azure Blob Storage failed; retrying", "container", b.where.container, "prefix", p, "err", err)
					}
				}
				return err
			})
			if err != nil {
				return err
			}
			objs := make([]objsrc.Object, 0, len(page.Segment.BlobItems))
			for _, it := range page.Segment.BlobItems {
				if it.Name == nil || it.Properties == nil {
					continue
				}
				key := *it.Name
				if key <= startAfter { // startFrom is inclusive: startAfter itself comes back
					if key < startAfter {
						b.ignoredStart.Do(func() {
							b.log.Warn("the blob service ignores startFrom: each follow-mode listing reads the whole prefix", "container", b.where.container)
						})
					}
					continue
				}
				if !objsrc.IsAuditKey(key) {
					continue
				}
				o := objsrc.Object{Key: key, ETag: etag(it.Properties.ETag), Size: -1}
				if it.Properties.ContentLength != nil {
					o.Size = *it.Properties.ContentLength
				}
				objs = append(objs, o)
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

// Open implements objsrc.Backend: one streamed GET of the blob's current
// version (a cut download is the engine's to retry).
func (b *backend) Open(ctx context.Context, o objsrc.Object) (io.ReadCloser, objsrc.Object, error) {
	resp, err := b.client.NewBlobClient(o.Key).DownloadStream(ctx, nil)
	if err != nil {
		return nil, o, b.classify(err, o.Key)
	}
	got := objsrc.Object{Key: o.Key, ETag: etag(resp.ETag), Size: -1}
	if resp.ContentLength != nil {
		got.Size = *resp.ContentLength
	}
	return resp.Body, got, nil
}

// Lookback implements objsrc.Backend: a minute-aligned key d before maxKey.
func (b *backend) Lookback(maxKey string, d time.Duration) string {
	return objsrc.MinuteLookback(b.prefix, maxKey, d)
}

// etag is the version tag checkpoints keep: the ETag without its quotes.
func etag(e *azcore.ETag) string {
	if e == nil {
		return ""
	}
	return strings.Trim(string(*e), `"`)
}

// permissionsNeeded is what reading the stream takes.
const permissionsNeeded = "a SAS needs permissions r (read) and l (list) on the container; " +
	"an Azure AD identity (managed or workload identity, service principal) needs the role Storage Blob Data Reader on the container or its account"

// classify turns an SDK error into objsrc.ErrVanished (no such blob), an
// *objsrc.FatalError (configuration: container, account, credentials,
// permissions: what to fix) or leaves it as a transient error.
func (b *backend) classify(err error, key string) error {
	return classify(err, b.where, b.cred, key, time.Now())
}

func classify(err error, where place, cred credKind, key string, now time.Time) error {
	fatal := func(format string, args ...any) error {
		return &objsrc.FatalError{Err: fmt.Errorf(format, args...)}
	}
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		code := bloberror.Code(re.ErrorCode)
		switch {
		case code == bloberror.BlobNotFound && key != "":
			return objsrc.ErrVanished
		case code == bloberror.ContainerNotFound:
			return fatal("azblob-container: container %q does not exist in storage account %q", where.container, where.account)
		case code == bloberror.AccountIsDisabled:
			return fatal("azblob: storage account %q is disabled", where.account)
		case code == bloberror.InvalidResourceName:
			return fatal("azblob-container: %q is not a valid container name", where.container)
		case code == bloberror.AuthorizationSourceIPMismatch:
			return fatal("azblob: the SAS does not allow this address (its sip range): issue one that includes the worker's egress address")
		case code == bloberror.AuthorizationProtocolMismatch:
			return fatal("azblob: the SAS allows https only (spr=https): use an https URL")
		case code == bloberror.NoAuthenticationInformation:
			return fatal("azblob: the request carried no credentials: give a SAS, --azblob-connection-string, or an Azure AD identity")
		}
		if cred == credSAS && (re.StatusCode == http.StatusForbidden || code == bloberror.AuthenticationFailed) {
			if msg := sasTimes(where.sas, now); msg != "" {
				return fatal("azblob: %s", msg)
			}
		}
		switch {
		case code == bloberror.AuthorizationPermissionMismatch, code == bloberror.AuthorizationResourceTypeMismatch,
			code == bloberror.AuthorizationServiceMismatch, code == bloberror.InsufficientAccountPermissions:
			return fatal("azblob: permission denied on container %q of account %q%s (%s): %s", where.container, where.account, keyNote(key), code, permissionsNeeded)
		case code == bloberror.AuthenticationFailed, code == bloberror.AuthorizationFailure,
			re.StatusCode == http.StatusForbidden, re.StatusCode == http.StatusUnauthorized:
			return fatal("azblob: access to account %q refused (%s, HTTP %d): %s", where.account, orStatus(code), re.StatusCode, credentialHint(cred))
		case re.StatusCode == http.StatusNotFound && key == "":
			return fatal("azblob-container: container %q of account %q not found (HTTP 404%s)", where.container, where.account, codeNote(code))
		}
		return err
	}
	var afe *azidentity.AuthenticationFailedError
	if errors.As(err, &afe) {
		if afe.RawResponse == nil || afe.RawResponse.StatusCode < 500 {
			return fatal("azblob: the Azure AD identity could not get a token: check the managed identity / workload identity federation or the AZURE_* environment: %w", err)
		}
		return err
	}
	if cred == credDefault && strings.Contains(err.Error(), "DefaultAzureCredential") {
		return fatal("azblob: no usable Azure credential (no SAS, no connection string; DefaultAzureCredential tried the environment, workload identity, managed identity and the Azure CLI): %w", err)
	}
	return err
}

// sasTimes says what is wrong with a SAS's validity window at now, or "".
func sasTimes(sas string, now time.Time) string {
	q, err := url.ParseQuery(sas)
	if err != nil {
		return ""
	}
	if se, err := time.Parse(time.RFC3339, q.Get("se")); err == nil && !now.Before(se) {
		return fmt.Sprintf("the SAS expired at %s: issue a new one (permissions r and l, a later expiry) and restart", se.UTC().Format(time.RFC3339))
	}
	if st, err := time.Parse(time.RFC3339, q.Get("st")); err == nil && now.Before(st) {
		return fmt.Sprintf("the SAS is not valid before %s (its start time): check the clock or issue one that starts earlier", st.UTC().Format(time.RFC3339))
	}
	return ""
}

func credentialHint(cred credKind) string {
	switch cred {
	case credSAS:
		return "check the SAS (its signature, that its key or stored access policy was not revoked); " + permissionsNeeded
	case credConnectionString:
		return "check the account key in --azblob-connection-string (keys rotate: copy a current one from the portal's Access keys), and the account's network rules"
	}
	return "check the identity and its role assignment (" + permissionsNeeded + "), and the account's network rules"
}

func orStatus(code bloberror.Code) string {
	if code == "" {
		return "no error code"
	}
	return string(code)
}

func codeNote(code bloberror.Code) string {
	if code == "" {
		return ""
	}
	return ", " + string(code)
}

func keyNote(key string) string {
	if key == "" {
		return ""
	}
	return " (blob " + key + ")"
}
