// Package gcssrc reads GitHub's audit-log stream from a Google Cloud Storage
// bucket (one of GitHub's streaming targets): the GCS client and its
// listing; the object engine (internal/objsrc) does the rest.
package gcssrc

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"regexp"
	"strings"

	"google.golang.org/api/option"

	"github.com/seatline/seatline/internal/flagval"
	"github.com/seatline/seatline/internal/ingest"
	"github.com/seatline/seatline/internal/objsrc"
	"github.com/seatline/seatline/internal/source"
)

func init() {
	source.Register(source.Kind{Name: "gcs", Help: "GitHub's audit-log streaming bucket on Google Cloud Storage",
		New: func(common *source.Common) source.Config {
			c := Defaults()
			c.Stream = objsrc.NewStream("gcs", common)
			return &c
		}})
}

// Config of the GCS source. Defaults() has the values the flags show.
type Config struct {
	Bucket string
	// Prefix under which GitHub writes YYYY/MM/DD/HH/mm/<uuid>.json.log.gz
	// (a directory: "audit" and "audit/" are the same).
	Prefix   string
	Endpoint string // emulator or private endpoint: http(s)://host[:port]; "": Google's
	// CredentialsFile is a service-account key or an external-account
	// (workload identity federation) configuration. "" and !Anonymous:
	// Application Default Credentials.
	CredentialsFile string
	Anonymous       bool // no credentials: public buckets, emulators

	objsrc.Stream // --gcs-mode, --gcs-poll-interval, --gcs-lookback, --gcs-concurrency; --shard, --since, --until
}

// Defaults are the GCS source's defaults.
func Defaults() Config { return Config{Stream: objsrc.NewStream("gcs", nil)} }

// RegisterFlags binds the GCS flags to fs, with Defaults.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Bucket, "gcs-bucket", "", "GCS bucket GitHub streams the audit log to, without gs:// (required with --source gcs)")
	fs.StringVar(&c.Prefix, "gcs-prefix", "", "object name prefix above GitHub's YYYY/MM/DD/HH/mm/<uuid>.json.log.gz names")
	fs.StringVar(&c.Endpoint, "gcs-endpoint", "", "GCS endpoint URL, http(s)://host[:port], for an emulator or a private endpoint (default: Google's)")
	fs.StringVar(&c.CredentialsFile, "gcs-credentials-file", "", "service-account key (JSON) or external-account configuration (default: Application Default Credentials: GOOGLE_APPLICATION_CREDENTIALS, GKE workload identity, the metadata server)")
	fs.BoolVar(&c.Anonymous, "gcs-anonymous", false, "send no credentials (public buckets, emulators)")
	c.Stream.RegisterFlags(fs)
}

// bucketName: GCS's rules (lowercase letters, digits, '-', '_', '.';
// starting and ending with a letter or digit; 3 to 63 characters, up to
// 222 when dotted, each dot-separated part at most 63).
var bucketName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$`)

func checkBucket(b string) error {
	if strings.HasPrefix(b, "gs://") {
		return fmt.Errorf("gcs-bucket: give the bucket's name without gs:// (%q), and the path after it in --gcs-prefix", strings.TrimPrefix(b, "gs://"))
	}
	ok := bucketName.MatchString(b) && (len(b) <= 63 || strings.Contains(b, "."))
	for part := range strings.SplitSeq(b, ".") {
		ok = ok && part != "" && len(part) <= 63
	}
	if !ok {
		return fmt.Errorf("gcs-bucket: %q is not a bucket name (3 to 63 lowercase letters, digits, '-', '_' or '.', starting and ending with a letter or digit)", b)
	}
	return nil
}

// CheckValues names the first value given that is malformed or out of
// range, whatever --source says; it requires nothing and reads no file.
func (c *Config) CheckValues() error {
	if c.Bucket != "" {
		if err := checkBucket(c.Bucket); err != nil {
			return err
		}
	}
	if c.Endpoint != "" {
		u, err := flagval.HTTPURL("gcs-endpoint", c.Endpoint)
		if err != nil {
			return err
		}
		if strings.Trim(u.Path, "/") != "" || u.RawQuery != "" {
			return fmt.Errorf("gcs-endpoint: %q: give only http(s)://host[:port] (the JSON API's /storage/v1/ is added)", flagval.Redact(c.Endpoint))
		}
	}
	if c.Anonymous && c.CredentialsFile != "" {
		return errors.New("gcs-anonymous: sends no credentials, so --gcs-credentials-file cannot be used with it: give one or the other")
	}
	return c.Stream.CheckValues()
}

// Validate names the first invalid field; it changes nothing.
func (c *Config) Validate() error {
	if c.Bucket == "" {
		return errors.New("gcs-bucket: required with --source gcs")
	}
	if err := c.CheckValues(); err != nil {
		return err
	}
	if c.CredentialsFile != "" {
		if _, err := keyFileType(c.CredentialsFile); err != nil {
			return err
		}
	}
	return c.Stream.Validate()
}

// keyFileType reads the credentials file's "type": a service-account key
// or an external-account configuration. Its content (a private key) is
// never quoted in an error.
func keyFileType(path string) (option.CredentialsType, error) {
	const name = "gcs-credentials-file"
	b, err := flagval.ReadFile(name, path)
	if err != nil {
		return "", err
	}
	var key struct {
		Type        string `json:"type"`
		ClientEmail string `json:"client_email"`
		PrivateKey  string `json:"private_key"`
		Audience    string `json:"audience"`
	}
	if err := json.Unmarshal(b, &key); err != nil {
		where := ""
		var se *json.SyntaxError
		if errors.As(err, &se) {
			where = fmt.Sprintf(" (syntax error at byte %d)", se.Offset)
		}
		return "", fmt.Errorf("%s: %s is not a JSON key file%s: give a service-account key (Cloud console: IAM → Service accounts → Keys → JSON)", name, path, where)
	}
	switch key.Type {
	case string(option.ServiceAccount):
		if key.ClientEmail == "" || key.PrivateKey == "" {
			return "", fmt.Errorf("%s: %s is a service-account key without client_email or private_key: download the key again", name, path)
		}
		return option.ServiceAccount, nil
	case string(option.ExternalAccount):
		if key.Audience == "" {
			return "", fmt.Errorf("%s: %s is an external-account configuration without an audience: create it again with gcloud iam workload-identity-pools create-cred-config", name, path)
		}
		return option.ExternalAccount, nil
	case string(option.AuthorizedUser):
		return "", fmt.Errorf("%s: %s holds a user's gcloud credentials (authorized_user), not a service account's: give a service-account key, or leave the flag empty to use Application Default Credentials", name, path)
	case "":
		return "", fmt.Errorf("%s: %s has no \"type\": it is not a Google credentials file; give a service-account key", name, path)
	}
	return "", fmt.Errorf("%s: %s is a %q credentials file: give a service-account key (type service_account) or an external-account configuration (type external_account)", name, path, key.Type)
}

// prefixDir is Prefix as a directory: "" or ending in "/".
func (c *Config) prefixDir() string { return objsrc.Dir(c.Prefix) }

// SourceName is how the source's checkpoints are keyed: "gcs:bucket/prefix".
func (c *Config) SourceName() string { return "gcs:" + c.Bucket + "/" + c.prefixDir() }

// credentials says where the credentials come from, for the start-up log.
func (c *Config) credentials() string {
	switch {
	case c.Anonymous:
		return "none (anonymous)"
	case c.CredentialsFile != "":
		return "key file " + c.CredentialsFile
	}
	return "application default"
}

// Describe implements source.Config.
func (c *Config) Describe() []any {
	return append([]any{"bucket", c.Bucket, "prefix", c.Prefix, "endpoint", flagval.Redact(c.Endpoint), "credentials", c.credentials()},
		c.Stream.Describe()...)
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
	log := deps.Log
	if log == nil {
		log = slog.Default()
	}
	opts, days := c.Stream.Read("gcs", c.SourceName(), c.prefixDir())
	return objsrc.New(opts, newBackend(client, *c, days, log), deps)
}
