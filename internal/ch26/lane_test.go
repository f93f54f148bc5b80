//go:build chdb

package ch26_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/seatline/seatline/deploy/grafana"
	"github.com/seatline/seatline/internal/ch26"
	"github.com/seatline/seatline/internal/enrichd"
	"github.com/seatline/seatline/internal/ghsim"
	"github.com/seatline/seatline/internal/ingestd"
	"github.com/seatline/seatline/internal/reclaim"
	"github.com/seatline/seatline/internal/seatctl"
	"github.com/seatline/seatline/internal/testenv"
	"github.com/seatline/seatline/internal/timeline"
	"github.com/seatline/seatline/schema"
)

const token = "ghp_ch26LaneTokenNeverPrinted00000000000"

// TestQueriesAnswerAlikeOn18And26 loads one fixture into a private 18.16
// server through seatline's own write paths, runs every command that reads
// it (seatctl, the enrich worker, the Grafana panels), and takes the SELECTs
// the server actually received from its query log: new queries are covered
// without listing them here. The base tables are then copied into chDB
// (ClickHouse 26.x), migrated by the same runner, and every captured SELECT
// must answer the same on both engines (or fail on both).
func TestQueriesAnswerAlikeOn18And26(t *testing.T) {
	ctx := context.Background()
	t0 := time.Now()
	ch, err := testenv.StartClickHouse(ctx, testenv.ClickHouseOptions{LogQueries: true, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ch.Close() })
	db := testenv.NewDatabase(t, ch)

	sim := loadFixture(t, ch, db)
	runReaders(t, ch, db, sim)
	captured := capture(t, ch)
	t.Logf("fixture and readers on 18.16: %v; %d distinct SELECTs captured", time.Since(t0).Round(time.Millisecond), len(captured))

	// Merges would change what un-FINAL counts see on 18.16 after the copy.
	if _, err := ch.Query(ctx, "SYSTEM STOP MERGES"); err != nil {
		t.Fatal(err)
	}
	eng, err := ch26.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(eng.Close)
	if v, err := eng.Query("SELECT version()"); err == nil {
		t.Logf("chDB: ClickHouse %s", strings.TrimSpace(v))
	}
	if err := eng.Migrate(ctx, db); err != nil {
		t.Fatalf("migrations on 26.x: %v", err)
	}
	copyTables(t, ch, eng, db)
	batchIDsTable(t, ch, eng, db)

	compared, failedBoth, identity := 0, 0, 0
	for _, q := range captured {
		if engineIdentity.MatchString(q.sql) {
			identity++ // the engine's own name, version and databases differ by design
			continue
		}
		want, werr := ch.QueryIn(ctx, db, q.sql)
		got, gerr := eng.Query(q.sql)
		if werr == nil && gerr == nil && !sameAnswer(q.sql, want, got) && mentionsNow.MatchString(q.sql) {
			// now() moved between the two runs (a second, a day): once more.
			want, werr = ch.QueryIn(ctx, db, q.sql)
			got, gerr = eng.Query(q.sql)
		}
		switch {
		case werr != nil && gerr != nil:
			failedBoth++
		case werr != nil:
			t.Errorf("fails on 18.16 but answers on 26.x:\n%s\n18.16: %v\n26.x:\n%s", q.sql, werr, got)
		case gerr != nil:
			t.Errorf("answers on 18.16 but fails on 26.x:\n%s\n26.x: %v\n18.16:\n%s", q.sql, gerr, want)
		case !sameAnswer(q.sql, want, got):
			t.Errorf("answers differ:\n%s\n%s", q.sql, diff(want, got))
		default:
			compared++
		}
		if q.failed && werr == nil {
			t.Errorf("failed when the project sent it, answers now on 18.16:\n%s", q.sql)
		}
	}
	t.Logf("%d SELECTs answered alike on 18.16 and 26.x, %d failed on both, %d about the engine itself not compared", compared, failedBoth, identity)
	if compared < 40 {
		t.Errorf("only %d queries compared: the capture is missing the project's queries", compared)
	}

	clusterDDLParses(t, eng)
	profileAccepted(t, eng)
	t.Logf("lane took %v", time.Since(t0).Round(time.Millisecond))
}

// loadFixture writes one enterprise's seat history through ingest (file
// source, inline enrichment from the simulator) and one pass of the enrich
// worker (pending lookups, seat-list snapshots and drift, seat periods):
// every transition kind, membership rows, team and enterprise-team seats,
// revocations, redeliveries and dead letters.
func loadFixture(t *testing.T, ch *testenv.ClickHouse, db string) *ghsim.Server {
	t.Helper()
	ctx := context.Background()
	start := time.Date(2025, 9, 1, 9, 0, 0, 0, time.UTC)
	sim := ghsim.New(ghsim.Options{Tokens: []string{token}, Limit: 50000, Window: time.Hour, Seed: 26, Start: start,
		MembershipEvents: true, TeamUnassignEventRate: 0.2})
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	rng := rand.New(rand.NewPCG(26, 1))
	if _, err := sim.Populate(rng, ghsim.Population{Users: 60, Emit: true}); err != nil {
		t.Fatal(err)
	}
	for range 300 {
		sim.RandomLifecycleChange(rng)
	}
	sim.Advance(time.Now().Add(-time.Minute).Sub(sim.Now()))
	stream := sim.Events()
	var file bytes.Buffer
	for i, e := range stream {
		file.Write(e)
		file.WriteByte('\n')
		if i%50 == 0 {
			file.Write(e) // redelivered
			file.WriteByte('\n')
		}
	}
	// Dead letters: a truncated event and one with an unreadable time.
	file.WriteString(`{"action":"copilot.cfb_seat_added","_document_id":"trunc` + "\n")
	file.WriteString(`{"action":"copilot.cfb_seat_added","_document_id":"badtime","@timestamp":"yesterday"}` + "\n")
	path := filepath.Join(t.TempDir(), "audit.json")
	if err := os.WriteFile(path, file.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}

	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	icfg, err := ingestd.ParseArgs("--source", "file", "--files", path, "--clickhouse-addr", ch.Addr(),
		"--clickhouse-database", db, "--batch-wait", "100ms", "--http-addr", "")
	if err != nil {
		t.Fatal(err)
	}
	icfg.GitHub.BaseURL, icfg.GitHub.Token = sim.URL()+"/", token
	if err := ingestd.Run(ctx, icfg, logger); err != nil {
		t.Fatal(err)
	}
	ecfg := enrichd.Defaults() // Validate takes no zero for a default
	ecfg.Once, ecfg.Enterprises = true, []string{"acme-corp"}
	ecfg.ClickHouse.Addrs, ecfg.ClickHouse.Database = []string{ch.Addr()}, db
	ecfg.GitHub.BaseURL, ecfg.GitHub.Token = sim.URL()+"/", token
	if err := enrichd.Run(ctx, ecfg, logger); err != nil {
		t.Fatal(err)
	}
	t.Logf("fixture: %d audit events", len(stream))
	return sim
}

// runReaders runs every seatctl command and filter and every Grafana panel
// against the fixture, so the server logs the SQL they send.
func runReaders(t *testing.T, ch *testenv.ClickHouse, db string, sim *ghsim.Server) {
	t.Helper()
	ctx := context.Background()
	one := func(sql string) string {
		out, err := ch.QueryIn(ctx, db, sql)
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(out)
	}
	org := one("SELECT org FROM seat_timeline WHERE org != '' GROUP BY org ORDER BY count() DESC, org LIMIT 1")
	user := one("SELECT user FROM seat_timeline WHERE user != '' GROUP BY user ORDER BY count() DESC, user LIMIT 1")
	team := one("SELECT assigning_team_slug FROM seat_timeline WHERE assigning_team_slug != '' GROUP BY assigning_team_slug ORDER BY count() DESC, assigning_team_slug LIMIT 1")
	actor := one("SELECT actor FROM seat_timeline GROUP BY actor ORDER BY count() DESC, actor LIMIT 1")
	month := time.Now().UTC().AddDate(0, -1, 0).Format("2006-01")
	dir := t.TempDir()
	bundle := filepath.Join(dir, "bundle")
	runs := [][]string{
		{"seats"}, {"seats", "--summary"}, {"seats", "--summary", "--by", "org"}, {"seats", "--summary", "--by", "team"},
		{"seats", "--summary", "--by", "plan"}, {"seats", "--idle", "30d"}, {"seats", "--idle", "30d", "--org", org},
		{"seats", "--idle", "30d", "--team", team}, {"seats", "--at", "30d", "--team", team},
		{"seats", "--state", "pending_cancellation"}, {"seats", "--plan", "business", "--team", team, "--user", user},
		{"seats", "--at", "30d"}, {"seats", "--at", time.Now().UTC().AddDate(0, 0, -60).Format("2006-01-02"), "--org", org},
		{"pending"}, {"pending", "--org", org, "--before", "2099-01-01"}, {"pending", "--team", team, "--user", user},
		{"history"}, {"history", "--org", org}, {"history", "--user", user}, {"history", "--team", team},
		{"history", "--actor", actor}, {"history", "--transition", "assigned,unassigned,cancelled"},
		{"history", "--action", "copilot.cfb_seat_added"}, {"history", "--since", "90d", "--until", "1d"},
		{"history", "--limit", "5"}, {"history", "--last", "5", "--org", org},
		{"periods", "--all"}, {"periods", "--user", user}, {"periods", "--org", org, "--user", user},
		{"seat-days", "--month", month}, {"seat-days", "--month", month, "--by", "team"},
		{"seat-days", "--since", time.Now().UTC().AddDate(0, -4, 0).Format("2006-01"), "--until", month, "--org", org},
		{"orphans"}, {"orphans", "--at", "10d"}, {"orphans", "--org", org, "--user", user},
		{"derive"},
		{"export", "--out", bundle, "--formats", "csv,jsonl", "--include-raw"},
		{"export", "--org", org, "--user", user, "--since", "2025-01-01", "--out", filepath.Join(dir, "b2"), "--formats", "csv"},
		{"verify", bundle},
	}
	for _, args := range runs {
		var out, errb bytes.Buffer
		all := append(slices.Clone(args), "--clickhouse-addr", ch.Addr(), "--clickhouse-database", db)
		if args[0] != "export" && args[0] != "derive" && args[0] != "verify" {
			all = append(all, "--format", "csv")
		}
		if args[0] == "verify" {
			all = args
		}
		// A failing command is the 18.16 lane's concern; here its failed
		// query is captured too, and must fail on 26.x as well.
		if code := seatctl.Main(ctx, all, &out, &errb); code != 0 {
			t.Logf("seatctl %s: exit %d on 18.16: %s", strings.Join(args, " "), code, strings.TrimSpace(errb.String()))
		}
	}

	// Seat reclamation: a plan over both scope filters, an apply (its
	// journal's reads), and status (the confirmation reads).
	planPath := filepath.Join(dir, "reclaim.json")
	gh := []string{"--github-base-url", sim.URL() + "/", "--github-token", token}
	for _, args := range [][]string{
		{"reclaim", "plan", "--org", org, "--enterprise", "acme-corp", "--out", planPath},
		{"reclaim", "plan", "--never-used", "1d", "--grace", "off", "--out", planPath},
	} {
		var out, errb bytes.Buffer
		if code := seatctl.Main(ctx, append(append(args, gh...), "--clickhouse-addr", ch.Addr(), "--clickhouse-database", db, "--format", "csv"), &out, &errb); code != 0 {
			t.Logf("seatctl %s: exit %d on 18.16: %s", strings.Join(args, " "), code, strings.TrimSpace(errb.String()))
		}
	}
	if b, err := os.ReadFile(planPath); err == nil {
		for _, args := range [][]string{
			append([]string{"reclaim", "apply", planPath, "--approve", reclaim.Sum(b)}, gh...),
			{"reclaim", "status", planPath, "--format", "csv"}, {"reclaim", "status", "--format", "csv"},
		} {
			var out, errb bytes.Buffer
			if code := seatctl.Main(ctx, append(args, "--clickhouse-addr", ch.Addr(), "--clickhouse-database", db), &out, &errb); code != 0 {
				t.Logf("seatctl %s: exit %d on 18.16: %s", strings.Join(args[:2], " "), code, strings.TrimSpace(errb.String()))
			} else if args[1] == "apply" {
				t.Logf("seatctl reclaim apply on 18.16:\n%s", out.String())
			}
		}
	}

	// The Grafana panels, through the native protocol as the plugin sends them.
	queries, err := grafana.Queries("../../deploy/grafana/dashboards")
	if err != nil {
		t.Fatal(err)
	}
	store := testenv.OpenTimeline(t, timeline.Config{Addrs: []string{ch.Addr()}, Database: db})
	now := time.Now().UTC()
	m := grafana.Macros{From: now.Add(-130 * 24 * time.Hour), To: now, Interval: 24 * time.Hour,
		Vars: map[string]string{"${org:singlequote}": ch26.Quote(org), "${idle_days}": "30"},
		// 18.16 lacks toStartOfInterval: the expansion both engines run.
		NoInterval: one("SELECT count() FROM system.functions WHERE name = 'toStartOfInterval'") == "0"}
	for _, q := range queries {
		sql, err := m.Expand(q.SQL)
		if err != nil {
			t.Fatalf("%s: %v", q.Where, err)
		}
		rows, err := store.Conn().Query(ctx, sql)
		if err != nil {
			t.Fatalf("%s: %v", q.Where, err)
		}
		for rows.Next() {
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			t.Fatalf("%s: %v", q.Where, err)
		}
	}
}

// query is one distinct SELECT the server received from seatline.
type query struct {
	sql    string
	failed bool // the server answered it with an error
}

var selectQuery = regexp.MustCompile(`(?is)^\s*(SELECT|WITH)\b`)

// capture reads the server's query log: every SELECT that came through the
// native protocol (interface 1: seatline's clients; this test's own
// queries go over HTTP), finished or failed, once per distinct text.
func capture(t *testing.T, ch *testenv.ClickHouse) []query {
	t.Helper()
	ctx := context.Background()
	if _, err := ch.Query(ctx, "SYSTEM FLUSH LOGS"); err != nil {
		t.Fatal(err)
	}
	// type: 2 QueryFinish, 3 ExceptionBeforeStart, 4 ExceptionWhileProcessing.
	out, err := ch.Query(ctx, `SELECT query, min(type) AS t FROM system.query_log
		WHERE interface = 1 AND is_initial_query AND type IN (2, 3, 4)
		GROUP BY query ORDER BY min(event_time), query FORMAT JSONEachRow`)
	if err != nil {
		t.Fatal(err)
	}
	var qs []query
	dec := json.NewDecoder(strings.NewReader(out))
	for {
		var r struct {
			Query string `json:"query"`
			Type  int    `json:"t"`
		}
		if err := dec.Decode(&r); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if selectQuery.MatchString(r.Query) {
			qs = append(qs, query{sql: r.Query, failed: r.Type != 2})
		}
	}
	return qs
}

// copyTables copies every base table of db from 18.16 into chDB: not
// views, and not the targets of materialized views, which chDB's own views
// fill from the copied rows.
func copyTables(t *testing.T, ch *testenv.ClickHouse, eng *ch26.Engine, db string) {
	t.Helper()
	ctx := context.Background()
	q := func(sql string) string {
		out, err := ch.Query(ctx, sql)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	targets := map[string]bool{}
	mvTo := regexp.MustCompile(`(?i)\bTO\s+(?:` + "`?" + regexp.QuoteMeta(db) + "`?" + `\.)?` + "`?" + `(\w+)`)
	for _, mv := range lines(q("SELECT create_table_query FROM system.tables WHERE database = " + ch26.Quote(db) + " AND engine = 'MaterializedView'")) {
		if m := mvTo.FindStringSubmatch(unescapeTSV(mv)); m != nil {
			targets[m[1]] = true
		}
	}
	n := 0
	for _, table := range lines(q("SELECT name FROM system.tables WHERE database = " + ch26.Quote(db) + " AND engine NOT IN ('View', 'MaterializedView') AND name NOT LIKE '.inner.%' ORDER BY name")) {
		if targets[table] {
			continue
		}
		full := testenv.QuoteIdent(db) + "." + testenv.QuoteIdent(table)
		var cols []string
		for _, c := range lines(q("DESCRIBE TABLE " + full)) {
			f := strings.Split(c, "\t")
			if len(f) > 2 && (f[2] == "MATERIALIZED" || f[2] == "ALIAS") {
				continue // computed by the table itself
			}
			cols = append(cols, testenv.QuoteIdent(f[0]))
		}
		list := strings.Join(cols, ", ")
		data := q("SELECT " + list + " FROM " + full + " FORMAT TabSeparated")
		if data == "" {
			continue
		}
		// optimize_on_insert = 0: 26.x would otherwise collapse a
		// ReplacingMergeTree block's duplicates on insert, which 18.16
		// keeps until a merge: un-FINAL counts would differ.
		if err := eng.Exec("INSERT INTO " + full + " (" + list + ") SETTINGS optimize_on_insert = 0 FORMAT TabSeparated\n" + data); err != nil {
			t.Fatalf("copying %s: %v", table, err)
		}
		want := strings.TrimSpace(q("SELECT count() FROM " + full))
		got, err := eng.Query("SELECT count() FROM " + full)
		if err != nil || strings.TrimSpace(got) != want {
			t.Fatalf("%s: %s rows on 18.16, %q on 26.x (%v)", table, want, got, err)
		}
		n++
	}
	t.Logf("copied %d tables to 26.x (%d materialized-view targets filled by 26.x itself)", n, len(targets))
}

// clusterDDLParses checks that the cluster variant of every migration
// statement (schema.ForCluster) is valid SQL for 26.x. No cluster runs
// here, so it is parsed, not run.
func clusterDDLParses(t *testing.T, eng *ch26.Engine) {
	t.Helper()
	migs, err := schema.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, m := range migs {
		for _, stmt := range m.Statements {
			cl, err := schema.ForCluster(stmt, "c", "db")
			if err != nil {
				t.Errorf("migration %04d: %v", m.Version, err)
				continue
			}
			for _, s := range cl {
				if _, err := eng.Query("SELECT formatQuery(" + ch26.Quote(s) + ")"); err != nil {
					t.Errorf("migration %04d: 26.x cannot parse the cluster statement:\n%s\n%v", m.Version, s, err)
				}
				n++
			}
		}
	}
	t.Logf("%d cluster statements parse on 26.x", n)
}

// profileAccepted checks 26.x takes every setting of the test servers'
// profile: it refuses settings it does not know.
func profileAccepted(t *testing.T, eng *ch26.Engine) {
	t.Helper()
	for _, kv := range testenv.ProfileSettings() {
		if err := eng.Exec(fmt.Sprintf("SET %s = %s", kv[0], kv[1])); err != nil {
			t.Errorf("26.x refuses the test profile's setting %s: %v", kv[0], err)
		}
	}
}

// engineIdentity matches queries about the engine rather than the data:
// version() and the list of databases (26.x adds INFORMATION_SCHEMA).
var engineIdentity = regexp.MustCompile(`(?i)\bversion\s*\(|\bsystem\.databases\b`)

var mentionsNow = regexp.MustCompile(`(?i)\b(now|today|yesterday)\s*\(`)

// sameAnswer compares two TabSeparated answers: row by row when the query
// ends with ORDER BY …, as sets of rows otherwise.
func sameAnswer(sql, a, b string) bool {
	ra, rb := lines(zeroTime.Replace(a)), lines(b)
	if !orderedOutside(sql) {
		slices.Sort(ra)
		slices.Sort(rb)
	}
	return slices.Equal(ra, rb)
}

// orderedOutside reports whether sql's outermost query has ORDER BY (not
// only a subquery).
func orderedOutside(sql string) bool {
	depth := 0
	upper := strings.ToUpper(sql)
	for i := 0; i < len(upper); i++ {
		switch upper[i] {
		case '(':
			depth++
		case ')':
			depth--
		case '\'':
			for i++; i < len(upper) && upper[i] != '\''; i++ {
				if upper[i] == '\\' {
					i++
				}
			}
		case 'O':
			if depth == 0 && strings.HasPrefix(upper[i:], "ORDER BY") && (i == 0 || !isWord(upper[i-1])) {
				return true
			}
		}
	}
	return false
}

func isWord(c byte) bool { return c == '_' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' }

func lines(s string) []string {
	s = strings.TrimSuffix(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// zeroTime renders the zero DateTime and Date as 26.x does: 18.16 writes
// 0000-00-00 for the same value (clients scan both as the Unix epoch).
var zeroTime = strings.NewReplacer("0000-00-00 00:00:00", "1970-01-01 00:00:00", "0000-00-00", "1970-01-01")

func unescapeTSV(s string) string {
	return strings.NewReplacer(`\n`, "\n", `\t`, "\t", `\'`, "'", `\\`, `\`).Replace(s)
}

// diff shows both answers and the rows only one of them has.
func diff(want, got string) string {
	a, b := lines(want), lines(got)
	only := func(x, y []string) []string {
		var out []string
		for _, r := range x {
			if !slices.Contains(y, r) {
				out = append(out, r)
			}
		}
		return out
	}
	clip := func(s string) string {
		if len(s) > 3000 {
			return s[:3000] + "\n…"
		}
		return s
	}
	return fmt.Sprintf("18.16 (%d rows):\n%s\n26.x (%d rows):\n%s\nonly on 18.16: %q\nonly on 26.x: %q",
		len(a), clip(want), len(b), clip(got), only(a, b), only(b, a))
}

// batchIDsTable stands in for the external tables the ingest pipeline's
// identity check sends its ids in (timeline.Store.Documents): tables of
// those names and columns on both engines, so the captured lookups are
// compared too.
func batchIDsTable(t *testing.T, ch *testenv.ClickHouse, eng *ch26.Engine, db string) {
	t.Helper()
	in := func(name string) string { return testenv.QuoteIdent(db) + "." + testenv.QuoteIdent(name) }
	ids, hashes := timeline.DocumentLookupTables()
	var stmts []string
	for _, x := range []timeline.ExternalTable{ids, hashes} {
		stmts = append(stmts, "CREATE TABLE "+in(x.Name)+" ("+testenv.QuoteIdent(x.Column)+" "+x.Type+") ENGINE = Memory")
	}
	stmts = append(stmts,
		"INSERT INTO "+in(ids.Name)+" SELECT document_id FROM "+in("seat_events")+" ORDER BY document_id LIMIT 40",
		"INSERT INTO "+in(ids.Name)+" SELECT 'no-such-document'",
		"INSERT INTO "+in(hashes.Name)+" SELECT cityHash64("+testenv.QuoteIdent(ids.Column)+") FROM "+in(ids.Name))
	for _, stmt := range stmts {
		if _, err := ch.Query(context.Background(), stmt); err != nil {
			t.Fatalf("18.16: %s: %v", stmt, err)
		}
		if err := eng.Exec(stmt); err != nil {
			t.Fatalf("26.x: %s: %v", stmt, err)
		}
	}
}
