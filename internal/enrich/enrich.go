// Package enrich completes timeline rows with Copilot seat details from
// GitHub's REST API: what the seat looked like (plan, granting team,
// billable-until, activity) when it was looked up. The ingest path uses it
// inline within a small budget per batch; cmd/enrich uses it to complete
// rows left pending.
package enrich

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/seatline/seatline/internal/flagval"
	"github.com/seatline/seatline/internal/timeline"
	"github.com/seatline/seatline/pkg/ghclient"
)

// Config bounds what one Enrich call may spend. InlineDefaults and
// WorkerDefaults have the values each binary's flags show.
type Config struct {
	// Budget: the longest one call may take. Rows not looked up by then
	// stay pending.
	Budget time.Duration
	// MaxRequests: GitHub requests one call may make, shared between the
	// orgs of the batch. Cached answers are free.
	MaxRequests int
	// MaxAttempts: after this many failed lookups a row is marked failed
	// (cmd/enrich keeps retrying failed rows less often).
	MaxAttempts int
}

// InlineDefaults: ingest's lookups, within a batch that must not wait.
func InlineDefaults() Config {
	return Config{Budget: 300 * time.Millisecond, MaxRequests: 25, MaxAttempts: 10}
}

// WorkerDefaults: cmd/enrich's rounds over pending rows.
func WorkerDefaults() Config { return Config{Budget: time.Minute, MaxRequests: 500, MaxAttempts: 10} }

// The flags and their ranges. MaxAttempts is stored in a UInt8 column.
var (
	budgetFlag      = flagval.Duration{Name: "enrich-budget", Min: 10 * time.Millisecond, Max: time.Hour}
	maxRequestsFlag = flagval.Int{Name: "enrich-max-requests", Min: 1, Max: 100000}
	maxAttemptsFlag = flagval.Int{Name: "enrich-max-attempts", Min: 1, Max: 255}
)

// RegisterFlags binds the flags to fs with d's values as defaults. prefix
// starts each help text ("inline enrichment: "), what names one call ("one
// batch"); --enrich-max-attempts is bound only with attempts (ingest leaves
// failed rows to cmd/enrich).
func (c *Config) RegisterFlags(fs *flag.FlagSet, d Config, prefix, what string, attempts bool) {
	*c = d
	fs.DurationVar(&c.Budget, budgetFlag.Name, d.Budget, budgetFlag.Usage(prefix+"time "+what+" may spend on GitHub lookups"))
	fs.IntVar(&c.MaxRequests, maxRequestsFlag.Name, d.MaxRequests, maxRequestsFlag.Usage(prefix+"GitHub requests "+what+" may make"))
	if attempts {
		fs.IntVar(&c.MaxAttempts, maxAttemptsFlag.Name, d.MaxAttempts, maxAttemptsFlag.Usage("failed lookups before a row is marked failed"))
	}
}

// Validate names the first invalid field; it changes nothing.
func (c *Config) Validate() error {
	return flagval.First(budgetFlag.Check(c.Budget), maxRequestsFlag.Check(c.MaxRequests), maxAttemptsFlag.Check(c.MaxAttempts))
}

// Enricher fills seat details into rows through one shared seat cache.
type Enricher struct {
	lookup *ghclient.Lookup
	gh     *ghclient.Client
	cfg    Config
	now    func() time.Time

	ent struct { // enterprise-team seats by enterprise, for events with no org
		sync.Mutex
		lists map[string]*entList
	}
}

type entList struct {
	at    time.Time
	seats map[string]ghclient.Seat // login → its enterprise-team seat
}

// entTTL: how long an enterprise seat list answers for enterprise-team seats.
const entTTL = 10 * time.Minute

// New makes an Enricher over lookup (org seats) and gh (enterprise seat
// lists, for seats granted by enterprise teams, whose events name no org).
func New(lookup *ghclient.Lookup, gh *ghclient.Client, cfg Config) (*Enricher, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	e := &Enricher{lookup: lookup, gh: gh, cfg: cfg, now: time.Now}
	e.ent.lists = map[string]*entList{}
	return e, nil
}

// enterpriseSeats answers for users of an enterprise's enterprise teams
// from its seat list (cached; one listing at a time per Enricher).
// A list older than newest (the latest event it must answer for) is
// fetched again: it would describe seats before that change.
func (e *Enricher) enterpriseSeats(ctx context.Context, enterprise string, logins []string, newest time.Time) map[string]ghclient.Result {
	e.ent.Lock()
	defer e.ent.Unlock()
	l := e.ent.lists[enterprise]
	if l == nil || e.now().Sub(l.at) > entTTL || l.at.Before(newest) {
		fresh := &entList{at: e.now(), seats: map[string]ghclient.Seat{}}
		_, err := e.gh.EnterpriseSeats(ctx, enterprise, func(s ghclient.Seat) error {
			if s.Org == "" && s.Login != "" { // granted by an enterprise team, not an org
				fresh.seats[s.Login] = s
			}
			return nil
		})
		if err != nil {
			out := map[string]ghclient.Result{}
			for _, u := range logins {
				out[u] = ghclient.Result{Err: fmt.Errorf("enterprise %s seat list: %w", enterprise, err)}
			}
			return out
		}
		e.ent.lists[enterprise], l = fresh, fresh
	}
	out := map[string]ghclient.Result{}
	for _, u := range logins {
		s, ok := l.seats[u]
		switch {
		case !ok:
			out[u] = ghclient.Result{Status: ghclient.SeatAbsent, FetchedAt: l.at}
		case s.PendingCancellation != nil:
			out[u] = ghclient.Result{Status: ghclient.SeatPendingCancellation, Seat: &s, FetchedAt: l.at}
		default:
			out[u] = ghclient.Result{Status: ghclient.SeatActive, Seat: &s, FetchedAt: l.at}
		}
	}
	return out
}

// Stats says what one Enrich call did.
type Stats struct {
	Enriched, StillPending, Failed int
	// Err: why GitHub left rows unanswered, when it did: a refusal of the
	// credentials (ghclient.CredentialsRefused) if any lookup had one,
	// else the first lookup error. Nil when every row got an answer.
	Err error
}

// note keeps the error that says most about why rows were left unanswered.
func (st *Stats) note(err error) {
	if err != nil && (st.Err == nil || (ghclient.CredentialsRefused(err) && !ghclient.CredentialsRefused(st.Err))) {
		st.Err = err
	}
}

// Enrich looks up the seat of every pending or failed row within the
// budget and marks each row enriched (with a new, higher version so it
// supersedes earlier copies), still pending (Attempts+1, EnrichError), or
// failed after MaxAttempts. Other rows are left alone. It never waits past
// the budget and never returns an error: GitHub being slow or down only
// leaves rows pending.
func (e *Enricher) Enrich(ctx context.Context, rows []timeline.Row) Stats {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.Budget)
	defer cancel()

	// Group by org; events with no org (seats granted by an enterprise
	// team) are grouped by enterprise under a "\x00" prefix.
	byOrg := map[string][]int{}
	for i := range rows {
		r := &rows[i]
		if (r.Enrichment == timeline.EnrichmentPending || r.Enrichment == timeline.EnrichmentFailed) && r.Event.User != "" {
			key := r.Event.Org
			if key == "" {
				key = "\x00" + r.Event.Business
			}
			byOrg[key] = append(byOrg[key], i)
		}
	}
	orgs := make([]string, 0, len(byOrg))
	for org := range byOrg {
		orgs = append(orgs, org)
	}
	// Busiest org first: it gains most from a seat-list page.
	sort.Slice(orgs, func(i, j int) bool { return len(byOrg[orgs[i]]) > len(byOrg[orgs[j]]) })

	var st Stats
	perOrg := max(1, e.cfg.MaxRequests/max(1, len(orgs)))
	for _, org := range orgs {
		idx := byOrg[org]
		seen := map[string]bool{}
		var logins []string
		for _, i := range idx {
			if u := rows[i].Event.User; !seen[u] {
				seen[u] = true
				logins = append(logins, u)
			}
		}
		var results map[string]ghclient.Result
		switch {
		case org == "\x00":
			results = map[string]ghclient.Result{} // neither org nor enterprise: nothing to ask
		case strings.HasPrefix(org, "\x00"):
			var newest time.Time
			for _, i := range idx {
				if ts := rows[i].Event.Timestamp; ts.After(newest) {
					newest = ts
				}
			}
			results = e.enterpriseSeats(ctx, org[1:], logins, newest)
		default:
			results = e.lookup.Seats(ctx, org, logins, perOrg)
			// A cached answer older than the event describes the seat before
			// the change the event reports: ask again for those users. (A
			// backfill of old events keeps using fresh cached answers.)
			if stale := staleUsers(rows, idx, results); len(stale) > 0 {
				e.lookup.Invalidate(org, stale...)
				for u, r := range e.lookup.Seats(ctx, org, stale, perOrg) {
					results[u] = r
				}
			}
		}
		for _, i := range idx {
			res, ok := results[rows[i].Event.User]
			if !ok {
				res = ghclient.Result{Err: errors.New("the event names neither an organization nor an enterprise: no seat endpoint can answer")}
			}
			switch e.apply(&rows[i], res) {
			case timeline.EnrichmentEnriched:
				st.Enriched++
				continue
			case timeline.EnrichmentFailed:
				st.Failed++
			default:
				st.StillPending++
			}
			st.note(res.Err)
		}
	}
	return st
}

// staleUsers lists the users whose answer was fetched before one of their
// events in rows[idx] happened.
func staleUsers(rows []timeline.Row, idx []int, results map[string]ghclient.Result) []string {
	var out []string
	seen := map[string]bool{}
	for _, i := range idx {
		u := rows[i].Event.User
		r, ok := results[u]
		if !ok || seen[u] || r.Status == ghclient.SeatUnknown || r.FetchedAt.IsZero() {
			continue
		}
		if r.FetchedAt.Before(rows[i].Event.Timestamp) {
			seen[u] = true
			out = append(out, u)
		}
	}
	return out
}

// apply records one lookup result in a row.
func (e *Enricher) apply(r *timeline.Row, res ghclient.Result) timeline.Enrichment {
	now := e.now().UTC()
	r.Attempts = uint8(min(255, int(r.Attempts)+1))
	r.Version = uint64(now.UnixMilli())
	if res.Status == ghclient.SeatUnknown {
		r.EnrichError = "seat lookup failed"
		if res.Err != nil {
			r.EnrichError = res.Err.Error()
		}
		r.Enrichment = timeline.EnrichmentPending
		if int(r.Attempts) >= e.cfg.MaxAttempts {
			r.Enrichment = timeline.EnrichmentFailed
		}
		return r.Enrichment
	}
	at := res.FetchedAt.UTC()
	if at.IsZero() {
		at = now
	}
	r.Enrichment, r.EnrichedAt, r.EnrichError = timeline.EnrichmentEnriched, &at, ""
	r.Seat = Detail(res)
	return r.Enrichment
}

// Detail converts a lookup result into the timeline's seat columns.
func Detail(res ghclient.Result) timeline.SeatDetail {
	var d timeline.SeatDetail
	switch res.Status {
	case ghclient.SeatActive:
		d.Status = timeline.SeatActive
	case ghclient.SeatPendingCancellation:
		d.Status = timeline.SeatPendingCancellation
	case ghclient.SeatAbsent:
		d.Status = timeline.SeatAbsent
	case ghclient.SeatPolicyBlocked:
		d.Status = timeline.SeatPolicyBlocked
	}
	if res.Seat != nil {
		SeatColumns(&d, *res.Seat)
	}
	return d
}

// SeatColumns copies a REST seat record into d (shared by enrichment and
// seat snapshots).
func SeatColumns(d *timeline.SeatDetail, s ghclient.Seat) {
	d.PlanType = s.PlanType
	if t := s.AssigningTeam; t != nil {
		d.TeamSlug, d.TeamName, d.TeamKind = t.Slug, t.Name, timeline.TeamOrg
		if t.Enterprise {
			d.TeamKind = timeline.TeamEnterprise
		}
	}
	d.BillableUntil = s.PendingCancellation
	if !s.CreatedAt.IsZero() {
		c := s.CreatedAt
		d.CreatedAt = &c
	}
	d.LastActivityAt, d.LastActivityEditor, d.LastAuthenticatedAt = s.LastActivityAt, s.LastActivityEditor, s.LastAuthenticatedAt
}
