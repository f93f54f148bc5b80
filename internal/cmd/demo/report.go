package main

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/seatline/seatline/internal/benchkit"
	"github.com/seatline/seatline/internal/ghsim"
)

// The sections the demo prints.

func mark(ok bool) string {
	if ok {
		return "✓"
	}
	return "✗"
}

func (d *demo) summary(ctx context.Context) error {
	rows, err := d.count(ctx, "SELECT count() FROM seat_timeline")
	if err != nil {
		return err
	}
	raw, err := d.count(ctx, "SELECT count() FROM seat_events")
	if err != nil {
		return err
	}
	members, err := d.count(ctx, "SELECT count() FROM membership_timeline")
	if err != nil {
		return err
	}
	dead, err := d.count(ctx, "SELECT count() FROM dead_letters")
	if err != nil {
		return err
	}
	q, err := d.store.Conn().Query(ctx, "SELECT reason_code, count() AS n FROM dead_letters GROUP BY reason_code ORDER BY n DESC, reason_code")
	if err != nil {
		return err
	}
	var reasons []string
	for q.Next() {
		var code string
		var n uint64
		if err := q.Scan(&code, &n); err != nil {
			q.Close()
			return err
		}
		reasons = append(reasons, fmt.Sprintf("%s %d", code, n))
	}
	q.Close()
	if err := q.Err(); err != nil {
		return err
	}

	fmt.Println("Summary")
	t := [][]string{
		{"audit events produced", num(d.total), ""},
		{"  Copilot seat events (simulator)", num(d.simEvents), fmt.Sprintf("%s seat changes of a user, %s team/policy changes", num(d.simUser), num(d.simEvents-d.simUser))},
		{"  membership changes (simulator)", num(d.simMember), "org, team and enterprise-team members, removals"},
		{"  duplicates (redelivered)", num(d.dups), "same _document_id as an earlier event"},
		{"  malformed lines", num(d.malformed), ""},
		{"  other audit activity", num(d.noise), "git.*, repo.*, workflows.* …: skipped unparsed"},
		{"timeline rows (seat_timeline)", num(int(rows)), mark(int(rows) == d.simEvents) + " each simulator event exactly once"},
		{"  stored copies (seat_events)", num(int(raw)), "redeliveries and enrichment versions collapse on read (FINAL)"},
		{"membership rows (membership_timeline)", num(int(members)), mark(int(members) == d.simMember) + " each membership change exactly once: the seat lifecycle's context"},
		{"dead letters (dead_letters)", num(int(dead)), mark(int(dead) == d.malformed) + " each malformed line, with its reason"},
	}
	printTable("  ", "lrl", nil, t)
	if len(reasons) > 0 {
		fmt.Printf("    %s\n", strings.Join(reasons, " · "))
	}
	var errs []error
	if int(rows) != d.simEvents {
		errs = append(errs, checkf("seat_timeline holds %d rows, but the simulator emitted %d events", rows, d.simEvents))
	}
	if int(members) != d.simMember {
		errs = append(errs, checkf("membership_timeline holds %d rows, but the simulator emitted %d membership events", members, d.simMember))
	}
	if int(dead) != d.malformed {
		errs = append(errs, checkf("dead_letters holds %d rows, but %d malformed lines were produced", dead, d.malformed))
	}
	return errors.Join(errs...)
}

// truth is the simulator's seat per (org, user): active or
// pending_cancellation; org "" is the enterprise teams' seats (active if
// any team's seat is). Pairs in the stream with no seat now were cancelled.
func (d *demo) truth() map[[2]string]string {
	sim := d.sc.sim
	want := map[[2]string]string{}
	set := func(k [2]string, s ghsim.SeatState) {
		state := "active"
		if s.PendingCancellationDate != "" {
			state = "pending_cancellation"
		}
		if want[k] != "active" {
			want[k] = state
		}
	}
	for _, o := range sim.Orgs() {
		for _, s := range sim.Seats(o) {
			set([2]string{o, s.Login}, s)
		}
	}
	for _, t := range sim.EnterpriseTeams() {
		for _, s := range sim.Seats(t) {
			set([2]string{"", s.Login}, s)
		}
	}
	for k := range d.pairs {
		if _, ok := want[k]; !ok {
			want[k] = "cancelled"
		}
	}
	return want
}

func (d *demo) enrichment(ctx context.Context) error {
	sim := d.sc.sim
	var errs []error
	fin := d.final
	left := fin.pending + fin.failed
	drift, err := d.count(ctx, "SELECT count() FROM seat_drift")
	if err != nil {
		return err
	}
	// The latest enrichment of each (org, user) against the simulator.
	q, err := d.store.Conn().Query(ctx, `SELECT org, user, toString(argMax(seat_status, (event_ms, document_id)))
		FROM seat_timeline WHERE user != '' AND enrichment = 'enriched' GROUP BY org, user`)
	if err != nil {
		return err
	}
	want := d.truth()
	agree, seen := 0, 0
	var bad []string
	for q.Next() {
		var org, user, status string
		if err := q.Scan(&org, &user, &status); err != nil {
			q.Close()
			return err
		}
		seen++
		w := want[[2]string{org, user}]
		if w == "cancelled" {
			w = "absent"
		}
		if status == w {
			agree++
		} else if len(bad) < 3 {
			bad = append(bad, fmt.Sprintf("%s/%s: enriched %s, simulator %s", org, user, status, w))
		}
	}
	q.Close()
	if err := q.Err(); err != nil {
		return err
	}
	inlineAPI := benchkit.APIRequests(d.inlineReqs)
	reqs := sim.Requests()
	api := benchkit.APIRequests(reqs)
	viol := sim.LimitViolations()
	seatRows := int(fin.enriched + left)

	fmt.Println("Enrichment (GitHub's seat details on each seat row; the simulator answers as GitHub's REST API does)")
	t := [][]string{
		{"enriched inline by bin/ingest", num(int(d.inline.enriched)), fmt.Sprintf("of %s seat rows, with %s GitHub requests; the rest were written pending while GitHub was down", num(seatRows), num(inlineAPI-d.outageReqs))},
		{"completed by bin/enrich --once", num(int(fin.enriched - d.inline.enriched)), fmt.Sprintf("then seat lists polled: %s rows in seat_snapshots", u64(d.snapshots))},
		{"left pending or failed", u64(left), mark(left == 0) + fmt.Sprintf(" (%s team/policy rows: not applicable)", u64(fin.notApplicable))},
		{"seat status vs the API", fmt.Sprintf("%d/%d", agree, seen), mark(agree == seen && seen > 0) + " each seat's latest enrichment matches the simulator's seat"},
		{"reconciliation (seat_drift)", u64(drift), mark(drift == 0) + " timeline and GitHub's seat lists agree"},
		{"GitHub requests", num(api - d.outageReqs), fmt.Sprintf("%.3f per seat event (one lookup each would be %s) · +%d failed in the outage · %d limit violations %s",
			float64(api-d.outageReqs)/float64(max(1, d.simUser)), num(d.simUser), d.outageReqs, viol, mark(viol == 0))},
	}
	printTable("  ", "lrl", nil, t)
	var parts []string
	for _, k := range sortedKeys(reqs) {
		parts = append(parts, fmt.Sprintf("%s %d", strings.TrimPrefix(k, "GET "), reqs[k]))
	}
	fmt.Printf("    %s (simulator: %d in all)\n", strings.Join(parts, " · "), sim.TotalRequests())

	if left > 0 {
		errs = append(errs, checkf("%d seat rows still pending or failed after bin/enrich --once", left))
	}
	if agree != seen || seen == 0 {
		errs = append(errs, checkf("enriched seat status differs from the simulator for %d of %d seats, e.g. %s", seen-agree, seen, strings.Join(bad, "; ")))
	}
	if drift != 0 {
		var user, kind, detail string
		_ = d.store.Conn().QueryRow(ctx, "SELECT user, toString(kind), detail FROM seat_drift ORDER BY user LIMIT 1").Scan(&user, &kind, &detail)
		errs = append(errs, checkf("reconciliation recorded %d findings in seat_drift (e.g. %s %s: %s); the timeline was built from the simulator's own events",
			drift, user, kind, detail))
	}
	if viol != 0 {
		errs = append(errs, checkf("%d requests were sent into an exhausted rate limit", viol))
	}
	return errors.Join(errs...)
}

type erow struct {
	ms                               uint64
	transition, actor, enrichment    string
	status, plan, teamSlug, teamKind string
	billable, lastActivity           *time.Time
	editor                           string
	lag                              int64
}

func (d *demo) timelines(ctx context.Context) error {
	fmt.Println("Seat timelines, enriched (seat_timeline; the seat as GitHub described it at lookup, lag after the event)")
	var errs []error
	for i, f := range d.sc.featured {
		q, err := d.store.Conn().Query(ctx, `SELECT event_ms, toString(transition), actor, toString(enrichment),
			toString(seat_status), plan_type, assigning_team_slug, toString(assigning_team_kind),
			billable_until, last_activity_at, last_activity_editor, enrichment_lag_s
			FROM seat_timeline WHERE org = ? AND user = ? ORDER BY event_ms, document_id`, f.org, f.user)
		if err != nil {
			return err
		}
		var rs []erow
		for q.Next() {
			var r erow
			if err := q.Scan(&r.ms, &r.transition, &r.actor, &r.enrichment, &r.status, &r.plan, &r.teamSlug, &r.teamKind,
				&r.billable, &r.lastActivity, &r.editor, &r.lag); err != nil {
				q.Close()
				return err
			}
			rs = append(rs, r)
		}
		q.Close()
		if err := q.Err(); err != nil {
			return err
		}
		if i > 0 {
			fmt.Println()
		}
		where := "in " + f.org
		if f.org == "" {
			where = "(enterprise)"
		}
		fmt.Printf("  %s %s: %s\n", f.user, where, f.title)
		t := [][]string{}
		for _, r := range rs {
			t = append(t, []string{time.UnixMilli(int64(r.ms)).UTC().Format("2006-01-02 15:04"), r.transition, r.actor,
				statusCell(r), dash(r.plan), teamCell(r), dateCell(r.billable), activityCell(r), lagCell(r)})
		}
		printTable("    ", "lllllllll", []string{"time", "transition", "actor", "seat", "plan", "team", "billable until", "last activity", "lag"}, t)
		if i == 0 {
			fmt.Println("    (a direct assignment emits two events: copilot.cfb_seat_assignment_created and copilot.cfb_seat_added)")
		}
		if err := d.checkFeatured(f, rs); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// checkFeatured compares the latest row of a featured seat with the simulator.
func (d *demo) checkFeatured(f featured, rs []erow) error {
	if len(rs) == 0 {
		return checkf("%s: no rows in seat_timeline", f.user)
	}
	for _, r := range rs {
		if r.enrichment != "enriched" {
			return checkf("%s: a %s row is %s, not enriched", f.user, r.transition, r.enrichment)
		}
	}
	r := rs[len(rs)-1]
	scope := f.org
	if scope == "" {
		scope = ghsim.EntTeamSlug(entTeam)
	}
	s, ok := d.sc.sim.Seat(scope, f.user)
	if !ok {
		return checkf("%s: the simulator has no seat in %s", f.user, scope)
	}
	wantStatus, wantBillable := "active", "—"
	if s.PendingCancellationDate != "" {
		wantStatus, wantBillable = "pending_cancellation", s.PendingCancellationDate
	}
	wantTeam, wantKind := s.AssigningTeam, "none"
	if wantTeam != "" {
		wantKind = "org"
		if strings.HasPrefix(wantTeam, "ent:") {
			wantKind = "enterprise"
		}
	}
	wantActivity := s.LastActivityAt != nil
	got := fmt.Sprintf("%s billable %s team %s/%s plan %s used %v", r.status, dateCell(r.billable), r.teamSlug, r.teamKind, r.plan, r.lastActivity != nil)
	want := fmt.Sprintf("%s billable %s team %s/%s plan %s used %v", wantStatus, wantBillable, wantTeam, wantKind, s.PlanType, wantActivity)
	if got != want {
		return checkf("%s: latest enrichment says %q, the simulator %q", f.user, got, want)
	}
	return nil
}

func statusCell(r erow) string {
	if r.enrichment != "enriched" {
		return "(" + r.enrichment + ")"
	}
	return r.status
}

func teamCell(r erow) string {
	if r.teamSlug == "" {
		return "—"
	}
	return r.teamSlug + " (" + r.teamKind + ")"
}

func dateCell(t *time.Time) string {
	if t == nil {
		return "—"
	}
	return t.UTC().Format(time.DateOnly)
}

func activityCell(r erow) string {
	if r.enrichment != "enriched" {
		return ""
	}
	if r.lastActivity == nil {
		return "never"
	}
	ed, _, _ := strings.Cut(r.editor, "/")
	return strings.TrimSpace(r.lastActivity.UTC().Format("2006-01-02 15:04") + " " + ed)
}

func lagCell(r erow) string {
	if r.enrichment != "enriched" {
		return ""
	}
	s := r.lag
	switch {
	case s < 0:
		return "-" + strconv.FormatInt(-s, 10) + "s"
	case s < 120:
		return fmt.Sprintf("%ds", s)
	case s < 2*3600:
		return fmt.Sprintf("%dm", s/60)
	case s < 86400:
		return fmt.Sprintf("%dh %dm", s/3600, s%3600/60)
	}
	return fmt.Sprintf("%dd %dh", s/86400, s%86400/3600)
}

func dash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

func (d *demo) seatState(ctx context.Context) error {
	q, err := d.store.Conn().Query(ctx, `SELECT org, user, state FROM seat_state`)
	if err != nil {
		return err
	}
	got := map[[2]string]string{}
	for q.Next() {
		var org, user, state string
		if err := q.Scan(&org, &user, &state); err != nil {
			q.Close()
			return err
		}
		got[[2]string{org, user}] = state
	}
	q.Close()
	if err := q.Err(); err != nil {
		return err
	}
	// seat_state is each seat's last Copilot event: a revocation shows as
	// revoked (GitHub still lists a revoked user's assignment), and a team
	// leave with no Copilot event leaves the seat as it was (the seat
	// periods, below, know better).
	want := d.truth()
	for k, state := range want {
		if state == "cancelled" && d.sc.sim.OrgAccessRevoked(k[0]) {
			want[k] = "revoked" // the org-wide revocation came after the seat's last change
		}
	}
	want[[2]string{orgs[0], u5}] = "revoked"
	want[[2]string{orgs[1], u4}] = "active"
	counts := map[string]*[4]int{}
	var sum [4]int
	var diff []string
	for k, state := range got {
		c := counts[k[0]]
		if c == nil {
			c = &[4]int{}
			counts[k[0]] = c
		}
		i := map[string]int{"active": 0, "pending_cancellation": 1, "cancelled": 2}[state]
		if _, known := map[string]bool{"active": true, "pending_cancellation": true, "cancelled": true}[state]; !known {
			i = 3
		}
		c[i]++
		sum[i]++
		if want[k] != state {
			diff = append(diff, fmt.Sprintf("%s/%s: timeline %s, simulator %s", k[0], k[1], state, orNone(want[k])))
		}
	}
	for k, state := range want {
		if _, ok := got[k]; !ok {
			diff = append(diff, fmt.Sprintf("%s/%s: timeline none, simulator %s", k[0], k[1], state))
		}
	}
	sort.Strings(diff)
	var t [][]string
	for _, org := range sortedKeys(counts) {
		c := counts[org]
		name := org
		if org == "" {
			name = "(enterprise teams)"
		}
		t = append(t, []string{name, num(c[0]), num(c[1]), num(c[2])})
	}
	note := "✓ matches the simulator's seats, user for user"
	if len(diff) > 0 {
		note = fmt.Sprintf("✗ %d seats differ from the simulator", len(diff))
	}
	t = append(t, []string{"all", num(sum[0]), num(sum[1]), num(sum[2]), note})
	fmt.Println("Current seats (seat_state)")
	printTable("  ", "lrrrl", []string{"org", "active", "pending_cancellation", "cancelled", ""}, t)
	if sum[3] > 0 {
		fmt.Printf("  (%d in another state: revoked or unknown)\n", sum[3])
	}
	fmt.Printf("  seat_state is each seat's last Copilot event: %s's access and all of %s's are revoked; %s left his\n"+
		"  team with no Copilot event, so his last event still says active (the seat periods below know better)\n", u5, orgs[2], u4)
	if len(diff) > 0 {
		return checkf("seat_state differs from the simulator for %d seats: %s", len(diff), strings.Join(diff[:min(3, len(diff))], "; "))
	}
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func (d *demo) deadLetters(ctx context.Context) error {
	q, err := d.store.Conn().Query(ctx, `SELECT reason_code, min(position) AS pos, argMin(reason, position), count()
		FROM dead_letters GROUP BY reason_code ORDER BY pos`)
	if err != nil {
		return err
	}
	var t [][]string
	for q.Next() {
		var code, pos, reason string
		var n uint64
		if err := q.Scan(&code, &pos, &reason, &n); err != nil {
			q.Close()
			return err
		}
		t = append(t, []string{pos, code, clip(strings.TrimPrefix(reason, code+": "), 68)})
	}
	q.Close()
	if err := q.Err(); err != nil {
		return err
	}
	fmt.Println("Dead letters (dead_letters: the first of each reason; raw bytes, length and SHA-256 are kept)")
	printTable("  ", "lll", []string{"position", "reason_code", "reason"}, t)
	return nil
}
