package seatctl_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/seatline/seatline/internal/seatctl"
	"github.com/seatline/seatline/internal/testenv"
	"github.com/seatline/seatline/internal/timeline"
	"github.com/seatline/seatline/pkg/events"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.Shutdown()
	os.Exit(code)
}

// bed is a test's own database on the shared ClickHouse, migrated.
type bed struct {
	ch    *testenv.ClickHouse
	db    string
	store *timeline.Store
}

func newBed(t *testing.T) *bed {
	t.Helper()
	ch := testenv.SharedClickHouse(t)
	b := &bed{ch: ch, db: testenv.NewDatabase(t, ch)}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := timeline.Open(ctx, timeline.Config{Addrs: []string{ch.Addr()}, Database: b.db})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	b.store = s
	return b
}

// run runs seatctl's Main against the bed's database.
func (b *bed) run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	args = append(args, "--clickhouse-addr", b.ch.Addr(), "--clickhouse-database", b.db)
	code = seatctl.Main(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

// ---- the known dataset ----

var t0 = time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)

// known is one event of the known dataset.
type known struct {
	id, org, user, actor string
	tr                   events.Transition
	action               string
	at                   time.Time
	team                 string     // set: the event was enriched with this team
	billable             *time.Time // enriched billable_until
}

func date(y int, m time.Month, d int) *time.Time {
	t := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	return &t
}

// knownEvents: seat changes in three orgs, March 2025, with edge times.
var knownEvents = []known{
	{id: "e01", org: "acme-platform", user: "mona", actor: "admin1", tr: events.TransitionAssigned, action: "copilot.cfb_seat_added", at: t0.Add(time.Hour), team: "ml"},
	{id: "e02", org: "acme-platform", user: "hubot", actor: "admin1", tr: events.TransitionAssigned, action: "copilot.cfb_seat_assignment_created", at: t0.Add(2 * time.Hour)},
	{id: "e03", org: "acme-mobile", user: "mona", actor: "admin2", tr: events.TransitionAssigned, action: "copilot.cfb_seat_assignment_created", at: t0.Add(3 * time.Hour)},
	{id: "e04", org: "acme-platform", user: "mona", actor: "admin2", tr: events.TransitionUnassigned, action: "copilot.cfb_seat_assignment_unassigned", at: t0.AddDate(0, 0, 1), team: "ml", billable: date(2025, 3, 31)},
	{id: "e05", org: "acme-platform", actor: "admin1", tr: events.TransitionPolicyChanged, action: "copilot.cfb_seat_management_changed", at: t0.AddDate(0, 0, 2)},
	{id: "e06", org: "acme-platform", user: "mona", actor: "admin1", tr: events.TransitionRefreshed, action: "copilot.cfb_seat_assignment_refreshed", at: t0.AddDate(0, 0, 3)},
	{id: "e07", org: "acme-data", user: "lisa", actor: "admin3", tr: events.TransitionAssigned, action: "copilot.cfb_seat_added", at: t0.AddDate(0, 0, 5)},
	{id: "e08", org: "acme-data", user: "lisa", actor: "admin3", tr: events.TransitionUnassigned, action: "copilot.cfb_seat_assignment_unassigned", at: t0.AddDate(0, 0, 6), team: "data-eng", billable: date(2025, 3, 31)},
	{id: "e09", org: "acme-mobile", user: "octocat", actor: "seat-sync[bot]", tr: events.TransitionAssigned, action: "copilot.cfb_seat_added", at: t0.AddDate(0, 0, 10)},
	{id: "e10", org: "acme-mobile", user: "nodetail", actor: "admin2", tr: events.TransitionAssigned, action: "copilot.cfb_seat_added", at: t0.AddDate(0, 0, 12)},
	{id: "e11", org: "acme-mobile", user: "mona", actor: "admin2", tr: events.TransitionUnassigned, action: "copilot.cfb_seat_assignment_unassigned", at: time.Date(2025, 3, 31, 23, 59, 59, 999e6, time.UTC)},
	{id: "e12", org: "acme-mobile", user: "mona", actor: "admin2", tr: events.TransitionCancelled, action: "copilot.cfb_seat_cancelled", at: time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC)},
}

// fillKnown writes knownEvents, each twice where a redelivery or an
// enrichment row supersedes it, plus a seat-list snapshot taken at now-1h:
//
//	acme-platform/mona     active, last Copilot activity 40 days ago   (idle)
//	acme-platform/hubot    active, never used                          (idle)
//	acme-mobile/octocat    active, activity 2 days ago
//	acme-mobile/nodetail   active, never looked up, in no snapshot     (cannot be judged)
//	acme-data/lisa         pending cancellation, billing stops 2025-03-31
//	acme-mobile/mona       cancelled (not current)
func fillKnown(t *testing.T, b *bed, now time.Time) {
	t.Helper()
	ctx := context.Background()
	var rows []timeline.Row
	for i, k := range knownEvents {
		ev := events.Event{DocumentID: k.id, Timestamp: k.at, Action: k.action, Transition: k.tr,
			Org: k.org, OrgID: 1000, User: k.user, UserID: int64(2000 + i), Actor: k.actor, ActorID: 3000,
			ActorIsBot: strings.HasSuffix(k.actor, "[bot]"), Business: "acme-corp", BusinessID: 4242,
			Raw: []byte(`{"_document_id":"` + k.id + `","note":"comma, quote \" cr\r lf\n ✓"}` + "\r\n\t\u2028")}
		r := timeline.NewRow(ev, "kafka", "github-audit/0/"+k.id, k.at.Add(time.Second))
		rows = append(rows, r)
		if k.team != "" {
			at := k.at.Add(time.Minute)
			er := r
			er.Enrichment, er.EnrichedAt, er.Version = timeline.EnrichmentEnriched, &at, uint64(at.UnixMilli())
			er.Seat = timeline.SeatDetail{Status: timeline.SeatActive, PlanType: "business", TeamSlug: k.team, TeamName: strings.ToUpper(k.team), TeamKind: timeline.TeamOrg, BillableUntil: k.billable}
			if k.billable != nil {
				er.Seat.Status = timeline.SeatPendingCancellation
			}
			rows = append(rows, er)
		}
		if k.id == "e02" || k.id == "e09" {
			rows = append(rows, r) // redelivered
		}
	}
	if err := b.store.Write(ctx, rows, nil); err != nil {
		t.Fatal(err)
	}
	at := now.Add(-time.Hour).Truncate(time.Second)
	act40, act2 := now.AddDate(0, 0, -40), now.AddDate(0, 0, -2)
	created := now.AddDate(0, -6, 0)
	batch, err := b.store.Conn().PrepareBatch(ctx, `INSERT INTO seat_snapshots (snapshot_at, scope, scope_name, org, user, user_id,
		assignee_type, plan_type, assigning_team_slug, assigning_team_name, assigning_team_kind,
		billable_until, seat_created_at, last_activity_at, last_activity_editor, last_authenticated_at)`)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []struct {
		org, user, plan, team string
		billable, activity    *time.Time
	}{
		{"acme-platform", "mona", "business", "ml", nil, &act40},
		{"acme-platform", "hubot", "business", "", nil, nil},
		{"acme-mobile", "octocat", "enterprise", "", nil, &act2},
		{"acme-data", "lisa", "business", "data-eng", date(2025, 3, 31), &act40},
	} {
		editor := ""
		if s.activity != nil {
			editor = "vscode/1.90.0"
		}
		if err := batch.Append(at, int8(1), s.org, s.org, s.user, uint64(1), "User", s.plan, s.team, "", int8(0),
			s.billable, &created, s.activity, editor, s.activity); err != nil {
			t.Fatal(err)
		}
	}
	if err := batch.Send(); err != nil {
		t.Fatal(err)
	}
}

func ids(t *testing.T, b *bed, f seatctl.HistoryFilter) []string {
	t.Helper()
	if f.Range.Until.IsZero() {
		f.Range.Until = time.Now()
	}
	var out []string
	_, err := seatctl.History(context.Background(), b.store, f, func(r *seatctl.HistoryRow) error {
		out = append(out, r.DocumentID)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestHistoryFiltersReturnExactlyTheExpectedRows(t *testing.T) {
	b := newBed(t)
	fillKnown(t, b, time.Now())
	rng := func(since, until string) seatctl.TimeRange {
		r, err := seatctl.ParseRange(since, until, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	all := []string{"e01", "e02", "e03", "e04", "e05", "e06", "e07", "e08", "e09", "e10", "e11", "e12"}
	cases := []struct {
		name string
		f    seatctl.HistoryFilter
		want []string
	}{
		{"everything, each event once", seatctl.HistoryFilter{}, all},
		{"org", seatctl.HistoryFilter{Orgs: []string{"acme-platform"}}, []string{"e01", "e02", "e04", "e05", "e06"}},
		{"two orgs", seatctl.HistoryFilter{Orgs: []string{"acme-data", "acme-platform"}}, []string{"e01", "e02", "e04", "e05", "e06", "e07", "e08"}},
		{"user across orgs", seatctl.HistoryFilter{Users: []string{"mona"}}, []string{"e01", "e03", "e04", "e06", "e11", "e12"}},
		{"org and user", seatctl.HistoryFilter{Orgs: []string{"acme-platform"}, Users: []string{"mona"}}, []string{"e01", "e04", "e06"}},
		{"team slug", seatctl.HistoryFilter{Teams: []string{"ml"}}, []string{"e01", "e04"}},
		{"team name", seatctl.HistoryFilter{Teams: []string{"DATA-ENG"}}, []string{"e08"}},
		{"actor", seatctl.HistoryFilter{Actors: []string{"admin2"}}, []string{"e03", "e04", "e10", "e11", "e12"}},
		{"bot actor", seatctl.HistoryFilter{Actors: []string{"seat-sync[bot]"}}, []string{"e09"}},
		{"transition", seatctl.HistoryFilter{Transitions: []string{"assigned"}}, []string{"e01", "e02", "e03", "e07", "e09", "e10"}},
		{"transitions", seatctl.HistoryFilter{Transitions: []string{"unassigned", "cancelled"}}, []string{"e04", "e08", "e11", "e12"}},
		{"action", seatctl.HistoryFilter{Actions: []string{"copilot.cfb_seat_added"}}, []string{"e01", "e07", "e09", "e10"}},
		{"since inclusive, until date = end of that day", seatctl.HistoryFilter{Range: rng("2025-03-02", "2025-03-31")}, []string{"e04", "e05", "e06", "e07", "e08", "e09", "e10", "e11"}},
		{"until exclusive", seatctl.HistoryFilter{Range: rng("", "2025-03-02T00:00:00Z")}, []string{"e01", "e02", "e03"}},
		{"RFC 3339 with offset", seatctl.HistoryFilter{Range: rng("2025-03-01T03:00:00+01:00", "2025-03-01T03:00:00Z")}, []string{"e02"}},
		{"all filters", seatctl.HistoryFilter{Orgs: []string{"acme-mobile"}, Users: []string{"mona"}, Actors: []string{"admin2"}, Transitions: []string{"unassigned"}, Range: rng("2025-03-01", "2025-04-01")}, []string{"e11"}},
		{"limit", seatctl.HistoryFilter{Limit: 2}, []string{"e01", "e02"}},
		{"last, oldest first", seatctl.HistoryFilter{Users: []string{"mona"}, Last: 3}, []string{"e06", "e11", "e12"}},
		{"nothing", seatctl.HistoryFilter{Users: []string{"nobody"}}, nil},
		{"hostile value is just a value", seatctl.HistoryFilter{Orgs: []string{"acme-platform' OR '1'='1"}}, nil},
	}
	for _, c := range cases {
		if got := ids(t, b, c.f); strings.Join(got, ",") != strings.Join(c.want, ",") {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}

	// The command: csv columns, enrichment detail, source position.
	code, out, errs := b.run(t, "history", "--org", "acme-platform", "--user", "mona", "--format", "csv")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	wantHead := "time,transition,org,user,actor,team,plan,billable_until,last_activity_at,source,source_position,action,enrichment,document_id"
	if len(recs) != 4 || strings.Join(recs[0], ",") != wantHead {
		t.Fatalf("csv:\n%s", out)
	}
	if got := strings.Join(recs[2], ","); got != "2025-03-02T00:00:00.000Z,unassigned,acme-platform,mona,admin2,ml,business,2025-03-31,,kafka,github-audit/0/e04,copilot.cfb_seat_assignment_unassigned,enriched,e04" {
		t.Errorf("row: %s", got)
	}
	code, out, _ = b.run(t, "history", "--user", "mona", "--transition", "cancelled", "--format", "jsonl")
	if code != 0 || !strings.Contains(out, `"document_id":"e12"`) || strings.Count(out, "\n") != 1 || !strings.Contains(out, `"billable_until":null`) {
		t.Errorf("jsonl: exit %d\n%s", code, out)
	}
	code, out, _ = b.run(t, "history", "--org", "acme-platform", "--format", "table")
	if code != 0 || !strings.Contains(out, "TIME (UTC)") || !strings.Contains(out, "kafka github-audit/0/e05") {
		t.Errorf("table: exit %d\n%s", code, out)
	}
	code, out, errs = b.run(t, "history", "--user", "nobody")
	if code != 0 || !strings.Contains(errs, "no seat events match user nobody") {
		t.Errorf("no rows: exit %d, stdout %q, stderr %q", code, out, errs)
	}
}

func TestSeatsIdleAndPending(t *testing.T) {
	b := newBed(t)
	now := time.Now().UTC()
	fillKnown(t, b, now)

	code, out, errs := b.run(t, "seats", "--format", "csv")
	if code != 0 {
		t.Fatalf("seats: exit %d %s", code, errs)
	}
	recs, _ := csv.NewReader(strings.NewReader(out)).ReadAll()
	var got []string
	for _, r := range recs[1:] {
		got = append(got, r[0]+"/"+r[1]+"="+r[2])
	}
	want := "acme-data/lisa=pending_cancellation,acme-mobile/nodetail=active,acme-mobile/octocat=active,acme-platform/hubot=active,acme-platform/mona=active"
	if strings.Join(got, ",") != want {
		t.Errorf("seats:\n got %s\nwant %s", strings.Join(got, ","), want)
	}
	// The snapshot (newer than the enrichment) gives plan and activity.
	if !strings.Contains(out, "acme-mobile,octocat,active,") || !strings.Contains(out, ",enterprise,") {
		t.Errorf("seat detail from the snapshot missing:\n%s", out)
	}

	code, out, _ = b.run(t, "seats", "--summary", "--format", "csv")
	wantSummary := "org,active,pending_cancellation,seats\nacme-data,0,1,1\nacme-mobile,2,0,2\nacme-platform,2,0,2\n(all),4,1,5\n"
	if code != 0 || out != wantSummary {
		t.Errorf("summary: exit %d\n%s\nwant\n%s", code, out, wantSummary)
	}
	code, out, _ = b.run(t, "seats", "--by", "plan", "--format", "csv")
	if code != 0 || !strings.Contains(out, "business,2,1,3") || !strings.Contains(out, "enterprise,1,0,1") || !strings.Contains(out, "(not looked up),1,0,1") {
		t.Errorf("by plan: exit %d\n%s", code, out)
	}

	code, out, errs = b.run(t, "seats", "--idle", "30d", "--format", "csv")
	if code != 0 {
		t.Fatalf("idle: exit %d %s", code, errs)
	}
	recs, _ = csv.NewReader(strings.NewReader(out)).ReadAll()
	got = got[:0]
	for _, r := range recs[1:] {
		got = append(got, r[0]+"/"+r[1])
	}
	if strings.Join(got, ",") != "acme-platform/hubot,acme-platform/mona" {
		t.Errorf("idle 30d: got %v\n%s", got, out)
	}
	if !strings.Contains(errs, "last_activity_at only reflects Copilot activity") || !strings.Contains(errs, "1 active seat(s) have no seat detail") {
		t.Errorf("idle notes: %q", errs)
	}
	code, out, _ = b.run(t, "seats", "--idle", "60d", "--format", "csv")
	if code != 0 || strings.Contains(out, "mona") || !strings.Contains(out, "hubot") {
		t.Errorf("idle 60d: mona was active 40 days ago, hubot never:\n%s", out)
	}

	code, out, errs = b.run(t, "pending", "--format", "csv")
	if code != 0 {
		t.Fatalf("pending: exit %d %s", code, errs)
	}
	recs, _ = csv.NewReader(strings.NewReader(out)).ReadAll()
	if len(recs) != 2 || recs[1][0] != "acme-data" || recs[1][1] != "lisa" || recs[1][3] != "admin3" || recs[1][4] != "2025-03-31" {
		t.Errorf("pending:\n%s", out)
	}
	code, _, errs = b.run(t, "pending", "--org", "acme-platform")
	if code != 0 || !strings.Contains(errs, "no seats are pending cancellation") {
		t.Errorf("pending none: %d %q", code, errs)
	}
	// pending_cancellations and idle_seats carry the team's slug only: a
	// --team filter there matches the slug (it once named a column they lack).
	code, out, errs = b.run(t, "pending", "--team", "data-eng", "--format", "csv")
	if code != 0 || !strings.Contains(out, "acme-data,lisa,") {
		t.Errorf("pending --team data-eng: exit %d %s\n%s", code, errs, out)
	}
	code, out, errs = b.run(t, "seats", "--idle", "30d", "--team", "nobody-team", "--format", "csv")
	if code != 0 || strings.Contains(out, "mona") {
		t.Errorf("idle --team: exit %d %s\n%s", code, errs, out)
	}
}

func TestConnectionErrorsAreFriendly(t *testing.T) {
	ch := testenv.SharedClickHouse(t)
	var out, errb bytes.Buffer
	ctx := context.Background()
	// Nothing listens on port 1 of loopback.
	code := seatctl.Main(ctx, []string{"history", "--clickhouse-addr", "127.0.0.1:1"}, &out, &errb)
	if code != seatctl.ExitUnavailable || !strings.Contains(errb.String(), "cannot reach ClickHouse at 127.0.0.1:1") {
		t.Errorf("unreachable: exit %d: %s", code, errb.String())
	}
	errb.Reset()
	code = seatctl.Main(ctx, []string{"seats", "--clickhouse-addr", ch.Addr(), "--clickhouse-database", "no_such_db_here"}, &out, &errb)
	if code != seatctl.ExitUsage || !strings.Contains(errb.String(), `there is no database "no_such_db_here"`) {
		t.Errorf("unknown database: exit %d: %s", code, errb.String())
	}
	// The probe did not create it.
	if n, err := ch.Query(ctx, "SELECT count() FROM system.databases WHERE name = 'no_such_db_here'"); err != nil || strings.TrimSpace(n) != "0" {
		t.Errorf("seatctl created the database: %q %v", n, err)
	}
	// A database that is not a timeline.
	db := testenv.NewDatabase(t, ch)
	errb.Reset()
	code = seatctl.Main(ctx, []string{"pending", "--clickhouse-addr", ch.Addr(), "--clickhouse-database", db}, &out, &errb)
	if code != seatctl.ExitUsage || !strings.Contains(errb.String(), "holds no seatline timeline") {
		t.Errorf("empty database: exit %d: %s", code, errb.String())
	}
	errb.Reset()
	code = seatctl.Main(ctx, []string{"history", "--clickhouse-addr", ch.Addr(), "--clickhouse-database", db, "--clickhouse-user", "nobody", "--clickhouse-password", "s3cret-pw"}, &out, &errb)
	if code == 0 || strings.Contains(errb.String(), "s3cret-pw") {
		t.Errorf("bad user: exit %d: %s", code, errb.String())
	}
}
