package gcssrc

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/auth"
	"google.golang.org/api/googleapi"

	"github.com/seatline/seatline/internal/objsrc"
	"github.com/seatline/seatline/internal/source"
)

// secret marks a key's private part: no error or log line may hold it.
const secret = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQDsecret"

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigValidate(t *testing.T) {
	c := Defaults()
	c.Stream = objsrc.NewStream("gcs", &source.Common{Since: "2026-11-01", Until: "2026-11-03"})
	c.Bucket, c.Prefix, c.Mode = "acme-audit.example.com", "/audit", objsrc.ModeBackfill
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.SourceName() != "gcs:acme-audit.example.com/audit/" || c.Concurrency != 4 || c.PollInterval != 30*time.Second {
		t.Errorf("defaults: %+v", c)
	}
	saKey := writeFile(t, "sa.json", `{"type":"service_account","client_email":"r@p.iam.gserviceaccount.com","private_key":"-----BEGIN PRIVATE KEY-----\n`+secret+`\n-----END PRIVATE KEY-----\n"}`)
	extKey := writeFile(t, "wif.json", `{"type":"external_account","audience":"//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/q","credential_source":{"file":"/var/run/token"}}`)
	for _, ok := range []string{saKey, extKey} {
		c := Defaults()
		c.Bucket, c.CredentialsFile = "b-1", ok
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, tc := range []struct {
		set   func(c *Config)
		field string
	}{
		{func(c *Config) { c.Bucket = "" }, "gcs-bucket: required with --source gcs"},
		{func(c *Config) { c.Bucket = "gs://acme-audit/github" }, `gcs-bucket: give the bucket's name without gs:// ("acme-audit/github")`},
		{func(c *Config) { c.Bucket = "Acme" }, "gcs-bucket"},
		{func(c *Config) { c.Bucket = "ab" }, "gcs-bucket"},
		{func(c *Config) { c.Bucket = "-ab" }, "gcs-bucket"},
		{func(c *Config) { c.Bucket = strings.Repeat("a", 64) }, "gcs-bucket"},
		{func(c *Config) { c.Bucket = "a..b" }, "gcs-bucket"},
		{func(c *Config) { c.Bucket = "a/b" }, "gcs-bucket"},
		{func(c *Config) { c.Endpoint = "localhost:4443" }, "gcs-endpoint"},
		{func(c *Config) { c.Endpoint = "http://127.0.0.1:4443/storage/v1/" }, "gcs-endpoint"},
		{func(c *Config) { c.Endpoint = "http://gcs:99999" }, "gcs-endpoint"},
		{func(c *Config) { c.Anonymous, c.CredentialsFile = true, saKey }, "gcs-anonymous: sends no credentials, so --gcs-credentials-file cannot be used with it"},
		{func(c *Config) { c.CredentialsFile = filepath.Join(t.TempDir(), "missing.json") }, "gcs-credentials-file: stat"},
		{func(c *Config) { c.CredentialsFile = t.TempDir() }, "gcs-credentials-file: " + "/"},
		{func(c *Config) { c.CredentialsFile = writeFile(t, "k", "-----BEGIN PRIVATE KEY-----\n"+secret) }, "gcs-credentials-file"},
		{func(c *Config) {
			c.CredentialsFile = writeFile(t, "k", `{"type":"service_account","private_key":"`+secret+`"`)
		}, "gcs-credentials-file"},
		{func(c *Config) {
			c.CredentialsFile = writeFile(t, "k", `{"type":"service_account","private_key":"`+secret+`"}`)
		}, "gcs-credentials-file"},
		{func(c *Config) {
			c.CredentialsFile = writeFile(t, "k", `{"type":"authorized_user","refresh_token":"`+secret+`"}`)
		}, "gcs-credentials-file"},
		{func(c *Config) { c.CredentialsFile = writeFile(t, "k", `{"private_key":"`+secret+`"}`) }, "gcs-credentials-file"},
		{func(c *Config) { c.CredentialsFile = writeFile(t, "k", `{"type":"external_account"}`) }, "gcs-credentials-file"},
		{func(c *Config) { c.CredentialsFile = writeFile(t, "k", `{"type":"gdch_service_account"}`) }, "gcs-credentials-file"},
		{func(c *Config) { c.Mode = "tail" }, "gcs-mode"},
		{func(c *Config) { c.Concurrency = 65 }, "gcs-concurrency"},
		{func(c *Config) { c.PollInterval = time.Millisecond }, "gcs-poll-interval"},
	} {
		c := Defaults()
		c.Bucket = "b-1"
		tc.set(&c)
		err := c.Validate()
		if err == nil || !strings.HasPrefix(err.Error(), tc.field) {
			t.Errorf("%s: %v, want an error starting %q", tc.field, err, tc.field)
		} else if strings.Contains(err.Error(), secret) {
			t.Errorf("error echoes the key: %v", err)
		}
	}
}

// TestCheckValuesReadsNoFile: with another --source, a key file is not
// read (it may exist only where gcs runs), but a contradiction is named.
func TestCheckValuesReadsNoFile(t *testing.T) {
	c := Defaults()
	c.CredentialsFile = filepath.Join(t.TempDir(), "missing.json")
	if err := c.CheckValues(); err != nil {
		t.Errorf("CheckValues read the key file: %v", err)
	}
	c.Anonymous = true
	if err := c.CheckValues(); err == nil || !strings.HasPrefix(err.Error(), "gcs-anonymous") {
		t.Errorf("CheckValues: %v", err)
	}
}

func TestDescribeHoldsNoSecret(t *testing.T) {
	c := Defaults()
	c.Bucket, c.Endpoint = "b-1", "https://user:"+secret+"@gcs.internal:443"
	c.CredentialsFile = writeFile(t, "sa.json", `{"type":"service_account","client_email":"r@p","private_key":"`+secret+`"}`)
	d := fmt.Sprint(c.Describe()...)
	if strings.Contains(d, secret) || !strings.Contains(d, "key file "+c.CredentialsFile) {
		t.Errorf("Describe: %s", d)
	}
	if err := c.Validate(); err == nil || !strings.HasPrefix(err.Error(), "gcs-endpoint") || strings.Contains(err.Error(), secret) {
		t.Errorf("Validate: %v", err)
	}
}

// TestClassify: what each GCS answer means for the worker.
func TestClassify(t *testing.T) {
	fatal := func(err error) string {
		var fe *objsrc.FatalError
		if !errors.As(err, &fe) {
			return ""
		}
		return fe.Error()
	}
	tokenErr := &auth.Error{Response: &http.Response{StatusCode: 400}, Body: []byte(`{"error":"invalid_grant","error_description":"Invalid JWT Signature."}`)}
	for _, tc := range []struct {
		name  string
		err   error
		key   string
		fatal string // "": not fatal
		is    error
	}{
		{"object 404", &googleapi.Error{Code: 404, Message: "No such object"}, "k", "", objsrc.ErrVanished},
		{"bucket 404", &googleapi.Error{Code: 404, Message: "The specified bucket does not exist."}, "", `gcs-bucket: bucket "b" does not exist (The specified bucket does not exist.)`, nil},
		{"list denied", &googleapi.Error{Code: 403, Message: "denied"}, "", "storage.objects.list and storage.objects.get (role roles/storage.objectViewer on the bucket): denied", nil},
		{"read denied, media", &googleapi.Error{Code: 403, Body: `{"error":{"code":403,"message":"x has no storage.objects.get","errors":[{"reason":"forbidden"}]}}`}, "k",
			`(object k): the worker's identity needs storage.objects.list and storage.objects.get (role roles/storage.objectViewer on the bucket): x has no storage.objects.get`, nil},
		{"401", &googleapi.Error{Code: 401, Message: "Invalid Credentials"}, "", "gcs: credentials rejected (401 Invalid Credentials)", nil},
		{"invalid bucket name", &googleapi.Error{Code: 400, Errors: []googleapi.ErrorItem{{Reason: "invalid", Message: "Invalid bucket name: 'B'"}}}, "", `gcs-bucket: "b": Invalid bucket name: 'B'`, nil},
		{"token refused", fmt.Errorf("Get: %w", tokenErr), "", "gcs: credentials rejected by the token endpoint (400 invalid_grant: Invalid JWT Signature.)", nil},
		{"token endpoint down", &auth.Error{Response: &http.Response{StatusCode: 503}}, "", "", nil},
		{"server error", &googleapi.Error{Code: 503, Message: "backendError"}, "", "", nil},
		{"too many requests", &googleapi.Error{Code: 429}, "k", "", nil},
		{"network", context.DeadlineExceeded, "k", "", context.DeadlineExceeded},
	} {
		got := classify(tc.err, "b", tc.key)
		f := fatal(got)
		switch {
		case tc.fatal == "" && f != "":
			t.Errorf("%s: fatal %q, want a transient error", tc.name, f)
		case tc.fatal != "" && !strings.Contains(f, tc.fatal):
			t.Errorf("%s: %v, want a FatalError containing %q", tc.name, got, tc.fatal)
		case tc.is != nil && !errors.Is(got, tc.is):
			t.Errorf("%s: %v, want %v", tc.name, got, tc.is)
		}
	}
}
