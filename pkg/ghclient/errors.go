package ghclient

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// ErrNoSeat: the per-user endpoint answered 404, the user holds no Copilot
// seat in that organization.
var ErrNoSeat = errors.New("ghclient: no copilot seat")

// ErrRequestCap: the caller's request allowance (Lookup.Seats maxRequests)
// is used up; nothing was sent.
var ErrRequestCap = errors.New("ghclient: request allowance used up")

// PolicyError: GitHub answered 422 (Copilot not enabled for the org, a
// pending org invitation, or the org grants seats to all members). The
// message is GitHub's. Retrying does not help until the policy changes.
type PolicyError struct {
	Org, Login string // Login is empty for org-level calls
	Message    string
}

func (e *PolicyError) Error() string {
	who := e.Org
	if e.Login != "" {
		who += "/" + e.Login
	}
	return fmt.Sprintf("ghclient: copilot policy for %s (422): %s", who, e.Message)
}

// RateLimitedError: the call was not sent (or was refused by GitHub)
// because the primary budget is spent down to the reserve, or a secondary
// limit (Retry-After) is in force, and waiting until Until would exceed
// Config.MaxWait or the caller's deadline.
type RateLimitedError struct {
	Until     time.Time // when requests may go out again
	Secondary bool      // a secondary limit (Retry-After), else the primary hourly budget
}

func (e *RateLimitedError) Error() string {
	kind := "primary"
	if e.Secondary {
		kind = "secondary"
	}
	return fmt.Sprintf("ghclient: retry after %s: %s limit", e.Until.UTC().Format(time.RFC3339), kind)
}

// APIError is any other non-2xx answer from GitHub. It keeps only what is
// safe to print: no request, no headers.
type APIError struct {
	Method, Path     string // Path without query
	Status           int
	Message          string // GitHub's message, credentials scrubbed
	DocumentationURL string
}

func (e *APIError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	return fmt.Sprintf("ghclient: %s %s: %d %s", e.Method, e.Path, e.Status, msg)
}

// TransportError: the request got no (complete) answer: connection refused
// or reset, timeout, truncated or undecodable body, token refresh failure.
// The text is scrubbed of credentials; Unwrap gives only context errors.
type TransportError struct {
	Method, Path string
	Msg          string
	Timeout      bool
	// TokenStatus: the HTTP status of a GitHub App's installation-token
	// exchange that failed (401: the App ID or private key was refused); 0
	// when the failure was not the exchange's, or it got no answer.
	TokenStatus int
	retryable   bool
	ctxErr      error
}

func (e *TransportError) Error() string {
	return fmt.Sprintf("ghclient: %s %s: %s", e.Method, e.Path, e.Msg)
}

// Unwrap returns context.Canceled / context.DeadlineExceeded when that was
// the cause, so errors.Is works; never the raw transport error.
func (e *TransportError) Unwrap() error { return e.ctxErr }

// Retryable tells whether the same call may succeed later: rate limits
// (after their Until), 5xx, timeouts, connection failures, an exhausted
// request allowance or a caller deadline. Not: no seat, policy (422), other
// 4xx, invalid configuration.
func Retryable(err error) bool {
	if err == nil {
		return false
	}
	var rl *RateLimitedError
	var api *APIError
	var tr *TransportError
	var pe *PolicyError
	switch {
	case errors.Is(err, ErrNoSeat), errors.As(err, &pe):
		return false
	case errors.As(err, &rl):
		return true
	case errors.As(err, &api):
		return api.Status >= 500 || api.Status == http.StatusTooManyRequests
	case errors.As(err, &tr):
		return tr.retryable || tr.ctxErr != nil
	case errors.Is(err, ErrRequestCap),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return true
	}
	return false
}

// OutcomeUnknownError: a request that changes GitHub went out and no answer
// says whether GitHub acted on it (a timeout, a reset connection, a 5xx).
// It is not repeated blindly: look the seats it named up (a seat pending
// cancellation, or gone, was changed) and send again only what did not
// change. Err is what happened (*TransportError or *APIError).
type OutcomeUnknownError struct {
	Method, Path string
	Err          error
}

func (e *OutcomeUnknownError) Error() string {
	return fmt.Sprintf("ghclient: %s %s: outcome unknown (%v): check the seats before sending it again", e.Method, e.Path, e.Err)
}

func (e *OutcomeUnknownError) Unwrap() error { return e.Err }

// PermissionError: GitHub refused a change because the credentials lack a
// scope or permission (403 that is not a rate limit). It names what the
// call needs and what GitHub's headers said (scopes are names, never
// secrets); the credential itself never appears.
type PermissionError struct {
	Method, Path string
	Status       int
	Message      string // GitHub's message, credentials scrubbed
	// Needed names the classic token scope and the GitHub App permission
	// the call needs (Perm* constants).
	Needed string
	// From GitHub's headers, when it sent them: the scopes the token has
	// (X-OAuth-Scopes), the scopes the endpoint accepts
	// (X-Accepted-OAuth-Scopes), the App permissions it accepts
	// (X-Accepted-GitHub-Permissions).
	TokenScopes, AcceptedScopes, AcceptedPermissions string
}

func (e *PermissionError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "ghclient: %s %s: %d %s: the credentials lack the permission to do this: it needs %s",
		e.Method, e.Path, e.Status, e.Message, e.Needed)
	var got []string
	if e.AcceptedScopes != "" {
		got = append(got, "scopes GitHub accepts here: "+e.AcceptedScopes)
	}
	if e.AcceptedPermissions != "" {
		got = append(got, "App permission GitHub accepts here: "+e.AcceptedPermissions)
	}
	if e.TokenScopes != "" || e.AcceptedScopes != "" {
		has := e.TokenScopes
		if has == "" {
			has = "none"
		}
		got = append(got, "the token's scopes: "+has)
	}
	if len(got) > 0 {
		b.WriteString(" (" + strings.Join(got, "; ") + ")")
	}
	return b.String()
}

// CredentialsRefused reports whether GitHub refused the credentials: 401
// (a bad, expired or revoked token; an App's JWT or installation token
// refused) or a 403 that is not a rate limit (a token without the
// permission or scope, or not authorized for the organization's SAML SSO:
// a *PermissionError for a change), and, from a GitHub App's
// installation-token exchange, also a 404 (no such installation for this
// App). Retrying does not help until the credentials
// are fixed.
func CredentialsRefused(err error) bool {
	var api *APIError
	var tr *TransportError
	switch {
	case errors.As(err, new(*PermissionError)):
		return true
	case errors.As(err, &api):
		return api.Status == http.StatusUnauthorized || api.Status == http.StatusForbidden
	case errors.As(err, &tr):
		return tr.TokenStatus == http.StatusUnauthorized || tr.TokenStatus == http.StatusForbidden || tr.TokenStatus == http.StatusNotFound
	}
	return false
}

// Unavailable reports whether GitHub could not answer for now: it could
// not be reached (connection refused or reset, DNS, TLS), an attempt timed
// out, it answered 5xx after the retries, or a rate limit lasts longer than
// the caller may wait. Retrying later can help. A call ended by its
// caller's context (cancelled, or a budget's deadline) is not GitHub's
// failure and is not counted, nor is a spent request allowance.
func Unavailable(err error) bool {
	if err == nil || CredentialsRefused(err) {
		return false
	}
	var rl *RateLimitedError
	var api *APIError
	var tr *TransportError
	switch {
	case errors.As(err, &rl):
		return true
	case errors.As(err, &api):
		return api.Status >= 500
	case errors.As(err, &tr):
		return tr.ctxErr == nil && (tr.retryable || tr.Timeout)
	}
	return false
}
