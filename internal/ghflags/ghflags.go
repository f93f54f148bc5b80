// Package ghflags binds the GitHub API settings shared by cmd/ingest (inline
// enrichment) and cmd/enrich to flags, so both take the same names.
package ghflags

import (
	"flag"
	"fmt"
	"os"
	"time"

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

// Register binds f to fs. maxWaitDefault differs per binary: ingest must
// never wait for a rate limit, the enrich worker may.
func Register(fs *flag.FlagSet, f *Flags, maxWaitDefault time.Duration) {
	fs.StringVar(&f.BaseURL, "github-base-url", ghclient.DefaultBaseURL, "GitHub REST API base URL (GHES: https://HOST/api/v3/)")
	fs.StringVar(&f.Token, "github-token", "", "classic PAT (manage_billing:copilot, read:org) or fine-grained token (never logged; prefer the environment variable)")
	fs.Int64Var(&f.AppID, "github-app-id", 0, "GitHub App ID (instead of a token)")
	fs.Int64Var(&f.InstallationID, "github-installation-id", 0, "GitHub App installation ID")
	fs.StringVar(&f.PrivateKeyFile, "github-private-key", "", "path to the GitHub App's private key (PEM)")
	fs.IntVar(&f.MaxConcurrent, "github-max-concurrent", 16, "GitHub requests in flight at once")
	fs.DurationVar(&f.MaxWait, "github-max-wait", maxWaitDefault, "longest a lookup waits for a rate-limit reset before giving up for now")
}

// Enabled reports whether any credential was given.
func (f *Flags) Enabled() bool { return f.Token != "" || f.AppID != 0 }

// Config turns the flags into a client configuration (reading the key file).
func (f *Flags) Config() (ghclient.Config, error) {
	cfg := ghclient.Config{BaseURL: f.BaseURL, Token: ghclient.Secret(f.Token), AppID: f.AppID,
		InstallationID: f.InstallationID, MaxConcurrent: f.MaxConcurrent, MaxWait: f.MaxWait}
	if f.PrivateKeyFile != "" {
		pem, err := os.ReadFile(f.PrivateKeyFile)
		if err != nil {
			return cfg, fmt.Errorf("github-private-key: %w", err)
		}
		cfg.PrivateKeyPEM = ghclient.SecretBytes(pem)
	}
	if err := cfg.Validate(); err != nil {
		return cfg, err
	}
	return cfg, nil
}
