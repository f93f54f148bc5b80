// Package ghflags binds the GitHub API settings shared by cmd/ingest (inline
// enrichment) and cmd/enrich to flags, so both take the same names.
package ghflags

import (
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/seatline/seatline/internal/flagval"
	"github.com/seatline/seatline/pkg/ghclient"
)

// Flags are the GitHub settings as given on the command line.
type Flags struct {
	BaseURL        string
	Token          string
	AppID          int64
	InstallationID int64
	PrivateKeyFile string
	MaxConcurrent  int
	MaxWait        time.Duration
}

// Ranges of the flags. GitHub's secondary rate limit allows 100 requests in
// flight per credential.
var (
	maxConcurrentFlag = flagval.Int{Name: "github-max-concurrent", Min: 1, Max: 100}
	maxWaitFlag       = flagval.Duration{Name: "github-max-wait", Min: 0, Max: time.Hour}
)

// Defaults are the flags' defaults. maxWait differs per binary: ingest must
// never wait for a rate limit, the enrich worker may.
func Defaults(maxWait time.Duration) Flags {
	return Flags{BaseURL: ghclient.DefaultBaseURL, MaxConcurrent: ghclient.DefaultConcurrent, MaxWait: maxWait}
}

// Register binds f to fs with Defaults(maxWaitDefault).
func Register(fs *flag.FlagSet, f *Flags, maxWaitDefault time.Duration) {
	d := Defaults(maxWaitDefault)
	fs.StringVar(&f.BaseURL, "github-base-url", d.BaseURL, "GitHub REST API base URL, http(s)://host[:port]/path (GHES: https://HOST/api/v3/; no credentials in it)")
	fs.StringVar(&f.Token, "github-token", "", "classic PAT (manage_billing:copilot, read:org) or fine-grained token (never logged; prefer the environment variable)")
	fs.Int64Var(&f.AppID, "github-app-id", 0, "GitHub App ID (instead of a token)")
	fs.Int64Var(&f.InstallationID, "github-installation-id", 0, "GitHub App installation ID (with --github-app-id)")
	fs.StringVar(&f.PrivateKeyFile, "github-private-key", "", "path to the GitHub App's private key (PEM; with --github-app-id)")
	fs.IntVar(&f.MaxConcurrent, maxConcurrentFlag.Name, d.MaxConcurrent, maxConcurrentFlag.Usage("GitHub requests in flight at once"))
	fs.DurationVar(&f.MaxWait, maxWaitFlag.Name, d.MaxWait, maxWaitFlag.Usage("longest a lookup waits for a rate-limit reset before giving up for now"))
}

// Enabled reports whether any credential was given.
func (f *Flags) Enabled() bool {
	return f.Token != "" || f.AppID != 0 || f.InstallationID != 0 || f.PrivateKeyFile != ""
}

// CheckValues names the first value that is malformed or out of range,
// credentials or not (a GitHub setting given to an ingest without
// credentials is still a mistake to report). It reads no file.
func (f *Flags) CheckValues() error {
	if _, err := flagval.HTTPURL("github-base-url", f.BaseURL); err != nil {
		return err
	}
	if f.AppID < 0 {
		return fmt.Errorf("github-app-id: must be a positive App ID, got %d", f.AppID)
	}
	if f.InstallationID < 0 {
		return fmt.Errorf("github-installation-id: must be a positive installation ID, got %d", f.InstallationID)
	}
	return flagval.First(maxConcurrentFlag.Check(f.MaxConcurrent), maxWaitFlag.Check(f.MaxWait))
}

// Config checks the flags and turns them into a client configuration,
// reading the key file: a missing or unreadable key is found here, before
// any connection.
func (f *Flags) Config() (ghclient.Config, error) {
	cfg := ghclient.Config{BaseURL: f.BaseURL, Token: ghclient.Secret(f.Token), AppID: f.AppID,
		InstallationID: f.InstallationID, MaxConcurrent: f.MaxConcurrent, MaxWait: f.MaxWait}
	if err := f.CheckValues(); err != nil {
		return cfg, err
	}
	if f.PrivateKeyFile != "" {
		pem, err := flagval.ReadFile("github-private-key", f.PrivateKeyFile)
		if err != nil {
			return cfg, err
		}
		cfg.PrivateKeyPEM = ghclient.SecretBytes(pem)
	}
	if err := cfg.Validate(); err != nil {
		return cfg, FlagError(err)
	}
	return cfg, nil
}

// flagOf is the flag of each ghclient.Config field a user sets.
var flagOf = map[string]string{
	"BaseURL":        "github-base-url",
	"Token":          "github-token",
	"AppID":          "github-app-id",
	"InstallationID": "github-installation-id",
	"PrivateKeyPEM":  "github-private-key",
	"MaxConcurrent":  maxConcurrentFlag.Name,
	"MaxWait":        maxWaitFlag.Name,
}

// FlagError says a ghclient configuration error in the flags' names
// ("github-token: …"), which the user typed; other errors pass unchanged.
func FlagError(err error) error {
	var ce *ghclient.ConfigError
	if !errors.As(err, &ce) {
		return err
	}
	return errors.New(ce.Describe(func(field string) string {
		if f, ok := flagOf[field]; ok {
			return f
		}
		return "ghclient Config." + field // set by the program, not by a flag
	}))
}
