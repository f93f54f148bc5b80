package ghclient

import (
	"context"
	"crypto/rsa"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-github/v93/github"
	"golang.org/x/oauth2"
)

// appAuth authenticates a GitHub App installation: every request carries
// an installation access token ("token ghs_…"), bought with a fresh App
// JWT through go-github's Apps.CreateInstallationToken and renewed a
// minute before it expires. go-github, golang-jwt and oauth2's token
// cache do the work; this only joins them.
func appAuth(next http.RoundTripper, cfg Config) (http.RoundTripper, error) {
	key, err := jwt.ParseRSAPrivateKeyFromPEM(cfg.PrivateKeyPEM)
	if err != nil {
		return nil, errNotRSAKey
	}
	tokens := &installationTokens{installationID: cfg.InstallationID, timeout: cfg.Timeout}
	jwtClient := &http.Client{Transport: &appJWT{next: next, appID: cfg.AppID, key: key}}
	if tokens.gh, err = github.NewClient(github.WithHTTPClient(jwtClient), github.WithURLs(&cfg.BaseURL, nil), github.WithUserAgent(cfg.UserAgent)); err != nil {
		return nil, err
	}
	return &oauth2.Transport{Source: oauth2.ReuseTokenSourceWithExpiry(nil, tokens, time.Minute), Base: next}, nil
}

// appJWT signs each request with a new App JWT (RS256; issued 30 s back
// for clock drift, valid 5 minutes: GitHub accepts at most 10).
type appJWT struct {
	next  http.RoundTripper
	appID int64
	key   *rsa.PrivateKey
}

func (a *appJWT) RoundTrip(req *http.Request) (*http.Response, error) {
	now := time.Now()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.RegisteredClaims{
		Issuer:    strconv.FormatInt(a.appID, 10),
		IssuedAt:  jwt.NewNumericDate(now.Add(-30 * time.Second)),
		ExpiresAt: jwt.NewNumericDate(now.Add(5 * time.Minute)),
	}).SignedString(a.key)
	if err != nil {
		return nil, fmt.Errorf("signing the App JWT: %w", err)
	}
	req = req.Clone(req.Context())
	req.Header.Set("Authorization", "Bearer "+tok)
	return a.next.RoundTrip(req)
}

// installationTokens buys an installation's access tokens (an
// oauth2.TokenSource).
type installationTokens struct {
	gh             *github.Client
	installationID int64
	timeout        time.Duration
}

func (t *installationTokens) Token() (*oauth2.Token, error) {
	ctx, cancel := context.WithTimeout(context.Background(), t.timeout)
	defer cancel()
	tok, resp, err := t.gh.Apps.CreateInstallationToken(ctx, t.installationID, nil)
	if err != nil {
		te := &TokenError{InstallationID: t.installationID, cause: err}
		if resp != nil {
			te.Status = resp.StatusCode
		}
		return nil, te
	}
	return &oauth2.Token{AccessToken: tok.GetToken(), TokenType: "token", Expiry: tok.GetExpiresAt().Time}, nil
}

// TokenError: a GitHub App's installation token could not be bought.
type TokenError struct {
	InstallationID int64
	Status         int // the token endpoint's HTTP status; 0: no answer
	cause          error
}

func (e *TokenError) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("installation token for installation %d: status %d", e.InstallationID, e.Status)
	}
	return fmt.Sprintf("installation token for installation %d: %s", e.InstallationID, errText(e.cause))
}

// Unwrap gives the cause of a failure without an answer (a timeout, a
// refused connection); an answer's own error stays hidden, so it is never
// taken for the API request's.
func (e *TokenError) Unwrap() error {
	if e.Status != 0 {
		return nil
	}
	return e.cause
}
