package reclaim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/seatline/seatline/pkg/ghclient"
)

// Applier carries out an approved plan.
//
// Every seat action goes through the journal: a "sending" row before its
// request goes out, the answer's row after, and a seat lookup's row once
// GitHub shows the seat pending cancellation (or gone, or still active).
// A rerun of the same plan reads the journal first: what is final is not
// touched; a seat whose request may have gone out without its answer being
// recorded (a crash, a timeout) is looked up, and only a seat GitHub still
// shows active is sent again. Applying a finished plan again sends nothing.
type Applier struct {
	Checker          // GitHub access, the plan's rules and prices
	Journal *Journal // reclaim_actions
	Plan    *Plan
	Sum     string    // the plan's SHA-256
	Out     io.Writer // progress, one line per step (nil: none)
	// StillOrphaned asks the timeline which of the orphaned candidates are
	// still orphaned now (nil: not asked, they are taken as still orphaned).
	StillOrphaned func(ctx context.Context, cs []*Candidate) (map[Key]bool, error)
}

// Report is what an apply did.
type Report struct {
	Actions      int // acting seats in the plan
	AlreadyFinal int // final before this run (nothing done for them)
	Requests     int // change requests sent this run
	Sent         int // seat actions named in those requests
	// Outcomes: every acting seat's state after this run.
	Outcomes map[string]int
	// Reclaimed seats (this and earlier runs) and their monthly saving.
	Reclaimed          int
	MonthlySavingCents int64
}

// Left is how many seat actions a rerun of the plan would still work on.
func (r *Report) Left() int {
	n := 0
	for o, c := range r.Outcomes {
		if !Final(o) {
			n += c
		}
	}
	return n
}

// item is one acting seat of the plan during a run.
type item struct {
	c    *Candidate
	last Record // its latest journal row (zero: none)
}

func (a *Applier) printf(format string, args ...any) {
	if a.Out != nil {
		fmt.Fprintf(a.Out, format+"\n", args...)
	}
}

// Run applies the plan. It returns the report and, when it had to stop,
// why: a *ghclient.PermissionError (the credentials may not make the
// change), a *ghclient.RateLimitedError (GitHub's limit would outlast
// --github-max-wait: rerun after it), a journal or timeline error.
func (a *Applier) Run(ctx context.Context) (*Report, error) {
	a.Rules = a.Plan.Rules
	a.Prices = a.Plan.PricesCents
	state, err := a.Journal.State(ctx, a.Sum)
	if err != nil {
		return nil, err
	}
	rep := &Report{Outcomes: map[string]int{}}
	groups := map[[2]string][]*item{}
	var order [][2]string
	var items []*item
	for i := range a.Plan.Candidates {
		c := &a.Plan.Candidates[i]
		if !Acts(c.Action) {
			continue
		}
		rep.Actions++
		it := &item{c: c, last: state[c.Key()]}
		items = append(items, it)
		if Final(it.last.Outcome) {
			rep.AlreadyFinal++
			continue
		}
		k := [2]string{c.ScopeKind, c.Scope}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], it)
	}
	if rep.AlreadyFinal > 0 {
		a.printf("%d of %d seat actions were finished by an earlier apply of this plan: left alone", rep.AlreadyFinal, rep.Actions)
	}
	var runErr error
	for _, k := range order {
		if runErr = a.scope(ctx, k[0], k[1], groups[k], rep); runErr != nil {
			break
		}
	}
	for _, it := range items {
		o := it.last.Outcome
		if o == "" {
			o = "not_sent"
		}
		rep.Outcomes[o]++
		if Reclaimed(o) {
			rep.Reclaimed++
			rep.MonthlySavingCents += it.c.MonthlySavingCents
		}
	}
	return rep, runErr
}

// record appends rows for items (all with the same outcome and request
// fields from tmpl) and makes them the items' latest.
func (a *Applier) record(ctx context.Context, its []*item, tmpl Record) error {
	tmpls := make([]Record, len(its))
	for i := range its {
		tmpls[i] = tmpl
	}
	return a.recordEach(ctx, its, tmpls)
}

// recordEach appends one row per item, from its own template, in one insert.
func (a *Applier) recordEach(ctx context.Context, its []*item, tmpls []Record) error {
	if len(its) == 0 {
		return nil
	}
	recs := make([]Record, len(its))
	for i, it := range its {
		r := tmpls[i]
		c := it.c
		r.Plan, r.PlanGenerated, r.ScopeKind, r.Scope, r.User, r.UserID = a.Sum, a.Plan.GeneratedAt, c.ScopeKind, c.Scope, c.User, c.UserID
		r.Action, r.Team, r.PlanType, r.PriceCents = c.Action, c.Team, c.PlanType, c.MonthlySavingCents
		if r.RequestedAt.IsZero() { // a lookup's row: the request it describes
			r.RequestedAt, r.RequestID, r.HTTPStatus, r.SeatsCanceled, r.Batch, r.BatchSize =
				it.last.RequestedAt, it.last.RequestID, it.last.HTTPStatus, it.last.SeatsCanceled, it.last.Batch, it.last.BatchSize
			if r.RequestedAt.IsZero() {
				r.RequestedAt = a.Now()
			}
		}
		if r.PendingDate == nil {
			r.PendingDate = it.last.PendingDate
		}
		recs[i] = r
	}
	if err := a.Journal.Write(ctx, recs...); err != nil {
		return err
	}
	for i, it := range its {
		it.last = recs[i]
	}
	return nil
}

// lookup asks GitHub about the seats of items in one scope, fresh; with
// policy, an org's seat management setting first (and its seats only when
// it is assign_selected).
func (a *Applier) lookup(ctx context.Context, kind, scope string, its []*item, policy bool) (map[string]Live, string, error) {
	if kind == KindEnterprise {
		live, err := a.enterpriseSeats(ctx, scope)
		return live, "", err
	}
	users := make([]string, len(its))
	for i, it := range its {
		users[i] = it.c.User
	}
	a.Lookup.Invalidate(scope, users...)
	if policy {
		setting, live, err := a.orgSeats(ctx, scope, users)
		return live, setting, err
	}
	live, err := a.userSeats(ctx, scope, users)
	return live, "", err
}

// scope applies one org's (or the enterprise's) seat actions.
func (a *Applier) scope(ctx context.Context, kind, scope string, its []*item, rep *Report) error {
	now := a.Now()
	live, setting, err := a.lookup(ctx, kind, scope, its, true)
	if err != nil {
		if fatal(err) {
			return err
		}
		return a.notNow(ctx, its, err)
	}
	if kind == KindOrg {
		if reason := a.policyChange(scope, setting); reason != "" {
			a.printf("%s: %s: %d seat action(s) skipped", scope, reason, len(its))
			return a.record(ctx, its, Record{Outcome: OutSkipped, Reason: reason, RequestedAt: now})
		}
	}
	orphaned, err := a.stillOrphaned(ctx, its)
	if err != nil {
		return err
	}
	tr, err := a.triage(ctx, kind, its, live, orphaned, now)
	if err != nil {
		return err
	}
	if err := a.report(ctx, scope, its, tr, now); err != nil {
		return err
	}
	if len(tr.ready) == 0 {
		return nil
	}
	sent, sendErr := a.send(ctx, kind, scope, tr.ready, rep)
	if len(sent) > 0 {
		if err := a.verify(ctx, kind, scope, sent); err != nil {
			return err
		}
	}
	return sendErr
}

// policyChange says why an org's seat actions cannot go ahead when its
// Copilot seat management is no longer what the plan saw ("": unchanged).
func (a *Applier) policyChange(scope, setting string) string {
	planned := ""
	for _, p := range a.Plan.Policies {
		if p.Org == scope {
			planned = p.Setting
		}
	}
	switch {
	case setting == planned:
		return ""
	case setting == AssignAll:
		return "the org now assigns seats to all members (was " + planned + "): " + AllMembersReason
	default:
		return fmt.Sprintf("the org's Copilot seat management changed since the plan (%s, now %s): plan again", planned, setting)
	}
}

// stillOrphaned asks which of the orphaned candidates among its are still
// orphaned by the timeline's account.
func (a *Applier) stillOrphaned(ctx context.Context, its []*item) (map[Key]bool, error) {
	if a.StillOrphaned == nil {
		return map[Key]bool{}, nil
	}
	var cs []*Candidate
	for _, it := range its {
		if slices.Contains(it.c.Why, WhyOrphaned) {
			cs = append(cs, it.c)
		}
	}
	if len(cs) == 0 {
		return map[Key]bool{}, nil
	}
	return a.StillOrphaned(ctx, cs)
}

// triaged is one scope's seats after the re-check: ready to change,
// settled by an earlier run (with their records), skipped by reason.
type triaged struct {
	ready, settled []*item
	settledRecs    []Record
	unanswered     int // of settled: sent by an earlier run without a recorded answer
	skipped        map[string][]*item
}

// triage re-checks each seat against GitHub's live answer.
func (a *Applier) triage(ctx context.Context, kind string, its []*item, live map[string]Live, orphaned map[Key]bool, now time.Time) (triaged, error) {
	tr := triaged{skipped: map[string][]*item{}}
	for _, it := range its {
		l := live[it.c.User]
		r := l.Result
		g := Evidence(l, now)
		if kind == KindOrg && r.Status == ghclient.SeatUnknown && r.Err == nil {
			r.Status = ghclient.SeatAbsent // not in a complete listing
		}
		if kind == KindEnterprise && r.Seat == nil {
			r.Status = ghclient.SeatAbsent
		}
		switch it.last.Outcome {
		case OutSending, OutUnknown, OutDone:
			// A request may have acted on this seat and its outcome is not
			// known: GitHub's answer now tells.
			if out, reason, ok := settle(it, r, g); ok {
				if it.last.Outcome != OutDone {
					tr.unanswered++
				}
				tr.settled = append(tr.settled, it)
				tr.settledRecs = append(tr.settledRecs, Record{Outcome: out, Reason: reason, PendingDate: pendingDate(g)})
				continue
			}
		}
		if r.Status == ghclient.SeatUnknown {
			if fatal(r.Err) {
				return tr, r.Err
			}
			if err := a.notNow(ctx, []*item{it}, r.Err); err != nil {
				return tr, err
			}
			continue
		}
		if reason := a.recheck(it.c, r, g, orphaned, now); reason != "" {
			tr.skipped[reason] = append(tr.skipped[reason], it)
			continue
		}
		tr.ready = append(tr.ready, it)
	}
	return tr, nil
}

// report records and prints the settled and skipped seats of a triage.
func (a *Applier) report(ctx context.Context, scope string, its []*item, tr triaged, now time.Time) error {
	if err := a.recordEach(ctx, tr.settled, tr.settledRecs); err != nil {
		return err
	}
	if len(tr.settled) > 0 {
		a.printf("%s: %d seat(s) changed by an earlier run (%d of them without a recorded answer): GitHub shows them changed, not sent again",
			scope, len(tr.settled), tr.unanswered)
	}
	nskip := 0
	for reason, s := range tr.skipped {
		nskip += len(s)
		if err := a.record(ctx, s, Record{Outcome: OutSkipped, Reason: reason, RequestedAt: now}); err != nil {
			return err
		}
	}
	a.printf("%s: re-checked %d seat(s) with GitHub: %d to change, %d skipped", scope, len(its), len(tr.ready), nskip)
	for reason, s := range tr.skipped {
		a.printf("  skipped %d: %s", len(s), reason)
	}
	return nil
}

// settle: the outcome of a request that may have acted, from the seat
// GitHub shows now; ok false: it did not act (the seat is still active
// and no answer said it did), so the seat is worked on afresh.
func settle(it *item, r ghclient.Result, g *GitHubEvidence) (string, string, bool) {
	switch r.Status {
	case ghclient.SeatPendingCancellation:
		return OutPending, "GitHub shows the seat pending cancellation: billing stops " + g.PendingCancellationDate, true
	case ghclient.SeatAbsent:
		return OutGone, "GitHub lists no seat for the user any more", true
	case ghclient.SeatActive:
		if it.last.Outcome == OutDone {
			return OutNotEnded, "GitHub answered " + fmt.Sprint(it.last.HTTPStatus) + " but the seat is still active: another grant keeps it (a team, all members)", true
		}
	}
	return "", "", false
}

func pendingDate(g *GitHubEvidence) *time.Time {
	if g == nil || g.PendingCancellationDate == "" {
		return nil
	}
	t, err := time.Parse(time.DateOnly, g.PendingCancellationDate)
	if err != nil {
		return nil
	}
	return &t
}

// recheck: "" when the seat is still what the plan says it is (assigned,
// granted the same way, a candidate by the plan's rule), else why not.
func (a *Applier) recheck(c *Candidate, r ghclient.Result, g *GitHubEvidence, orphaned map[Key]bool, now time.Time) string {
	switch r.Status {
	case ghclient.SeatPendingCancellation:
		return "already pending cancellation before this apply (billing stops " + g.PendingCancellationDate + ")"
	case ghclient.SeatAbsent:
		return "GitHub lists no seat for the user now"
	case ghclient.SeatPolicyBlocked:
		return "GitHub refuses to describe the seat (422): " + g.Message
	}
	switch {
	case c.Action == ActUnassign && g.AssigningTeam != "":
		return "the seat now comes from team " + g.AssigningTeam + ": unassigning the user would not end it; plan again"
	case c.Action != ActUnassign && g.AssigningTeam != c.Team:
		now := "assigned directly"
		if g.AssigningTeam != "" {
			now = "from team " + g.AssigningTeam
		}
		return "the seat is now " + now + ", the plan removes the user from team " + c.Team + "; plan again"
	}
	cc := *c
	if slices.Contains(c.Why, WhyOrphaned) && orphaned != nil && !orphaned[c.Key()] {
		cc.Why = slices.DeleteFunc(slices.Clone(c.Why), func(w string) bool { return w == WhyOrphaned })
		if len(cc.Why) == 0 {
			return "no longer orphaned in the timeline (the holder is back, or the seat was granted again)"
		}
	}
	if ok, why := StillCandidate(&cc, g, a.Plan.Rules, now); !ok {
		return why
	}
	return ""
}

// notNow records that GitHub could not be asked about items (or refused
// to answer for now): not final, a rerun works on them.
func (a *Applier) notNow(ctx context.Context, its []*item, cause error) error {
	out := OutFailed
	var rl *ghclient.RateLimitedError
	if errors.As(cause, &rl) {
		out = OutRateLimited
	}
	a.printf("%s: %d seat(s) not re-checked: %v (rerun apply)", its[0].c.Scope, len(its), cause)
	keep := make([]*item, 0, len(its))
	for _, it := range its {
		// Keep a sent request's state: a rerun must still look before sending.
		if it.last.Outcome == OutSending || it.last.Outcome == OutUnknown || it.last.Outcome == OutDone {
			continue
		}
		keep = append(keep, it)
	}
	return a.record(ctx, keep, Record{Outcome: out, Reason: "not re-checked: " + cause.Error(), RequestedAt: a.Now()})
}

// send sends the ready seats' requests, journaled before and after each,
// and returns the items a request went out for.
func (a *Applier) send(ctx context.Context, kind, scope string, ready []*item, rep *Report) ([]*item, error) {
	var sent []*item
	var unassign, teams []*item
	for _, it := range ready {
		if it.c.Action == ActUnassign {
			unassign = append(unassign, it)
		} else {
			teams = append(teams, it)
		}
	}
	if len(unassign) > 0 {
		byUser := map[string]*item{}
		for _, it := range unassign {
			byUser[it.c.User] = it
		}
		batchItems := func(b ghclient.Batch) []*item {
			out := make([]*item, len(b.Logins))
			for i, u := range b.Logins {
				out[i] = byUser[u]
			}
			return out
		}
		tried := map[string]bool{}
		for {
			var logins []string
			for _, it := range unassign {
				if !tried[it.c.User] {
					logins = append(logins, it.c.User)
				}
			}
			if len(logins) == 0 {
				break
			}
			nb := len(ghclient.Batches(logins))
			err := a.GH.RemoveCopilotUsersInBatches(ctx, scope, logins, func(b ghclient.Batch) error {
				for _, u := range b.Logins {
					tried[u] = true
				}
				return a.record(ctx, batchItems(b), Record{Outcome: OutSending, Batch: b.N, BatchSize: len(b.Logins), RequestedAt: a.Now()})
			}, func(b ghclient.Batch) error {
				its := batchItems(b)
				rep.Requests++
				rep.Sent += len(its)
				tmpl := answer(its[0].last, b.Change, b.Err)
				a.printf("%s: DELETE selected_users %d/%d (%d user(s)): %s", scope, b.N+1, nb, len(its), describe(tmpl))
				if tmpl.Outcome == OutDone || tmpl.Outcome == OutUnknown {
					sent = append(sent, its...)
				}
				return a.record(ctx, its, tmpl)
			})
			var pol *ghclient.PolicyError
			switch {
			case err == nil:
			case errors.As(err, &pol):
				// The org refuses them all now: the rest would get the same.
				return sent, nil
			case stopErr(err) != nil:
				return sent, err
			}
			// An unknown outcome: the lookup after settles that batch;
			// the rest go on.
		}
	}
	for _, it := range teams {
		if err := a.record(ctx, []*item{it}, Record{Outcome: OutSending, BatchSize: 1, RequestedAt: a.Now()}); err != nil {
			return sent, err
		}
		var ch ghclient.Change
		var err error
		if kind == KindEnterprise || it.c.Action == ActLeaveEnterpriseTeam {
			ch, err = a.GH.RemoveEnterpriseTeamMember(ctx, scope, it.c.Team, it.c.User)
		} else {
			ch, err = a.GH.RemoveTeamMember(ctx, scope, it.c.Team, it.c.User)
		}
		rep.Requests++
		rep.Sent++
		tmpl := answer(it.last, ch, err)
		a.printf("%s: remove %s from team %s: %s", scope, it.c.User, it.c.Team, describe(tmpl))
		if err := a.record(ctx, []*item{it}, tmpl); err != nil {
			return sent, err
		}
		if tmpl.Outcome == OutDone || tmpl.Outcome == OutUnknown {
			sent = append(sent, it)
		}
		if err != nil {
			if e := stopErr(err); e != nil {
				return sent, e
			}
		}
	}
	return sent, nil
}

// answer is the journal row for a request's answer (or its failure).
func answer(intent Record, ch ghclient.Change, err error) Record {
	r := Record{Batch: intent.Batch, BatchSize: intent.BatchSize, RequestedAt: intent.RequestedAt,
		HTTPStatus: ch.Status, SeatsCanceled: ch.SeatsCancelled, RequestID: ch.RequestID, Outcome: OutDone}
	var pol *ghclient.PolicyError
	var perm *ghclient.PermissionError
	var rl *ghclient.RateLimitedError
	var unknown *ghclient.OutcomeUnknownError
	var api *ghclient.APIError
	switch {
	case err == nil:
	case errors.As(err, &pol):
		r.Outcome, r.HTTPStatus, r.Reason = OutSkipped, 422, "GitHub refused (422): "+pol.Message
	case errors.As(err, &perm):
		r.Outcome, r.HTTPStatus, r.Reason = OutFailed, perm.Status, err.Error()
	case errors.As(err, &rl):
		r.Outcome, r.Reason = OutRateLimited, "not sent: "+err.Error()
	case errors.As(err, &unknown):
		r.Outcome, r.Reason = OutUnknown, err.Error()
		if errors.As(err, &api) {
			r.HTTPStatus = api.Status
		}
	case errors.As(err, &api):
		r.Outcome, r.HTTPStatus, r.Reason = OutFailed, api.Status, err.Error()
	default:
		r.Outcome, r.Reason = OutFailed, err.Error()
	}
	return r
}

func describe(r Record) string {
	switch r.Outcome {
	case OutDone:
		if r.SeatsCanceled > 0 || r.HTTPStatus == 200 {
			return fmt.Sprintf("%d, seats_cancelled %d", r.HTTPStatus, r.SeatsCanceled)
		}
		return fmt.Sprint(r.HTTPStatus)
	}
	return r.Outcome + ": " + r.Reason
}

// stopErr: the errors that end the run (the rest cannot succeed now); nil
// for those that concern the one request (a 422, an unknown outcome,
// which the lookup after settles).
func stopErr(err error) error {
	var pol *ghclient.PolicyError
	var unknown *ghclient.OutcomeUnknownError
	switch {
	case errors.As(err, &pol), errors.As(err, &unknown):
		return nil
	}
	return err
}

// verify looks the sent seats up again and records what GitHub shows:
// pending cancellation with the date billing stops, gone, or still active.
func (a *Applier) verify(ctx context.Context, kind, scope string, sent []*item) error {
	live, _, err := a.lookup(ctx, kind, scope, sent, false)
	if err != nil {
		if fatal(err) {
			return err
		}
		a.printf("%s: the seats could not be looked up after the requests (%v): a rerun checks them", scope, err)
		return nil
	}
	now := a.Now()
	outs := map[string]int{}
	var done []*item
	var recs []Record
	for _, it := range sent {
		l := live[it.c.User]
		r := l.Result
		if r.Status == ghclient.SeatUnknown && (kind == KindEnterprise || r.Err == nil) {
			r.Status = ghclient.SeatAbsent
		}
		g := Evidence(Live{Result: r}, now)
		if r.Status == ghclient.SeatUnknown {
			outs["unknown"]++
			continue // a rerun looks again
		}
		out, reason, ok := settle(it, r, g)
		if !ok {
			outs["active"]++
			continue // outcome unknown and still active: a rerun sends it again
		}
		outs[out]++
		done = append(done, it)
		recs = append(recs, Record{Outcome: out, Reason: reason, PendingDate: pendingDate(g)})
	}
	if err := a.recordEach(ctx, done, recs); err != nil {
		return err
	}
	a.printf("%s: looked up %d seat(s) after the requests: %d pending cancellation, %d gone, %d still active%s",
		scope, len(sent), outs[OutPending], outs[OutGone], outs[OutNotEnded]+outs["active"], notLookedUp(outs["unknown"]))
	return nil
}

func notLookedUp(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(", %d not looked up now (a rerun looks again)", n)
}
