package ghclient

import (
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
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

// Validate fills defaults and names the first invalid field in a
// *ConfigError. Error texts never contain a credential.
func (c *Config) Validate() error {
	if c.BaseURL == "" {
		c.BaseURL = DefaultBaseURL
	}
	u, err := url.Parse(c.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fieldError("BaseURL", "want an http(s) URL such as "+DefaultBaseURL+" or https://ghes.example.com/api/v3/")
	}
	if u.User != nil {
		return fieldError("BaseURL", "must not contain credentials")
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	u.RawQuery, u.Fragment = "", ""
	c.BaseURL = u.String()

	app := c.AppID != 0 || c.InstallationID != 0 || len(c.PrivateKeyPEM) > 0
	switch {
	case c.Token != "" && app:
		return fieldError("Token", "set either a token or a GitHub App (%s, %s, %s), not both", "AppID", "InstallationID", "PrivateKeyPEM")
	case c.Token != "":
		if strings.ContainsAny(string(c.Token), " \t\r\n") {
			return fieldError("Token", "contains whitespace")
		}
	case app:
		if c.AppID <= 0 {
			return fieldError("AppID", "must be a positive App ID")
		}
		if c.InstallationID <= 0 {
			return fieldError("InstallationID", "must be a positive installation ID")
		}
		if len(c.PrivateKeyPEM) == 0 {
			return fieldError("PrivateKeyPEM", "required with %s", "AppID")
		}
		if _, err := jwt.ParseRSAPrivateKeyFromPEM(c.PrivateKeyPEM); err != nil {
			return errNotRSAKey
		}
	default:
		return fieldError("Token", "a token or a GitHub App (%s, %s, %s) is required", "AppID", "InstallationID", "PrivateKeyPEM")
	}

	switch {
	case c.Timeout < 0:
		return fieldError("Timeout", "must not be negative")
	case c.Timeout == 0:
		c.Timeout = DefaultTimeout
	}
	switch {
	case c.MaxRetries < -1:
		return fieldError("MaxRetries", "must be -1 (no retries), 0 (default "+strconv.Itoa(DefaultMaxRetries)+") or more")
	case c.MaxRetries == 0:
		c.MaxRetries = DefaultMaxRetries
	}
	if c.Reserve < 0 {
		return fieldError("Reserve", "must not be negative")
	}
	if c.MaxWait < 0 {
		return fieldError("MaxWait", "must not be negative")
	}
	switch {
	case c.MaxConcurrent < 0:
		return fieldError("MaxConcurrent", "must not be negative")
	case c.MaxConcurrent == 0:
		c.MaxConcurrent = DefaultConcurrent
	}
	if c.UserAgent == "" {
		c.UserAgent = DefaultUserAgent
	}
	return nil
}

// ConfigError is an invalid Config field. Its text names the fields as
// Config does ("ghclient: Config.Token: …"); a command names its own
// options instead with Describe, so that its user reads the flag's name.
type ConfigError struct {
	Field  string   // the invalid field: "Token", "AppID", "PrivateKeyPEM", …
	format string   // what is wrong, a %s for each of others
	others []string // other fields the message names
}

func fieldError(field, format string, others ...string) *ConfigError {
	return &ConfigError{Field: field, format: format, others: others}
}

// errNotRSAKey: PrivateKeyPEM holds no RSA private key (New checks it again).
var errNotRSAKey = fieldError("PrivateKeyPEM", "not an RSA private key in PEM form")

func (e *ConfigError) Error() string {
	return "ghclient: " + e.Describe(func(field string) string { return "Config." + field })
}

// Describe is the message with every field, the invalid one first, named
// by name.
func (e *ConfigError) Describe(name func(field string) string) string {
	args := make([]any, len(e.others))
	for i, f := range e.others {
		args[i] = name(f)
	}
	return name(e.Field) + ": " + fmt.Sprintf(e.format, args...)
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
