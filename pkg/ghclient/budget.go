package ghclient

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Budget is the rate-limit state as last seen in GitHub's response headers,
// plus what this process is doing with it.
type Budget struct {
	Limit, Remaining, Used int       // X-RateLimit-Limit|Remaining|Used of the current window
	Reset                  time.Time // X-RateLimit-Reset: when the window ends
	Known                  bool      // the numbers describe the current window (false before the first answer and after a reset)
	Unlimited              bool      // the server sends no rate-limit headers (e.g. GHES with rate limiting off)
	PausedUntil            time.Time // no request before this (Retry-After, secondary or primary limit); zero when none
	Secondary              bool      // PausedUntil comes from a secondary limit
	InFlight               int       // requests sent and not yet answered
	Reserve                int       // requests never spent (Config.Reserve or its default)
}

// Spendable is how many more requests may go out now without touching the
// reserve (0 while paused or before the budget is known).
func (b Budget) Spendable(now time.Time) int {
	if now.Before(b.PausedUntil) || !b.Known {
		return 0
	}
	if n := b.Remaining - b.Reserve - b.InFlight; n > 0 {
		return n
	}
	return 0
}

const (
	// secondaryDefaultPause: GitHub asks to wait at least a minute after a
	// secondary limit that names no Retry-After.
	secondaryDefaultPause = time.Minute
	// defaultResetSlack: wait this long past X-RateLimit-Reset (whole
	// seconds) before trusting that the window has rolled over. go-github
	// sleeps the same buffer.
	defaultResetSlack = time.Second
)

// budget is one token's (or installation's) shared primary/secondary
// accounting. In-flight requests count as spent, so N goroutines cannot
// together overspend what the last headers said remains.
type budget struct {
	mu   sync.Mutex
	wake chan struct{} // closed and replaced on every change

	limit, remaining, used int
	reset                  time.Time
	known                  bool
	unlimited              bool
	pauseUntil             time.Time
	pauseSecondary         bool
	inflight               int
	probeBroken            bool // GET /rate_limit did not tell the budget
	// cautiousAfter: after a pause, requests go one at a time until one
	// sent after the pause ended is answered without a limit, so that a
	// pause does not end in a burst of concurrent requests into a limit.
	cautiousAfter time.Time

	resetSlack time.Duration
}

func newBudget() *budget {
	return &budget{wake: make(chan struct{}), resetSlack: defaultResetSlack}
}

// budgets: one per (API host, credential) in this process, so that several
// Clients built from the same credentials share one account.
var budgets = struct {
	sync.Mutex
	m map[string]*budget
}{m: map[string]*budget{}}

func sharedBudget(cfg Config) *budget {
	h := sha256.New()
	h.Write([]byte(cfg.BaseURL))
	h.Write([]byte{0})
	if cfg.Token != "" {
		h.Write([]byte("token\x00" + string(cfg.Token)))
	} else {
		h.Write([]byte("app\x00" + strconv.FormatInt(cfg.AppID, 10) + "\x00" + strconv.FormatInt(cfg.InstallationID, 10)))
	}
	key := hex.EncodeToString(h.Sum(nil))
	budgets.Lock()
	defer budgets.Unlock()
	b := budgets.m[key]
	if b == nil {
		b = newBudget()
		budgets.m[key] = b
	}
	return b
}

func (b *budget) reserveFor(cfgReserve int) int {
	if cfgReserve > 0 {
		return cfgReserve
	}
	if r := b.limit / 100; r > MinReserve {
		return r
	}
	return MinReserve
}

func (b *budget) snapshot(cfgReserve int) Budget {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.rollover(time.Now())
	s := Budget{
		Limit: b.limit, Remaining: b.remaining, Used: b.used, Reset: b.reset,
		Known: b.known, Unlimited: b.unlimited, InFlight: b.inflight,
		Reserve: b.reserveFor(cfgReserve),
	}
	if time.Now().Before(b.pauseUntil) {
		s.PausedUntil, s.Secondary = b.pauseUntil, b.pauseSecondary
	}
	return s
}

func (b *budget) changed() {
	close(b.wake)
	b.wake = make(chan struct{})
}

// rollover forgets a window whose reset has passed: the next answer tells
// the new one. Until then requests go out one at a time (a probe), so an
// early or skewed reset cannot be overspent.
func (b *budget) rollover(now time.Time) {
	if b.known && !b.reset.IsZero() && !now.Before(b.reset.Add(b.resetSlack)) {
		b.known = false
		b.remaining, b.used = b.limit, 0
	}
	if !b.pauseUntil.IsZero() && !now.Before(b.pauseUntil) {
		b.pauseUntil, b.pauseSecondary = time.Time{}, false
	}
}

// acquire returns when one request may be sent (counting it in flight), or
// fails with *RateLimitedError when the budget will not allow one within
// maxWait or before ctx's deadline, or with ctx's error. probe: nothing is
// known about the current window and this caller holds the only slot; it
// should learn the budget (GET /rate_limit, which costs nothing) first.
func (b *budget) acquire(ctx context.Context, cfgReserve, maxConc int, maxWait time.Duration) (probe bool, err error) {
	if maxConc <= 0 {
		maxConc = DefaultConcurrent
	}
	for {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		b.mu.Lock()
		now := time.Now()
		b.rollover(now)
		var until time.Time
		secondary := false
		switch {
		case now.Before(b.pauseUntil):
			until, secondary = b.pauseUntil, b.pauseSecondary
		case !b.cautiousAfter.IsZero() && b.inflight > 0:
			// resuming after a pause: one at a time
		case b.known:
			avail := b.remaining - b.reserveFor(cfgReserve)
			if avail > b.inflight && b.inflight < maxConc {
				b.inflight++
				b.mu.Unlock()
				return false, nil
			}
			if avail <= 0 {
				until = b.reset.Add(b.resetSlack)
			}
			// else: requests in flight hold the rest; wait for an answer.
		case b.unlimited:
			if b.inflight < maxConc {
				b.inflight++
				b.mu.Unlock()
				return false, nil
			}
		default: // nothing known about this window: one probe at a time
			if b.inflight == 0 {
				b.inflight++
				probe := !b.probeBroken
				b.mu.Unlock()
				return probe, nil
			}
		}
		wake := b.wake
		b.mu.Unlock()

		if until.IsZero() {
			select {
			case <-wake:
				continue
			case <-ctx.Done():
				return false, ctx.Err()
			}
		}
		wait := time.Until(until)
		if wait > maxWait {
			return false, &RateLimitedError{Until: until, Secondary: secondary}
		}
		if dl, ok := ctx.Deadline(); ok && dl.Before(until) {
			return false, &RateLimitedError{Until: until, Secondary: secondary}
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return false, ctx.Err()
		}
	}
}

// learn applies a probe's answer without ending the request slot. It
// reports whether the budget is now known (or known to be unlimited); when
// an answer came and still tells nothing, later probes are skipped.
func (b *budget) learn(resp *http.Response) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if resp == nil {
		return false
	}
	b.observe(resp, time.Now())
	if !b.known && !b.unlimited {
		b.probeBroken = true
	}
	b.changed()
	return b.known || b.unlimited
}

// release ends one in-flight request. sent: the request reached the wire
// (false when go-github refused it before sending, or a token refresh
// failed first). resp carries the headers, nil when no answer came;
// observed: the transport already applied them (observeNow).
func (b *budget) release(resp *http.Response, sent, observed bool, sentAt time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.inflight--
	if sent {
		if !observed {
			b.observe(resp, time.Now())
		}
		if resp != nil && !limited(resp) && !b.cautiousAfter.IsZero() && !sentAt.Before(b.cautiousAfter) {
			b.cautiousAfter = time.Time{}
		}
	}
	b.changed()
}

// limited: the answer is a rate-limit refusal.
func limited(resp *http.Response) bool {
	switch resp.StatusCode {
	case http.StatusTooManyRequests:
		return true
	case http.StatusForbidden:
		return resp.Header.Get("Retry-After") != "" || strings.TrimSpace(resp.Header.Get("X-RateLimit-Remaining")) == "0"
	}
	return false
}

func headerInt(h http.Header, k string) (int64, bool) {
	v := strings.TrimSpace(h.Get(k))
	if v == "" {
		return 0, false
	}
	n, err := strconv.ParseInt(v, 10, 64)
	return n, err == nil
}

// retryAfter parses Retry-After: delay-seconds or an HTTP date.
func retryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			n = 0
		}
		return time.Duration(n) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// observe applies one answer's headers.
func (b *budget) observe(resp *http.Response, now time.Time) {
	if resp == nil {
		// Sent, no answer: it may still have been counted.
		if b.known && b.remaining > 0 {
			b.remaining--
		}
		return
	}
	h := resp.Header
	limit, lok := headerInt(h, "X-RateLimit-Limit")
	rem, rok := headerInt(h, "X-RateLimit-Remaining")
	reset, tok := headerInt(h, "X-RateLimit-Reset")
	used, uok := headerInt(h, "X-RateLimit-Used")
	switch {
	case rok && tok && reset > 0:
		b.unlimited = false
		rt := time.Unix(reset, 0)
		switch {
		case !rt.After(now) && rem > 0:
			// An answer from a window that has ended: says nothing about the new one.
		case !b.known || rt.After(b.reset):
			b.known = true
			b.reset = rt
			b.remaining = int(rem)
			if lok {
				b.limit = int(limit)
			}
			if b.limit < b.remaining {
				b.limit = b.remaining
			}
			b.used = 0
			if uok {
				b.used = int(used)
			}
		case b.reset.Sub(rt) <= time.Second: // the same window: keep the lowest count seen
			b.remaining = min(b.remaining, int(rem))
			if uok {
				b.used = max(b.used, int(used))
			}
			if lok {
				b.limit = int(limit)
			}
		}
	case rok:
		// Remaining without a reset: keep the lowest, and if it is spent pause a minute.
		b.unlimited = false
		if b.known {
			b.remaining = min(b.remaining, int(rem))
		}
		if rem <= 0 {
			b.pause(now.Add(secondaryDefaultPause), false)
		}
	case resp.StatusCode > 0 && resp.StatusCode < 500 && !b.known:
		// A real answer with no rate-limit headers at all: the server does
		// not limit this credential (GHES with rate limiting off).
		b.unlimited = true
	default:
		if b.known && b.remaining > 0 {
			b.remaining--
		}
	}

	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusForbidden {
		if d, ok := retryAfter(h, now); ok {
			b.pause(now.Add(d), !(rok && rem <= 0))
		} else if rok && rem <= 0 && tok && reset > 0 {
			b.pause(time.Unix(reset, 0).Add(b.resetSlack), false)
		} else if resp.StatusCode == http.StatusTooManyRequests {
			b.pause(now.Add(secondaryDefaultPause), true)
		}
	}
}

// observeNow applies an answer's headers the moment they arrive (from the
// transport, before the body is read), so that a limit stops the other
// goroutines as early as possible.
func (b *budget) observeNow(resp *http.Response) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.observe(resp, time.Now())
	b.changed()
}

// pause stops all requests until t (never shortens an existing pause).
func (b *budget) pause(t time.Time, secondary bool) {
	if t.After(b.pauseUntil) {
		b.pauseUntil, b.pauseSecondary = t, secondary
	}
	if t.After(b.cautiousAfter) {
		b.cautiousAfter = t
	}
}

func (b *budget) pauseAt(t time.Time, secondary bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.pause(t, secondary)
	b.changed()
}
