package seatctl

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/seatline/seatline/internal/cli"
	"github.com/seatline/seatline/internal/lifecycle"
	"github.com/seatline/seatline/internal/timeline"
)

// PeriodFilter selects seat periods (the periods view).
type PeriodFilter struct {
	Scopes, Users, Teams []string
}

func (f PeriodFilter) where(w *where) {
	w.in("scope", f.Scopes)
	w.anyIn([]string{"user", "holder"}, f.Users)
	// A period's team is "org/slug" (an enterprise team: its name): match
	// it whole or by the slug alone, as --team takes elsewhere.
	w.anyIn([]string{"team", "replaceRegexpOne(team, '^[^/]*/', '')"}, f.Teams)
}

// HeldAtQuery lists who held a seat at t, and through what.
func HeldAtQuery(f PeriodFilter, t time.Time, form Binding) Stmt {
	w := newWhere(form)
	// The select list binds first: its placeholders come first in the text.
	sel := w.bind(`SELECT toString(scope_kind), scope, user, holder, toString(via), team, granted_by, started_at,
    if(ifNull(pending_from <= ?, 0), 'pending_cancellation', 'active') AS status,
    billable_until, if(ifNull(orphaned_since <= ?, 0), orphan_reason, '') AS orphan, plan`, t, t)
	w.add("started_ms <= ? AND access_end > ?", uint64(t.UnixMilli()), t)
	f.where(w)
	return w.stmt(sel + "\nFROM periods" + w.clause() + "\nORDER BY scope_kind, scope, user")
}

var heldColumns = []column{
	{name: "scope_kind", head: "KIND"},
	{name: "scope", head: "SCOPE"},
	{name: "user", head: "USER"},
	{name: "holder", dataOnly: true},
	{name: "via", head: "VIA"},
	{name: "team", head: "TEAM"},
	{name: "granted_by", head: "GRANTED BY"},
	{name: "since", head: "SINCE", kind: kindNullable},
	{name: "status", head: "STATUS"},
	{name: "billable_until", head: "BILLABLE UNTIL", kind: kindNullable},
	{name: "orphaned", head: "ORPHANED"},
	{name: "plan", head: "PLAN"},
}

func seatsAt(ctx context.Context, e *env, store *timeline.Store, f PeriodFilter, t time.Time, format string) error {
	n, err := render(ctx, e, store, listing{view: "periods", q: HeldAtQuery(f, t, bindingFor(store)), cols: heldColumns, scan: func(rows driver.Rows) ([]string, error) {
		var kind, scope, user, holder, via, team, by, status, orphan, plan string
		var since time.Time
		var until *time.Time
		if err := rows.Scan(&kind, &scope, &user, &holder, &via, &team, &by, &since, &status, &until, &orphan, &plan); err != nil {
			return nil, err
		}
		return []string{kind, scope, user, holder, via, team, by, isoSec(&since), status, isoSec(until), orphan, plan}, nil
	}}, format)
	if err == nil && n == 0 {
		fmt.Fprintf(e.stderr, "seatctl seats: nobody held a seat at %s (or the periods are not derived yet: seatctl derive)\n", iso(t))
	}
	return err
}

// PeriodsQuery lists seat periods.
func PeriodsQuery(f PeriodFilter, form Binding) Stmt {
	w := newWhere(form)
	f.where(w)
	return w.stmt(`SELECT toString(scope_kind), scope, user, holder, period_no, toString(via), team, granted_by, started_at,
    pending_from, billable_until, ended_at, end_reason, orphaned_since, orphan_reason, plan
FROM periods` + w.clause() + "\nORDER BY user, scope_kind, scope, started_ms")
}

var periodColumns = []column{
	{name: "scope_kind", head: "KIND"},
	{name: "scope", head: "SCOPE"},
	{name: "user", head: "USER"},
	{name: "holder", dataOnly: true},
	{name: "period", head: "#", kind: kindNumber},
	{name: "via", head: "VIA"},
	{name: "team", head: "TEAM"},
	{name: "granted_by", head: "GRANTED BY"},
	{name: "held_from", head: "HELD FROM", kind: kindNullable},
	{name: "pending_from", head: "PENDING FROM", kind: kindNullable},
	{name: "billable_until", head: "BILLABLE UNTIL", kind: kindNullable},
	{name: "ended_at", head: "ENDED", kind: kindNullable},
	{name: "end_reason", head: "WHY"},
	{name: "orphaned_since", head: "ORPHANED SINCE", kind: kindNullable},
	{name: "orphan_reason", head: "ORPHANED BECAUSE"},
	{name: "plan", head: "PLAN"},
}

func scanPeriod(rows driver.Rows) ([]string, error) {
	var kind, scope, user, holder, via, team, by, why, orphanWhy, plan string
	var no uint32
	var from time.Time
	var pending, until, ended, orphaned *time.Time
	if err := rows.Scan(&kind, &scope, &user, &holder, &no, &via, &team, &by, &from, &pending, &until, &ended, &why, &orphaned, &orphanWhy, &plan); err != nil {
		return nil, err
	}
	return []string{kind, scope, user, holder, strconv.Itoa(int(no)), via, team, by, isoSec(&from), isoSec(pending),
		isoSec(until), isoSec(ended), why, isoSec(orphaned), orphanWhy, plan}, nil
}

const periodsAbout = `seatctl periods: seat periods of holders, organizations, or all (view periods)

A period is one continuous holding of a seat in an organization (or, for an enterprise
team's licence, the enterprise): how it was granted (direct, team, enterprise_team,
all_members, or seat: GitHub reported a seat whose grant predates the stream), who granted
it, from when it was pending cancellation, until when it was billable, when and why it
ended, and whether it is orphaned. They are derived from the timeline and the membership
events (the rules: README, "Seat lifecycle"); cmd/enrich keeps them current, seatctl
derive brings them up to date now.

Examples:
  seatctl periods --user mona
  seatctl periods --user mona --org acme-platform --format jsonl
  seatctl periods --all --format csv > seat-periods.csv

` + outputHelp + "\n\n" + exitCodesHelp

func runPeriods(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("periods", flag.ContinueOnError)
	var cfg timeline.Config
	clickhouseFlags(fs, &cfg)
	var f PeriodFilter
	fs.Var((*cli.List)(&f.Users), "user", "holder login(s) (or user ids)")
	fs.Var((*cli.List)(&f.Scopes), "org", "organization(s), or the enterprise for enterprise-team seats")
	all := fs.Bool("all", false, "every period of every holder (an export for auditors)")
	format := formatFlag(fs)
	pos, err := parse(e, fs, args, periodsAbout)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErrorf("unexpected argument %q (filters are flags: --user %s)", pos[0], pos[0])
	}
	if len(f.Users) == 0 && len(f.Scopes) == 0 && !*all {
		return usageErrorf("user: required (whose periods? --org for an organization's, --all for every one)")
	}
	store, err := connectListing(ctx, e, cfg, format)
	if err != nil {
		return err
	}
	defer store.Close()
	n, err := render(ctx, e, store, listing{view: "periods", q: PeriodsQuery(f, bindingFor(store)), cols: periodColumns, scan: scanPeriod}, *format)
	if err == nil && n == 0 {
		fmt.Fprintln(e.stderr, "seatctl periods: no periods match (or they are not derived yet: seatctl derive)")
	}
	return err
}

// SeatDaysQuery counts seat-days per scope, month and plan (and team with
// byTeam) from the seat_day_rows view (one row per holder and billable
// day), months in [from, to): the holders of a row are distinct people,
// whatever the grouping.
func SeatDaysQuery(scopes []string, from, to time.Time, byTeam bool, form Binding) Stmt {
	w := newWhere(form)
	w.in("scope", scopes)
	if !from.IsZero() {
		w.add("day >= toDate(?)", from.UTC())
	}
	if !to.IsZero() {
		w.add("day < toDate(?)", to.UTC())
	}
	team := "''"
	if byTeam {
		team = "team"
	}
	return w.stmt(`SELECT toString(scope_kind) AS k, scope, ` + team + ` AS t, plan, toStartOfMonth(day) AS month, count() AS days,
    uniqExact(holder) AS holders
FROM seat_day_rows` + w.clause() + `
GROUP BY k, scope, t, plan, month
ORDER BY month, k, scope, t, plan`)
}

const seatDaysAbout = `seatctl seat-days: seat-days per organization, month and plan (views seat_day_rows, seat_days)

A seat-day is a UTC calendar day on which a seat was billable for any part of the day: from
the day it was granted to the day billing stopped (the pending cancellation date, the
removal's cycle end, or today for a seat still held); a person counts once a day however
many of their seat periods overlap it. This is the basis to reconcile
GitHub's invoice against: per month, per plan, per organization (or enterprise), and
with --by team per granting team. HOLDERS counts the people behind the seat-days.

Examples:
  seatctl seat-days --month 2026-03
  seatctl seat-days --org acme-platform --since 2026-01 --until 2026-03 --by team --format csv

` + outputHelp + "\n\n" + exitCodesHelp

func runSeatDays(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("seat-days", flag.ContinueOnError)
	var cfg timeline.Config
	clickhouseFlags(fs, &cfg)
	var scopes []string
	fs.Var((*cli.List)(&scopes), "org", "organization(s), or the enterprise for enterprise-team seats")
	month := fs.String("month", "", "one month, YYYY-MM")
	since := fs.String("since", "", "first month, YYYY-MM (inclusive)")
	until := fs.String("until", "", "last month, YYYY-MM (inclusive)")
	by := fs.String("by", "org", "org, or team (one row per granting team as well)")
	format := formatFlag(fs)
	pos, err := parse(e, fs, args, seatDaysAbout)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErrorf("unexpected argument %q", pos[0])
	}
	var from, to time.Time
	switch {
	case *month != "" && (*since != "" || *until != ""):
		return usageErrorf("--month or --since/--until, not both")
	case *month != "":
		if from, err = parseMonth("month", *month); err != nil {
			return err
		}
		to = from.AddDate(0, 1, 0)
	default:
		if *since != "" {
			if from, err = parseMonth("since", *since); err != nil {
				return err
			}
		}
		if *until != "" {
			if to, err = parseMonth("until", *until); err != nil {
				return err
			}
			to = to.AddDate(0, 1, 0)
		}
		if !from.IsZero() && !to.IsZero() && !from.Before(to) {
			return usageErrorf("until: %s is before since %s", *until, *since)
		}
	}
	if *by != "org" && *by != "team" {
		return usageErrorf("by: %q is not org or team", *by)
	}
	store, err := connectListing(ctx, e, cfg, format)
	if err != nil {
		return err
	}
	defer store.Close()
	cols := []column{
		{name: "month", head: "MONTH"},
		{name: "scope_kind", head: "KIND"},
		{name: "scope", head: "SCOPE"},
		{name: "team", head: "TEAM", dataOnly: *by != "team"},
		{name: "plan", head: "PLAN"},
		{name: "seat_days", head: "SEAT-DAYS", kind: kindNumber},
		{name: "holders", head: "HOLDERS", kind: kindNumber},
	}
	var total uint64
	n, err := render(ctx, e, store, listing{view: "seat_days", q: SeatDaysQuery(scopes, from, to, *by == "team", bindingFor(store)), cols: cols, scan: func(rows driver.Rows) ([]string, error) {
		var kind, scope, team, plan string
		var m time.Time
		var days, holders uint64
		if err := rows.Scan(&kind, &scope, &team, &plan, &m, &days, &holders); err != nil {
			return nil, err
		}
		total += days
		return []string{m.Format("2006-01"), kind, scope, team, plan, u64s(days), u64s(holders)}, nil
	}}, *format)
	if err == nil {
		if n == 0 {
			fmt.Fprintln(e.stderr, "seatctl seat-days: no seat-days in that range (or the periods are not derived yet: seatctl derive)")
		} else {
			fmt.Fprintf(e.stderr, "%d seat-days in all\n", total)
		}
	}
	return err
}

func parseMonth(field, s string) (time.Time, error) {
	t, err := time.Parse("2006-01", s)
	if err != nil {
		return time.Time{}, usageErrorf("%s: %q is not a month YYYY-MM", field, s)
	}
	return t, nil
}

// OrphansQuery lists the seats orphaned at t (view orphan_periods):
// orphaned by then and still held or billable.
func OrphansQuery(f PeriodFilter, t time.Time, form Binding) Stmt {
	w := newWhere(form)
	w.add("orphaned_since <= ? AND billable_end > ?", t, t)
	f.where(w)
	return w.stmt(`SELECT toString(scope_kind), scope, user, holder, orphaned_since, orphan_reason, toString(via), team, granted_by,
    started_at, ended_at, billable_until, plan, monthly_cost_usd
FROM orphan_periods` + w.clause() + "\nORDER BY orphaned_since, scope, user")
}

const orphansAbout = `seatctl orphans: seats still held or billable whose holder has gone (views orphan_periods, orphaned_seats)

Orphaned: the holder was removed from the organization or the enterprise, deprovisioned
(SCIM) or suspended, or left the team that granted the seat without an unassignment. GitHub
keeps billing such seats to the end of the cycle (or, for a deprovisioned or suspended
account, until someone unassigns them). MONTHLY COST is the plan's list price (Business $19,
Enterprise $39 a seat a month). --at shows the seats orphaned at another instant (at the end
of a billing cycle, say).

Examples:
  seatctl orphans
  seatctl orphans --at 2026-03-31T23:59:59Z
  seatctl orphans --org acme-platform --format csv > orphans.csv

` + outputHelp + "\n\n" + exitCodesHelp

func runOrphans(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("orphans", flag.ContinueOnError)
	var cfg timeline.Config
	clickhouseFlags(fs, &cfg)
	var f PeriodFilter
	fs.Var((*cli.List)(&f.Scopes), "org", "organization(s), or the enterprise for enterprise-team seats")
	fs.Var((*cli.List)(&f.Users), "user", "holder login(s)")
	at := fs.String("at", "now", "the seats orphaned at this instant (RFC 3339, a date, 30d…)")
	format := formatFlag(fs)
	pos, err := parse(e, fs, args, orphansAbout)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErrorf("unexpected argument %q", pos[0])
	}
	atTime, err := ParseTime(*at, time.Now(), false)
	if err != nil {
		return usageErrorf("at: %v", err)
	}
	store, err := connectListing(ctx, e, cfg, format)
	if err != nil {
		return err
	}
	defer store.Close()
	cols := []column{
		{name: "scope_kind", head: "KIND"},
		{name: "scope", head: "SCOPE"},
		{name: "user", head: "USER"},
		{name: "holder", dataOnly: true},
		{name: "orphaned_since", head: "ORPHANED SINCE", kind: kindNullable},
		{name: "reason", head: "WHY"},
		{name: "via", head: "VIA"},
		{name: "team", head: "TEAM"},
		{name: "granted_by", head: "GRANTED BY", dataOnly: true},
		{name: "held_from", head: "HELD FROM", kind: kindNullable},
		{name: "access_ended", head: "ACCESS ENDED", kind: kindNullable},
		{name: "billable_until", head: "BILLABLE UNTIL", kind: kindNullable},
		{name: "plan", head: "PLAN"},
		{name: "monthly_cost_usd", head: "MONTHLY COST", kind: kindNumber},
	}
	var cost uint64
	n, err := render(ctx, e, store, listing{view: "orphan_periods", q: OrphansQuery(f, atTime, bindingFor(store)), cols: cols, scan: func(rows driver.Rows) ([]string, error) {
		var kind, scope, user, holder, why, via, team, by, plan string
		var since, from time.Time
		var ended, until *time.Time
		var usd uint8
		if err := rows.Scan(&kind, &scope, &user, &holder, &since, &why, &via, &team, &by, &from, &ended, &until, &plan, &usd); err != nil {
			return nil, err
		}
		cost += uint64(usd)
		money := strconv.Itoa(int(usd))
		if format != nil && *format == "table" {
			money = "$" + money
		}
		return []string{kind, scope, user, holder, isoSec(&since), why, via, team, by, isoSec(&from), isoSec(ended), isoSec(until), plan, money}, nil
	}}, *format)
	if err == nil {
		if n == 0 {
			fmt.Fprintln(e.stderr, "seatctl orphans: no orphaned seats (or the periods are not derived yet: seatctl derive)")
		} else {
			fmt.Fprintf(e.stderr, "%d orphaned seat(s), $%d a month at list price\n", n, cost)
		}
	}
	return err
}

const deriveAbout = `seatctl derive: bring the seat periods up to date now

Derives every seat period from the timeline and the membership events and writes what
changed (cmd/enrich does the same on every pass). Running it again writes nothing.

` + exitCodesHelp

func runDerive(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("derive", flag.ContinueOnError)
	var cfg timeline.Config
	clickhouseFlags(fs, &cfg)
	pos, err := parse(e, fs, args, deriveAbout)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErrorf("unexpected argument %q", pos[0])
	}
	store, err := connect(ctx, cfg, e.stderr)
	if err != nil {
		return err
	}
	defer store.Close()
	st, err := lifecycle.Update(ctx, store, time.Time{}, time.Now)
	if err != nil {
		return timeline.Explain(store.Config(), err)
	}
	fmt.Fprintf(e.stdout, "derived %d seat period(s) of %d business(es) from %d event(s): %d written, %d removed\n",
		st.Periods, st.Businesses, st.Events, st.Written, st.Removed)
	return nil
}
