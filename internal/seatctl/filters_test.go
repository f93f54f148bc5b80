package seatctl_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/seatline/seatline/internal/timeline"
	"github.com/seatline/seatline/pkg/events"
)

// ---- the filter fixture ----
//
// A business, acme-corp, with three orgs and stable user ids, so that the
// seat periods derive as a reader would expect:
//
//	acme-platform (plan business)
//	  mona     direct (admin1)                          active, never used
//	  hubot    direct (admin1), deprovisioned 2025-06-12 active, orphaned while held
//	  ada      team acme-platform/ml (ML) via admin3    active, idle 40 days
//	  bob      team ml, left it 2025-02-15              pending cancellation, billing stops 2025-03-01
//	acme-mobile (plan enterprise)
//	  mona     direct (admin2), unassigned 2025-01-26   cancelled 2025-02-01 (not current)
//	  octocat  seat (seat-sync[bot]), removed from the org 2025-06-10: orphaned until 2025-07-01
//	  grace    direct (admin2), team design (Design)    active, idle 45 days
//	acme-data (no plan event)
//	  lisa     direct (admin3), unassigned 2025-03-10   pending cancellation, team data-eng (Data Eng), billing stops 2025-04-01
//
// Seat details come from a seat-list snapshot taken an hour ago (and, for
// history's team column, from enrichment rows).

var ft0 = time.Date(2025, 1, 6, 0, 0, 0, 0, time.UTC)

type fxUser struct {
	id   int64
	team string // enriched assigning team slug (name: fxTeamName)
}

var fxUsers = map[string]fxUser{
	"mona": {1, ""}, "hubot": {2, ""}, "lisa": {3, "data-eng"}, "octocat": {4, ""},
	"ada": {5, "ml"}, "grace": {6, "design"}, "bob": {7, "ml"},
}

var fxTeamName = map[string]string{"ml": "ML", "design": "Design", "data-eng": "Data Eng"}

// fxEvent is one event of the fixture.
type fxEvent struct {
	id       string
	at       time.Time
	action   string
	tr       events.Transition
	member   events.Membership
	org      string
	user     string
	actor    string
	team     string     // the event's team ("org/slug")
	plan     string     // copilot.plan_changed's new plan
	enrich   string     // "active" or "pending": an enrichment row with the user's team follows
	billable *time.Time // the enrichment's billable_until
}

func fxDate(y int, m time.Month, d int) *time.Time {
	t := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	return &t
}

var fxEvents = []fxEvent{
	{id: "p01", at: ft0, action: "copilot.plan_changed", tr: events.TransitionPlanChanged, org: "acme-platform", actor: "admin1", plan: "business"},
	{id: "p02", at: ft0.Add(time.Minute), action: "copilot.plan_changed", tr: events.TransitionPlanChanged, org: "acme-mobile", actor: "admin2", plan: "enterprise"},
	{id: "f01", at: ft0.Add(time.Hour), action: "copilot.cfb_seat_assignment_created", tr: events.TransitionAssigned, org: "acme-platform", user: "mona", actor: "admin1"},
	{id: "f02", at: ft0.Add(2 * time.Hour), action: "copilot.cfb_seat_assignment_created", tr: events.TransitionAssigned, org: "acme-platform", user: "hubot", actor: "admin1"},
	{id: "f03", at: ft0.Add(3 * time.Hour), action: "copilot.cfb_seat_assignment_created", tr: events.TransitionAssigned, org: "acme-platform", actor: "admin2", team: "acme-platform/ml"},
	{id: "m01", at: ft0.Add(4 * time.Hour), action: "team.add_member", member: events.TeamMemberAdded, org: "acme-platform", user: "ada", actor: "admin3", team: "acme-platform/ml"},
	{id: "f04", at: ft0.Add(4*time.Hour + time.Minute), action: "copilot.cfb_seat_added", tr: events.TransitionAssigned, org: "acme-platform", user: "ada", actor: "admin3", enrich: "active"},
	{id: "m02", at: ft0.Add(5 * time.Hour), action: "team.add_member", member: events.TeamMemberAdded, org: "acme-platform", user: "bob", actor: "admin3", team: "acme-platform/ml"},
	{id: "f05", at: ft0.Add(5*time.Hour + time.Minute), action: "copilot.cfb_seat_added", tr: events.TransitionAssigned, org: "acme-platform", user: "bob", actor: "admin3", enrich: "active"},
	{id: "f06", at: ft0.AddDate(0, 0, 1), action: "copilot.cfb_seat_assignment_created", tr: events.TransitionAssigned, org: "acme-mobile", user: "mona", actor: "admin2"},
	{id: "f07", at: ft0.AddDate(0, 0, 2), action: "copilot.cfb_seat_added", tr: events.TransitionAssigned, org: "acme-mobile", user: "octocat", actor: "seat-sync[bot]"},
	{id: "f08", at: ft0.AddDate(0, 0, 3), action: "copilot.cfb_seat_assignment_created", tr: events.TransitionAssigned, org: "acme-data", user: "lisa", actor: "admin3"},
	{id: "f09", at: ft0.AddDate(0, 0, 4), action: "copilot.cfb_seat_assignment_created", tr: events.TransitionAssigned, org: "acme-mobile", user: "grace", actor: "admin2", enrich: "active"},
	{id: "f10", at: ft0.AddDate(0, 0, 10), action: "copilot.cfb_seat_management_changed", tr: events.TransitionPolicyChanged, org: "acme-platform", actor: "admin1"},
	{id: "f11", at: ft0.AddDate(0, 0, 20), action: "copilot.cfb_seat_assignment_unassigned", tr: events.TransitionUnassigned, org: "acme-mobile", user: "mona", actor: "admin2"},
	{id: "f12", at: time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC), action: "copilot.cfb_seat_cancelled", tr: events.TransitionCancelled, org: "acme-mobile", user: "mona", actor: "admin2"},
	{id: "m03", at: time.Date(2025, 2, 15, 0, 0, 0, 0, time.UTC), action: "team.remove_member", member: events.TeamMemberRemoved, org: "acme-platform", user: "bob", actor: "admin3", team: "acme-platform/ml"},
	{id: "f13", at: time.Date(2025, 2, 15, 0, 1, 0, 0, time.UTC), action: "copilot.cfb_seat_assignment_unassigned", tr: events.TransitionUnassigned, org: "acme-platform", user: "bob", actor: "admin3", enrich: "pending", billable: fxDate(2025, 3, 1)},
	{id: "f14", at: time.Date(2025, 3, 10, 0, 0, 0, 0, time.UTC), action: "copilot.cfb_seat_assignment_unassigned", tr: events.TransitionUnassigned, org: "acme-data", user: "lisa", actor: "admin3", enrich: "pending", billable: fxDate(2025, 4, 1)},
	{id: "m04", at: time.Date(2025, 6, 10, 0, 0, 0, 0, time.UTC), action: "org.remove_member", member: events.OrgMemberRemoved, org: "acme-mobile", user: "octocat", actor: "admin2"},
	{id: "m05", at: time.Date(2025, 6, 12, 0, 0, 0, 0, time.UTC), action: "external_identity.deprovision", member: events.Deprovisioned, user: "hubot", actor: "scim"},
}

// fillFilterFixture writes fxEvents and the snapshot, and derives the seat
// periods with seatctl derive.
func fillFilterFixture(t *testing.T, b *bed, now time.Time) {
	t.Helper()
	ctx := context.Background()
	var batch timeline.Batch
	for _, f := range fxEvents {
		u := fxUsers[f.user]
		ev := events.Event{DocumentID: f.id, Timestamp: f.at, Action: f.action, Transition: f.tr, Membership: f.member,
			Org: f.org, OrgID: 1000, User: f.user, UserID: u.id, Actor: f.actor, ActorID: 3000,
			ActorIsBot: strings.HasSuffix(f.actor, "[bot]"), Business: "acme-corp", BusinessID: 4242,
			Team: f.team, NewPlan: f.plan, Raw: []byte(`{"_document_id":"` + f.id + `"}`)}
		r := timeline.NewRow(ev, "kafka", "github-audit/0/"+f.id, f.at.Add(time.Second))
		if f.member != events.MembershipNone {
			batch.Members = append(batch.Members, timeline.Member{Event: ev, Source: "kafka", SourcePosition: "github-audit/0/" + f.id, IngestedAt: f.at.Add(time.Second)})
			continue
		}
		batch.Rows = append(batch.Rows, r)
		if f.enrich != "" {
			at := f.at.Add(time.Minute)
			er := r
			er.Enrichment, er.EnrichedAt, er.Version = timeline.EnrichmentEnriched, &at, uint64(at.UnixMilli())
			er.Seat = timeline.SeatDetail{Status: timeline.SeatActive, PlanType: "business", TeamSlug: u.team, TeamName: fxTeamName[u.team],
				TeamKind: timeline.TeamOrg, BillableUntil: f.billable}
			if f.enrich == "pending" {
				er.Seat.Status = timeline.SeatPendingCancellation
			}
			batch.Rows = append(batch.Rows, er)
		}
	}
	if err := b.store.WriteBatch(ctx, &batch); err != nil {
		t.Fatal(err)
	}
	at := now.Add(-time.Hour).Truncate(time.Second)
	created := now.AddDate(0, -6, 0)
	ago := func(days int) *time.Time { d := now.AddDate(0, 0, -days); return &d }
	sb, err := b.store.Conn().PrepareBatch(ctx, `INSERT INTO seat_snapshots (snapshot_at, scope, scope_name, org, user, user_id,
		assignee_type, plan_type, assigning_team_slug, assigning_team_name, assigning_team_kind,
		billable_until, seat_created_at, last_activity_at, last_activity_editor, last_authenticated_at)`)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []struct {
		org, user, plan    string
		billable, activity *time.Time
	}{
		{"acme-platform", "mona", "business", nil, nil},
		{"acme-platform", "hubot", "business", nil, ago(50)},
		{"acme-platform", "ada", "business", nil, ago(40)},
		{"acme-platform", "bob", "business", fxDate(2025, 3, 1), ago(100)},
		{"acme-mobile", "octocat", "enterprise", nil, ago(2)},
		{"acme-mobile", "grace", "enterprise", nil, ago(45)},
		{"acme-data", "lisa", "business", fxDate(2025, 4, 1), nil},
	} {
		editor := ""
		if s.activity != nil {
			editor = "vscode/1.90.0"
		}
		u := fxUsers[s.user]
		if err := sb.Append(at, int8(1), s.org, s.org, s.user, uint64(u.id), "User", s.plan, u.team, fxTeamName[u.team], int8(0),
			s.billable, &created, s.activity, editor, s.activity); err != nil {
			t.Fatal(err)
		}
	}
	if err := sb.Send(); err != nil {
		t.Fatal(err)
	}
	if code, out, errs := b.run(t, "derive"); code != 0 || !strings.Contains(out, "derived 8 seat period(s)") {
		t.Fatalf("derive: exit %d\n%s%s", code, out, errs)
	}
}

// ---- reading jsonl output ----

// row is one output row: column → value ("" for null, a number's literal).
type row map[string]string

func parseJSONL(t *testing.T, data []byte) []row {
	t.Helper()
	var rows []row
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		dec := json.NewDecoder(strings.NewReader(sc.Text()))
		dec.UseNumber()
		var obj map[string]any
		if err := dec.Decode(&obj); err != nil {
			t.Fatalf("jsonl line %q: %v", sc.Text(), err)
		}
		r := row{}
		for k, v := range obj {
			switch v := v.(type) {
			case nil:
				r[k] = ""
			case string:
				r[k] = v
			case json.Number:
				r[k] = v.String()
			default:
				t.Fatalf("jsonl %s: unexpected %T", k, v)
			}
		}
		rows = append(rows, r)
	}
	return rows
}

// project renders rows by the columns keys (nil: every column but the
// chain, which differs between exports of different scope).
func project(rows []row, keys []string) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		ks := keys
		if ks == nil {
			for k := range r {
				if k != "chain_sha256" {
					ks = append(ks, k)
				}
			}
			sort.Strings(ks)
		}
		parts := make([]string, len(ks))
		for j, k := range ks {
			v, ok := r[k]
			if !ok {
				v = "<no column>"
			}
			parts[j] = k + "=" + v
		}
		out[i] = strings.Join(parts, " ")
	}
	return out
}

// ---- the test ----

// filterCase runs a command with a filter and checks its rows against the
// rows the command gives without it: exactly those the filter selects, in
// the same order.
type filterCase struct {
	name string
	args []string          // the command with the filter(s)
	base []string          // the rows to choose from: the same command without them (or another listing)
	keep func(r row) bool  // the base rows the filter must give
	want func([]row) []row // or: the rows expected, computed from the base rows
	keys []string          // the columns compared (nil: every one but the chain)
	none bool              // the filters exclude every row (combinations that do)
	any  bool              // compared in any order (a base from another listing, ordered otherwise)
}

func TestEveryFilterOfEveryCommand(t *testing.T) {
	b := newBed(t)
	now := time.Now().UTC()
	fillFilterFixture(t, b, now)

	is := func(col string, vals ...string) func(row) bool {
		return func(r row) bool {
			for _, v := range vals {
				if r[col] == v {
					return true
				}
			}
			return false
		}
	}
	and := func(ps ...func(row) bool) func(row) bool {
		return func(r row) bool {
			for _, p := range ps {
				if !p(r) {
					return false
				}
			}
			return true
		}
	}
	timeIn := func(col, since, until string) func(row) bool {
		lo, _ := time.Parse(time.RFC3339, since)
		hi, _ := time.Parse(time.RFC3339, until)
		return func(r row) bool {
			ts, err := time.Parse(time.RFC3339Nano, r[col])
			if err != nil {
				t.Fatalf("%s %q: %v", col, r[col], err)
			}
			return (since == "" || !ts.Before(lo)) && (until == "" || ts.Before(hi))
		}
	}
	before := func(col, date string) func(row) bool {
		return func(r row) bool { return r[col] != "" && r[col] < date }
	}
	// Held at T (seats --at): started_at ≤ T < access end (ended, else
	// billable until, else never). Orphaned at T (orphans --at):
	// orphaned_since ≤ T < billable end (billable until, else ended).
	heldAt := func(at string) func(row) bool {
		return func(r row) bool {
			end := r["ended_at"]
			if end == "" {
				end = r["billable_until"]
			}
			return r["held_from"] <= at && (end == "" || at < end)
		}
	}
	orphanedAt := func(at string) func(row) bool {
		return func(r row) bool {
			end := r["billable_until"]
			if end == "" {
				end = r["ended_at"]
			}
			return r["orphaned_since"] != "" && r["orphaned_since"] <= at && (end == "" || at < end)
		}
	}
	first := func(n int) func([]row) []row {
		return func(rs []row) []row { return rs[:min(n, len(rs))] }
	}
	last := func(n int) func([]row) []row {
		return func(rs []row) []row { return rs[max(0, len(rs)-n):] }
	}
	// summary: seats --summary's rows from the seats listing.
	summary := func(by string, keep func(row) bool) func([]row) []row {
		return func(rs []row) []row {
			type counts struct{ active, pending, seats int }
			groups := map[string]*counts{}
			var total counts
			for _, r := range rs {
				if keep != nil && !keep(r) {
					continue
				}
				g := r[by]
				switch {
				case by == "team" && g == "":
					g = "(no team or not looked up)"
				case by == "plan" && g == "":
					g = "(not looked up)"
				}
				c := groups[g]
				if c == nil {
					c = &counts{}
					groups[g] = c
				}
				for _, c := range []*counts{c, &total} {
					c.seats++
					if r["state"] == "active" {
						c.active++
					} else {
						c.pending++
					}
				}
			}
			var names []string
			for g := range groups {
				names = append(names, g)
			}
			sort.Strings(names)
			var out []row
			add := func(g string, c counts) {
				out = append(out, row{by: g, "active": strconv.Itoa(c.active), "pending_cancellation": strconv.Itoa(c.pending), "seats": strconv.Itoa(c.seats)})
			}
			for _, g := range names {
				add(g, *groups[g])
			}
			if len(names) > 0 {
				add("(all)", total)
			}
			return out
		}
	}
	seatKey := []string{"scope_kind", "scope", "user", "holder"}
	at := "2025-02-20T12:00:00Z"
	history := []string{"history"}
	seats := []string{"seats"}
	idle := []string{"seats", "--idle", "1d"}
	pending := []string{"pending"}
	periods := []string{"periods", "--all"}
	heldThen := []string{"seats", "--at", at}
	orphansThen := []string{"orphans", "--at", "2025-06-20T00:00:00Z"}
	seatDays := []string{"seat-days"}
	seatDaysTeam := []string{"seat-days", "--by", "team"}
	export := []string{"export"}

	cases := []filterCase{
		// history: seat_history
		{name: "history --org", args: []string{"history", "--org", "acme-mobile"}, base: history, keep: is("org", "acme-mobile")},
		{name: "history --org two", args: []string{"history", "--org", "acme-mobile,acme-data"}, base: history, keep: is("org", "acme-mobile", "acme-data")},
		{name: "history --user", args: []string{"history", "--user", "mona"}, base: history, keep: is("user", "mona")},
		{name: "history --team slug", args: []string{"history", "--team", "ml"}, base: history, keep: is("team", "ml")},
		{name: "history --team name", args: []string{"history", "--team", "Data Eng"}, base: history, keep: is("team", "data-eng")},
		{name: "history --actor", args: []string{"history", "--actor", "admin3"}, base: history, keep: is("actor", "admin3")},
		{name: "history --actor bot", args: []string{"history", "--actor", "seat-sync[bot]"}, base: history, keep: is("actor", "seat-sync[bot]")},
		{name: "history --transition", args: []string{"history", "--transition", "unassigned,cancelled"}, base: history, keep: is("transition", "unassigned", "cancelled")},
		{name: "history --transition plan_changed", args: []string{"history", "--transition", "plan_changed"}, base: history, keep: is("transition", "plan_changed")},
		{name: "history --action", args: []string{"history", "--action", "copilot.cfb_seat_added"}, base: history, keep: is("action", "copilot.cfb_seat_added")},
		{name: "history --since", args: []string{"history", "--since", "2025-02-01"}, base: history, keep: timeIn("time", "2025-02-01T00:00:00Z", "")},
		{name: "history --until (a date: to its end)", args: []string{"history", "--until", "2025-01-07"}, base: history, keep: timeIn("time", "", "2025-01-08T00:00:00Z")},
		{name: "history --since --until", args: []string{"history", "--since", "2025-01-06T03:00:00Z", "--until", "2025-02-15T00:00:30Z"}, base: history, keep: timeIn("time", "2025-01-06T03:00:00Z", "2025-02-15T00:00:30Z")},
		{name: "history --limit", args: []string{"history", "--limit", "3"}, base: history, want: first(3)},
		{name: "history --last", args: []string{"history", "--last", "4"}, base: history, want: last(4)},
		{name: "history --org --user", args: []string{"history", "--org", "acme-platform", "--user", "mona"}, base: history, keep: and(is("org", "acme-platform"), is("user", "mona"))},
		{name: "history --user --transition --since", args: []string{"history", "--user", "mona,lisa", "--transition", "unassigned", "--since", "2025-02-01"},
			base: history, keep: and(is("user", "mona", "lisa"), is("transition", "unassigned"), timeIn("time", "2025-02-01T00:00:00Z", ""))},
		{name: "history --team --actor", args: []string{"history", "--team", "ml", "--actor", "admin3"}, base: history, keep: and(is("team", "ml"), is("actor", "admin3"))},
		{name: "history --org --last", args: []string{"history", "--org", "acme-platform", "--last", "2"}, base: history,
			want: func(rs []row) []row { return last(2)(filterRows(rs, is("org", "acme-platform"))) }},
		{name: "history --org --team (none)", args: []string{"history", "--org", "acme-mobile", "--team", "ml"}, base: history, none: true},

		// seats: current_seats
		{name: "seats --org", args: []string{"seats", "--org", "acme-platform"}, base: seats, keep: is("org", "acme-platform")},
		{name: "seats --user", args: []string{"seats", "--user", "mona,lisa"}, base: seats, keep: is("user", "mona", "lisa")},
		{name: "seats --team slug", args: []string{"seats", "--team", "ml"}, base: seats, keep: is("team", "ml")},
		{name: "seats --team name", args: []string{"seats", "--team", "Design"}, base: seats, keep: is("team", "design")},
		{name: "seats --plan", args: []string{"seats", "--plan", "enterprise"}, base: seats, keep: is("plan", "enterprise")},
		{name: "seats --state pending", args: []string{"seats", "--state", "pending_cancellation"}, base: seats, keep: is("state", "pending_cancellation")},
		{name: "seats --state active", args: []string{"seats", "--state", "active"}, base: seats, keep: is("state", "active")},
		{name: "seats --org --state", args: []string{"seats", "--org", "acme-platform", "--state", "active"}, base: seats, keep: and(is("org", "acme-platform"), is("state", "active"))},
		{name: "seats --team --plan --state", args: []string{"seats", "--team", "ml,data-eng", "--plan", "business", "--state", "pending_cancellation"},
			base: seats, keep: and(is("team", "ml", "data-eng"), is("plan", "business"), is("state", "pending_cancellation"))},
		{name: "seats --plan --org (none)", args: []string{"seats", "--plan", "enterprise", "--org", "acme-data"}, base: seats, none: true},

		// seats --summary / --by: seat_state, or current_seats with a team or plan filter
		{name: "seats --summary", args: []string{"seats", "--summary"}, base: seats, want: summary("org", nil), keys: []string{"org", "active", "pending_cancellation", "seats"}},
		{name: "seats --summary --org", args: []string{"seats", "--summary", "--org", "acme-platform,acme-data"}, base: seats,
			want: summary("org", is("org", "acme-platform", "acme-data")), keys: []string{"org", "active", "pending_cancellation", "seats"}},
		{name: "seats --summary --user", args: []string{"seats", "--summary", "--user", "mona"}, base: seats,
			want: summary("org", is("user", "mona")), keys: []string{"org", "active", "pending_cancellation", "seats"}},
		{name: "seats --summary --state", args: []string{"seats", "--summary", "--state", "pending_cancellation"}, base: seats,
			want: summary("org", is("state", "pending_cancellation")), keys: []string{"org", "active", "pending_cancellation", "seats"}},
		{name: "seats --summary --team name", args: []string{"seats", "--summary", "--team", "ML"}, base: seats,
			want: summary("org", is("team", "ml")), keys: []string{"org", "active", "pending_cancellation", "seats"}},
		{name: "seats --summary --plan", args: []string{"seats", "--summary", "--plan", "business"}, base: seats,
			want: summary("org", is("plan", "business")), keys: []string{"org", "active", "pending_cancellation", "seats"}},
		{name: "seats --by team", args: []string{"seats", "--by", "team"}, base: seats, want: summary("team", nil), keys: []string{"team", "active", "pending_cancellation", "seats"}},
		{name: "seats --by team --org", args: []string{"seats", "--by", "team", "--org", "acme-platform"}, base: seats,
			want: summary("team", is("org", "acme-platform")), keys: []string{"team", "active", "pending_cancellation", "seats"}},
		{name: "seats --by plan --state", args: []string{"seats", "--by", "plan", "--state", "active"}, base: seats,
			want: summary("plan", is("state", "active")), keys: []string{"plan", "active", "pending_cancellation", "seats"}},

		// seats --idle: idle_seats
		{name: "seats --idle (days)", args: []string{"seats", "--idle", "42d"}, base: idle,
			keep: func(r row) bool { d, _ := strconv.Atoi(r["idle_days"]); return r["never_used"] == "1" || d >= 42 }},
		{name: "seats --idle --org", args: []string{"seats", "--idle", "1d", "--org", "acme-mobile"}, base: idle, keep: is("org", "acme-mobile")},
		{name: "seats --idle --user", args: []string{"seats", "--idle", "1d", "--user", "hubot"}, base: idle, keep: is("user", "hubot")},
		{name: "seats --idle --team slug", args: []string{"seats", "--idle", "1d", "--team", "ml"}, base: idle, keep: is("team", "ml")},
		{name: "seats --idle --team name", args: []string{"seats", "--idle", "1d", "--team", "Design"}, base: idle, keep: is("team", "design")},
		{name: "seats --idle --plan", args: []string{"seats", "--idle", "1d", "--plan", "enterprise"}, base: idle, keep: is("plan", "enterprise")},
		{name: "seats --idle --org --team", args: []string{"seats", "--idle", "1d", "--org", "acme-platform", "--team", "ML,Design"}, base: idle,
			keep: and(is("org", "acme-platform"), is("team", "ml", "design"))},

		// seats --at: periods
		{name: "seats --at", args: heldThen, base: periods, keep: heldAt(at), keys: seatKey, any: true},
		{name: "seats --at (another instant)", args: []string{"seats", "--at", "2025-06-11T00:00:00Z"}, base: periods, keep: heldAt("2025-06-11T00:00:00Z"), keys: seatKey, any: true},
		{name: "seats --at --org", args: []string{"seats", "--at", at, "--org", "acme-mobile"}, base: heldThen, keep: is("scope", "acme-mobile"), keys: seatKey},
		{name: "seats --at --user", args: []string{"seats", "--at", at, "--user", "mona"}, base: heldThen, keep: is("user", "mona"), keys: seatKey},
		{name: "seats --at --user (holder id)", args: []string{"seats", "--at", at, "--user", "7"}, base: heldThen, keep: is("holder", "7"), keys: seatKey},
		{name: "seats --at --team slug", args: []string{"seats", "--at", at, "--team", "ml"}, base: heldThen, keep: is("team", "acme-platform/ml"), keys: seatKey},
		{name: "seats --at --team org/slug", args: []string{"seats", "--at", at, "--team", "acme-platform/ml"}, base: heldThen, keep: is("team", "acme-platform/ml"), keys: seatKey},
		{name: "seats --at --org --user", args: []string{"seats", "--at", at, "--org", "acme-platform", "--user", "bob,grace"}, base: heldThen,
			keep: and(is("scope", "acme-platform"), is("user", "bob", "grace")), keys: seatKey},

		// pending: pending_cancellations (--team once named a column it lacks: exit 3)
		{name: "pending --org", args: []string{"pending", "--org", "acme-data"}, base: pending, keep: is("org", "acme-data")},
		{name: "pending --user", args: []string{"pending", "--user", "bob"}, base: pending, keep: is("user", "bob")},
		{name: "pending --team slug", args: []string{"pending", "--team", "ml"}, base: pending, keep: is("team", "ml")},
		{name: "pending --team name", args: []string{"pending", "--team", "Data Eng"}, base: pending, keep: is("team", "data-eng")},
		{name: "pending --before", args: []string{"pending", "--before", "2025-03-15"}, base: pending, keep: before("billable_until", "2025-03-15")},
		{name: "pending --org --team (none)", args: []string{"pending", "--org", "acme-platform", "--team", "data-eng"}, base: pending, none: true},
		{name: "pending --team --before", args: []string{"pending", "--team", "ml,Data Eng", "--before", "2025-03-15"}, base: pending,
			keep: and(is("team", "ml", "data-eng"), before("billable_until", "2025-03-15"))},

		// periods: periods
		{name: "periods --user", args: []string{"periods", "--user", "mona"}, base: periods, keep: is("user", "mona")},
		{name: "periods --user (holder id)", args: []string{"periods", "--user", "5"}, base: periods, keep: is("holder", "5")},
		{name: "periods --org", args: []string{"periods", "--org", "acme-mobile"}, base: periods, keep: is("scope", "acme-mobile")},
		{name: "periods --org --user", args: []string{"periods", "--org", "acme-mobile", "--user", "mona"}, base: periods, keep: and(is("scope", "acme-mobile"), is("user", "mona"))},

		// seat-days: seat_day_rows
		{name: "seat-days --org", args: []string{"seat-days", "--org", "acme-data"}, base: seatDays, keep: is("scope", "acme-data")},
		{name: "seat-days --month", args: []string{"seat-days", "--month", "2025-02"}, base: seatDays, keep: is("month", "2025-02")},
		{name: "seat-days --since --until", args: []string{"seat-days", "--since", "2025-02", "--until", "2025-03"}, base: seatDays, keep: is("month", "2025-02", "2025-03")},
		{name: "seat-days --since", args: []string{"seat-days", "--since", "2025-03"}, base: seatDays, keep: func(r row) bool { return r["month"] >= "2025-03" }},
		{name: "seat-days --org --month", args: []string{"seat-days", "--org", "acme-platform", "--month", "2025-02"}, base: seatDays,
			keep: and(is("scope", "acme-platform"), is("month", "2025-02"))},
		{name: "seat-days --by team --org", args: []string{"seat-days", "--by", "team", "--org", "acme-platform"}, base: seatDaysTeam, keep: is("scope", "acme-platform")},

		// orphans: orphan_periods
		{name: "orphans --at", args: orphansThen, base: periods, keep: orphanedAt("2025-06-20T00:00:00Z"), keys: seatKey, any: true},
		{name: "orphans (now)", args: []string{"orphans"}, base: periods, keep: orphanedAt(now.Format(time.RFC3339)), keys: seatKey, any: true},
		{name: "orphans --at --org", args: []string{"orphans", "--at", "2025-06-20T00:00:00Z", "--org", "acme-mobile"}, base: orphansThen, keep: is("scope", "acme-mobile"), keys: seatKey},
		{name: "orphans --at --user", args: []string{"orphans", "--at", "2025-06-20T00:00:00Z", "--user", "hubot"}, base: orphansThen, keep: is("user", "hubot"), keys: seatKey},
		{name: "orphans --at --user (holder id)", args: []string{"orphans", "--at", "2025-06-20T00:00:00Z", "--user", "4"}, base: orphansThen, keep: is("holder", "4"), keys: seatKey},
		{name: "orphans --org --user (none)", args: []string{"orphans", "--at", "2025-06-20T00:00:00Z", "--org", "acme-mobile", "--user", "hubot"}, base: orphansThen, none: true},

		// export: seat_timeline
		{name: "export --org", args: []string{"export", "--org", "acme-platform"}, base: export, keep: is("org", "acme-platform")},
		{name: "export --user", args: []string{"export", "--user", "mona,bob"}, base: export, keep: is("user", "mona", "bob")},
		{name: "export --since --until", args: []string{"export", "--since", "2025-01-07", "--until", "2025-02-15"}, base: export,
			keep: timeIn("event_time", "2025-01-07T00:00:00Z", "2025-02-16T00:00:00Z")},
		{name: "export --org --user --since", args: []string{"export", "--org", "acme-mobile", "--user", "mona", "--since", "2025-01-20"}, base: export,
			keep: and(is("org", "acme-mobile"), is("user", "mona"), timeIn("event_time", "2025-01-20T00:00:00Z", ""))},
	}

	// run gives a command's rows (jsonl). An export's rows are those of its
	// bundle, which must verify.
	cache := map[string][]row{}
	run := func(t *testing.T, args []string) []row {
		t.Helper()
		key := strings.Join(args, "\x00")
		if rs, ok := cache[key]; ok {
			return rs
		}
		var rs []row
		if args[0] == "export" {
			dir := filepath.Join(t.TempDir(), "bundle")
			code, _, errs := b.run(t, append(append([]string{}, args...), "--out", dir, "--formats", "jsonl,csv")...)
			if code != 0 {
				t.Fatalf("%q: exit %d: %s", args, code, errs)
			}
			if code, out := verify(t, dir); code != 0 {
				t.Fatalf("%q: the bundle does not verify:\n%s", args, out)
			}
			data, err := os.ReadFile(filepath.Join(dir, "events.jsonl"))
			if err != nil {
				t.Fatal(err)
			}
			rs = parseJSONL(t, data)
		} else {
			code, out, errs := b.run(t, append(append([]string{}, args...), "--format", "jsonl")...)
			if code != 0 {
				t.Fatalf("%q: exit %d: %s", args, code, errs)
			}
			rs = parseJSONL(t, []byte(out))
		}
		cache[key] = rs
		return rs
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			base := run(t, c.base)
			got := run(t, c.args)
			var want []row
			switch {
			case c.none:
			case c.want != nil:
				want = c.want(base)
			default:
				want = filterRows(base, c.keep)
			}
			g, w := project(got, c.keys), project(want, c.keys)
			if c.any {
				sort.Strings(g)
				sort.Strings(w)
			}
			if strings.Join(g, "\n") != strings.Join(w, "\n") {
				t.Errorf("%q: %d rows\n  %s\nwant %d (from %d rows of %q)\n  %s", c.args, len(g), strings.Join(g, "\n  "), len(w), len(base), c.base, strings.Join(w, "\n  "))
			}
			// A filter that selects nothing, or everything, proves little.
			switch {
			case c.none && len(base) == 0:
				t.Errorf("%q: the base %q has no rows", c.args, c.base)
			case !c.none && len(w) == 0:
				t.Errorf("%q: the fixture gives this filter nothing to find", c.args)
			case c.keep != nil && len(w) == len(base):
				t.Errorf("%q: the fixture gives this filter nothing to leave out (%d of %d rows)", c.args, len(w), len(base))
			}
		})
	}
}

func filterRows(rs []row, keep func(row) bool) []row {
	var out []row
	for _, r := range rs {
		if keep(r) {
			out = append(out, r)
		}
	}
	return out
}
