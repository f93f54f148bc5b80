package seatctl

import (
	"context"
	"flag"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/seatline/seatline/internal/cli"
	"github.com/seatline/seatline/internal/timeline"
	"github.com/seatline/seatline/schema"
)

// ActivityNote is printed with every idle-seat listing.
const ActivityNote = "note: last_activity_at only reflects Copilot activity (IDE completions, chat, CLI) as GitHub reports it; " +
	"someone busy on GitHub but not using Copilot is listed, and activity reporting can lag by a day or more"

// SeatFilter selects current seats.
type SeatFilter struct {
	Orgs, Users, Teams, Plans []string
	States                    []string // active, pending_cancellation; empty: both
}

// teamColumns says which team columns a view has: current_seats (and
// seat_state's summary) the team's slug and name, idle_seats and
// pending_cancellations the slug only.
type teamColumns int

const (
	teamSlugOrName teamColumns = iota
	teamSlugOnly
)

// Validate checks the states against current_seats' (schema.CurrentSeatStates).
func (f SeatFilter) Validate() error {
	return checkNames("state", f.States, schema.CurrentSeatStates)
}

func (f SeatFilter) where(w *where, withState bool, teamCols teamColumns) {
	w.in("org", f.Orgs)
	w.in("user", f.Users)
	switch {
	case len(f.Teams) == 0:
	case teamCols == teamSlugOrName:
		w.anyIn([]string{"assigning_team_slug", "assigning_team_name"}, f.Teams)
	default:
		// --team takes a slug or a name everywhere: a view without the
		// name matches the seats current_seats (which the view is made
		// from) gives that team name.
		w.conds = append(w.conds, "(assigning_team_slug IN "+w.list(f.Teams)+
			" OR (org, user) IN (SELECT org, user FROM current_seats WHERE assigning_team_name IN "+w.list(f.Teams)+"))")
	}
	w.in("plan_type", f.Plans)
	if withState {
		w.in("state", f.States)
	}
}

var seatColumns = []column{
	{name: "org", head: "ORG"},
	{name: "user", head: "USER"},
	{name: "state", head: "STATE"},
	{name: "holder_since", head: "SINCE", kind: kindNullable},
	{name: "last_change", head: "LAST CHANGE", kind: kindNullable},
	{name: "last_transition", head: "BY", dataOnly: true},
	{name: "last_actor", head: "BY"},
	{name: "team", head: "TEAM"},
	{name: "plan", head: "PLAN"},
	{name: "billable_until", head: "BILLABLE UNTIL", kind: kindNullable},
	{name: "last_activity_at", head: "LAST ACTIVITY", kind: kindNullable},
	{name: "last_activity_editor", dataOnly: true},
	{name: "detail", head: "DETAIL FROM", tableOnly: true},
	{name: "detail_source", dataOnly: true},
	{name: "detail_at", dataOnly: true, kind: kindNullable},
}

// CurrentSeatsQuery lists current seats (the current_seats view).
func CurrentSeatsQuery(f SeatFilter, form Binding) Stmt {
	w := newWhere(form)
	f.where(w, true, teamSlugOrName)
	return w.stmt(`SELECT org, user, state, first_assigned, last_change, last_transition, last_actor,
    assigning_team_slug, assigning_team_name, plan_type, billable_until, last_activity_at, last_activity_editor,
    detail_source, detail_at
FROM current_seats` + w.clause() + "\nORDER BY org, user")
}

// summaryGroups are the --by choices and the expression each groups on.
var summaryGroups = map[string]string{
	"org":  "org",
	"team": "if(assigning_team_slug != '', assigning_team_slug, if(assigning_team_name != '', assigning_team_name, '(no team or not looked up)'))",
	"plan": "if(plan_type != '', plan_type, '(not looked up)')",
}

// SummaryQuery counts current seats per org, team or plan.
func SummaryQuery(f SeatFilter, by string, form Binding) (Stmt, error) {
	expr, ok := summaryGroups[by]
	if !ok {
		return Stmt{}, usageErrorf("by: %q is not one of org, team, plan", by)
	}
	w := newWhere(form)
	f.where(w, true, teamSlugOrName)
	// Per org, with no team or plan filter, the seats' detail is not
	// needed: seat_state has the same seats and states without finalizing
	// it for every seat, several times cheaper at millions of seats.
	from := "current_seats"
	if by == "org" && len(f.Teams) == 0 && len(f.Plans) == 0 {
		from = "seat_state"
		if len(f.States) == 0 {
			w.in("state", schema.CurrentSeatStates)
		}
	}
	return w.stmt(`SELECT ` + expr + ` AS grp,
    countIf(state = 'active') AS active,
    countIf(state = 'pending_cancellation') AS pending,
    count() AS seats
FROM ` + from + w.clause() + "\nGROUP BY grp\nORDER BY grp"), nil
}

// IdleQuery lists active seats with no Copilot activity for days days, or
// never used (the idle_seats view).
func IdleQuery(f SeatFilter, days int, form Binding) Stmt {
	w := newWhere(form)
	w.add("(never_used = 1 OR idle_days >= ?)", days)
	f.where(w, false, teamSlugOnly)
	return w.stmt(`SELECT org, user, never_used, idle_days, last_activity_at, last_activity_editor,
    assigning_team_slug, plan_type, first_assigned, seat_created_at, last_actor, detail_source, detail_at
FROM idle_seats` + w.clause() + "\nORDER BY never_used DESC, idle_days DESC, org, user")
}

var idleColumns = []column{
	{name: "org", head: "ORG"},
	{name: "user", head: "USER"},
	{name: "last_activity_at", head: "LAST COPILOT ACTIVITY", kind: kindNullable},
	{name: "never_used", dataOnly: true, kind: kindNumber},
	{name: "idle_days", head: "IDLE DAYS", kind: kindNumber},
	{name: "last_activity_editor", head: "EDITOR"},
	{name: "team", head: "TEAM"},
	{name: "plan", head: "PLAN"},
	{name: "holder_since", head: "HOLDER SINCE", kind: kindNullable},
	{name: "last_change_by", head: "LAST CHANGE BY"},
	{name: "detail", head: "DETAIL FROM", tableOnly: true},
	{name: "detail_source", dataOnly: true},
	{name: "detail_at", dataOnly: true, kind: kindNullable},
}

const seatsAbout = `seatctl seats: current Copilot seats (view current_seats), per org

A seat is current when its last seat change leaves it active or pending cancellation.
Team, plan, billable-until and last activity are the freshest detail GitHub gave: the
latest seat lookup (enrichment) or seat-list snapshot, whichever is newer (DETAIL FROM).

--summary (or --by org|team|plan) counts seats instead of listing them, with a total
for the enterprise. --idle 30d lists reclamation candidates (view idle_seats): active
seats with no Copilot activity in that many days, or never used. Seats GitHub has not
described yet (no lookup, no snapshot) cannot be judged and are counted separately.

--at <time> answers "who held a seat then?" from the seat periods (seatctl periods): each
holder at that instant, through what (direct, a team, an enterprise team, all members),
granted by whom, and whether the seat was pending cancellation or orphaned.

Examples:
  seatctl seats --org acme-platform
  seatctl seats --at 2026-03-15T12:00:00Z
  seatctl seats --summary
  seatctl seats --by plan
  seatctl seats --idle 30d
  seatctl seats --idle 8w --org acme-mobile --format csv > idle.csv

` + outputHelp + "\n\n" + exitCodesHelp

func runSeats(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("seats", flag.ContinueOnError)
	var cfg timeline.Config
	clickhouseFlags(fs, &cfg)
	var f SeatFilter
	fs.Var((*cli.List)(&f.Orgs), "org", "organization(s)")
	fs.Var((*cli.List)(&f.Users), "user", "seat holder login(s)")
	fs.Var((*cli.List)(&f.Teams), "team", "assigning team slug(s) or name(s); with --at, the granting team's slug or org/slug")
	fs.Var((*cli.List)(&f.Plans), "plan", "plan(s): business, enterprise")
	state := fs.String("state", "", strings.Join(schema.CurrentSeatStates, " or ")+" (default: any)")
	summary := fs.Bool("summary", false, "count seats per org (see --by) instead of listing them")
	by := fs.String("by", "", "with --summary: group by org, team or plan (default org)")
	idle := fs.String("idle", "", "list active seats without Copilot activity for this long, or never used (e.g. 30d, 4w)")
	at := fs.String("at", "", "who held a seat at this instant, and through what (RFC 3339, a date, 30d…): from the seat periods")
	format := formatFlag(fs)
	pos, err := parse(e, fs, args, seatsAbout)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErrorf("unexpected argument %q", pos[0])
	}
	if *state != "" {
		f.States = []string{*state}
	}
	if err := f.Validate(); err != nil {
		return err
	}
	if *by != "" {
		*summary = true
	} else {
		*by = "org"
	}
	if _, ok := summaryGroups[*by]; !ok {
		return usageErrorf("by: %q is not one of org, team, plan", *by)
	}
	days := 0
	if *idle != "" {
		d, err := ParseWindow(*idle)
		if err != nil {
			return usageErrorf("idle: %v", err)
		}
		days = int(math.Ceil(d.Hours() / 24))
		if *summary {
			return usageErrorf("--idle and --summary cannot be combined")
		}
		if *state != "" && *state != "active" {
			return usageErrorf("--idle lists active seats only")
		}
	}
	var atTime time.Time
	if *at != "" {
		if atTime, err = ParseTime(*at, time.Now(), false); err != nil {
			return usageErrorf("at: %v", err)
		}
		if *summary || *idle != "" || *state != "" || len(f.Plans) > 0 {
			return usageErrorf("--at lists the holders at an instant: it cannot be combined with --summary, --by, --idle, --state or --plan")
		}
	}
	store, err := connectListing(ctx, e, cfg, format)
	if err != nil {
		return err
	}
	defer store.Close()
	switch {
	case *at != "":
		return seatsAt(ctx, e, store, PeriodFilter{Scopes: f.Orgs, Users: f.Users, Teams: f.Teams}, atTime, *format)
	case *idle != "":
		return idleSeats(ctx, e, store, f, days, *format)
	case *summary:
		return seatSummary(ctx, e, store, f, *by, *format)
	}
	return listSeats(ctx, e, store, f, *format)
}

func listSeats(ctx context.Context, e *env, store *timeline.Store, f SeatFilter, format string) error {
	n, err := render(ctx, e, store, listing{view: "current_seats", q: CurrentSeatsQuery(f, bindingFor(store)), cols: seatColumns, scan: scanSeat}, format)
	if err == nil && n == 0 {
		fmt.Fprintln(e.stderr, "seatctl seats: no current seats match")
	}
	return err
}

func scanSeat(rows driver.Rows) ([]string, error) {
	var (
		org, user, state, lastTr, actor, slug, name, plan, editor, src string
		first, last, detailAt                                          time.Time
		billable, activity                                             *time.Time
	)
	if err := rows.Scan(&org, &user, &state, &first, &last, &lastTr, &actor, &slug, &name, &plan, &billable, &activity, &editor, &src, &detailAt); err != nil {
		return nil, err
	}
	if slug == "" {
		slug = name
	}
	return []string{org, user, state, isoSec(&first), isoSec(&last), lastTr, actor, slug, plan,
		day(billable), isoSec(activity), editor, detailFrom(src, &detailAt), src, isoSec(&detailAt)}, nil
}

// detailFrom is the DETAIL FROM cell: where the seat's detail came from, and when.
func detailFrom(src string, at *time.Time) string {
	if src == "" {
		return ""
	}
	return src + " " + isoSec(at)
}

func seatSummary(ctx context.Context, e *env, store *timeline.Store, f SeatFilter, by, format string) error {
	q, err := SummaryQuery(f, by, bindingFor(store))
	if err != nil {
		return err
	}
	cols := []column{
		{name: by, head: strings.ToUpper(by)},
		{name: "active", head: "ACTIVE", kind: kindNumber},
		{name: "pending_cancellation", head: "PENDING CANCELLATION", kind: kindNumber},
		{name: "seats", head: "SEATS", kind: kindNumber},
	}
	var ta, tp, ts uint64
	n, err := render(ctx, e, store, listing{view: "current_seats", q: q, cols: cols,
		scan: func(rows driver.Rows) ([]string, error) {
			var grp string
			var active, pending, seats uint64
			if err := rows.Scan(&grp, &active, &pending, &seats); err != nil {
				return nil, err
			}
			ta, tp, ts = ta+active, tp+pending, ts+seats
			return []string{grp, u64s(active), u64s(pending), u64s(seats)}, nil
		},
		total: func() []string {
			total := "(all)"
			if format == "table" {
				total = "TOTAL"
			}
			return []string{total, u64s(ta), u64s(tp), u64s(ts)}
		},
	}, format)
	if err == nil && n == 0 {
		fmt.Fprintln(e.stderr, "seatctl seats: no current seats match")
	}
	return err
}

func idleSeats(ctx context.Context, e *env, store *timeline.Store, f SeatFilter, days int, format string) error {
	never0 := 0
	n, err := render(ctx, e, store, listing{view: "idle_seats", q: IdleQuery(f, days, bindingFor(store)), cols: idleColumns,
		scan: func(rows driver.Rows) ([]string, error) {
			var (
				org, user, editor, slug, plan, actor, src string
				never                                     uint8
				idleDays                                  int64
				activity, created                         *time.Time
				first, detailAt                           time.Time
			)
			if err := rows.Scan(&org, &user, &never, &idleDays, &activity, &editor, &slug, &plan, &first, &created, &actor, &src, &detailAt); err != nil {
				return nil, err
			}
			last := isoSec(activity)
			if never == 1 {
				never0++
				if format == "table" {
					last = "never used"
				}
			}
			since := isoSec(created)
			if since == "" {
				since = isoSec(&first)
			}
			return []string{org, user, last, strconv.Itoa(int(never)), strconv.FormatInt(idleDays, 10), editor, slug, plan,
				since, actor, src + " " + isoSec(&detailAt), src, isoSec(&detailAt)}, nil
		}}, format)
	if err != nil {
		return err
	}
	// Seats without any detail cannot be judged: say how many.
	uq := UndescribedQuery(f, bindingFor(store))
	var unknown uint64
	if err := store.Conn().QueryRow(ctx, uq.SQL, uq.Args()...).Scan(&unknown); err != nil {
		return queryError(store, "current_seats", err)
	}
	fmt.Fprintf(e.stderr, "%d reclamation candidate(s): %d never used, %d without Copilot activity for %d+ days.\n", n, never0, n-never0, days)
	if unknown > 0 {
		fmt.Fprintf(e.stderr, "%d active seat(s) have no seat detail yet (never looked up, in no snapshot) and are not listed: run enrich.\n", unknown)
	}
	fmt.Fprintln(e.stderr, ActivityNote)
	return nil
}

// UndescribedQuery counts the active seats f selects that GitHub has not
// described yet (no lookup, no snapshot): idle_seats cannot judge them.
func UndescribedQuery(f SeatFilter, form Binding) Stmt {
	w := newWhere(form)
	w.add("state = 'active' AND detail_source = ''")
	f.where(w, false, teamSlugOrName)
	return w.stmt("SELECT count() FROM current_seats" + w.clause())
}

func u64s(v uint64) string { return strconv.FormatUint(v, 10) }

// ---- pending ----

var pendingColumns = []column{
	{name: "org", head: "ORG"},
	{name: "user", head: "USER"},
	{name: "unassigned_at", head: "UNASSIGNED AT", kind: kindNullable},
	{name: "unassigned_by", head: "BY"},
	{name: "billable_until", head: "BILLING STOPS", kind: kindNullable},
	{name: "days_left", head: "DAYS LEFT", kind: kindNumber},
	{name: "team", head: "TEAM"},
	{name: "plan", head: "PLAN"},
	{name: "detail", head: "DETAIL FROM", tableOnly: true},
	{name: "detail_source", dataOnly: true},
	{name: "detail_at", dataOnly: true, kind: kindNullable},
}

// PendingQuery lists seats pending cancellation (the pending_cancellations
// view), soonest billing stop first; unknown dates last. before, if not
// zero, keeps seats whose billing stops before it.
func PendingQuery(f SeatFilter, before time.Time, form Binding) Stmt {
	w := newWhere(form)
	f.where(w, false, teamSlugOnly)
	if !before.IsZero() {
		w.add("billable_until < toDate(?)", before.UTC().Format("2006-01-02"))
	}
	return w.stmt(`SELECT org, user, unassigned_at, unassigned_by, billable_until, plan_type, assigning_team_slug,
    detail_source, detail_at
FROM pending_cancellations` + w.clause() + "\nORDER BY billable_until, org, user")
}

const pendingAbout = `seatctl pending: seats pending cancellation (view pending_cancellations)

An unassigned seat stays billable until the end of the billing cycle; BILLING STOPS is
GitHub's pending_cancellation_date from the latest seat lookup or snapshot. A "-" means
the seat has not been looked up since it was unassigned: run enrich.

Examples:
  seatctl pending
  seatctl pending --org acme-platform --format csv
  seatctl pending --before 2025-04-01

` + outputHelp + "\n\n" + exitCodesHelp

func runPending(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("pending", flag.ContinueOnError)
	var cfg timeline.Config
	clickhouseFlags(fs, &cfg)
	var f SeatFilter
	fs.Var((*cli.List)(&f.Orgs), "org", "organization(s)")
	fs.Var((*cli.List)(&f.Users), "user", "seat holder login(s)")
	fs.Var((*cli.List)(&f.Teams), "team", "assigning team slug(s) or name(s)")
	before := fs.String("before", "", "only seats whose billing stops before this date")
	format := formatFlag(fs)
	pos, err := parse(e, fs, args, pendingAbout)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErrorf("unexpected argument %q", pos[0])
	}
	now := time.Now().UTC()
	var beforeT time.Time
	if *before != "" {
		if beforeT, err = ParseTime(*before, now, false); err != nil {
			return usageErrorf("before: %v", err)
		}
	}
	store, err := connectListing(ctx, e, cfg, format)
	if err != nil {
		return err
	}
	defer store.Close()
	today := now.Truncate(24 * time.Hour)
	n, err := render(ctx, e, store, listing{view: "pending_cancellations", q: PendingQuery(f, beforeT, bindingFor(store)), cols: pendingColumns,
		scan: func(rows driver.Rows) ([]string, error) {
			var (
				org, user, actor, plan, slug, src string
				at, detailAt                      time.Time
				billable                          *time.Time
			)
			if err := rows.Scan(&org, &user, &at, &actor, &billable, &plan, &slug, &src, &detailAt); err != nil {
				return nil, err
			}
			left := ""
			if b := day(billable); b != "" {
				left = strconv.Itoa(int(billable.UTC().Sub(today).Hours() / 24))
			}
			return []string{org, user, isoSec(&at), actor, day(billable), left, slug, plan, detailFrom(src, &detailAt), src, isoSec(&detailAt)}, nil
		}}, *format)
	if err == nil && n == 0 {
		fmt.Fprintln(e.stderr, "seatctl pending: no seats are pending cancellation")
	}
	return err
}
