// Package ghclient looks up GitHub Copilot seats over the REST API (through
// go-github) and spends the rate-limit budget like money: every answer's
// X-RateLimit-* headers are accounted in one budget per credential shared by
// all goroutines (in-flight requests count as spent), a reserve is never
// touched, Retry-After / secondary limits stop all requests until they pass,
// and 5xx / timeouts / connection failures are retried with jittered
// exponential backoff. Seat records are decoded leniently (null assignee,
// enterprise-team assignment, null or odd dates never fail a page).
// Credentials never appear in logs, errors or printed values.
//
// Lookup adds a seat cache with request coalescing that answers bursts of
// users of one org from seat-list pages (100 seats a request) and single
// users from the per-user endpoint.
package ghclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/google/go-github/v93/github"
)

// Client talks to the GitHub REST API. It is safe for concurrent use.
type Client struct {
	cfg    Config
	log    *slog.Logger
	gh     *github.Client
	budget *budget
	scrub  *scrubber
	host   string

	backoffInitial time.Duration
	backoffMax     time.Duration
	requests       atomic.Int64 // requests put on the wire (tests, metrics)
}

// maxRateLimitWaits bounds how often one call goes back to wait for a rate
// limit it was refused by (all its waits together are bounded by MaxWait).
const maxRateLimitWaits = 10

// New validates cfg (filling defaults) and builds a Client. log may be nil.
func New(cfg Config, log *slog.Logger) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	base, _ := url.Parse(cfg.BaseURL)
	c := &Client{
		cfg:            cfg,
		log:            log.With(slog.String("component", "ghclient")),
		budget:         sharedBudget(cfg),
		scrub:          &scrubber{},
		host:           base.Host,
		backoffInitial: 250 * time.Millisecond,
		backoffMax:     10 * time.Second,
	}
	if cfg.Token != "" {
		c.scrub.add(string(cfg.Token))
	}

	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 32
	var wire http.RoundTripper = &wireTransport{next: tr, c: c}
	var auth http.RoundTripper
	if cfg.Token != "" {
		auth = &tokenTransport{next: wire, token: cfg.Token, host: c.host}
	} else {
		var err error
		if auth, err = appAuth(&headerTransport{next: wire, userAgent: cfg.UserAgent}, cfg); err != nil {
			return nil, err
		}
	}
	hc := &http.Client{
		Transport: &headerTransport{next: auth, userAgent: cfg.UserAgent},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if req.URL.Host != c.host {
				return errors.New("redirect to another host refused")
			}
			if len(via) >= 5 {
				return errors.New("too many redirects")
			}
			return nil
		},
	}
	gh, err := github.NewClient(github.WithHTTPClient(hc), github.WithURLs(&cfg.BaseURL, nil), github.WithUserAgent(cfg.UserAgent))
	if err != nil {
		return nil, fmt.Errorf("base URL %q: %w", cfg.BaseURL, err)
	}
	c.gh = gh
	return c, nil
}

// String describes the client without credentials.
func (c *Client) String() string {
	return fmt.Sprintf("ghclient.Client{%s auth=%s}", c.cfg.BaseURL, c.cfg.auth())
}

// Format prints String for every verb (fmt would otherwise print unexported
// fields raw).
func (c *Client) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, c.String()) }

// LogValue describes the client without credentials.
func (c *Client) LogValue() slog.Value { return slog.StringValue(c.String()) }

// Budget is the rate-limit state as last seen in response headers.
func (c *Client) Budget() Budget { return c.budget.snapshot(c.cfg.Reserve) }

// Requests is how many requests this Client has put on the wire (API calls,
// not counting installation-token refreshes).
func (c *Client) Requests() int64 { return c.requests.Load() }

// ---------------------------------------------------------------- transports

// headerTransport sets the API version, a User-Agent and Accept on every
// request (API calls and installation-token requests alike).
type headerTransport struct {
	next      http.RoundTripper
	userAgent string
}

func (t *headerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	r.Header.Set("X-GitHub-Api-Version", APIVersion)
	if r.Header.Get("User-Agent") == "" {
		r.Header.Set("User-Agent", t.userAgent)
	}
	if r.Header.Get("Accept") == "" {
		r.Header.Set("Accept", "application/vnd.github+json")
	}
	return t.next.RoundTrip(r)
}

// tokenTransport adds a PAT, only for the configured API host.
type tokenTransport struct {
	next  http.RoundTripper
	token Secret
	host  string
}

func (t *tokenTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	if req.URL.Host == t.host {
		r.Header.Set("Authorization", "Bearer "+string(t.token))
	} else {
		r.Header.Del("Authorization")
	}
	return t.next.RoundTrip(r)
}

type attemptKey struct{}

// attempt tells the caller whether its request reached the wire and
// whether the transport already accounted the answer's headers.
type attempt struct{ sent, observed atomic.Bool }

// wireTransport is the last hop before the network: it learns every
// credential that goes out (for scrubbing) and marks API requests as sent.
type wireTransport struct {
	next http.RoundTripper
	c    *Client
}

func isTokenRequest(r *http.Request) bool {
	return r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/access_tokens")
}

func (t *wireTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	t.c.scrub.addAuthHeader(req.Header.Get("Authorization"))
	if isTokenRequest(req) { // the App's own budget, not the installation's
		return t.next.RoundTrip(req)
	}
	a, _ := req.Context().Value(attemptKey{}).(*attempt)
	if a != nil {
		a.sent.Store(true)
	}
	if !strings.HasSuffix(req.URL.Path, "/rate_limit") {
		t.c.requests.Add(1)
	}
	resp, err := t.next.RoundTrip(req)
	if resp != nil && a != nil {
		t.c.budget.observeNow(resp)
		a.observed.Store(true)
	}
	return resp, err
}

// ---------------------------------------------------------------- requests

// reqCap is a caller's allowance of requests (Lookup.Seats maxRequests),
// carried in the context; retries count.
type reqCap struct {
	max  int64
	used atomic.Int64
}

type capKey struct{}

func withCap(ctx context.Context, maxRequests int) (context.Context, *reqCap) {
	if maxRequests <= 0 {
		return ctx, nil
	}
	rc := &reqCap{max: int64(maxRequests)}
	return context.WithValue(ctx, capKey{}, rc), rc
}

func capFrom(ctx context.Context) *reqCap {
	rc, _ := ctx.Value(capKey{}).(*reqCap)
	return rc
}

func (r *reqCap) take() bool {
	if r == nil {
		return true
	}
	if r.used.Add(1) > r.max {
		r.used.Add(-1)
		return false
	}
	return true
}

func (r *reqCap) refund() {
	if r != nil {
		r.used.Add(-1)
	}
}

func (r *reqCap) left() int64 {
	if r == nil {
		return 1 << 62
	}
	return r.max - r.used.Load()
}

type outcome uint8

const (
	final outcome = iota
	retry
	rateLimited
)

// get fetches path (relative to BaseURL, may carry a query) and decodes the
// JSON body into v (see do).
func (c *Client) get(ctx context.Context, path string, v any) (*github.Response, error) {
	return c.do(ctx, http.MethodGet, path, nil, v)
}

// do sends one request (body, when not nil, as JSON) and decodes the JSON
// answer into v (nil: ignore it), spending the budget: it waits for (or
// refuses on) rate limits, retries transient failures with backoff, and
// maps errors. A request that changes something (any method but GET) is
// sent again only when GitHub said it did not act on it (a rate limit,
// with Retry-After) or it never left this machine (the connection could
// not be made); when it went out and no answer says what happened (a
// timeout, a reset, a 5xx) do returns *OutcomeUnknownError instead of
// repeating it blindly.
func (c *Client) do(ctx context.Context, method, path string, body, v any) (*github.Response, error) {
	changes := method != http.MethodGet
	bo := backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(c.backoffInitial),
		backoff.WithMaxInterval(c.backoffMax),
		backoff.WithRandomizationFactor(0.5),
		backoff.WithMultiplier(2),
		backoff.WithMaxElapsedTime(0),
	)
	rc := capFrom(ctx)
	retries, rlWaits := 0, 0
	waitUntil := time.Now().Add(c.cfg.MaxWait) // all rate-limit waits of this call end by then
	for {
		if !rc.take() {
			return nil, ErrRequestCap
		}
		probe, err := c.budget.acquire(ctx, c.cfg.Reserve, c.cfg.MaxConcurrent, max(time.Until(waitUntil), 0))
		if err == nil && probe && c.probeBudget(ctx) {
			c.budget.release(nil, false, false, time.Time{}) // the window is known now: queue up like everyone else
			rc.refund()
			continue
		}
		if err != nil {
			rc.refund()
			var rl *RateLimitedError
			if errors.As(err, &rl) {
				c.log.Debug("github rate limit: not sending", slog.String("path", pathOnly(path)),
					slog.Time("until", rl.Until), slog.Bool("secondary", rl.Secondary))
				return nil, err
			}
			return nil, &TransportError{Method: method, Path: pathOnly(path), Msg: err.Error(), ctxErr: err}
		}
		resp, sent, err := c.attempt(ctx, method, path, body, v)
		if !sent {
			rc.refund()
		}
		if err == nil {
			return resp, nil
		}
		kind, mapped := c.classify(ctx, method, path, resp, sent, err)
		if changes && kind == retry && sent && !undelivered(err) {
			return resp, &OutcomeUnknownError{Method: method, Path: pathOnly(path), Err: mapped}
		}
		switch kind {
		case rateLimited:
			if sent {
				var rl *RateLimitedError
				if errors.As(mapped, &rl) {
					c.log.Warn("github rate limit hit: pausing all requests", slog.String("path", pathOnly(path)),
						slog.Time("until", rl.Until), slog.Bool("secondary", rl.Secondary))
				}
			}
			if c.cfg.MaxWait > 0 && rlWaits < maxRateLimitWaits {
				rlWaits++
				continue // acquire waits for the pause, or refuses when it is too long
			}
			return resp, mapped
		case retry:
			if retries >= c.cfg.MaxRetries {
				return resp, mapped
			}
			d := bo.NextBackOff()
			if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
				return resp, mapped
			}
			retries++
			c.log.Warn("github request failed, retrying", slog.String("path", pathOnly(path)),
				slog.Int("retry", retries), slog.Duration("backoff", d), slog.String("err", mapped.Error()))
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return resp, mapped
			}
		default:
			return resp, mapped
		}
	}
}

// probeBudget asks GET /rate_limit, which does not count against the
// primary limit, what the current window holds, so that the first request
// after a start or a reset never goes into a spent limit. It holds the
// probe slot and reports whether the budget is known now; if not, the real
// request goes out as the probe.
func (c *Client) probeBudget(ctx context.Context) bool {
	var body struct {
		Resources struct {
			Core struct {
				Limit, Remaining, Used int
				Reset                  int64
			} `json:"core"`
		} `json:"resources"`
	}
	actx, cancel := context.WithTimeout(context.WithValue(ctx, github.BypassRateLimitCheck, true), c.cfg.Timeout)
	defer cancel()
	req, err := c.gh.NewRequest(actx, http.MethodGet, "rate_limit", nil)
	if err != nil {
		return false
	}
	resp, err := c.gh.Do(req, &body)
	if resp == nil || resp.Response == nil || resp.Request == nil || ctx.Err() != nil {
		return false
	}
	hr := resp.Response
	if core := body.Resources.Core; err == nil && core.Limit > 0 && core.Reset > 0 {
		h := http.Header{}
		h.Set("X-RateLimit-Limit", strconv.Itoa(core.Limit))
		h.Set("X-RateLimit-Remaining", strconv.Itoa(core.Remaining))
		h.Set("X-RateLimit-Used", strconv.Itoa(core.Used))
		h.Set("X-RateLimit-Reset", strconv.FormatInt(core.Reset, 10))
		hr = &http.Response{StatusCode: http.StatusOK, Header: h}
	} else if hr.StatusCode >= 500 {
		return false
	}
	learned := c.budget.learn(hr)
	c.log.Debug("github rate limit probe", slog.Int("status", resp.StatusCode), slog.Bool("learned", learned),
		slog.Int("remaining", c.Budget().Remaining))
	return learned
}

// attempt sends one request (the budget slot is already held) and releases
// the slot with what came back.
func (c *Client) attempt(ctx context.Context, method, path string, body, v any) (*github.Response, bool, error) {
	a := &attempt{}
	actx, cancel := context.WithTimeout(context.WithValue(ctx, attemptKey{}, a), c.cfg.Timeout)
	defer cancel()
	req, err := c.gh.NewRequest(actx, method, path, body)
	if err != nil {
		c.budget.release(nil, false, false, time.Time{})
		return nil, false, err
	}
	start := time.Now()
	resp, err := c.gh.Do(req, v)
	sent := a.sent.Load()
	var hr *http.Response
	if resp != nil && sent {
		hr = resp.Response
	}
	c.budget.release(hr, sent, a.observed.Load(), start)
	if sent {
		status := 0
		if hr != nil {
			status = hr.StatusCode
		}
		c.log.Debug("github request", slog.String("method", method), slog.String("path", pathOnly(path)), slog.Int("status", status),
			slog.Duration("took", time.Since(start)), slog.Int("remaining", c.Budget().Remaining))
	}
	return resp, sent, err
}

func pathOnly(p string) string {
	if i := strings.IndexByte(p, '?'); i >= 0 {
		return "/" + p[:i]
	}
	return "/" + p
}

// classify maps an error from go-github to this package's errors and says
// whether a retry (backoff) or a rate-limit wait may help.
func (c *Client) classify(ctx context.Context, method, path string, resp *github.Response, sent bool, err error) (outcome, error) {
	p := pathOnly(path)
	var rle *github.RateLimitError
	var are *github.AbuseRateLimitError
	var ere *github.ErrorResponse
	var tke *TokenError
	now := time.Now()
	switch {
	case errors.As(err, &rle):
		until := rle.Rate.Reset.Add(c.budget.resetSlack)
		if !sent {
			// go-github refused from its own memory: keep ours in agreement.
			c.budget.pauseAt(until, false)
		}
		return rateLimited, &RateLimitedError{Until: c.blockedUntil(until), Secondary: false}
	case errors.As(err, &are):
		d := secondaryDefaultPause
		if are.RetryAfter != nil {
			d = *are.RetryAfter
		}
		c.budget.pauseAt(now.Add(d), true)
		return rateLimited, &RateLimitedError{Until: c.blockedUntil(now.Add(d)), Secondary: true}
	case errors.As(err, &ere) && ere.Response != nil:
		status := ere.Response.StatusCode
		msg := c.scrub.scrub(ere.Message)
		_, hasRA := retryAfter(ere.Response.Header, now)
		switch {
		case status == http.StatusTooManyRequests || (status == http.StatusForbidden && hasRA):
			// observe() already paused the budget from the headers.
			b := c.Budget()
			until := b.PausedUntil
			if until.IsZero() {
				until = now.Add(secondaryDefaultPause)
				c.budget.pauseAt(until, true)
			}
			return rateLimited, &RateLimitedError{Until: until, Secondary: b.Secondary || b.PausedUntil.IsZero()}
		case status == http.StatusUnprocessableEntity:
			return final, &PolicyError{Message: msg}
		case status >= 500:
			return retry, &APIError{Method: method, Path: p, Status: status, Message: msg, DocumentationURL: ere.DocumentationURL}
		default:
			return final, &APIError{Method: method, Path: p, Status: status, Message: msg, DocumentationURL: ere.DocumentationURL}
		}
	}

	te := &TransportError{Method: method, Path: p, retryable: true}
	if cerr := ctx.Err(); cerr != nil {
		te.Msg, te.ctxErr, te.retryable = cerr.Error(), cerr, false
		return final, te
	}
	if errors.As(err, &tke) {
		te.Msg = c.scrub.scrub(tke.Error())
		if s := tke.Status; s != 0 {
			te.TokenStatus = s
			te.retryable = s >= 500 || s == http.StatusTooManyRequests
		}
		if !te.retryable {
			return final, te
		}
		return retry, te
	}
	var ne interface{ Timeout() bool }
	te.Timeout = errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
	te.Msg = c.scrub.scrub(err.Error())
	if te.Timeout {
		te.Msg = "timeout after " + c.cfg.Timeout.String() + ": " + te.Msg
	}
	if strings.Contains(te.Msg, "redirect to another host refused") {
		te.retryable = false
		return final, te
	}
	return retry, te
}

func errText(err error) string {
	if err == nil {
		return "no answer"
	}
	return err.Error()
}

// blockedUntil: the later of t and the budget's current pause.
func (c *Client) blockedUntil(t time.Time) time.Time {
	if p := c.Budget().PausedUntil; p.After(t) {
		return p
	}
	return t
}
