// Package ghsim is a stateful simulator of the parts of the GitHub REST API
// that seatline talks to (Copilot seat management, GitHub App installation
// tokens, rate limits), served over real HTTP on 127.0.0.1. Tests, `make
// demo` and `make bench` point pkg/ghclient (go-github) at it.
//
// It behaves as GitHub documents, including the awkward parts:
//
//   - seats: per (org, user), or per enterprise team for seats granted to an
//     enterprise team; unassigning sets pending_cancellation_date to the start
//     of the next billing cycle and the seat stays (and is listed) until the
//     simulated clock passes it; deleted users' seats have "assignee": null;
//     assigning_team is null, an org team or an enterprise team object.
//   - GET /orgs/{org}/members/{user}/copilot: 404 when the user holds no seat
//     in the org; 422 when Copilot is disabled/unconfigured for the org, when
//     the org assigns seats to all members (github-facts.md), or when the user
//     has a pending invitation to the org.
//   - POST/DELETE selected_users / selected_teams: 422 unless the org's
//     seat_management_setting is assign_selected; at most 100 names.
//   - DELETE team memberships (org teams and enterprise teams): 204; the
//     seat the team granted goes pending cancellation or ends, with the
//     membership and seat events. Mutations() records every change request
//     that reached its handler; SetMutationHook runs between a change and
//     its answer. Read-only credentials (ReadOnlyTokens, AppReadOnly) get
//     GitHub's 403 naming the missing scope or permission.
//   - GET /enterprises/{e}/copilot/billing/seats: one seat object per
//     granting org or enterprise team, total_seats counts each user once.
//   - page/per_page pagination (default 50, max 100) with RFC 5988 Link
//     headers; X-RateLimit-* headers on every response; a primary limit per
//     token (per installation for App tokens) answered with 403 (or 429) and
//     X-RateLimit-Remaining: 0; a secondary limit on bursts or concurrency
//     answered with 403 (or 429) and Retry-After; limit-violation accounting.
//   - Authorization ("Bearer …" or "token …") → 401 without it (GET
//     /rate_limit also answers anonymous callers, as GitHub does);
//     X-GitHub-Api-Version: 2022-11-28 → 400 when missing or different
//     (the App token exchange accepts a missing header: some App token clients send
//     none and GitHub then uses its default version); unknown routes → 404
//     with GitHub's error body; fault injection (latency, 5xx, 429 bursts,
//     secondary limits, connection resets).
//
// Every seat change, whether made through the API or through the Go methods,
// emits the streamed audit event GitHub would (copilot.cfb_seat_*), drained
// with Events(). With Options.MembershipEvents the stream also carries the
// membership and identity events that change or orphan seats
// (org/team/enterprise_team add_member and remove_member,
// business.remove_member, user.suspend, user.rename,
// external_identity.deprovision), enterprise-team licences as
// enterprise_team.copilot_assignment/unassignment, and plan and
// seat-management events for every org from its creation; lifecycle.go has
// the changes beyond assignment (removal from the enterprise, SCIM
// deprovisioning, suspension, a user's or the whole org's access revoked,
// plans), each with its consequences as GitHub documents them: removed
// from an org, the enterprise or the enterprise team of the seat, access
// ends at once and the seat stays listed pending cancellation (billed to the
// cycle's end); leaving a granting org team makes it pending, with or
// without a copilot.* event (Options.TeamUnassignEventRate); deprovisioning
// keeps the seat under an obfuscated login.
//
// Beside the state, the simulator keeps the ground truth of seat periods
// (truth.go: Periods, HoldersAt, Orphans, SeatDays) by seatline's lifecycle
// rules (internal/lifecycle), every time an emitted event's @timestamp or a
// cycle boundary, so that an end-to-end test can compare seatline's
// derivation from the stream with it. RandomLifecycleChange drives months of
// such changes.
//
// Two clocks: the simulated clock (Now, Advance) drives seat timestamps,
// billing cycles and audit-event timestamps; rate-limit windows, Retry-After,
// JWT and installation-token expiry run on the real clock, because clients
// (go-github, the App token cache) sleep and compare against real time.
package ghsim

import (
	"crypto/rsa"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"time"
)

// Seat management settings (GET /orgs/{org}/copilot/billing → seat_management_setting).
const (
	AssignAll      = "assign_all"
	AssignSelected = "assign_selected"
	Disabled       = "disabled"
	Unconfigured   = "unconfigured"
)

// Copilot plan types.
const (
	PlanBusiness   = "business"
	PlanEnterprise = "enterprise"
)

// APIVersion is the only X-GitHub-Api-Version the simulator accepts.
const APIVersion = "2022-11-28"

// Errors returned by the Go state methods (the API maps them to 404/422).
var (
	ErrNotFound       = errors.New("ghsim: not found")
	ErrSeatManagement = errors.New("ghsim: org seat management setting does not allow per-user or per-team assignment")
	ErrNotMember      = errors.New("ghsim: user is not a member of the organization and has no pending invitation")
	ErrInvalidSetting = errors.New("ghsim: invalid seat management setting")
	ErrTooManyNames   = errors.New("ghsim: more than 100 names in one request")
	ErrNoNames        = errors.New("ghsim: no names given")
	ErrDuplicate      = errors.New("ghsim: already exists")
	ErrAccessRevoked  = errors.New("ghsim: Copilot access for the organization is revoked")
	ErrInvalidPlan    = errors.New("ghsim: invalid Copilot plan")
)

// Options configure a Server. Zero values take the documented defaults.
type Options struct {
	Enterprise     string // enterprise (business) slug; default "acme-corp"
	EnterprisePlan string // plan_type of enterprise-team seats; default "enterprise"

	// Admin is the actor (login) of requests made with a personal access
	// token, and of audit events for Go-method changes given an empty actor.
	// Default Enterprise + "-admin".
	Admin string
	// Tokens, when non-empty, is the set of accepted personal access tokens.
	// When empty, any token is accepted except strings shaped like an
	// installation token ("ghs_…", which must have been issued by this
	// server) or a JWT (accepted only by the App token exchange).
	Tokens []string
	// ReadOnlyTokens are personal access tokens (accepted besides Tokens)
	// whose scopes allow reads only, as a classic token with read:org and
	// without manage_billing:copilot: seat and team changes answer 403
	// "Resource not accessible by personal access token" with
	// X-OAuth-Scopes (what the token has) and X-Accepted-OAuth-Scopes
	// (what the endpoint needs), as GitHub does.
	ReadOnlyTokens []string
	// AppReadOnly: the GitHub App's installation tokens may read but not
	// change seats or teams (403 "Resource not accessible by integration"
	// with X-Accepted-GitHub-Permissions naming the permission).
	AppReadOnly bool
	// ForbiddenTokens are personal access tokens (accepted besides Tokens)
	// that authenticate but have none of the scopes the Copilot endpoints
	// need, reads included (neither manage_billing:copilot nor read:org):
	// every endpoint but GET /rate_limit answers them 403 "Resource not
	// accessible by personal access token" with X-Accepted-OAuth-Scopes,
	// as GitHub does. (ReadOnlyTokens may read.)
	ForbiddenTokens []string

	// Primary rate limit: Limit requests per Window per token (per
	// installation for App installation tokens). Defaults 5000 per hour.
	Limit  int
	Window time.Duration

	// Secondary rate limit, per token. SecondaryBurst > 0 allows at most that
	// many requests within SecondaryWindow (default 1s); SecondaryConcurrent
	// > 0 allows at most that many in flight. Tripping either answers 403
	// (429 with Use429) with Retry-After: SecondaryRetryAfter (default 60s,
	// whole seconds, at least 1) and the documented secondary-rate-limit
	// message. Both 0 (the default): no secondary limit. (GitHub's published
	// figures: 100 concurrent requests, 900 points per minute per endpoint.)
	SecondaryBurst      int
	SecondaryWindow     time.Duration
	SecondaryConcurrent int
	SecondaryRetryAfter time.Duration

	// Use429 answers rate-limited requests (primary and secondary) with 429
	// Too Many Requests instead of 403 Forbidden; GitHub uses both.
	Use429 bool

	// ViolationGrace: requests arriving within this long after a limit was
	// announced are not counted as violations, since the client may have
	// sent them before it saw the announcement. Default 20 ms; negative: none.
	ViolationGrace time.Duration

	// GitHub App auth: POST /app/installations/{InstallationID}/access_tokens
	// takes a JWT signed with the key whose public half is AppPublicKey
	// (nil: every JWT is refused, 401 "Integration not found"). Installation
	// tokens expire after TokenTTL of real time; note that ghclient
	// refreshes a token one minute before it expires, so with a TTL under
	// ~61 s it fetches a new token for every request.
	AppID          int64
	AppSlug        string // default "seatline-sim"; the bot actor is AppSlug+"[bot]"
	AppPublicKey   *rsa.PublicKey
	InstallationID int64         // default 1
	TokenTTL       time.Duration // installation token lifetime; default 1h (GitHub's)

	// NoRateLimitEndpoint answers GET /rate_limit with 404, as a GitHub
	// Enterprise Server with rate limiting switched off does.
	NoRateLimitEndpoint bool

	// Start is the simulated clock's initial time; default 2024-06-03T09:00:00Z.
	Start time.Time
	// BillingCycleDay is the day of the month (1..28) a billing cycle starts;
	// default 1. pending_cancellation_date is the next cycle's start.
	// GitHub's Copilot cycle is the calendar month (UTC), and the ground
	// truth (Periods) and seatline's lifecycle rules assume it: billable
	// dates there are always 00:00 UTC on the 1st. Another day only moves
	// the simulator's own pending/cancellation dates.
	BillingCycleDay int
	// Location is the time zone of REST timestamps (GitHub's Copilot API
	// sometimes answers with a non-UTC offset); default UTC.
	Location *time.Location

	// Seed makes ids, document ids and fault decisions deterministic.
	Seed int64

	// MembershipEvents makes the audit stream complete for the seat
	// lifecycle: the membership and identity events GitHub writes
	// (org.add_member/remove_member, team.add_member/remove_member,
	// business.remove_member, enterprise_team.add_member/remove_member,
	// user.suspend, user.rename, external_identity.deprovision),
	// enterprise-team licences as enterprise_team.copilot_assignment /
	// copilot_unassignment (instead of copilot.cfb_seat_assignment_created /
	// _unassigned with team "ent:…"), and a copilot.plan_changed when an org
	// is added. Default false: only copilot.* events, the stream as it was
	// before (seatline's ingest keeps only those, and consumers count on
	// it). The ground truth (Periods) is meant for a stream with them.
	MembershipEvents bool

	// TeamUnassignEventRate is the probability that a seat left without a
	// grant because its holder left an org team (GitHub promises no
	// copilot.* event for that) gets a copilot.cfb_seat_assignment_unassigned
	// for the user. 0 takes the default, 1 (always); negative: never.
	// Decisions use the simulator's own random source (Seed).
	TeamUnassignEventRate float64
}

// Faults are injected failures; set them with SetFaults. They apply to every
// endpoint except GET /rate_limit, after authentication and rate limiting.
type Faults struct {
	Latency time.Duration // added to every response (before rate-limit accounting)
	// ErrorRate is the fraction of requests answered 500, 502 or 503.
	ErrorRate float64
	// Burst429Every/Burst429Len: after every Burst429Every requests, the next
	// Burst429Len get 429 with Retry-After: RetryAfter and the
	// secondary-rate-limit message.
	Burst429Every int
	Burst429Len   int
	// SecondaryEvery: every SecondaryEvery-th request gets a secondary-limit
	// response (403, or 429 with Options.Use429) with Retry-After: RetryAfter.
	SecondaryEvery int
	// RetryAfter announced by injected 429/secondary responses; default 1s.
	RetryAfter time.Duration
	// ResetRate is the fraction of requests whose connection is closed
	// without a response (the client sees a reset / EOF).
	ResetRate float64
}

// Server is the simulator. All methods are safe for concurrent use.
type Server struct {
	opts Options
	wall func() time.Time // real clock (rate limits, tokens)

	mu      sync.Mutex
	now     time.Time // simulated clock
	lastTS  int64     // last audit event timestamp (Unix ms)
	rng     *rand.Rand
	docSeed uint64
	docSeq  uint64

	enterpriseID int64
	users        map[string]*user
	usersByID    map[int64]*user
	userOrder    []string
	orgs         map[string]*org
	orgOrder     []string
	entTeams     map[string]*team
	entOrder     []string
	seatSeq      uint64
	teamIDs      int64

	events [][]byte

	truth truth // ground truth of seat periods (truth.go)

	// HTTP side (own lock: never held while taking mu, and vice versa only
	// in the documented order mu → rl).
	rl         sync.Mutex
	buckets    map[string]*bucket
	faults     Faults
	faultRNG   *rand.Rand
	faultN     int
	reqRNG     *rand.Rand
	requests   map[string]int
	statuses   map[int]int
	total      int
	violations int
	instTokens map[string]instToken

	mutations    []Mutation
	mutationHook func(Mutation)

	// Test hooks (hooks.go); rawSeats under mu, the rest under rl.
	rawSeats      map[string][]json.RawMessage
	reqLog        []LoggedRequest
	peakInFlight  int
	failures      []*queuedFailure
	tokenFailures int
	issued, jwts  []string

	srv      *http.Server
	ln       net.Listener
	baseURL  string
	serveErr chan error
}

// New returns a simulator with an empty enterprise (no orgs, users or seats).
func New(opts Options) *Server {
	if opts.Enterprise == "" {
		opts.Enterprise = "acme-corp"
	}
	if opts.EnterprisePlan == "" {
		opts.EnterprisePlan = PlanEnterprise
	}
	if opts.Admin == "" {
		opts.Admin = opts.Enterprise + "-admin"
	}
	if opts.Limit <= 0 {
		opts.Limit = 5000
	}
	if opts.Window <= 0 {
		opts.Window = time.Hour
	}
	if opts.SecondaryWindow <= 0 {
		opts.SecondaryWindow = time.Second
	}
	if opts.SecondaryRetryAfter <= 0 {
		opts.SecondaryRetryAfter = 60 * time.Second
	}
	if opts.AppSlug == "" {
		opts.AppSlug = "seatline-sim"
	}
	if opts.InstallationID == 0 {
		opts.InstallationID = 1
	}
	if opts.TokenTTL <= 0 {
		opts.TokenTTL = time.Hour
	}
	if opts.Start.IsZero() {
		opts.Start = time.Date(2024, 6, 3, 9, 0, 0, 0, time.UTC)
	}
	if opts.BillingCycleDay < 1 || opts.BillingCycleDay > 28 {
		opts.BillingCycleDay = 1
	}
	if opts.Location == nil {
		opts.Location = time.UTC
	}
	if opts.TeamUnassignEventRate == 0 {
		opts.TeamUnassignEventRate = 1
	}
	seed := uint64(opts.Seed)
	s := &Server{
		opts:       opts,
		wall:       time.Now,
		now:        opts.Start.UTC().Truncate(time.Second),
		rng:        rand.New(rand.NewPCG(seed, 0x6768_7369_6d00)),
		docSeed:    splitmix(seed ^ 0xd0c1d5eed),
		users:      map[string]*user{},
		usersByID:  map[int64]*user{},
		orgs:       map[string]*org{},
		entTeams:   map[string]*team{},
		buckets:    map[string]*bucket{},
		faultRNG:   rand.New(rand.NewPCG(seed, 0xfa017)),
		reqRNG:     rand.New(rand.NewPCG(seed, 0x5e9_1d)),
		requests:   map[string]int{},
		statuses:   map[int]int{},
		instTokens: map[string]instToken{},
	}
	s.enterpriseID = 1000 + s.rng.Int64N(90000)
	s.teamIDs = 1_000_000 + s.rng.Int64N(8_000_000)
	return s
}

// Options returns the options with defaults applied.
func (s *Server) Options() Options { return s.opts }

// Start serves the API on 127.0.0.1 on a free port.
func (s *Server) Start() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	s.ln = ln
	s.baseURL = "http://" + ln.Addr().String()
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	s.serveErr = make(chan error, 1)
	go func() { s.serveErr <- s.srv.Serve(ln) }()
	return nil
}

// URL is the server's base URL ("http://127.0.0.1:port", no trailing slash);
// go-github's BaseURL is URL()+"/".
func (s *Server) URL() string { return s.baseURL }

// Close stops the server and closes all connections.
func (s *Server) Close() {
	if s.srv != nil {
		_ = s.srv.Close()
		<-s.serveErr
		s.srv = nil
	}
}

// Handler returns the API as an http.Handler (for httptest.NewServer); Link
// headers use the request's Host.
func (s *Server) Handler() http.Handler { return s }

// Now returns the simulated time.
func (s *Server) Now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.now
}

// Advance moves the simulated clock forward by d (d <= 0 does nothing).
// Seats whose pending_cancellation_date the clock reaches disappear, each
// with a copilot.cfb_seat_cancelled event timestamped at that date.
func (s *Server) Advance(d time.Duration) {
	if d <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceLocked(s.now.Add(d))
}

// SetFaults replaces the injected faults (zero Faults: none).
func (s *Server) SetFaults(f Faults) {
	if f.RetryAfter <= 0 {
		f.RetryAfter = time.Second
	}
	s.rl.Lock()
	defer s.rl.Unlock()
	s.faults = f
	s.faultN = 0
}

// Requests returns the number of requests received per endpoint pattern,
// e.g. "GET /orgs/{org}/members/{username}/copilot"; requests that match no
// route count under "unknown". Every request counts, whatever its outcome.
func (s *Server) Requests() map[string]int {
	s.rl.Lock()
	defer s.rl.Unlock()
	out := make(map[string]int, len(s.requests))
	for k, v := range s.requests {
		out[k] = v
	}
	return out
}

// Statuses returns the number of responses sent per HTTP status code
// (connections reset by fault injection are not responses).
func (s *Server) Statuses() map[int]int {
	s.rl.Lock()
	defer s.rl.Unlock()
	out := make(map[int]int, len(s.statuses))
	for k, v := range s.statuses {
		out[k] = v
	}
	return out
}

// TotalRequests is the number of requests received (all endpoints).
func (s *Server) TotalRequests() int {
	s.rl.Lock()
	defer s.rl.Unlock()
	return s.total
}

// LimitViolations is the number of requests that arrived for a token whose
// primary budget was already 0 before its reset, or during a Retry-After
// window announced to that token, after the server had sent that token a
// response saying so (X-RateLimit-Remaining: 0, or Retry-After). The request
// that first finds a limit exhausted (or trips the secondary limit), and
// requests already in flight when the server announced it, are not
// violations: a client that obeys the headers it received gets zero.
func (s *Server) LimitViolations() int {
	s.rl.Lock()
	defer s.rl.Unlock()
	return s.violations
}

// ResetCounters zeroes Requests, Statuses, TotalRequests, LimitViolations
// and Mutations (rate-limit budgets are kept).
func (s *Server) ResetCounters() {
	s.rl.Lock()
	defer s.rl.Unlock()
	s.mutations = nil
	s.requests = map[string]int{}
	s.statuses = map[int]int{}
	s.total = 0
	s.violations = 0
}

// Events drains the audit events emitted so far: one JSON object each, no
// trailing newline, in emission order (timestamps strictly increasing).
func (s *Server) Events() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.events
	s.events = nil
	return out
}

// PendingEvents is the number of emitted events not yet drained.
func (s *Server) PendingEvents() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.events)
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}
