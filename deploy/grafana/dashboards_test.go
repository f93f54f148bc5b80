// Package grafana_test runs every SQL query of the Grafana dashboards in
// this directory against a real ClickHouse filled with demo data, so a
// broken panel fails the build.
package grafana_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/seatline/seatline/deploy/grafana"
	"github.com/seatline/seatline/internal/reclaim"
	"github.com/seatline/seatline/internal/seatctl/seatdata"
	"github.com/seatline/seatline/internal/testenv"
	"github.com/seatline/seatline/internal/timeline"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.Shutdown()
	os.Exit(code)
}

func TestDashboardQueriesRunOnClickHouse(t *testing.T) {
	queries, err := grafana.Queries("dashboards")
	if err != nil {
		t.Fatal(err)
	}
	if len(queries) < 10 {
		t.Fatalf("only %d queries found", len(queries))
	}
	ch := testenv.SharedClickHouse(t)
	store, m := loadDemo(t, ch, testenv.NewDatabase(t, ch))
	ctx := context.Background()
	for _, q := range queries {
		sql, err := m.Expand(q.SQL)
		if err != nil {
			t.Errorf("%s: %v\n%s", q.Where, err, q.SQL)
			continue
		}
		rows, err := store.Conn().Query(ctx, sql)
		if err != nil {
			t.Errorf("%s: %v\n%s", q.Where, err, sql)
			continue
		}
		types := rows.ColumnTypes()
		n := 0
		for rows.Next() {
			n++
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			t.Errorf("%s: %v\n%s", q.Where, err, sql)
			continue
		}
		if n == 0 {
			t.Errorf("%s: no rows on demo data (a filter or join is broken?)\n%s", q.Where, sql)
		}
		// A single count (stat panels) must not be 0 on demo data either.
		if n == 1 && len(types) == 1 && types[0].DatabaseTypeName() == "UInt64" {
			var v uint64
			if err := store.Conn().QueryRow(ctx, sql).Scan(&v); err != nil || v == 0 {
				t.Errorf("%s: counts %d on demo data (%v)\n%s", q.Where, v, err, sql)
			}
		}
		if q.TimeSeries {
			if len(types) == 0 || types[0].Name() != "time" || !strings.HasPrefix(types[0].DatabaseTypeName(), "DateTime") {
				t.Errorf("%s: a time series query must return a DateTime column named time first, got %v", q.Where, columnNames(types))
			}
		}
		t.Logf("%s: %d rows", q.Where, n)
	}
}

// loadDemo migrates database db on ch, fills it with seatdata's demo data
// and returns the store (closed when the test ends) and the macros that
// expand the dashboards' SQL for it: the last 130 days, a day's interval,
// every demo org for ${org}, 30 for ${idle_days}.
func loadDemo(t *testing.T, ch *testenv.ClickHouse, db string) (*timeline.Store, grafana.Macros) {
	t.Helper()
	ctx := context.Background()
	store, err := timeline.Open(ctx, timeline.Config{Addrs: []string{ch.Addr()}, Database: db})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	res, err := seatdata.Demo(ctx, store, seatdata.DemoOptions{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("demo data: %d events, %d duplicates, %d dead letters, %d enriched, %d snapshot seats", res.Rows, res.Duplicates, res.DeadLetters, res.Enriched, res.Snapshot)

	var orgs []string
	for k := range res.State {
		if !contains(orgs, k[0]) {
			orgs = append(orgs, k[0])
		}
	}
	sort.Strings(orgs)
	reclaimDemo(t, store, res.State, now)
	var hasInterval uint64
	if err := store.Conn().QueryRow(ctx, "SELECT count() FROM system.functions WHERE name = 'toStartOfInterval'").Scan(&hasInterval); err != nil {
		t.Fatal(err)
	}
	quoted := make([]string, len(orgs))
	for i, o := range orgs {
		quoted[i] = "'" + o + "'"
	}
	m := grafana.Macros{
		From: now.Add(-130 * 24 * time.Hour), To: now, Interval: 24 * time.Hour,
		Vars: map[string]string{
			"${org:singlequote}": strings.Join(quoted, ","),
			"${idle_days}":       "30",
		},
		NoInterval: hasInterval == 0,
	}
	if m.NoInterval {
		t.Logf("server has no toStartOfInterval (ClickHouse 18.16): $__timeInterval expands to an intDiv bucket here; current releases get the plugin's own expansion")
	}
	return store, m
}

func TestProvisioningMatchesDashboards(t *testing.T) {
	ds, err := os.ReadFile("provisioning/datasources/seatline-clickhouse.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"type: grafana-clickhouse-datasource", "uid: seatline-clickhouse", "protocol: native", "defaultDatabase: seatline", "password: ${SEATLINE_CLICKHOUSE_PASSWORD}"} {
		if !strings.Contains(string(ds), want) {
			t.Errorf("datasource provisioning lacks %q", want)
		}
	}
	prov, err := os.ReadFile("provisioning/dashboards/seatline.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(prov), "type: file") || !strings.Contains(string(prov), "path:") {
		t.Errorf("dashboard provider:\n%s", prov)
	}
	if strings.Contains(string(ds)+string(prov), "\t") {
		t.Error("YAML must not contain tabs")
	}
}

// TestTargetsCarryPluginVersion checks that every panel target (panels
// nested in rows included) records the grafana-clickhouse-datasource
// version the dashboard was built with, as the plugin's editor saves it
// (v4 migrates queries without one as if they came from v3).
func TestTargetsCarryPluginVersion(t *testing.T) {
	files, err := filepath.Glob("dashboards/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards (%v)", err)
	}
	full := regexp.MustCompile(`^4\.\d+\.\d+$`)
	type panel struct {
		Title   string `json:"title"`
		Targets []struct {
			RefID         string  `json:"refId"`
			PluginVersion *string `json:"pluginVersion"`
		} `json:"targets"`
		Panels []panel `json:"panels"`
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d struct {
			Panels []panel `json:"panels"`
		}
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		n := 0
		var walk func([]panel)
		walk = func(ps []panel) {
			for _, p := range ps {
				walk(p.Panels)
				for _, tg := range p.Targets {
					n++
					switch {
					case tg.PluginVersion == nil:
						t.Errorf("%s: panel %q target %s has no pluginVersion", f, p.Title, tg.RefID)
					case !full.MatchString(*tg.PluginVersion):
						t.Errorf("%s: panel %q target %s: pluginVersion %q is not a full 4.x.y version", f, p.Title, tg.RefID, *tg.PluginVersion)
					}
				}
			}
		}
		walk(d.Panels)
		if n == 0 {
			t.Errorf("%s: no panel targets", f)
		}
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func columnNames(types []driver.ColumnType) []string {
	var out []string
	for _, c := range types {
		out = append(out, c.Name()+" "+c.DatabaseTypeName())
	}
	return out
}

// reclaimDemo journals a reclamation applied a week before now, as
// seatctl reclaim apply does (the intent, then GitHub's answer and the
// pending cancellation a lookup showed), for the first two seats of every
// org in state, and one seat it skipped.
func reclaimDemo(t *testing.T, store *timeline.Store, state map[[2]string]string, now time.Time) {
	t.Helper()
	var keys [][2]string
	for k := range state {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i][0]+"/"+keys[i][1] < keys[j][0]+"/"+keys[j][1] })
	at := now.Add(-7 * 24 * time.Hour)
	pending := reclaim.NextCycle(at)
	per := map[string]int{}
	var recs []reclaim.Record
	for _, k := range keys {
		if k[0] == "" || per[k[0]] >= 3 {
			continue
		}
		per[k[0]]++
		r := reclaim.Record{Plan: reclaim.Sum([]byte("demo plan")), PlanGenerated: at.Add(-time.Hour), ScopeKind: reclaim.KindOrg,
			Scope: k[0], User: k[1], Action: reclaim.ActUnassign, Outcome: reclaim.OutSending, RequestedAt: at, PlanType: "business", PriceCents: 1900}
		recs = append(recs, r)
		if per[k[0]] == 3 {
			r.Outcome, r.Reason, r.RecordedMS = reclaim.OutSkipped, "used Copilot since the plan", at.UnixMilli()+1
			recs = append(recs, r)
			continue
		}
		r.Outcome, r.HTTPStatus, r.SeatsCanceled, r.RecordedMS = reclaim.OutDone, 200, 2, at.UnixMilli()+1
		recs = append(recs, r)
		r.Outcome, r.PendingDate, r.RecordedMS = reclaim.OutPending, &pending, at.UnixMilli()+2
		recs = append(recs, r)
	}
	for i := range recs {
		if recs[i].RecordedMS == 0 {
			recs[i].RecordedMS = at.UnixMilli()
		}
	}
	if err := reclaim.NewJournal(store.Conn()).Write(context.Background(), recs...); err != nil {
		t.Fatal(err)
	}
}

// TestReclaimedSeatsPanel: the panel counts each seat a reclamation took
// back once (not its intent and answer rows), leaves out the seat it
// skipped, and sums the seats' monthly list price.
func TestReclaimedSeatsPanel(t *testing.T) {
	queries, err := grafana.Queries("dashboards")
	if err != nil {
		t.Fatal(err)
	}
	var sql string
	for _, q := range queries {
		if strings.HasSuffix(q.Where, `"Reclaimed seats and monthly saving"`) {
			sql = q.SQL
		}
	}
	if sql == "" {
		t.Fatal("no panel \"Reclaimed seats and monthly saving\"")
	}
	ch := testenv.SharedClickHouse(t)
	store, m := loadDemo(t, ch, testenv.NewDatabase(t, ch))
	expanded, err := m.Expand(sql)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := store.Conn().Query(context.Background(), expanded)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var org string
		var seats, pending uint64
		var usd float64
		var last time.Time
		if err := rows.Scan(&org, &seats, &pending, &usd, &last); err != nil {
			t.Fatal(err)
		}
		n++
		if seats != 2 || pending != 2 || usd != 38 {
			t.Errorf("%s: %d reclaimed seats (%d pending), $%v a month; want 2, 2, $38", org, seats, pending, usd)
		}
	}
	if err := rows.Err(); err != nil || n == 0 {
		t.Fatalf("%d rows, %v", n, err)
	}
}
