package ghclient

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// SeatStatus is what a Lookup knows about one user's seat in one org.
type SeatStatus uint8

const (
	// SeatUnknown: not looked up (error, rate limit, request allowance or
	// deadline); Result.Err says why. The zero value.
	SeatUnknown SeatStatus = iota
	// SeatActive: the user holds a seat.
	SeatActive
	// SeatPendingCancellation: the seat is unassigned and stays billable
	// until Seat.PendingCancellation.
	SeatPendingCancellation
	// SeatAbsent: no seat (404, or not in a complete seat list).
	SeatAbsent
	// SeatPolicyBlocked: GitHub answered 422 (policy); Result.Policy holds its message.
	SeatPolicyBlocked
)

func (s SeatStatus) String() string {
	switch s {
	case SeatActive:
		return "active"
	case SeatPendingCancellation:
		return "pending_cancellation"
	case SeatAbsent:
		return "absent"
	case SeatPolicyBlocked:
		return "policy_blocked"
	}
	return "unknown"
}

// Result of one seat lookup.
type Result struct {
	Status    SeatStatus
	Seat      *Seat     // for Active / PendingCancellation (a copy; its pointer fields are shared: read only)
	Policy    string    // GitHub's 422 message for PolicyBlocked
	FetchedAt time.Time // when GitHub gave the answer (cached answers keep it)
	Err       error     // why the status is Unknown
}

// LookupConfig tunes a Lookup. Zero values take the defaults noted.
type LookupConfig struct {
	TTL       time.Duration // seat answers (and org-level policy), default 10m
	AbsentTTL time.Duration // 404 / not-in-list answers and per-user 422, default 1m
	// ListThreshold: while an org's seat total is unknown, a batch of at
	// least this many uncached users starts with the first seat-list page
	// (which tells the total) instead of per-user requests. Default 3; -1
	// never lists. Once the total is known the cheaper plan always wins.
	ListThreshold int
}

// Lookup answers "does this user hold a seat in this org" from a cache,
// coalescing concurrent requests for the same key, and choosing per call
// between per-user requests and seat-list pages, whichever costs fewer
// requests. Safe for concurrent use.
type Lookup struct {
	c   *Client
	cfg LookupConfig
	sf  singleflight.Group
	now func() time.Time

	mu      sync.Mutex
	seats   map[string]cacheEntry // seatKey(org, login)
	orgs    map[string]*orgState  // lower(org)
	inserts int
}

type cacheEntry struct {
	res   Result
	until time.Time
}

type orgState struct {
	total   int // total_seats from the last seat-list page
	totalAt time.Time

	// a complete listing from page 1: who held a seat then
	listed   map[string]struct{}
	listedAt time.Time

	policy      string // org-level policy (422 on the seat list, Copilot disabled)
	policyAt    time.Time
	policyUntil time.Time

	setting      string // seat_management_setting, looked up after a per-user 422
	settingUntil time.Time
}

// perUserWorkers bounds concurrent per-user requests of one Seats call.
const perUserWorkers = 8

// NewLookup builds a Lookup over c.
func NewLookup(c *Client, cfg LookupConfig) *Lookup {
	if cfg.TTL <= 0 {
		cfg.TTL = 10 * time.Minute
	}
	if cfg.AbsentTTL <= 0 {
		cfg.AbsentTTL = time.Minute
	}
	if cfg.ListThreshold == 0 {
		cfg.ListThreshold = 3
	}
	return &Lookup{c: c, cfg: cfg, now: time.Now, seats: map[string]cacheEntry{}, orgs: map[string]*orgState{}}
}

func lower(s string) string { return strings.ToLower(s) }

func seatKey(org, login string) string { return lower(org) + "\x00" + lower(login) }

// Seat looks up one user (Seats with one login and no request cap).
func (l *Lookup) Seat(ctx context.Context, org, login string) Result {
	return l.Seats(ctx, org, []string{login}, 0)[login]
}

// Invalidate drops cached answers for the given users of org (all of the
// org's answers, its seat total and listing when no login is given), e.g.
// after an audit event says a seat changed.
func (l *Lookup) Invalidate(org string, logins ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(logins) == 0 {
		prefix := lower(org) + "\x00"
		for k := range l.seats {
			if strings.HasPrefix(k, prefix) {
				delete(l.seats, k)
			}
		}
		delete(l.orgs, lower(org))
		return
	}
	for _, login := range logins {
		delete(l.seats, seatKey(org, login))
	}
	if o := l.orgs[lower(org)]; o != nil {
		o.listed, o.listedAt = nil, time.Time{}
	}
}

// Seats answers for many users of one org at once, within ctx's deadline
// and at most maxRequests GitHub requests (0 = no cap; retries count).
// Cached answers cost nothing. For the rest it takes the cheaper of
// per-user requests (1 each) and the org's seat list (one request per 100
// seats; the total is learned from the first page or a recent listing). A
// listing fills the cache for every seat in the org, and Absent for the
// requested users it does not contain. Anything the budget does not cover
// comes back Unknown with the reason in Err; it never blocks past ctx.
// The map has one entry per given login (as given).
func (l *Lookup) Seats(ctx context.Context, org string, logins []string, maxRequests int) map[string]Result {
	ctx, rc := withCap(ctx, maxRequests)
	q := &seatsCall{l: l, ctx: ctx, rc: rc, org: org, out: make(map[string]Result, len(logins)), pending: map[string][]string{}}
	q.collect(logins)
	if len(q.pending) == 0 {
		return q.out
	}
	if pol, at, ok := l.orgPolicy(org); ok {
		q.answerAll(Result{Status: SeatPolicyBlocked, Policy: pol, FetchedAt: at})
		return q.out
	}
	// The seat list where cheaper, then per-user requests for the rest. An
	// org that answers per-user requests with 422 because it assigns seats
	// to all members is listed after all.
	for round := 0; round < 2; round++ {
		if q.listPhase() {
			return q.out
		}
		if l.listOnly(org) {
			continue
		}
		if !q.perUserPhase() {
			break
		}
	}
	q.fail(errPerUserUnavailable)
	return q.out
}

// seatsCall is the state of one Seats call: the answers so far and the
// logins still waiting for one.
type seatsCall struct {
	l   *Lookup
	ctx context.Context
	rc  *reqCap
	org string
	out map[string]Result
	// pending: lower(login) -> the spellings the caller used; order: the
	// keys in the caller's order.
	pending map[string][]string
	order   []string
}

// collect answers what it can without a request (an empty name, the
// cache) and leaves the rest pending.
func (q *seatsCall) collect(logins []string) {
	for _, login := range logins {
		if _, done := q.out[login]; done {
			continue
		}
		if login == "" || q.org == "" {
			q.out[login] = Result{Err: errors.New("ghclient: empty org or login")}
			continue
		}
		if r, ok := q.l.cached(q.org, login); ok {
			q.out[login] = r
			continue
		}
		k := lower(login)
		if _, ok := q.pending[k]; !ok {
			q.order = append(q.order, k)
		}
		q.pending[k] = append(q.pending[k], login)
	}
}

// answer gives every spelling of k the result r.
func (q *seatsCall) answer(k string, r Result) {
	for _, login := range q.pending[k] {
		q.out[login] = r
	}
	delete(q.pending, k)
}

func (q *seatsCall) answerAll(r Result) {
	for k := range q.pending {
		q.answer(k, r)
	}
}

func (q *seatsCall) fail(err error) { q.answerAll(Result{Err: err}) }

// listPhase answers what it can from the org's seat list (when that is
// the cheaper plan, or the only one); true: the call is over.
func (q *seatsCall) listPhase() bool {
	l, org := q.l, q.org
	page, stalls := 1, 0
	for len(q.pending) > 0 && stalls < 3 && (l.listOnly(org) || l.shouldList(org, page, len(q.pending))) {
		lr, err := l.listShared(q.ctx, org, page, q.pending)
		if lr != nil {
			for k, s := range lr.seats {
				if _, ok := q.pending[k]; ok {
					q.answer(k, seatResult(s, lr.at))
				}
			}
			if lr.end && err == nil {
				for k := range q.pending {
					r := Result{Status: SeatAbsent, FetchedAt: lr.at}
					l.store(org, k, r, l.cfg.AbsentTTL)
					q.answer(k, r)
				}
				return true
			}
		}
		if err != nil && q.listFailed(err) {
			return true
		}
		if lr == nil || lr.next <= page {
			stalls++ // a shared listing that failed before reading a page
			continue
		}
		page = lr.next
	}
	return len(q.pending) == 0
}

// listFailed answers the pending logins for a listing's error; false: the
// error was the shared listing's starter's, not this call's, so go on.
func (q *seatsCall) listFailed(err error) bool {
	var pe *PolicyError
	switch {
	case errors.As(err, &pe):
		q.answerAll(Result{Status: SeatPolicyBlocked, Policy: pe.Message, FetchedAt: q.l.now()})
	case q.ctx.Err() != nil:
		q.fail(q.ctx.Err())
	case errors.Is(err, ErrRequestCap) && q.rc.left() <= 0:
		q.fail(ErrRequestCap)
	case isLeaderOnly(err):
		return false
	default:
		q.fail(err)
	}
	return true
}

// perUserPhase asks for the pending logins one by one; true: the org
// turned out to assign seats to all members, so its list has the answers.
func (q *seatsCall) perUserPhase() (listAfterAll bool) {
	keys := make([]string, 0, len(q.pending))
	for _, k := range q.order {
		if _, ok := q.pending[k]; ok {
			keys = append(keys, k)
		}
	}
	for i, r := range q.l.perUser(q.ctx, q.org, keys, q.pending) {
		if errors.Is(r.Err, errPerUserUnavailable) {
			listAfterAll = true
			continue
		}
		q.answer(keys[i], r)
	}
	return listAfterAll
}

// errPerUserUnavailable: the org assigns seats to all members, so GitHub
// answers the per-user endpoint with 422; its seat list has the answers.
var errPerUserUnavailable = errors.New("ghclient: org assigns seats to all members: per-user seat details unavailable")

func isLeaderOnly(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrRequestCap)
}

// shouldList: is listing from page on cheaper than per-user requests for m users?
func (l *Lookup) shouldList(org string, page, m int) bool {
	if l.cfg.ListThreshold < 0 {
		return false
	}
	total, ok := l.orgTotal(org)
	if !ok {
		return page == 1 && m >= l.cfg.ListThreshold
	}
	pagesLeft := max((total+PerPage-1)/PerPage-(page-1), 1)
	if page > 1 {
		return pagesLeft <= m
	}
	return pagesLeft < m || (pagesLeft == m && m > 1)
}

func seatResult(s Seat, at time.Time) Result {
	st := SeatActive
	if s.PendingCancellation != nil {
		st = SeatPendingCancellation
	}
	return Result{Status: st, Seat: &s, FetchedAt: at}
}

// ---------------------------------------------------------------- cache

func (l *Lookup) cached(org, login string) (Result, bool) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if e, ok := l.seats[seatKey(org, login)]; ok {
		if now.Before(e.until) {
			r := e.res
			if r.Seat != nil { // a copy per caller: the cached record stays as GitHub gave it
				s := *r.Seat
				r.Seat = &s
			}
			return r, true
		}
		delete(l.seats, seatKey(org, login))
	}
	if o := l.orgs[lower(org)]; o != nil && o.listed != nil && now.Before(o.listedAt.Add(l.cfg.AbsentTTL)) {
		if _, ok := o.listed[lower(login)]; !ok {
			return Result{Status: SeatAbsent, FetchedAt: o.listedAt}, true
		}
	}
	return Result{}, false
}

func (l *Lookup) store(org, login string, r Result, ttl time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.storeLocked(org, login, r, now.Add(ttl))
	l.sweepLocked(now)
}

func (l *Lookup) storeLocked(org, login string, r Result, until time.Time) {
	l.seats[seatKey(org, login)] = cacheEntry{res: r, until: until}
	l.inserts++
}

// sweepLocked drops expired entries now and then, so the cache does not
// grow with every user ever seen.
func (l *Lookup) sweepLocked(now time.Time) {
	if l.inserts < 4096 || l.inserts < len(l.seats) {
		return
	}
	l.inserts = 0
	for k, e := range l.seats {
		if !now.Before(e.until) {
			delete(l.seats, k)
		}
	}
}

func (l *Lookup) org(org string) *orgState {
	o := l.orgs[lower(org)]
	if o == nil {
		o = &orgState{}
		l.orgs[lower(org)] = o
	}
	return o
}

func (l *Lookup) orgTotal(org string) (int, bool) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	o := l.orgs[lower(org)]
	if o == nil || o.totalAt.IsZero() || !now.Before(o.totalAt.Add(l.cfg.TTL)) {
		return 0, false
	}
	return o.total, true
}

// listOnly: the org assigns seats to all members (per-user requests 422).
func (l *Lookup) listOnly(org string) bool {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	o := l.orgs[lower(org)]
	return o != nil && o.setting == "assign_all" && now.Before(o.settingUntil)
}

// orgSetting looks up (once per TTL, coalesced) the org's
// seat_management_setting, to tell what a per-user 422 means.
func (l *Lookup) orgSetting(ctx context.Context, org string) string {
	now := l.now()
	l.mu.Lock()
	if o := l.orgs[lower(org)]; o != nil && now.Before(o.settingUntil) {
		l.mu.Unlock()
		return o.setting
	}
	l.mu.Unlock()
	ch := l.sf.DoChan("billing\x00"+lower(org), func() (any, error) {
		b, err := l.c.OrgBilling(ctx, org)
		if err != nil {
			return "", err
		}
		now := l.now()
		l.mu.Lock()
		o := l.org(org)
		o.setting, o.settingUntil = b.SeatManagementSetting, now.Add(l.cfg.TTL)
		l.mu.Unlock()
		return b.SeatManagementSetting, nil
	})
	select {
	case <-ctx.Done():
		return ""
	case r := <-ch:
		setting, _ := r.Val.(string)
		return setting
	}
}

func (l *Lookup) setOrgPolicy(org, msg string) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	o := l.org(org)
	o.policy, o.policyAt, o.policyUntil = msg, now, now.Add(l.cfg.TTL)
}

func (l *Lookup) orgPolicy(org string) (string, time.Time, bool) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	o := l.orgs[lower(org)]
	if o == nil || !now.Before(o.policyUntil) {
		return "", time.Time{}, false
	}
	return o.policy, o.policyAt, true
}

// ---------------------------------------------------------------- listing

type listResult struct {
	seats map[string]Seat // lower(login) -> seat, pages start..
	next  int             // next page to read, 0 at the end
	end   bool            // the last page was read
	at    time.Time
}

// listShared reads the org's seat list from page on, shared by concurrent
// callers starting at the same page. The reading stops early once the
// pages left would cost more than per-user requests for the starter's
// users still missing.
func (l *Lookup) listShared(ctx context.Context, org string, page int, want map[string][]string) (*listResult, error) {
	need := make(map[string]struct{}, len(want))
	for k := range want {
		need[k] = struct{}{}
	}
	key := "list\x00" + lower(org) + "\x00" + strconv.Itoa(page)
	ch := l.sf.DoChan(key, func() (any, error) {
		lr, err := l.list(ctx, org, page, need)
		return lr, err
	})
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case r := <-ch:
		lr, _ := r.Val.(*listResult)
		return lr, r.Err
	}
}

func (l *Lookup) list(ctx context.Context, org string, start int, need map[string]struct{}) (*listResult, error) {
	lr := &listResult{seats: map[string]Seat{}, next: start, at: l.now()}
	var all map[string]struct{}
	if start == 1 {
		all = map[string]struct{}{}
	}
	err := l.c.pages(ctx, orgSeatsPath(org), org, org, start, func(p seatPage) (bool, error) {
		return l.takePage(org, p, lr, need, all)
	})
	if err != nil {
		var pe *PolicyError
		if errors.As(err, &pe) {
			l.setOrgPolicy(org, pe.Message)
		}
		return lr, err
	}
	if lr.end && all != nil {
		l.mu.Lock()
		o := l.org(org)
		o.listed, o.listedAt = all, lr.at
		l.mu.Unlock()
	}
	return lr, nil
}

// takePage files one page into the cache and the result, and decides
// whether reading on is worth it.
func (l *Lookup) takePage(org string, p seatPage, lr *listResult, need, all map[string]struct{}) (bool, error) {
	now := l.now()
	l.mu.Lock()
	o := l.org(org)
	o.total, o.totalAt = p.Total, now
	for _, s := range p.Seats {
		if s.Login == "" {
			continue
		}
		k := lower(s.Login)
		lr.seats[k] = s
		delete(need, k)
		if all != nil {
			all[k] = struct{}{}
		}
		l.storeLocked(org, k, seatResult(s, p.FetchedAt), now.Add(l.cfg.TTL))
	}
	l.sweepLocked(now)
	l.mu.Unlock()
	lr.at = p.FetchedAt
	if p.Next == 0 {
		lr.next, lr.end = 0, true
		return false, nil
	}
	lr.next = p.Next
	pagesLeft := (p.Total+PerPage-1)/PerPage - p.Number
	if p.Last > 0 {
		pagesLeft = p.Last - p.Number
	}
	return max(pagesLeft, 1) <= len(need) || l.listOnly(org), nil
}

// ---------------------------------------------------------------- per user

// perUser fetches keys one request each (coalesced with concurrent callers),
// a few at a time. After the first failure that is not about one user
// (rate limit, allowance, deadline, GitHub error) no new request starts and
// the rest come back Unknown with that error.
func (l *Lookup) perUser(ctx context.Context, org string, keys []string, spell map[string][]string) []Result {
	results := make([]Result, len(keys))
	var (
		mu      sync.Mutex
		stopErr error
		next    int
		wg      sync.WaitGroup
	)
	worker := func() {
		defer wg.Done()
		for {
			mu.Lock()
			if next >= len(keys) {
				mu.Unlock()
				return
			}
			i := next
			next++
			stop := stopErr
			mu.Unlock()
			if stop == nil {
				stop = ctx.Err()
			}
			if stop != nil {
				results[i] = Result{Err: stop}
				continue
			}
			r := l.fetchUser(ctx, org, spell[keys[i]][0])
			results[i] = r
			if r.Status == SeatUnknown && r.Err != nil {
				mu.Lock()
				if stopErr == nil {
					stopErr = r.Err
				}
				mu.Unlock()
			}
		}
	}
	n := min(perUserWorkers, len(keys))
	wg.Add(n)
	for range n {
		go worker()
	}
	wg.Wait()
	return results
}

// fetchUser: one user, coalesced: concurrent callers for the same org/login
// share one request.
func (l *Lookup) fetchUser(ctx context.Context, org, login string) Result {
	key := "user\x00" + seatKey(org, login)
	var r Result
	for range 3 {
		if r, ok := l.cached(org, login); ok {
			return r
		}
		ch := l.sf.DoChan(key, func() (any, error) {
			if r, ok := l.cached(org, login); ok { // answered while we queued
				return r, nil
			}
			return l.fetchUserNow(ctx, org, login), nil
		})
		select {
		case <-ctx.Done():
			return Result{Err: ctx.Err()}
		case res := <-ch:
			r, _ = res.Val.(Result)
		}
		if r.Status == SeatUnknown && isLeaderOnly(r.Err) && ctx.Err() == nil &&
			!(errors.Is(r.Err, ErrRequestCap) && capFrom(ctx).left() <= 0) {
			continue // the shared request failed for its starter's reasons: try as the starter
		}
		return r
	}
	return r
}

func (l *Lookup) fetchUserNow(ctx context.Context, org, login string) Result {
	s, err := l.c.UserSeat(ctx, org, login)
	now := l.now()
	var pe *PolicyError
	switch {
	case err == nil:
		r := seatResult(s, now)
		l.store(org, login, r, l.cfg.TTL)
		return r
	case errors.Is(err, ErrNoSeat):
		r := Result{Status: SeatAbsent, FetchedAt: now}
		l.store(org, login, r, l.cfg.AbsentTTL)
		return r
	case errors.As(err, &pe):
		// What the 422 means depends on the org's setting (one request per TTL).
		switch l.orgSetting(ctx, org) {
		case "assign_all":
			return Result{Err: errPerUserUnavailable}
		case "disabled", "unconfigured":
			l.setOrgPolicy(org, pe.Message)
			return Result{Status: SeatPolicyBlocked, Policy: pe.Message, FetchedAt: now}
		}
		r := Result{Status: SeatPolicyBlocked, Policy: pe.Message, FetchedAt: now}
		l.store(org, login, r, l.cfg.AbsentTTL) // user-specific (a pending invitation)
		return r
	}
	return Result{Err: err}
}
