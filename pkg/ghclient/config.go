package ghclient

import (
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	jwt "github.com/golang-jwt/jwt/v4"
)

// Defaults for Config's zero values.
const (
	DefaultBaseURL    = "https://api.github.com/"
	DefaultTimeout    = 15 * time.Second
	DefaultMaxRetries = 4
	DefaultUserAgent  = "seatline-ghclient"
	DefaultConcurrent = 16
	// APIVersion is sent as X-GitHub-Api-Version on every request.
	APIVersion = "2022-11-28"
	// MinReserve is the smallest default reserve (requests never spent).
	MinReserve = 10
)

// Config of a Client. Zero values take the defaults noted. Credentials are
// Secret/SecretBytes: printing a Config never shows them.
type Config struct {
	// BaseURL of the REST API: https://api.github.com/ (default), GHES
	// https://host/api/v3/, or a simulator's URL.
	BaseURL string
	// Token is a classic or fine-grained PAT. Either Token or the three App
	// fields are required.
	Token Secret
	// GitHub App authentication: JWT signed with PrivateKeyPEM, exchanged for
	// installation tokens that are refreshed before they expire.
	AppID, InstallationID int64
	PrivateKeyPEM         SecretBytes
	// Timeout per request attempt, default 15s.
	Timeout time.Duration
	// MaxRetries for 5xx, timeouts and connection failures (exponential
	// backoff with jitter), default 4; -1 disables retries.
	MaxRetries int
	// Reserve: requests of the primary budget that are never spent. 0 = 1%
	// of the limit, at least MinReserve.
	Reserve int
	// MaxWait: the longest one call may spend, in all, waiting for rate
	// limits (primary reset, Retry-After) before failing with
	// *RateLimitedError. 0 = fail fast.
	MaxWait time.Duration
	// MaxConcurrent: requests in flight at once per credential (all
	// goroutines and Clients together), default 16; GitHub's secondary limit
	// allows 100.
	MaxConcurrent int
	// UserAgent, default "seatline-ghclient".
	UserAgent string
}

// Validate fills defaults and names the first invalid field (by its flag
// name: github-base-url, github-token, github-app-id, ...). Error texts never
// contain a credential.
func (c *Config) Validate() error {
	if c.BaseURL == "" {
		c.BaseURL = DefaultBaseURL
	}
	u, err := url.Parse(c.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("github-base-url: want an http(s) URL such as %s or https://ghes.example.com/api/v3/", DefaultBaseURL)
	}
	if u.User != nil {
		return fmt.Errorf("github-base-url: must not contain credentials")
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	u.RawQuery, u.Fragment = "", ""
	c.BaseURL = u.String()

	app := c.AppID != 0 || c.InstallationID != 0 || len(c.PrivateKeyPEM) > 0
	switch {
	case c.Token != "" && app:
		return fmt.Errorf("github-token: set either a token or a GitHub App (github-app-id, github-installation-id, github-private-key), not both")
	case c.Token != "":
		if strings.ContainsAny(string(c.Token), " \t\r\n") {
			return fmt.Errorf("github-token: contains whitespace")
		}
	case app:
		if c.AppID <= 0 {
			return fmt.Errorf("github-app-id: must be a positive App ID")
		}
		if c.InstallationID <= 0 {
			return fmt.Errorf("github-installation-id: must be a positive installation ID")
		}
		if len(c.PrivateKeyPEM) == 0 {
			return fmt.Errorf("github-private-key: required with github-app-id")
		}
		if _, err := jwt.ParseRSAPrivateKeyFromPEM(c.PrivateKeyPEM); err != nil {
			return fmt.Errorf("github-private-key: not an RSA private key in PEM form")
		}
	default:
		return fmt.Errorf("github-token: a token or a GitHub App (github-app-id, github-installation-id, github-private-key) is required")
	}

	switch {
	case c.Timeout < 0:
		return fmt.Errorf("github-timeout: must not be negative")
	case c.Timeout == 0:
		c.Timeout = DefaultTimeout
	}
	switch {
	case c.MaxRetries < -1:
		return fmt.Errorf("github-max-retries: must be -1 (no retries), 0 (default %d) or more", DefaultMaxRetries)
	case c.MaxRetries == 0:
		c.MaxRetries = DefaultMaxRetries
	}
	if c.Reserve < 0 {
		return fmt.Errorf("github-reserve: must not be negative")
	}
	if c.MaxWait < 0 {
		return fmt.Errorf("github-max-wait: must not be negative")
	}
	switch {
	case c.MaxConcurrent < 0:
		return fmt.Errorf("github-max-concurrent: must not be negative")
	case c.MaxConcurrent == 0:
		c.MaxConcurrent = DefaultConcurrent
	}
	if c.UserAgent == "" {
		c.UserAgent = DefaultUserAgent
	}
	return nil
}

func (c Config) auth() string {
	switch {
	case c.Token != "":
		return "token"
	case c.AppID != 0:
		return "app"
	}
	return "none"
}

// String describes the configuration without credentials.
func (c Config) String() string {
	return fmt.Sprintf("ghclient.Config{BaseURL:%s Auth:%s AppID:%d InstallationID:%d Timeout:%s MaxRetries:%d Reserve:%d MaxWait:%s MaxConcurrent:%d UserAgent:%q}",
		c.BaseURL, c.auth(), c.AppID, c.InstallationID, c.Timeout, c.MaxRetries, c.Reserve, c.MaxWait, c.MaxConcurrent, c.UserAgent)
}

// LogValue describes the configuration without credentials.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("base_url", c.BaseURL),
		slog.String("auth", c.auth()),
		slog.Int64("app_id", c.AppID),
		slog.Int64("installation_id", c.InstallationID),
		slog.Duration("timeout", c.Timeout),
		slog.Int("max_retries", c.MaxRetries),
		slog.Int("reserve", c.Reserve),
		slog.Duration("max_wait", c.MaxWait),
		slog.Int("max_concurrent", c.MaxConcurrent),
	)
}
