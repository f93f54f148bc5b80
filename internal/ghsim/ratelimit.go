package ghsim

import (
	"time"
)

// bucket is one rate-limit budget (a token, an installation, an App's JWTs,
// or an unauthenticated client address). All fields are guarded by s.rl.
type bucket struct {
	limit   int
	enforce bool // false: unauthenticated (headers only)

	reset time.Time // end of the current window (whole second); zero: none yet
	used  int

	// zeroAnnounced is when a response saying remaining 0 for the current
	// window was sent (zero: not yet); later arrivals are violations.
	zeroAnnounced time.Time

	retryFrom      time.Time // start of the Retry-After window: earlier arrivals are not held by it
	retryUntil     time.Time // end of the announced Retry-After window
	retryAnnounced time.Time // when it was sent (zero: not yet)

	inflight int         // requests in flight (from arrival to response)
	recent   []time.Time // admission times within SecondaryWindow
}

// rlSnap is what a response's rate-limit headers say.
type rlSnap struct {
	b          *bucket
	limit      int
	used       int
	remaining  int
	reset      time.Time
	retryAfter int       // seconds; 0: no Retry-After header
	retryUntil time.Time // the window it announces
}

type verdict int

const (
	admitOK verdict = iota
	rejectPrimary
	rejectSecondary
)

func ceilSecond(t time.Time) time.Time {
	u := t.Truncate(time.Second)
	if u.Before(t) {
		u = u.Add(time.Second)
	}
	return u.Round(0)
}

// retrySeconds is a Retry-After value covering d: whole seconds, at least 1.
func retrySeconds(d time.Duration) int {
	n := int((d + time.Second - 1) / time.Second)
	return max(n, 1)
}

// bucketLocked returns the bucket for key, rolling its window over when
// the reset time has passed. Needs s.rl.
func (s *Server) bucketLocked(key string, limit int, enforce bool, now time.Time) *bucket {
	b, ok := s.buckets[key]
	if !ok {
		b = &bucket{limit: limit, enforce: enforce}
		s.buckets[key] = b
	}
	if b.reset.IsZero() || !now.Before(b.reset) {
		b.reset = ceilSecond(now.Add(s.opts.Window))
		b.used = 0
		b.zeroAnnounced = time.Time{}
	}
	return b
}

func (b *bucket) snap() rlSnap {
	return rlSnap{b: b, limit: b.limit, used: b.used, remaining: max(b.limit-b.used, 0), reset: b.reset}
}

// peek returns the headers for a request that is not counted (GET
// /rate_limit, unknown routes).
func (s *Server) peek(p *principal) rlSnap {
	s.rl.Lock()
	defer s.rl.Unlock()
	return s.bucketLocked(p.bucket, p.limit, p.enforce, s.wall()).snap()
}

// countOnly counts a request against a bucket that is never enforced
// (unauthenticated requests answered 401).
func (s *Server) countOnly(p *principal) rlSnap {
	s.rl.Lock()
	defer s.rl.Unlock()
	b := s.bucketLocked(p.bucket, p.limit, p.enforce, s.wall())
	b.used++
	return b.snap()
}

// enter registers a request in flight for p's bucket from its arrival
// (before any injected latency) and returns how many were already in flight
// (the secondary concurrency limit applies to that number). leave undoes it.
func (s *Server) enter(p *principal) int {
	s.rl.Lock()
	defer s.rl.Unlock()
	b := s.bucketLocked(p.bucket, p.limit, p.enforce, s.wall())
	b.inflight++
	s.peakInFlight = max(s.peakInFlight, b.inflight)
	return b.inflight - 1
}

func (s *Server) leave(p *principal) {
	s.rl.Lock()
	defer s.rl.Unlock()
	s.buckets[p.bucket].inflight--
}

// admit applies the primary and secondary limits to a request that arrived
// at arrival with ahead requests of the same token in flight, counting it
// when admitted and counting a violation when the limit it runs into had
// already been announced to the token.
func (s *Server) admit(p *principal, arrival time.Time, ahead int) (rlSnap, verdict) {
	s.rl.Lock()
	defer s.rl.Unlock()
	now := s.wall()
	b := s.bucketLocked(p.bucket, p.limit, p.enforce, now)
	if !b.enforce {
		b.used++
		return b.snap(), admitOK
	}
	if now.Before(b.retryUntil) && !arrival.Before(b.retryFrom) {
		if !b.retryAnnounced.IsZero() && arrival.After(b.retryAnnounced.Add(s.violationGrace())) {
			s.violations++
		} else if b.used >= b.limit && !b.zeroAnnounced.IsZero() && arrival.After(b.zeroAnnounced.Add(s.violationGrace())) {
			s.violations++
		}
		sn := b.snap()
		sn.retryAfter, sn.retryUntil = retrySeconds(b.retryUntil.Sub(now)), b.retryUntil
		return sn, rejectSecondary
	}
	if b.used >= b.limit {
		if !b.zeroAnnounced.IsZero() && arrival.After(b.zeroAnnounced.Add(s.violationGrace())) {
			s.violations++
		}
		return b.snap(), rejectPrimary
	}
	trip := s.opts.SecondaryConcurrent > 0 && ahead >= s.opts.SecondaryConcurrent
	if s.opts.SecondaryBurst > 0 {
		cut := now.Add(-s.opts.SecondaryWindow)
		i := 0
		for i < len(b.recent) && !b.recent[i].After(cut) {
			i++
		}
		b.recent = b.recent[i:]
		if len(b.recent) >= s.opts.SecondaryBurst {
			trip = true
		}
	}
	if trip {
		return s.tripLocked(b, now, s.opts.SecondaryRetryAfter), rejectSecondary
	}
	b.used++
	if s.opts.SecondaryBurst > 0 {
		b.recent = append(b.recent, now)
	}
	return b.snap(), admitOK
}

// tripLocked starts (or extends) a Retry-After window of d on b. Needs s.rl.
func (s *Server) tripLocked(b *bucket, now time.Time, d time.Duration) rlSnap {
	until := now.Add(time.Duration(retrySeconds(d)) * time.Second)
	if !now.Before(b.retryUntil) {
		b.retryFrom = now
	}
	if until.After(b.retryUntil) {
		b.retryUntil = until
		b.retryAnnounced = time.Time{}
	}
	sn := b.snap()
	sn.retryAfter, sn.retryUntil = retrySeconds(b.retryUntil.Sub(now)), b.retryUntil
	return sn
}

// trip is tripLocked for injected faults, keeping the request's counts.
func (s *Server) trip(sn rlSnap, d time.Duration) rlSnap {
	s.rl.Lock()
	defer s.rl.Unlock()
	out := s.tripLocked(sn.b, s.wall(), d)
	out.used, out.remaining, out.reset = sn.used, sn.remaining, sn.reset
	return out
}

// announced records that a response carrying sn has reached the client:
// from now on, requests ignoring it are violations.
func (s *Server) announced(sn rlSnap) {
	s.rl.Lock()
	defer s.rl.Unlock()
	b := sn.b
	if b == nil || !b.enforce {
		return
	}
	now := s.wall()
	if sn.remaining == 0 && b.reset.Equal(sn.reset) && b.zeroAnnounced.IsZero() {
		b.zeroAnnounced = now
	}
	if sn.retryAfter > 0 && b.retryUntil.Equal(sn.retryUntil) && b.retryAnnounced.IsZero() {
		b.retryAnnounced = now
	}
}

// violationGrace: a request arriving this soon after a limit was announced
// may have been sent before the announcement reached the client (several
// requests in flight at once), so it is rejected but not counted as a
// violation.
func (s *Server) violationGrace() time.Duration {
	if s.opts.ViolationGrace < 0 {
		return 0
	}
	if s.opts.ViolationGrace == 0 {
		return 20 * time.Millisecond
	}
	return s.opts.ViolationGrace
}
