package azblobsrc

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/seatline/seatline/internal/objsrc"
	"github.com/seatline/seatline/internal/source"
)

const (
	sasQuery = "sv=2026-12-06&sr=c&sp=rl&se=2030-01-01T00%3A00%3A00Z&sig=SECRETSIG%3D"
	connStr  = "DefaultEndpointsProtocol=https;AccountName=acme;AccountKey=U0VDUkVUS0VZ;EndpointSuffix=core.windows.net"
)

func TestConfigValidate(t *testing.T) {
	c := Defaults()
	c.Stream = objsrc.NewStream("azblob", &source.Common{Since: "2026-11-01", Until: "2026-11-03"})
	c.ContainerURL, c.Prefix, c.Mode = "https://acme.blob.core.windows.net/audit-stream?"+sasQuery, "/github", objsrc.ModeBackfill
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.SourceName() != "azblob:acme/audit-stream/github/" || c.Concurrency != 4 || c.PollInterval != 30*time.Second {
		t.Errorf("source %q, defaults %+v", c.SourceName(), c.Stream)
	}
	for _, tc := range []struct {
		set   func(c *Config)
		field string
	}{
		{func(c *Config) { c.ContainerURL = "" }, "azblob-container-url: required with --source azblob"},
		{func(c *Config) { c.ContainerURL = "acme.blob.core.windows.net/audit" }, "azblob-container-url"},
		{func(c *Config) { c.ContainerURL = "https://acme.blob.core.windows.net/" }, "azblob-container-url"},
		{func(c *Config) { c.ContainerURL = "https://acme.blob.core.windows.net/audit/2026" }, "azblob-container-url"},
		{func(c *Config) { c.ContainerURL = "https://acme.blob.core.windows.net/Audit_Stream" }, "azblob-container-url"},
		{func(c *Config) { c.ContainerURL = "https://ACME!.blob.core.windows.net/audit" }, "azblob-container-url"},
		{func(c *Config) { c.ContainerURL = "https://acme.blob.core.windows.net/audit?sp=rl" }, "azblob-container-url: not a shared access signature"},
		{func(c *Config) { c.Container = "audit" }, "azblob-container-url: give either it or --azblob-account-url"},
		{func(c *Config) { c.AccountURL = "https://acme.blob.core.windows.net" }, "azblob-container-url: give either it"},
		{func(c *Config) { c.SASToken = sasQuery }, "azblob-sas-token: the URL already carries a SAS"},
		{func(c *Config) { c.ConnectionString = connStr }, "azblob-connection-string: it names the account itself"},
		{func(c *Config) { c.ContainerURL, c.AccountURL = "", "https://acme.blob.core.windows.net" }, "azblob-container: required with --azblob-account-url"},
		{func(c *Config) { c.ContainerURL, c.ConnectionString = "", connStr }, "azblob-container: required with --azblob-connection-string"},
		{func(c *Config) {
			c.ContainerURL, c.AccountURL, c.ConnectionString, c.Container = "", "https://acme.blob.core.windows.net", connStr, "audit"
		}, "azblob-connection-string: it names the account itself"},
		{func(c *Config) {
			c.ContainerURL, c.ConnectionString, c.Container, c.SASToken = "", connStr, "audit", sasQuery
		}, "azblob-sas-token: give either a SAS or --azblob-connection-string"},
		{func(c *Config) { c.ContainerURL, c.AccountURL = "", "https://acme.blob.core.windows.net/audit" }, "azblob-account-url"},
		{func(c *Config) { c.Container = "a" }, "azblob-container: \"a\" is not a container name"},
		{func(c *Config) { c.SASToken = "not-a-sas" }, "azblob-sas-token: not a shared access signature"},
		{func(c *Config) { c.ConnectionString = "garbage" }, "azblob-connection-string: not a connection string"},
		{func(c *Config) { c.ConnectionString = "AccountName=acme;EndpointSuffix=core.windows.net" }, "azblob-connection-string: has neither AccountKey"},
		{func(c *Config) { c.ConnectionString = "AccountKey=U0VDUkVUS0VZ" }, "azblob-connection-string: has neither AccountName nor BlobEndpoint"},
		{func(c *Config) { c.Mode = "tail" }, "azblob-mode"},
		{func(c *Config) { c.Concurrency = 65 }, "azblob-concurrency"},
		{func(c *Config) { c.PollInterval = time.Millisecond }, "azblob-poll-interval"},
		{func(c *Config) { c.Lookback = -time.Second }, "azblob-lookback"},
	} {
		c := Defaults()
		c.ContainerURL = "https://acme.blob.core.windows.net/audit-stream?" + sasQuery
		tc.set(&c)
		err := c.Validate()
		if err == nil || !strings.HasPrefix(err.Error(), tc.field) {
			t.Errorf("%s: %v, want an error starting %q", tc.field, err, tc.field)
		}
		if err != nil && (strings.Contains(err.Error(), "SECRETSIG") || strings.Contains(err.Error(), "U0VDUkVUS0VZ")) {
			t.Errorf("%s: the error shows a secret: %v", tc.field, err)
		}
	}
}

// TestPlaces: every way of naming the container gives the same account,
// container and service URL (path style for an emulator).
func TestPlaces(t *testing.T) {
	for _, tc := range []struct {
		name             string
		set              func(c *Config)
		service, account string
		cred             credKind
	}{
		{"container URL with SAS", func(c *Config) { c.ContainerURL = "https://acme.blob.core.windows.net/audit?" + sasQuery },
			"https://acme.blob.core.windows.net/", "acme", credSAS},
		{"account URL, container, SAS token", func(c *Config) {
			c.AccountURL, c.Container, c.SASToken = "https://acme.blob.core.windows.net/", "audit", "?"+sasQuery
		}, "https://acme.blob.core.windows.net/", "acme", credSAS},
		{"account URL with an account SAS", func(c *Config) {
			c.AccountURL, c.Container = "https://acme.blob.core.windows.net/?"+sasQuery, "audit"
		}, "https://acme.blob.core.windows.net/", "acme", credSAS},
		{"connection string", func(c *Config) { c.ConnectionString, c.Container = connStr, "audit" },
			"https://acme.blob.core.windows.net/", "acme", credConnectionString},
		{"emulator connection string", func(c *Config) {
			c.ConnectionString, c.Container = "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=U0VDUkVUS0VZ;BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;", "audit"
		}, "http://127.0.0.1:10000/devstoreaccount1/", "devstoreaccount1", credConnectionString},
		{"emulator container URL, no credentials", func(c *Config) { c.ContainerURL = "http://azurite:10000/devstoreaccount1/audit" },
			"http://azurite:10000/devstoreaccount1/", "devstoreaccount1", credDefault},
		{"account URL, identity", func(c *Config) { c.AccountURL, c.Container = "https://acme.blob.core.windows.net", "audit" },
			"https://acme.blob.core.windows.net/", "acme", credDefault},
	} {
		c := Defaults()
		tc.set(&c)
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		p, cred, _ := c.resolve()
		if p.serviceURL != tc.service || p.account != tc.account || p.container != "audit" || cred != tc.cred {
			t.Errorf("%s: %+v %s, want %s %s audit %s", tc.name, p, cred, tc.service, tc.account, tc.cred)
		}
		if got := c.SourceName(); got != "azblob:"+tc.account+"/audit/" {
			t.Errorf("%s: source name %q", tc.name, got)
		}
	}
}

// TestSecretsNeverDescribed: what start-up logs holds no SAS value,
// token or connection string.
func TestSecretsNeverDescribed(t *testing.T) {
	for _, set := range []func(c *Config){
		func(c *Config) { c.ContainerURL = "https://acme.blob.core.windows.net/audit?" + sasQuery },
		func(c *Config) {
			c.AccountURL, c.Container, c.SASToken = "https://acme.blob.core.windows.net", "audit", sasQuery
		},
		func(c *Config) { c.ConnectionString, c.Container = connStr, "audit" },
	} {
		c := Defaults()
		set(&c)
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
		d := fmt.Sprint(c.Describe()...)
		if strings.Contains(d, "SECRETSIG") || strings.Contains(d, "U0VDUkVUS0VZ") || strings.Contains(d, "sig=") {
			t.Errorf("Describe shows a secret: %s", d)
		}
		if !strings.Contains(d, "acme") || !strings.Contains(d, "audit") {
			t.Errorf("Describe lacks the account or container: %s", d)
		}
	}
}

// fakeToken is an Azure AD credential that hands out a fixed token.
type fakeToken struct{ calls atomic.Int32 }

func (f *fakeToken) GetToken(ctx context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	f.calls.Add(1)
	return azcore.AccessToken{Token: "fake-aad-token", ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// TestCredentialChoice: DefaultAzureCredential is built only when neither a
// SAS nor a connection string is given, and then its token is what the
// requests carry; with a SAS or a connection string it is never built.
// (The real chain is not run: outside Azure its managed-identity probe
// goes to 169.254.169.254.)
func TestCredentialChoice(t *testing.T) {
	var auth atomic.Value
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth.Store(r.Header.Get("Authorization") + " " + r.URL.RawQuery)
		w.Header().Set("Content-Type", "application/xml")
		fmt.Fprint(w, `<?xml version="1.0" encoding="utf-8"?><EnumerationResults ContainerName="audit"><Blobs></Blobs><NextMarker/></EnumerationResults>`)
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "https://")

	fake := &fakeToken{}
	built := 0
	orig := newDefaultCredential
	newDefaultCredential = func() (azcore.TokenCredential, error) { built++; return fake, nil }
	defer func() { newDefaultCredential = orig }()

	list := func(c *Config) string {
		t.Helper()
		c.ClientOptions = &azcore.ClientOptions{Transport: srv.Client(), Retry: policy.RetryOptions{MaxRetries: -1}}
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
		client, kind, err := c.newClient()
		if err != nil {
			t.Fatal(err)
		}
		p, _, _ := c.resolve()
		be := &backend{client: client, where: p, cred: kind, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
		if err := be.Pages(context.Background(), "", func([]objsrc.Object) error { return nil }); err != nil {
			t.Fatal(err)
		}
		return auth.Load().(string)
	}

	c := Defaults()
	c.ContainerURL = "https://" + host + "/acme/audit"
	if got := list(&c); !strings.HasPrefix(got, "Bearer fake-aad-token ") || built != 1 || fake.calls.Load() == 0 {
		t.Errorf("no SAS, no connection string: request %q, default credential built %d times, tokens %d", got, built, fake.calls.Load())
	}

	c = Defaults()
	c.ContainerURL = "https://" + host + "/acme/audit?" + sasQuery
	if got := list(&c); strings.Contains(got, "Bearer") || !strings.Contains(got, "sig=SECRETSIG") || built != 1 {
		t.Errorf("SAS: request %q, default credential built %d times", got, built)
	}

	c = Defaults()
	c.ConnectionString, c.Container = "DefaultEndpointsProtocol=https;AccountName=acme;AccountKey=U0VDUkVUS0VZ;BlobEndpoint=https://"+host+"/acme", "audit"
	if got := list(&c); !strings.HasPrefix(got, "SharedKey acme:") || built != 1 {
		t.Errorf("connection string: request %q, default credential built %d times", got, built)
	}

	// An explicit Credential (embedding) replaces the default chain.
	c = Defaults()
	c.ContainerURL, c.Credential = "https://"+host+"/acme/audit", &fakeToken{}
	if got := list(&c); !strings.HasPrefix(got, "Bearer fake-aad-token") || built != 1 {
		t.Errorf("explicit credential: request %q, default credential built %d times", got, built)
	}
}
