// Package grafana_test runs every SQL query of the Grafana dashboards in
// this directory against a real ClickHouse filled with demo data, so a
// broken panel fails the build.
package grafana_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/seatline/seatline/internal/seatctl/seatdata"
	"github.com/seatline/seatline/internal/testenv"
	"github.com/seatline/seatline/internal/timeline"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.Shutdown()
	os.Exit(code)
}

// query is one SQL text of a dashboard and where it is.
type query struct {
	where      string // dashboard file: panel title / variable name
	sql        string
	timeSeries bool
}

// dashboardQueries reads every panel target's rawSql (panels nested in
// rows included) and every query variable of the dashboards in dir.
func dashboardQueries(t *testing.T, dir string) []query {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards in %s (%v)", dir, err)
	}
	type target struct {
		RefID      string          `json:"refId"`
		RawSQL     string          `json:"rawSql"`
		QueryType  string          `json:"queryType"`
		Format     *int            `json:"format"`
		Datasource json.RawMessage `json:"datasource"`
	}
	type panel struct {
		Title   string   `json:"title"`
		Type    string   `json:"type"`
		Targets []target `json:"targets"`
		Panels  []panel  `json:"panels"`
	}
	var out []query
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d struct {
			UID        string  `json:"uid"`
			Panels     []panel `json:"panels"`
			Templating struct {
				List []struct {
					Name  string          `json:"name"`
					Type  string          `json:"type"`
					Query json.RawMessage `json:"query"`
				} `json:"list"`
			} `json:"templating"`
		}
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		name := filepath.Base(f)
		var walk func(ps []panel)
		walk = func(ps []panel) {
			for _, p := range ps {
				walk(p.Panels)
				if p.Type == "row" {
					continue
				}
				if len(p.Targets) == 0 {
					t.Errorf("%s: panel %q has no query", name, p.Title)
				}
				for _, tg := range p.Targets {
					if strings.TrimSpace(tg.RawSQL) == "" {
						t.Errorf("%s: panel %q target %s has no rawSql", name, p.Title, tg.RefID)
						continue
					}
					if !strings.Contains(string(tg.Datasource), `"seatline-clickhouse"`) {
						t.Errorf("%s: panel %q target %s does not use the provisioned datasource uid seatline-clickhouse", name, p.Title, tg.RefID)
					}
					out = append(out, query{where: name + ": panel " + strconv.Quote(p.Title), sql: tg.RawSQL, timeSeries: tg.QueryType == "timeseries"})
				}
			}
		}
		walk(d.Panels)
		for _, v := range d.Templating.List {
			if v.Type != "query" {
				continue
			}
			var s string
			if err := json.Unmarshal(v.Query, &s); err != nil {
				var obj struct {
					RawSQL string `json:"rawSql"`
					Query  string `json:"query"`
				}
				_ = json.Unmarshal(v.Query, &obj)
				s = obj.RawSQL + obj.Query
			}
			out = append(out, query{where: name + ": variable " + v.Name, sql: s})
		}
	}
	return out
}

// macros expands the grafana-clickhouse-datasource macros as the plugin
// does (pkg/macros/macros.go) for a time range and interval, and the
// dashboard variables with the given values.
type macros struct {
	from, to   time.Time
	interval   time.Duration
	vars       map[string]string // "${org:singlequote}" → "'a','b'", "${idle_days}" → "30"
	noInterval bool              // the server lacks toStartOfInterval (18.16): bucket with intDiv instead
}

var macroRe = regexp.MustCompile(`\$__([A-Za-z_]+)`)

func (m macros) expand(sql string) (string, error) {
	for k, v := range m.vars {
		sql = strings.ReplaceAll(sql, k, v)
	}
	var b strings.Builder
	for {
		loc := macroRe.FindStringSubmatchIndex(sql)
		if loc == nil {
			b.WriteString(sql)
			break
		}
		b.WriteString(sql[:loc[0]])
		name := sql[loc[2]:loc[3]]
		rest := sql[loc[1]:]
		var args []string
		if strings.HasPrefix(rest, "(") {
			depth, end := 0, -1
			for i, c := range rest {
				if c == '(' {
					depth++
				} else if c == ')' {
					depth--
					if depth == 0 {
						end = i
						break
					}
				}
			}
			if end < 0 {
				return "", fmt.Errorf("$__%s: unbalanced parentheses", name)
			}
			for _, a := range strings.Split(rest[1:end], ",") {
				args = append(args, strings.TrimSpace(a))
			}
			rest = rest[end+1:]
		}
		out, err := m.one(name, args)
		if err != nil {
			return "", err
		}
		b.WriteString(out)
		sql = rest
	}
	s := b.String()
	if i := strings.Index(s, "$"); i >= 0 {
		return "", fmt.Errorf("unexpanded variable or macro at %q", s[i:min(len(s), i+30)])
	}
	return s, nil
}

func (m macros) one(name string, args []string) (string, error) {
	dt := func(t time.Time) string { return fmt.Sprintf("toDateTime(%d)", t.Unix()) }
	date := func(t time.Time) string { return fmt.Sprintf("toDate('%s')", t.UTC().Format("2006-01-02")) }
	need := func(n int) error {
		if len(args) != n {
			return fmt.Errorf("$__%s: %d argument(s), want %d", name, len(args), n)
		}
		return nil
	}
	secs := max(int(m.interval.Seconds()), 1)
	switch name {
	case "fromTime":
		return dt(m.from), nil
	case "toTime":
		return dt(m.to), nil
	case "timeFilter":
		if err := need(1); err != nil {
			return "", err
		}
		return fmt.Sprintf("%s >= %s AND %s <= %s", args[0], dt(m.from), args[0], dt(m.to)), nil
	case "dateFilter":
		if err := need(1); err != nil {
			return "", err
		}
		return fmt.Sprintf("%s >= %s AND %s <= %s", args[0], date(m.from), args[0], date(m.to)), nil
	case "dateTimeFilter", "dt":
		if err := need(2); err != nil {
			return "", err
		}
		return fmt.Sprintf("(%s >= %s AND %s <= %s) AND (%s >= %s AND %s <= %s)", args[0], date(m.from), args[0], date(m.to), args[1], dt(m.from), args[1], dt(m.to)), nil
	case "timeInterval":
		if err := need(1); err != nil {
			return "", err
		}
		if m.noInterval {
			return fmt.Sprintf("toDateTime(intDiv(toUInt32(toDateTime(%s)), %d) * %d)", args[0], secs, secs), nil
		}
		return fmt.Sprintf("toStartOfInterval(toDateTime(%s), INTERVAL %d second)", args[0], secs), nil
	case "interval_s":
		return strconv.Itoa(secs), nil
	}
	// fromTime_ms, toTime_ms, timeFilter_ms, timeInterval_ms expand to
	// DateTime64 functions that ClickHouse 18.16 lacks: the dashboards
	// must not use them.
	return "", fmt.Errorf("macro $__%s is not supported by these dashboards (not on every ClickHouse seatline runs on)", name)
}

func TestDashboardQueriesRunOnClickHouse(t *testing.T) {
	queries := dashboardQueries(t, "dashboards")
	if len(queries) < 10 {
		t.Fatalf("only %d queries found", len(queries))
	}
	ch := testenv.SharedClickHouse(t)
	db := testenv.NewDatabase(t, ch)
	ctx := context.Background()
	store, err := timeline.Open(ctx, timeline.Config{Addrs: []string{ch.Addr()}, Database: db})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
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
	var hasInterval uint64
	if err := store.Conn().QueryRow(ctx, "SELECT count() FROM system.functions WHERE name = 'toStartOfInterval'").Scan(&hasInterval); err != nil {
		t.Fatal(err)
	}
	quoted := make([]string, len(orgs))
	for i, o := range orgs {
		quoted[i] = "'" + o + "'"
	}
	m := macros{
		from: now.Add(-130 * 24 * time.Hour), to: now, interval: 24 * time.Hour,
		vars: map[string]string{
			"${org:singlequote}": strings.Join(quoted, ","),
			"${idle_days}":       "30",
		},
		noInterval: hasInterval == 0,
	}
	if m.noInterval {
		t.Logf("server has no toStartOfInterval (ClickHouse 18.16): $__timeInterval expands to an intDiv bucket here; current releases get the plugin's own expansion")
	}
	for _, q := range queries {
		sql, err := m.expand(q.sql)
		if err != nil {
			t.Errorf("%s: %v\n%s", q.where, err, q.sql)
			continue
		}
		rows, err := store.Conn().Query(ctx, sql)
		if err != nil {
			t.Errorf("%s: %v\n%s", q.where, err, sql)
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
			t.Errorf("%s: %v\n%s", q.where, err, sql)
			continue
		}
		if n == 0 {
			t.Errorf("%s: no rows on demo data (a filter or join is broken?)\n%s", q.where, sql)
		}
		// A single count (stat panels) must not be 0 on demo data either.
		if n == 1 && len(types) == 1 && types[0].DatabaseTypeName() == "UInt64" {
			var v uint64
			if err := store.Conn().QueryRow(ctx, sql).Scan(&v); err != nil || v == 0 {
				t.Errorf("%s: counts %d on demo data (%v)\n%s", q.where, v, err, sql)
			}
		}
		if q.timeSeries {
			if len(types) == 0 || types[0].Name() != "time" || !strings.HasPrefix(types[0].DatabaseTypeName(), "DateTime") {
				t.Errorf("%s: a time series query must return a DateTime column named time first, got %v", q.where, columnNames(types))
			}
		}
		t.Logf("%s: %d rows", q.where, n)
	}
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
