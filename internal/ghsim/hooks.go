package ghsim

import (
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"time"
)

// Test hooks: what a client test needs to see and to provoke beyond the
// simulated enterprise (faults.go's Faults are rates; these are exact).
// Every hook is safe for concurrent use.

// LoggedRequest is one API request as the server received it.
type LoggedRequest struct {
	At              time.Time // arrival, on the real clock
	Endpoint        string    // the pattern (Endpoint*), EndpointUnknown for no route
	Method, Path    string
	RawQuery        string
	Authorization   string
	UserAgent       string
	APIVersion      string // X-GitHub-Api-Version
	RemainingBefore int    // the credential's primary budget left when it was admitted or refused; -1: never reached the limits
}

// RequestLog is every API request so far, in arrival order: all but GET
// /rate_limit and the App token exchange, as GitHub counts them (refused
// ones included).
func (s *Server) RequestLog() []LoggedRequest {
	s.rl.Lock()
	defer s.rl.Unlock()
	return append([]LoggedRequest(nil), s.reqLog...)
}

// logRequest records an API request on arrival; the index is for
// logAdmission.
func (s *Server) logRequest(rt *route, key string, r *http.Request, at time.Time) int {
	if rt != nil && (rt.exempt || rt.app) {
		return -1
	}
	s.rl.Lock()
	defer s.rl.Unlock()
	s.reqLog = append(s.reqLog, LoggedRequest{At: at, Endpoint: key, Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery,
		Authorization: r.Header.Get("Authorization"), UserAgent: r.Header.Get("User-Agent"), APIVersion: r.Header.Get("X-GitHub-Api-Version"),
		RemainingBefore: -1})
	return len(s.reqLog) - 1
}

// logAdmission records the budget a logged request met.
func (s *Server) logAdmission(i int, sn rlSnap, admitted bool) {
	if i < 0 {
		return
	}
	rem := sn.remaining
	if admitted {
		rem++ // sn is after the request was counted
	}
	s.rl.Lock()
	s.reqLog[i].RemainingBefore = rem
	s.rl.Unlock()
}

// PeakInFlight is the most requests of one credential the server had in
// flight at once (from arrival to answer).
func (s *Server) PeakInFlight() int {
	s.rl.Lock()
	defer s.rl.Unlock()
	return s.peakInFlight
}

// SetRateLimit sets the primary window of a personal access token as if
// another client had been spending it: its limit, the requests used, and
// the reset (rounded up to a whole second, as GitHub announces it).
func (s *Server) SetRateLimit(token string, limit, used int, reset time.Time) {
	s.rl.Lock()
	defer s.rl.Unlock()
	b := s.bucketLocked("token:"+tokenKey(token), limit, true, s.wall())
	b.limit, b.used, b.reset = limit, used, ceilSecond(reset)
	if used < limit {
		b.zeroAnnounced = time.Time{}
	}
}

// RateLimit is a personal access token's primary window: limit, used, reset.
func (s *Server) RateLimit(token string) (limit, used int, reset time.Time) {
	s.rl.Lock()
	defer s.rl.Unlock()
	b := s.bucketLocked("token:"+tokenKey(token), s.opts.Limit, true, s.wall())
	return b.limit, b.used, b.reset
}

// Failure is an answer the server gives instead of the real one (Fail).
// Status 0 with a Delay answers normally after the delay.
type Failure struct {
	Path  string // only requests whose path contains this ("": any API request)
	Times int    // how many requests it takes; 0: every matching one until ClearFailures
	Delay time.Duration
	Reset bool // close the connection without an answer (the client sees a reset)

	Status           int
	Message          string
	DocumentationURL string
	// EchoAuthorization appends the request's Authorization header to the
	// message: a server that quotes the credential back.
	EchoAuthorization bool
	// RetryAfter > 0 sends Retry-After (whole seconds) and holds the
	// credential's requests for that long, as a secondary limit does: one
	// sent before it passes is a violation (LimitViolations).
	RetryAfter time.Duration
}

// Fail queues failures for API requests after authentication and the rate
// limits (GET /rate_limit and the token exchange are never failed). A
// request takes the first queued failure that matches it and has uses
// left.
func (s *Server) Fail(fs ...Failure) {
	s.rl.Lock()
	defer s.rl.Unlock()
	for _, f := range fs {
		s.failures = append(s.failures, &queuedFailure{Failure: f, left: f.Times})
	}
}

// ClearFailures drops the failures still queued.
func (s *Server) ClearFailures() {
	s.rl.Lock()
	defer s.rl.Unlock()
	s.failures = nil
}

type queuedFailure struct {
	Failure
	left int // uses left (Times > 0)
}

// takeFailure returns the failure for a request, if one is queued.
func (s *Server) takeFailure(path string) *Failure {
	s.rl.Lock()
	defer s.rl.Unlock()
	for i, q := range s.failures {
		if !strings.Contains(path, q.Path) {
			continue
		}
		f := q.Failure
		if q.Times > 0 {
			if q.left--; q.left == 0 {
				s.failures = append(s.failures[:i:i], s.failures[i+1:]...)
			}
		}
		return &f
	}
	return nil
}

// applyFailure answers c with a queued failure; true: answered (or dropped).
func (s *Server) applyFailure(c *reqCtx) bool {
	f := s.takeFailure(c.r.URL.Path)
	if f == nil {
		return false
	}
	if f.Delay > 0 {
		t := time.NewTimer(f.Delay)
		select {
		case <-t.C:
		case <-c.r.Context().Done():
			t.Stop()
			return true
		}
	}
	switch {
	case f.Reset:
		dropConnection(c.w)
		return true
	case f.Status == 0:
		return false
	}
	if f.RetryAfter > 0 {
		c.snap = s.trip(c.snap, f.RetryAfter)
	}
	msg := f.Message
	if f.EchoAuthorization {
		msg += " " + c.r.Header.Get("Authorization")
	}
	s.writeError(c, f.Status, msg, f.DocumentationURL)
	return true
}

// dropConnection closes the client's connection without an answer, with
// a reset (RST) where it can.
func dropConnection(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			if tc, ok := conn.(*net.TCPConn); ok {
				_ = tc.SetLinger(0) // RST, not FIN
			}
			_ = conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler) // not hijackable (HTTP/2): abort the stream
}

// AddRawSeat appends a seat object, exactly as given, to the seat list of
// an org or of the enterprise (its slug): odd, malformed or future shapes
// GitHub might send (a null assignee, a string id, an unknown type). It
// counts in total_seats; the per-user endpoint does not know it.
func (s *Server) AddRawSeat(scope string, seat json.RawMessage) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rawSeats == nil {
		s.rawSeats = map[string][]json.RawMessage{}
	}
	s.rawSeats[scope] = append(s.rawSeats[scope], append(json.RawMessage(nil), seat...))
}

// FailTokenExchanges answers the next n App token exchanges with 401 Bad
// credentials (a key GitHub no longer accepts, for a while).
func (s *Server) FailTokenExchanges(n int) {
	s.rl.Lock()
	defer s.rl.Unlock()
	s.tokenFailures = n
}

// RevokeInstallationTokens makes every installation token issued so far
// invalid (401 Bad credentials), as an App's suspension would.
func (s *Server) RevokeInstallationTokens() {
	s.rl.Lock()
	defer s.rl.Unlock()
	clear(s.instTokens)
}

// Credentials are the installation tokens the server issued and the App
// JWTs it received, in order: the secrets a client must never print.
func (s *Server) Credentials() (tokens, jwts []string) {
	s.rl.Lock()
	defer s.rl.Unlock()
	return append([]string(nil), s.issued...), append([]string(nil), s.jwts...)
}

// userFold finds a user by login ignoring case, as GitHub does. Needs mu.
func (s *Server) userFold(login string) *user {
	if u, ok := s.users[login]; ok {
		return u
	}
	for name, u := range s.users {
		if strings.EqualFold(name, login) {
			return u
		}
	}
	return nil
}
