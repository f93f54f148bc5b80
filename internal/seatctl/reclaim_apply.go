package seatctl

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/seatline/seatline/internal/ghflags"
	"github.com/seatline/seatline/internal/reclaim"
	"github.com/seatline/seatline/internal/timeline"
	"github.com/seatline/seatline/pkg/ghclient"
)

// defaultMaxPlanAge: a plan older than this is refused (seats change).
const defaultMaxPlanAge = 24 * time.Hour

// confirmSkew: an audit event confirms a request made up to this long
// after the event's own timestamp (GitHub's clock and this machine's).
const confirmSkew = 15 * time.Minute

func reclaimApply(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("reclaim apply", flag.ContinueOnError)
	var cfg timeline.Config
	clickhouseFlags(fs, &cfg)
	var gh ghflags.Flags
	ghflags.Register(fs, &gh, 2*time.Minute)
	approve := fs.String("approve", "", "the plan file's SHA-256 as plan printed it (required): what you approved")
	maxAge := fs.Duration("max-plan-age", defaultMaxPlanAge, "refuse a plan older than this")
	pos, err := parse(e, fs, args, reclaimAbout+reclaimExitHelp)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErrorf("reclaim apply: one plan file, then --approve: seatctl reclaim apply PLAN --approve SHA256")
	}
	if *approve == "" {
		return usageErrorf("approve: required: the SHA-256 seatctl reclaim plan printed for %s (sha256sum %s)", pos[0], pos[0])
	}
	if *maxAge <= 0 {
		return usageErrorf("max-plan-age: must be positive")
	}
	ghcfg, err := githubConfig(&gh)
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	plan, sum, err := reclaim.Load(pos[0], *approve, *maxAge, now)
	switch {
	case errors.Is(err, reclaim.ErrRefused):
		return &exitError{ExitReclaimRefused, err}
	case err != nil:
		return fmt.Errorf("reading the plan: %w", err)
	}
	if plan.GitHub != "" && plan.GitHub != ghcfg.BaseURL {
		return &exitError{ExitReclaimRefused, fmt.Errorf("%w: the plan was made against GitHub API %s, this is %s (--github-base-url): nothing was sent",
			reclaim.ErrRefused, plan.GitHub, ghcfg.BaseURL)}
	}
	store, err := connect(ctx, cfg, e.stderr)
	if err != nil {
		return err
	}
	defer store.Close()
	if plan.Database != "" && plan.Database != cfg.Database {
		fmt.Fprintf(e.stderr, "seatctl reclaim: warning: the plan was made from database %q, its journal goes to %q\n", plan.Database, cfg.Database)
	}
	client, lookup, err := githubClient(ghcfg, e.stderr)
	if err != nil {
		return err
	}
	a := &reclaim.Applier{
		Checker: reclaim.Checker{GH: client, Lookup: lookup, Now: func() time.Time { return time.Now().UTC() }},
		Journal: reclaim.NewJournal(store.Conn()), Plan: plan, Sum: sum, Out: e.stderr,
		StillOrphaned: stillOrphaned(store),
	}
	fmt.Fprintf(e.stderr, "plan %s, made %s: %d seat action(s) of %d candidate(s)\n", sum, plan.GeneratedAt.Format(time.RFC3339),
		plan.Totals.Actions, plan.Totals.Candidates)
	before := client.Requests()
	rep, runErr := a.Run(ctx)
	if rep != nil {
		printApplyReport(e.stdout, plan, sum, rep, client.Requests()-before)
	}
	if runErr != nil {
		var rl *ghclient.RateLimitedError
		if errors.As(runErr, &rl) {
			return fmt.Errorf("GitHub's rate limit holds until %s, longer than --github-max-wait: run the same apply again then (it sends only what is left): %w",
				rl.Until.UTC().Format(time.RFC3339), runErr)
		}
		return githubExit(runErr)
	}
	if n := rep.Left(); n > 0 {
		return &exitError{ExitReclaimIncomplete, fmt.Errorf("%d seat action(s) are not finished (see above): run the same apply again; it sends only what is left", n)}
	}
	return nil
}

func printApplyReport(w io.Writer, p *reclaim.Plan, sum string, rep *reclaim.Report, requests int64) {
	fmt.Fprintf(w, "plan %s: %d seat action(s)\n", sum[:12], rep.Actions)
	var outs []string
	for o := range rep.Outcomes {
		outs = append(outs, o)
	}
	sort.Strings(outs)
	for _, o := range outs {
		fmt.Fprintf(w, "  %-22s %d\n", o, rep.Outcomes[o])
	}
	fmt.Fprintf(w, "this run: %d GitHub request(s) in all, %d change request(s) naming %d seat(s); %d finished before\n",
		requests, rep.Requests, rep.Sent, rep.AlreadyFinal)
	fmt.Fprintf(w, "reclaimed: %d seat(s), %s a month from %s (the seats are billed to the end of the current cycle)\n",
		rep.Reclaimed, reclaim.USD(rep.MonthlySavingCents), p.SavingFrom)
}

// ---- status ----

var reclaimStatusColumns = []column{
	{name: "plan_sha256", head: "PLAN"},
	{name: "scope_kind", dataOnly: true},
	{name: "scope", head: "SCOPE"},
	{name: "user", head: "USER"},
	{name: "action", head: "ACTION"},
	{name: "team", head: "TEAM"},
	{name: "applied", head: "APPLIED"},
	{name: "requested_at", head: "REQUESTED AT", kind: kindNullable},
	{name: "http_status", head: "HTTP", kind: kindNumber},
	{name: "request_id", dataOnly: true},
	{name: "status", head: "STATUS"},
	{name: "event_at", head: "EVENT AT", kind: kindNullable},
	{name: "billing_stops", head: "BILLING STOPS", kind: kindNullable},
	{name: "monthly_saving_usd", head: "SAVING/MONTH", kind: kindNumber},
	{name: "reason", head: "REASON"},
}

// Statuses of an applied seat action, from the timeline's audit events.
const (
	StatusCancelled  = "cancelled"  // copilot.cfb_seat_cancelled: the seat is gone, billing stopped
	StatusUnassigned = "unassigned" // copilot.cfb_seat_assignment_unassigned (or the team removal): billing stops at the cycle's end
	StatusWaiting    = "waiting"    // GitHub changed it; its audit event has not reached the timeline yet
)

type statusRow struct {
	plan                  string
	kind, scope, user     string
	action, team, outcome string
	reason, requestID     string
	requested             time.Time
	httpStatus            uint16
	pending               *time.Time
	priceCents            uint32
	status                string
	eventAt               *time.Time
	planGenerated         time.Time
	planType              string
	seatScope             string // the org of the seat in the timeline ("" for an enterprise-team licence)
}

func reclaimStatus(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("reclaim status", flag.ContinueOnError)
	var cfg timeline.Config
	clickhouseFlags(fs, &cfg)
	format := fs.String("format", "", "table, csv or jsonl (default: table on a terminal, csv otherwise)")
	pos, err := parse(e, fs, args, reclaimAbout+reclaimExitHelp)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return usageErrorf("reclaim status: at most one plan (a plan file or its SHA-256)")
	}
	sum := ""
	if len(pos) == 1 {
		if sum, err = planSum(pos[0]); err != nil {
			return err
		}
	}
	store, err := connectListing(ctx, e, cfg, format)
	if err != nil {
		return err
	}
	defer store.Close()
	rows, err := reclaimState(ctx, store, sum)
	if err != nil {
		return err
	}
	if len(rows) == 0 {
		what := "any plan"
		if sum != "" {
			what = "plan " + sum
		}
		fmt.Fprintf(e.stderr, "seatctl reclaim status: no seat action of %s has been applied (reclaim_actions is empty for it)\n", what)
		return nil
	}
	if err := confirm(ctx, store, rows); err != nil {
		return err
	}
	out, err := newRowWriter(e.stdout, *format, reclaimStatusColumns)
	if err != nil {
		return err
	}
	counts := map[string]int{}
	plans := map[string]bool{}
	var saving int64
	for _, r := range rows {
		plans[r.plan] = true
		counts[r.status]++
		if reclaim.Reclaimed(r.outcome) {
			saving += int64(r.priceCents)
		}
		p := r.plan
		if *format == "table" {
			p = p[:12]
		}
		stops := ""
		if r.pending != nil {
			stops = r.pending.UTC().Format(time.DateOnly)
		}
		http := ""
		if r.httpStatus != 0 {
			http = fmt.Sprint(r.httpStatus)
		}
		money := ""
		if reclaim.Reclaimed(r.outcome) {
			money = cents(int64(r.priceCents))
			if *format == "table" {
				money = reclaim.USD(int64(r.priceCents))
			}
		}
		reason := r.reason
		if *format == "table" && reclaim.Reclaimed(r.outcome) {
			reason = "" // the status columns say it
		}
		if err := out.Row([]string{p, r.kind, r.scope, r.user, r.action, r.team, r.outcome, isoSec(&r.requested), http, r.requestID,
			r.status, isoSec(r.eventAt), stops, money, reason}); err != nil {
			return err
		}
	}
	if err := out.Close(); err != nil {
		return err
	}
	confirmed := counts[StatusUnassigned] + counts[StatusCancelled]
	other := len(rows) - confirmed - counts[StatusWaiting]
	fmt.Fprintf(e.stderr, "%d seat action(s) of %d plan(s): %d confirmed by audit events (%d unassigned, billing stops at the cycle's end; %d cancelled), %d waiting for their event, %d not reclaimed (skipped, failed or not finished: APPLIED says which)\n",
		len(rows), len(plans), confirmed, counts[StatusUnassigned], counts[StatusCancelled], counts[StatusWaiting], other)
	fmt.Fprintf(e.stderr, "reclaimed seats save %s a month at the plans' list prices\n", reclaim.USD(saving))
	return nil
}

// planSum is the SHA-256 of a plan file, or the argument itself when it
// is one.
func planSum(arg string) (string, error) {
	if len(arg) == 64 && strings.Trim(strings.ToLower(arg), "0123456789abcdef") == "" {
		if _, err := os.Stat(arg); err != nil {
			return strings.ToLower(arg), nil
		}
	}
	b, err := os.ReadFile(arg)
	if err != nil {
		return "", usageErrorf("reclaim status: %v (give a plan file or its SHA-256)", err)
	}
	return reclaim.Sum(b), nil
}

func reclaimState(ctx context.Context, store *timeline.Store, sum string) ([]*statusRow, error) {
	q := ReclaimStateQuery(sum, bindingFor(store))
	rows, err := store.Conn().Query(ctx, q.SQL, q.Args()...)
	if err != nil {
		return nil, queryError(store, "reclaim_state", err)
	}
	defer rows.Close()
	var out []*statusRow
	for rows.Next() {
		r := &statusRow{}
		if err := rows.Scan(&r.plan, &r.planGenerated, &r.kind, &r.scope, &r.user, &r.action, &r.team, &r.outcome, &r.reason,
			&r.requested, &r.httpStatus, &r.requestID, &r.pending, &r.planType, &r.priceCents); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, queryError(store, "reclaim_state", err)
	}
	return out, nil
}

// confirm sets each reclaimed seat action's status from the audit events in
// the timeline: the seat's cancellation, else its unassignment or the
// team removal made for it, else waiting; a seat action not reclaimed
// keeps its journal outcome as status.
func confirm(ctx context.Context, store *timeline.Store, rows []*statusRow) error {
	var orgs, users []string
	seenOrg, seenUser := map[string]bool{}, map[string]bool{}
	since := time.Now()
	for _, r := range rows {
		r.seatScope = r.scope
		if r.kind == reclaim.KindEnterprise {
			r.seatScope = "" // enterprise-team licences have no org in the timeline
		}
		if !reclaim.Reclaimed(r.outcome) {
			r.status = "-"
			continue
		}
		if !seenOrg[r.seatScope] {
			seenOrg[r.seatScope] = true
			orgs = append(orgs, r.seatScope)
		}
		if !seenUser[r.user] {
			seenUser[r.user] = true
			users = append(users, r.user)
		}
		if r.requested.Before(since) {
			since = r.requested
		}
	}
	if len(users) == 0 {
		return nil
	}
	seatEvents, teamEvents, err := confirmEvents(ctx, store, orgs, users, since.Add(-confirmSkew))
	if err != nil {
		return err
	}
	for _, r := range rows {
		if reclaim.Reclaimed(r.outcome) {
			r.confirmFrom(seatEvents, teamEvents)
		}
	}
	return nil
}

// confirmEvents reads, since since, the seat events (org, user,
// transition → times) and team removals (org, team, user → times) of
// users that can confirm a reclaim action.
func confirmEvents(ctx context.Context, store *timeline.Store, orgs, users []string, since time.Time) (seatEvents, teamEvents map[[3]string][]uint64, err error) {
	form := bindingFor(store)
	seatEvents = map[[3]string][]uint64{} // org, user, transition
	err = scanAll(ctx, store, "seat_history", ReclaimSeatEventsQuery(orgs, users, since, form), func(rs driver.Rows) error {
		var org, user, tr string
		var ms []uint64
		if err := rs.Scan(&org, &user, &tr, &ms); err != nil {
			return err
		}
		if tr == "cancelled_by_staff" {
			tr = "cancelled"
		}
		k := [3]string{org, user, tr}
		seatEvents[k] = append(seatEvents[k], ms...)
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	teamEvents = map[[3]string][]uint64{} // org, team, user
	err = scanAll(ctx, store, "membership_timeline", ReclaimTeamEventsQuery(users, since, form), func(rs driver.Rows) error {
		var org, team, user string
		var ms []uint64
		if err := rs.Scan(&org, &team, &user, &ms); err != nil {
			return err
		}
		// Org teams are "org/slug" in the audit log.
		if _, slug, ok := strings.Cut(team, "/"); ok {
			team = slug
		}
		teamEvents[[3]string{org, team, user}] = ms
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return seatEvents, teamEvents, nil
}

// confirmFrom sets the action's status from the first seat event (or,
// for a team removal, team event) at or after its request.
func (r *statusRow) confirmFrom(seatEvents, teamEvents map[[3]string][]uint64) {
	from := uint64(r.requested.Add(-confirmSkew).UnixMilli())
	first := func(ms []uint64) *time.Time {
		var best uint64
		for _, m := range ms {
			if m >= from && (best == 0 || m < best) {
				best = m
			}
		}
		if best == 0 {
			return nil
		}
		t := time.UnixMilli(int64(best)).UTC()
		return &t
	}
	cancelled := first(seatEvents[[3]string{r.seatScope, r.user, "cancelled"}])
	unassigned := first(seatEvents[[3]string{r.seatScope, r.user, "unassigned"}])
	if r.action != reclaim.ActUnassign {
		if left := first(teamEvents[[3]string{r.seatScope, r.team, r.user}]); left != nil && (unassigned == nil || left.Before(*unassigned)) {
			unassigned = left
		}
	}
	switch {
	case cancelled != nil:
		r.status, r.eventAt = StatusCancelled, cancelled
	case unassigned != nil:
		r.status, r.eventAt = StatusUnassigned, unassigned
	default:
		r.status = StatusWaiting
	}
	if r.pending == nil { // GitHub's date not seen (yet): the cycle's end
		d := reclaim.NextCycle(r.requested)
		r.pending = &d
	}
}

// scanAll runs q and calls fn for every row.
func scanAll(ctx context.Context, store *timeline.Store, view string, q Stmt, fn func(driver.Rows) error) error {
	rows, err := store.Conn().Query(ctx, q.SQL, q.Args()...)
	if err != nil {
		return queryError(store, view, err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return queryError(store, view, err)
	}
	return nil
}
