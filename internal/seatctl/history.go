package seatctl

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/seatline/seatline/internal/cli"
	"github.com/seatline/seatline/internal/timeline"
)

// HistoryFilter selects timeline events. Empty lists match everything; a
// list matches any of its values.
type HistoryFilter struct {
	Orgs        []string
	Users       []string
	Teams       []string // assigning team slug or name (known once a row is enriched)
	Actors      []string
	Transitions []string // assigned, unassigned, cancelled, … (events.Transition names)
	Actions     []string // audit actions, e.g. copilot.cfb_seat_added
	Range       TimeRange
	Limit       int // the first Limit events only (0: all)
	Last        int // the last Last events only, still oldest first (0: all)
}

// Validate checks transition names against the schema's Enum (seatctl
// checks before sending: see enums.go) and the limits.
func (f *HistoryFilter) Validate() error {
	if err := checkNames("transition", f.Transitions, transitionNames()); err != nil {
		return err
	}
	if f.Limit < 0 {
		return usageErrorf("limit: must be 0 (every event) or more, got %d", f.Limit)
	}
	if f.Last < 0 {
		return usageErrorf("last: must be 0 (every event) or more, got %d", f.Last)
	}
	if f.Limit > 0 && f.Last > 0 {
		return usageErrorf("--limit and --last cannot be combined")
	}
	return nil
}

// historyColumns: what each history row shows.
var historyColumns = []column{
	{name: "time", head: "TIME (UTC)"},
	{name: "transition", head: "TRANSITION"},
	{name: "org", head: "ORG"},
	{name: "user", head: "USER"},
	{name: "actor", head: "ACTOR"},
	{name: "team", head: "TEAM"},
	{name: "plan", head: "PLAN"},
	{name: "billable_until", head: "BILLABLE UNTIL", kind: kindNullable},
	{name: "last_activity_at", head: "LAST ACTIVITY", kind: kindNullable},
	{name: "where", head: "SOURCE (POSITION)", tableOnly: true},
	{name: "source", dataOnly: true},
	{name: "source_position", dataOnly: true},
	{name: "action", dataOnly: true},
	{name: "enrichment", dataOnly: true},
	{name: "document_id", dataOnly: true},
}

// HistoryRow is one event as history shows it.
type HistoryRow struct {
	EventMs        uint64
	DocumentID     string
	Transition     string
	Action         string
	Org, User      string
	Actor          string
	TeamSlug       string
	TeamName       string
	Plan           string
	BillableUntil  *time.Time
	LastActivityAt *time.Time
	Enrichment     string
	Source         string
	SourcePosition string
}

func (r *HistoryRow) cells(dst []string) []string {
	team := r.TeamSlug
	if team == "" {
		team = r.TeamName
	}
	where := r.Source
	if r.SourcePosition != "" {
		where += " " + r.SourcePosition
	}
	return append(dst[:0], isoMs(r.EventMs), r.Transition, r.Org, r.User, r.Actor, team, r.Plan,
		day(r.BillableUntil), isoSec(r.LastActivityAt), where, r.Source, r.SourcePosition, r.Action, r.Enrichment, r.DocumentID)
}

// HistoryQuery is the query for f: the deduplicated timeline, oldest
// first, from the read model seat_history (seat_events without the raw
// event, ordered by org and user). FINAL and the filters sit in one SELECT
// so that 18.16 narrows the read by the primary key: through a view it
// would merge the whole table first.
func HistoryQuery(f HistoryFilter, form Binding) Stmt {
	w := newWhere(form)
	lo, hi := f.Range.msBounds()
	w.add("event_ms >= ? AND event_ms < ?", lo, hi)
	w.in("org", f.Orgs)
	w.in("user", f.Users)
	w.anyIn([]string{"assigning_team_slug", "assigning_team_name"}, f.Teams)
	w.in("actor", f.Actors)
	w.in("transition", f.Transitions)
	w.in("action", f.Actions)
	sql := `SELECT event_ms, document_id, transition, action, org, user, actor,
    assigning_team_slug, assigning_team_name, plan_type, billable_until, last_activity_at,
    enrichment, source, source_position
FROM seat_history FINAL` + w.clause()
	switch {
	case f.Last > 0:
		sql += w.bind("\nORDER BY event_ms DESC, document_id DESC\nLIMIT ?", f.Last)
	case f.Limit > 0:
		sql += w.bind("\nORDER BY event_ms, document_id\nLIMIT ?", f.Limit)
	default:
		sql += "\nORDER BY event_ms, document_id"
	}
	return w.stmt(sql)
}

// History streams the events f selects to fn, oldest first, and returns
// how many there were.
func History(ctx context.Context, store *timeline.Store, f HistoryFilter, fn func(*HistoryRow) error) (int, error) {
	if err := f.Validate(); err != nil {
		return 0, err
	}
	var r HistoryRow
	var last []HistoryRow // --last: read newest first, hand out oldest first
	n, err := eachRow(ctx, store, "", HistoryQuery(f, bindingFor(store)), func(rows driver.Rows) error {
		if err := rows.Scan(&r.EventMs, &r.DocumentID, &r.Transition, &r.Action, &r.Org, &r.User, &r.Actor,
			&r.TeamSlug, &r.TeamName, &r.Plan, &r.BillableUntil, &r.LastActivityAt,
			&r.Enrichment, &r.Source, &r.SourcePosition); err != nil {
			return fmt.Errorf("reading history: %w", err)
		}
		if f.Last > 0 {
			c := r
			c.BillableUntil, c.LastActivityAt = copyTime(r.BillableUntil), copyTime(r.LastActivityAt)
			last = append(last, c)
			return nil
		}
		return fn(&r)
	})
	if err != nil {
		return n, err
	}
	for i := len(last) - 1; i >= 0; i-- {
		if err := fn(&last[i]); err != nil {
			return n, err
		}
	}
	return n, nil
}

func copyTime(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	c := *t
	return &c
}

const historyAbout = `seatctl history: seat changes from the deduplicated timeline (read model seat_history), oldest first

Each row: time (UTC, ISO 8601), transition, org, user, actor, assigning team, plan,
billable-until, last activity, and where the event came from (source and position).
Team, plan, billable-until and last activity come from the seat lookup (enrichment)
and are empty until cmd/enrich has looked the seat up. csv and jsonl add the audit
action, the enrichment state and GitHub's _document_id.

Examples:
  seatctl history --org acme-platform --user mona
  seatctl history --org acme-platform --user mona --last 10
  seatctl history --user mona,hubot --since 2025-01-01 --until 2025-03-31 --format csv > q1.csv
  seatctl history --actor it-ops-admin --transition assigned --since 30d
  seatctl history --team acme-platform/ml-team --format jsonl | jq .
  seatctl history --action copilot.cfb_seat_cancelled_by_staff

List flags take comma-separated values (a repeated flag replaces the list).
` + timeHelp + "\n\n" + outputHelp + "\n\n" + exitCodesHelp

func runHistory(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("history", flag.ContinueOnError)
	var cfg timeline.Config
	clickhouseFlags(fs, &cfg)
	var orgs, users, teams, actors, transitions, actions cli.List
	fs.Var(&orgs, "org", "organization(s)")
	fs.Var(&users, "user", "seat holder login(s)")
	fs.Var(&teams, "team", "assigning team slug(s) or name(s)")
	fs.Var(&actors, "actor", "who made the change (login)")
	fs.Var(&transitions, "transition", strings.Join(transitionNames(), ", "))
	fs.Var(&actions, "action", "audit action(s), e.g. copilot.cfb_seat_added")
	since := fs.String("since", "", "from this time (inclusive)")
	until := fs.String("until", "", "to this time (exclusive; default now)")
	format := formatFlag(fs)
	limit := fs.Int("limit", 0, "only the first this many events (0: all)")
	last := fs.Int("last", 0, "only the last this many events, still oldest first (0: all)")
	pos, err := parse(e, fs, args, historyAbout)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErrorf("unexpected argument %q (filters are flags: --user %s)", pos[0], pos[0])
	}
	f := HistoryFilter{Orgs: orgs, Users: users, Teams: teams, Actors: actors, Transitions: transitions, Actions: actions, Limit: *limit, Last: *last}
	if f.Range, err = ParseRange(*since, *until, time.Now()); err != nil {
		return &usageError{err}
	}
	if err := f.Validate(); err != nil {
		return err
	}
	store, err := connectListing(ctx, e, cfg, format)
	if err != nil {
		return err
	}
	defer store.Close()
	out, err := newRowWriter(e.stdout, *format, historyColumns)
	if err != nil {
		return err
	}
	var cells []string
	n, err := History(ctx, store, f, func(r *HistoryRow) error {
		cells = r.cells(cells)
		return out.Row(cells)
	})
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if n == 0 {
		fmt.Fprintf(e.stderr, "seatctl history: no seat events match %s\n", describeFilter(f))
	}
	return nil
}

// describeFilter says what was asked for, for "no rows" messages.
func describeFilter(f HistoryFilter) string {
	var parts []string
	add := func(name string, vals []string) {
		if len(vals) > 0 {
			parts = append(parts, name+" "+strings.Join(vals, ","))
		}
	}
	add("org", f.Orgs)
	add("user", f.Users)
	add("team", f.Teams)
	add("actor", f.Actors)
	add("transition", f.Transitions)
	add("action", f.Actions)
	since := "the first event"
	if !f.Range.Since.IsZero() {
		since = iso(f.Range.Since)
	}
	parts = append(parts, fmt.Sprintf("from %s to %s", since, iso(f.Range.Until)))
	return Visible(strings.Join(parts, ", "))
}
