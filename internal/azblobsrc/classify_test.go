package azblobsrc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/seatline/seatline/internal/objsrc"
	"github.com/seatline/seatline/internal/testenv"
)

func responseError(status int, code string) error {
	return &azcore.ResponseError{StatusCode: status, ErrorCode: code,
		RawResponse: &http.Response{StatusCode: status, Header: http.Header{}, Body: http.NoBody, Request: &http.Request{Method: "GET"}}}
}

// TestClassify: the service's answers become a vanished blob, a fatal
// configuration error saying what to fix, or a transient error to retry.
func TestClassify(t *testing.T) {
	now := time.Date(2026, 11, 3, 12, 0, 0, 0, time.UTC)
	where := place{account: "acme", container: "audit", sas: "sv=2026-12-06&sp=rl&st=2026-11-01T00%3A00%3A00Z&se=2026-11-02T00%3A00%3A00Z&sig=SECRET"}
	early := place{account: "acme", container: "audit", sas: "sv=2026-12-06&sp=rl&st=2026-11-04T00%3A00%3A00Z&se=2026-12-02T00%3A00%3A00Z&sig=SECRET"}
	valid := place{account: "acme", container: "audit", sas: "sv=2026-12-06&sp=rl&se=2026-12-02T00%3A00%3A00Z&sig=SECRET"}
	for _, tc := range []struct {
		name  string
		err   error
		where place
		cred  credKind
		key   string
		want  string // "vanished", "transient", or the start of the fatal message
	}{
		{"blob gone", responseError(404, "BlobNotFound"), valid, credSAS, "k", "vanished"},
		{"container gone", responseError(404, "ContainerNotFound"), valid, credSAS, "", `azblob-container: container "audit" does not exist in storage account "acme"`},
		{"404 without a code while listing", responseError(404, ""), valid, credDefault, "", `azblob-container: container "audit" of account "acme" not found`},
		{"expired SAS", responseError(403, "AuthenticationFailed"), where, credSAS, "", "azblob: the SAS expired at 2026-11-02T00:00:00Z"},
		{"SAS not yet valid", responseError(403, "AuthorizationFailure"), early, credSAS, "", "azblob: the SAS is not valid before 2026-11-04T00:00:00Z"},
		{"SAS lacks list", responseError(403, "AuthorizationPermissionMismatch"), valid, credSAS, "", `azblob: permission denied on container "audit"`},
		{"identity lacks the role", responseError(403, "AuthorizationPermissionMismatch"), valid, credDefault, "k", `azblob: permission denied on container "audit" of account "acme" (blob k)`},
		{"bad signature", responseError(403, "AuthenticationFailed"), valid, credSAS, "", `azblob: access to account "acme" refused (AuthenticationFailed, HTTP 403): check the SAS`},
		{"wrong key", responseError(403, "AuthenticationFailed"), valid, credConnectionString, "", `azblob: access to account "acme" refused (AuthenticationFailed, HTTP 403): check the account key`},
		{"firewall", responseError(403, "AuthorizationFailure"), valid, credDefault, "", `azblob: access to account "acme" refused (AuthorizationFailure, HTTP 403): check the identity`},
		{"SAS for another address", responseError(403, "AuthorizationSourceIPMismatch"), valid, credSAS, "", "azblob: the SAS does not allow this address"},
		{"https-only SAS", responseError(403, "AuthorizationProtocolMismatch"), valid, credSAS, "", "azblob: the SAS allows https only"},
		{"disabled account", responseError(403, "AccountIsDisabled"), valid, credSAS, "", `azblob: storage account "acme" is disabled`},
		{"anonymous", responseError(401, "NoAuthenticationInformation"), valid, credDefault, "", "azblob: the request carried no credentials"},
		{"server busy", responseError(503, "ServerBusy"), valid, credSAS, "", "transient"},
		{"internal error", responseError(500, "InternalError"), valid, credSAS, "", "transient"},
		{"network", fmt.Errorf("dial tcp: connection refused"), valid, credSAS, "", "transient"},
		{"no identity", errors.New("DefaultAzureCredential: failed to acquire a token.\nAttempted credentials:\n\tEnvironmentCredential: missing environment variable AZURE_TENANT_ID"), valid, credDefault, "",
			"azblob: no usable Azure credential"},
		{"identity refused", &azidentity.AuthenticationFailedError{RawResponse: &http.Response{StatusCode: 400, Request: &http.Request{Method: "POST"}, Body: http.NoBody}}, valid, credDefault, "",
			"azblob: the Azure AD identity could not get a token"},
		{"token service down", &azidentity.AuthenticationFailedError{RawResponse: &http.Response{StatusCode: 503, Request: &http.Request{Method: "POST"}, Body: http.NoBody}}, valid, credDefault, "",
			"transient"},
	} {
		got := classify(tc.err, tc.where, tc.cred, tc.key, now)
		var fe *objsrc.FatalError
		switch {
		case tc.want == "vanished":
			if !errors.Is(got, objsrc.ErrVanished) {
				t.Errorf("%s: %v, want ErrVanished", tc.name, got)
			}
		case tc.want == "transient":
			if errors.As(got, &fe) || errors.Is(got, objsrc.ErrVanished) {
				t.Errorf("%s: %v, want a transient error", tc.name, got)
			}
		case !errors.As(got, &fe) || !strings.HasPrefix(got.Error(), tc.want):
			t.Errorf("%s: %v, want a fatal error starting %q", tc.name, got, tc.want)
		case strings.Contains(got.Error(), "SECRET"):
			t.Errorf("%s: shows the SAS: %v", tc.name, got)
		}
	}
}

// TestListing: against Azurite, a listing after a key returns only later
// keys of GitHub's layout, in key order (the service starts at startFrom:
// it does not list what came before), and a backfill's day prefixes list
// only those days.
func TestListing(t *testing.T) {
	az := testenv.NewAzureContainer(t, "audit")
	ctx := context.Background()
	keys := []string{
		"gh/2026/11/02/23/59/a.json.log.gz",
		"gh/2026/11/03/00/00/b.json.log.gz",
		"gh/2026/11/03/00/01/c.json.log.gz",
		"gh/2026/11/03/00/01/d.json.log.gz",
		"gh/2026/11/03/00/01/readme.txt",
		"gh/2026/11/04/07/00/e.json",
		"other/2026/11/03/00/00/f.json.log.gz",
	}
	for _, k := range keys {
		if _, err := az.Put(ctx, k, []byte("{}\n")); err != nil {
			t.Fatal(err)
		}
	}
	c := Defaults()
	c.Container, c.ConnectionString, c.Prefix = az.Name, az.ConnectionString(), "gh"
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	client, kind, err := c.newClient()
	if err != nil {
		t.Fatal(err)
	}
	p, _, _ := c.resolve()
	var logs strings.Builder
	be := &backend{client: client, where: p, cred: kind, prefix: "gh/", log: slog.New(slog.NewTextHandler(&logs, nil))}
	list := func(startAfter string) []string {
		t.Helper()
		var got []string
		err := be.Pages(ctx, startAfter, func(objs []objsrc.Object) error {
			for _, o := range objs {
				if o.ETag == "" || o.Size != 3 {
					t.Errorf("%s: etag %q size %d", o.Key, o.ETag, o.Size)
				}
				got = append(got, o.Key)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got, want := list(""), []string{keys[0], keys[1], keys[2], keys[3], keys[5]}; !slices.Equal(got, want) {
		t.Errorf("all: %v, want %v", got, want)
	}
	if got, want := list(keys[2]), []string{keys[3], keys[5]}; !slices.Equal(got, want) {
		t.Errorf("after %s: %v, want %v", keys[2], got, want)
	}
	if got, want := list(be.Lookback(keys[3], time.Minute)), []string{keys[1], keys[2], keys[3], keys[5]}; !slices.Equal(got, want) {
		t.Errorf("lookback 1m from %s: %v, want %v", keys[3], got, want)
	}
	if strings.Contains(logs.String(), "ignores startFrom") {
		t.Errorf("Azurite honours startFrom, yet: %s", logs.String())
	}
	be.days = []string{"gh/2026/11/03/", "gh/2026/11/04/"}
	if got, want := list(""), []string{keys[1], keys[2], keys[3], keys[5]}; !slices.Equal(got, want) {
		t.Errorf("days 03..04: %v, want %v", got, want)
	}
	// A blob read returns what it opened: its ETag and size.
	body, o, err := be.Open(ctx, objsrc.Object{Key: keys[1]})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(body)
	body.Close()
	if string(b) != "{}\n" || o.Size != 3 || o.ETag == "" {
		t.Errorf("open: %q %+v", b, o)
	}
	if _, _, err := be.Open(ctx, objsrc.Object{Key: "gh/2026/11/03/00/00/gone.json"}); !errors.Is(err, objsrc.ErrVanished) {
		t.Errorf("open of a missing blob: %v, want ErrVanished", err)
	}
}
