package main

// The reads part: a large enterprise's seat timeline (--reads-events seat
// events, 5,000,000 by default, over about 0.9 × that / 2.5 distinct seats,
// 150 orgs, 3 years up to today) loaded through Kafka and bin/ingest, then
// every read question timed on it against a direct FINAL query over
// seat_events asking the same.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/seatline/seatline/deploy/grafana"
	"github.com/seatline/seatline/internal/auditgen"
	"github.com/seatline/seatline/internal/seatctl"
	"github.com/seatline/seatline/internal/testenv"
	"github.com/seatline/seatline/internal/timeline"
)

const readsTopic = "bench-reads"

// readsOrgs are 150 organizations: 30 business units in 5 regions.
func readsOrgs() []string {
	units := []string{"platform", "mobile", "research", "data", "payments", "search", "identity", "retail",
		"logistics", "security", "cloud", "devex", "ml", "finance", "hr-systems", "marketing", "support",
		"web", "infra", "analytics", "iot", "gaming", "media", "health", "legal", "sales", "ops", "design",
		"growth", "labs"}
	regions := []string{"", "-emea", "-apac", "-amer", "-latam"}
	out := make([]string, 0, len(units)*len(regions))
	for _, r := range regions {
		for _, u := range units {
			out = append(out, "acme-"+u+r)
		}
	}
	return out
}

// readsConfig shapes n seat events like a large enterprise over 3 years
// ending now: 100% seat events, users = 2/5 of n (each in one org, so
// about 1.8M distinct seats at 5M events), 150 orgs.
func readsConfig(n int, now time.Time) auditgen.Config {
	start := now.UTC().Truncate(24*time.Hour).AddDate(-3, 0, 0)
	return auditgen.Config{
		Seed: 21, SeatFraction: 1, MembershipFraction: -1,
		Users: max(1000, n*2/5), Orgs: readsOrgs(),
		Start: start, Step: max(time.Millisecond, now.Sub(start)/time.Duration(n)),
	}
}

// produceFast generates n events of cfg and writes them to topic: one
// goroutine generates chunks, two write them through one producer (LZ4
// batches of 1,000), so generation and the broker overlap.
func (b *bench) produceFast(ctx context.Context, topic string, n int, cfg auditgen.Config) (seat int, bytesN int64, err error) {
	t0 := time.Now()
	g := auditgen.New(cfg)
	setup := time.Since(t0)
	p := testenv.NewProducer(b.st.Kafka.Brokers(), topic)
	defer p.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	chunks := make(chan [][]byte, 4)
	errs := make(chan error, 2)
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range chunks {
				if err := p.Write(ctx, c...); err != nil {
					errs <- err
					cancel()
					return
				}
			}
		}()
	}
	const chunk = 20000
gen:
	for i := 0; i < n; i += chunk {
		lines := make([][]byte, 0, chunk)
		for j := i; j < min(n, i+chunk); j++ {
			r := g.Next()
			if r.Kind == auditgen.KindSeat {
				seat++
			}
			bytesN += int64(len(r.Line))
			lines = append(lines, r.Line)
		}
		select {
		case chunks <- lines:
		case <-ctx.Done():
			break gen
		}
	}
	close(chunks)
	wg.Wait()
	select {
	case err := <-errs:
		return seat, bytesN, err
	default:
	}
	if ctx.Err() != nil {
		return seat, bytesN, ctx.Err()
	}
	fmt.Printf("# topic %s: %d events (%d seat/policy/plan), %.0f MB, produced in %s (generator set-up %s)\n",
		topic, n, seat, float64(bytesN)/1e6, time.Since(t0).Round(time.Millisecond), setup.Round(time.Millisecond))
	return seat, bytesN, p.Close()
}

// reads loads the timeline and times the read questions.
func (b *bench) reads(ctx context.Context) error {
	n := b.opt.readsEvents
	t0 := time.Now()
	cfg := readsConfig(n, t0)
	fmt.Printf("# reads: %d seat events, %d users in %d orgs, %s to %s\n", n, cfg.Users, len(cfg.Orgs),
		cfg.Start.Format("2006-01-02"), cfg.Start.Add(time.Duration(n)*cfg.Step).Format("2006-01-02"))
	seat, _, err := b.produceFast(ctx, readsTopic, n, cfg)
	if err != nil {
		return err
	}

	// Load: the real worker, as the seat run.
	r, err := b.ingestRun(ctx, "reads", readsTopic, n)
	if err != nil {
		return err
	}
	if int(r.rows) < seat {
		return fmt.Errorf("reads load wrote %.0f rows, want %d (one per event)", r.rows, seat)
	}
	rate := (r.rows - r.firstRows) / r.elapsed.Seconds()
	fmt.Printf("# reads load: %d messages, %.0f rows written; %.0f rows in %s from the first /metrics poll seeing a message to lag 0, with whatever read models the schema maintains on insert\n",
		n, r.rows, r.rows-r.firstRows, r.elapsed.Round(time.Millisecond))
	figure("reads_load_rows_per_s", fmt.Sprintf("%.0f", rate), "rows/s")
	b.target("reads_load_rows_per_s", math.Round(rate), rate >= 50000, "≥ 50000")
	figure("reads_load_peak_rss_mb", fmt.Sprintf("%.1f", r.mem.Peak), "MiB")
	b.target("reads_load_peak_rss_mb", math.Round(r.mem.Peak*10)/10, r.mem.Peak <= 256, "≤ 256")

	const db = "bench_reads"
	store, err := b.st.Store(ctx, db)
	if err != nil {
		return err
	}
	defer store.Close()
	if err := readsShape(ctx, store); err != nil {
		return err
	}
	if err := readsSnapshot(ctx, store, t0); err != nil {
		return err
	}
	q := &readTimer{b: b, store: store, db: db, runs: b.opt.readsRuns}
	fmt.Printf("# reads: each question asked once untimed (warm-up), then %d times (fewer once a query's timed runs pass %s); the figure is the median. query_*_ms: seatctl.Main in this process, "+
		"exactly as the seatctl binary runs it (connect, schema check, query, every row formatted as CSV) with stdout to a discarding writer; "+
		"\"view query\": the seatctl query builder's SQL alone on an open connection, every column of every row scanned; "+
		"baseline: the same question as a direct query over seat_events FINAL, on the same open connection\n", q.runs, timedBudget)

	// history of a seat with 4 events.
	var org, user string
	if err := store.Conn().QueryRow(ctx, `SELECT org, user FROM seat_events WHERE user != '' GROUP BY org, user HAVING count() = 4 ORDER BY org, user LIMIT 1`).Scan(&org, &user); err != nil {
		return fmt.Errorf("reads: picking a seat with 4 events: %w", err)
	}
	// The range seatctl history takes without --since/--until.
	rng, err := seatctl.ParseRange("", "", time.Now())
	if err != nil {
		return err
	}
	hs := seatctl.HistoryQuery(seatctl.HistoryFilter{Orgs: []string{org}, Users: []string{user}, Range: rng}, seatctl.ClientBinding)
	if err := q.question(ctx, "history", 50, fmt.Sprintf("seatctl history --org %s --user %s", org, user),
		[]string{"history", "--org", org, "--user", user}, hs.SQL, hs.Args(), baseHistory, []any{org, user}); err != nil {
		return err
	}
	ss, err := seatctl.SummaryQuery(seatctl.SeatFilter{}, "org", seatctl.ClientBinding)
	if err != nil {
		return err
	}
	if err := q.question(ctx, "seats_summary", 500, "seatctl seats --summary",
		[]string{"seats", "--summary"}, ss.SQL, ss.Args(), baseSummary, nil); err != nil {
		return err
	}
	is := seatctl.IdleQuery(seatctl.SeatFilter{}, 30, seatctl.ClientBinding)
	if err := q.question(ctx, "idle", 500, "seatctl seats --idle 30d",
		[]string{"seats", "--idle", "30d"}, is.SQL, is.Args(), baseIdle, []any{30}); err != nil {
		return err
	}
	ps := seatctl.PendingQuery(seatctl.SeatFilter{}, time.Time{}, seatctl.ClientBinding)
	if err := q.question(ctx, "pending", 500, "seatctl pending",
		[]string{"pending"}, ps.SQL, ps.Args(), basePending, nil); err != nil {
		return err
	}
	if err := q.dashboard(ctx); err != nil {
		return err
	}
	fmt.Printf("# reads part: %s in all (load and queries)\n", time.Since(t0).Round(time.Second))
	return nil
}

// readsShape prints what was loaded: seats, orgs, the transition mix.
func readsShape(ctx context.Context, store *timeline.Store) error {
	var rows, seats, orgs, recent uint64
	if err := store.Conn().QueryRow(ctx, `SELECT count(), uniqExact(org, user), uniqExact(org), countIf(event_time >= now() - 30 * 86400)
		FROM seat_events FINAL WHERE user != ''`).Scan(&rows, &seats, &orgs, &recent); err != nil {
		return fmt.Errorf("reads: shape: %w", err)
	}
	rs, err := store.Conn().Query(ctx, `SELECT toString(transition) AS t, count() FROM seat_events FINAL GROUP BY t ORDER BY count() DESC`)
	if err != nil {
		return fmt.Errorf("reads: shape: %w", err)
	}
	defer rs.Close()
	var mix []string
	for rs.Next() {
		var t string
		var c uint64
		if err := rs.Scan(&t, &c); err != nil {
			return err
		}
		mix = append(mix, fmt.Sprintf("%s %d", t, c))
	}
	if err := rs.Err(); err != nil {
		return err
	}
	fmt.Printf("# reads timeline: %d seat rows over %d distinct org/user seats in %d orgs (%d rows in the last 30 days); transitions: %s\n",
		rows, seats, orgs, recent, strings.Join(mix, ", "))
	return nil
}

// readsSnapshot writes one seat-list poll of every org, as cmd/enrich's
// poll would (the seat detail idle and pending read: plan, team, billing
// end, last activity), for every seat the events leave active or pending.
// Audit events carry no such detail, so without it no seat could be judged
// idle. Values are derived from a hash of the seat, so runs agree.
func readsSnapshot(ctx context.Context, store *timeline.Store, now time.Time) error {
	t0 := time.Now()
	at := now.UTC().Truncate(time.Second)
	err := store.Conn().Exec(ctx, `INSERT INTO seat_snapshots (snapshot_at, scope, scope_name, org, user, user_id, assignee_type, plan_type,
    assigning_team_slug, assigning_team_name, assigning_team_kind, billable_until, seat_created_at, last_activity_at,
    last_activity_editor, last_authenticated_at)
SELECT
    toDateTime(?) AS at, 'org', org, org, user, user_id, 'User',
    if(h % 3 = 0, 'enterprise', 'business'),
    if(h % 4 = 0, '', concat('team-', toString(h % 12))),
    if(h % 4 = 0, '', concat('Team ', toString(h % 12))),
    if(h % 4 = 0, 'none', 'org'),
    if(last_t = 'unassigned', toNullable(toDate(toStartOfMonth(addMonths(toDate(last_change), 1))) - 1), NULL),
    toNullable(if(first_assigned > toDateTime(0), first_assigned, last_change)),
    if(h % 7 = 0, NULL, toNullable(at - (h % 45) * 86400 - h % 86400)),
    if(h % 7 = 0, '', 'vscode/1.96.0/copilot/1.250.0'),
    if(h % 7 = 0, NULL, toNullable(at - (h % 20) * 86400))
FROM
(
    SELECT org, user, any(user_id) AS user_id, toString(argMax(transition, (event_ms, document_id))) AS last_t,
        max(event_time) AS last_change, minIf(event_time, transition = 'assigned') AS first_assigned,
        cityHash64(org, user) AS h
    FROM seat_events FINAL
    WHERE user != '' AND transition NOT IN ('other', 'policy_changed', 'plan_changed')
    GROUP BY org, user
)
WHERE last_t IN ('assigned', 'refreshed', 'reused', 'updated', 'access_reinstated', 'unassigned')`, at.Unix())
	if err != nil {
		return fmt.Errorf("reads: writing the seat-list snapshot: %w", err)
	}
	var seats, never, pending uint64
	if err := store.Conn().QueryRow(ctx, `SELECT count(), countIf(isNull(last_activity_at)), countIf(isNotNull(billable_until)) FROM seat_snapshots`).Scan(&seats, &never, &pending); err != nil {
		return err
	}
	fmt.Printf("# reads: one seat-list snapshot written directly into seat_snapshots (what enrich's poll writes; audit events carry no activity): %d seats, %d never used, %d pending with a billing end, last activity 0–45 days ago; %s\n",
		seats, never, pending, time.Since(t0).Round(time.Millisecond))
	return nil
}

// ---- timing ----

type readTimer struct {
	b     *bench
	store *timeline.Store
	db    string
	runs  int
}

// timing is the median, min and max of n runs.
type timing struct {
	med, lo, hi time.Duration
	n           int
}

func (t timing) String() string {
	return fmt.Sprintf("median of %d %.1f ms (min %.1f, max %.1f)", t.n, ms(t.med), ms(t.lo), ms(t.hi))
}

// timedBudget bounds the timed runs of one query: runs stop once they
// have taken this long together (at least one runs), so a slow query does
// not make the bench take hours.
const timedBudget = 30 * time.Second

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// repeat runs fn once untimed, then q.runs times (fewer once timedBudget
// is spent), and returns the timings and fn's last result.
func (q *readTimer) repeat(ctx context.Context, fn func() (int, error)) (timing, int, error) {
	n, err := fn()
	if err != nil {
		return timing{}, 0, err
	}
	ds := make([]time.Duration, 0, q.runs)
	var total time.Duration
	for len(ds) < q.runs && (len(ds) == 0 || total < timedBudget) {
		if ctx.Err() != nil {
			return timing{}, 0, ctx.Err()
		}
		t0 := time.Now()
		if n, err = fn(); err != nil {
			return timing{}, 0, err
		}
		d := time.Since(t0)
		ds = append(ds, d)
		total += d
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return timing{med: ds[len(ds)/2], lo: ds[0], hi: ds[len(ds)-1], n: len(ds)}, n, nil
}

// seatctl runs seatctl.Main with args on the bench database, stdout
// counted and discarded; it returns the lines written (CSV: a header, the
// rows, a summary's total).
func (q *readTimer) seatctl(ctx context.Context, args []string) (int, error) {
	full := append(append([]string(nil), args...), "--format", "csv",
		"--clickhouse-addr", q.b.st.CH.Addr(), "--clickhouse-database", q.db)
	var out lineCounter
	var errb bytes.Buffer
	if code := seatctl.Main(ctx, full, &out, &errb); code != 0 {
		return 0, fmt.Errorf("seatctl %s: exit %d: %s", strings.Join(full, " "), code, strings.TrimSpace(errb.String()))
	}
	return out.lines, nil
}

// lineCounter is an io.Writer that keeps only the number of lines.
type lineCounter struct{ lines int }

func (c *lineCounter) Write(p []byte) (int, error) {
	c.lines += bytes.Count(p, []byte{'\n'})
	return len(p), nil
}

var _ io.Writer = (*lineCounter)(nil)

// scanAll runs sql and scans every column of every row; it returns the
// row count.
func (q *readTimer) scanAll(ctx context.Context, sql string, args []any) (int, error) {
	rows, err := q.store.Conn().Query(ctx, sql, args...)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	types := rows.ColumnTypes()
	dest := make([]any, len(types))
	for i, t := range types {
		dest[i] = reflect.New(t.ScanType()).Interface()
	}
	n := 0
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return n, err
		}
		n++
	}
	return n, rows.Err()
}

// question times one read question three ways (seatctl, its query alone,
// the baseline) and prints its figures and target.
func (q *readTimer) question(ctx context.Context, name string, targetMs float64, what string, args []string,
	viewSQL string, viewArgs []any, baseSQL string, baseArgs []any) error {
	cli, lines, err := q.repeat(ctx, func() (int, error) { return q.seatctl(ctx, args) })
	if err != nil {
		return err
	}
	view, vrows, err := q.repeat(ctx, func() (int, error) { return q.scanAll(ctx, viewSQL, viewArgs) })
	if err != nil {
		return fmt.Errorf("%s: view query: %w\n%s", name, err, viewSQL)
	}
	// The baseline may not answer at all at this size (18.16 runs out of
	// its per-query memory joining the whole timeline): that is a finding,
	// not a reason to stop.
	base, brows, berr := q.repeat(ctx, func() (int, error) { return q.scanAll(ctx, baseSQL, baseArgs) })
	v := ms(cli.med)
	figure("query_"+name+"_ms", fmt.Sprintf("%.1f", v), "ms")
	if berr != nil {
		fmt.Printf("# %s: `%s`: %s, %d CSV lines; view query alone %s, %d rows; baseline FAILED: %v\n",
			name, what, cli, lines, view, vrows, firstLine(berr.Error()))
		figure("query_"+name+"_baseline_ms", "failed", "-")
	} else {
		agree := "the same number of rows"
		if vrows != brows {
			agree = fmt.Sprintf("DIFFERENT row counts (view %d, baseline %d): the views and the baseline disagree", vrows, brows)
		}
		fmt.Printf("# %s: `%s`: %s, %d CSV lines; view query alone %s, %d rows; baseline %s, %d rows: %s\n",
			name, what, cli, lines, view, vrows, base, brows, agree)
		bl := ms(base.med)
		figure("query_"+name+"_baseline_ms", fmt.Sprintf("%.1f", bl), "ms")
		figure("query_"+name+"_ratio_to_baseline", fmt.Sprintf("%.3f", v/math.Max(bl, 0.001)), "ratio")
	}
	b := q.b
	b.target("query_"+name+"_ms", math.Round(v*10)/10, v <= targetMs, "≤ "+strconv.FormatFloat(targetMs, 'f', -1, 64))
	return nil
}

// dashboard times every panel of deploy/grafana/dashboards with the time
// range the last 30 days and every org selected.
func (q *readTimer) dashboard(ctx context.Context) error {
	root, err := testenv.ModuleRoot()
	if err != nil {
		return err
	}
	queries, err := grafana.Queries(filepath.Join(root, "deploy", "grafana", "dashboards"))
	if err != nil {
		return err
	}
	var orgs []string
	rs, err := q.store.Conn().Query(ctx, "SELECT DISTINCT org FROM seat_events WHERE org != '' ORDER BY org")
	if err != nil {
		return err
	}
	for rs.Next() {
		var o string
		if err := rs.Scan(&o); err != nil {
			rs.Close()
			return err
		}
		orgs = append(orgs, "'"+strings.ReplaceAll(o, "'", `\'`)+"'")
	}
	rs.Close()
	if err := rs.Err(); err != nil {
		return err
	}
	var hasInterval uint64
	if err := q.store.Conn().QueryRow(ctx, "SELECT count() FROM system.functions WHERE name = 'toStartOfInterval'").Scan(&hasInterval); err != nil {
		return err
	}
	now := time.Now().UTC()
	m := grafana.Macros{
		From: now.Add(-30 * 24 * time.Hour), To: now, Interval: time.Hour,
		Vars:       map[string]string{"${org:singlequote}": strings.Join(orgs, ","), "${idle_days}": "30"},
		NoInterval: hasInterval == 0,
	}
	var worst time.Duration
	var worstName string
	panels := 0
	for _, dq := range queries {
		sql, err := m.Expand(dq.SQL)
		if err != nil {
			return fmt.Errorf("dashboard %s: %w", dq.Where, err)
		}
		t, n, err := q.repeat(ctx, func() (int, error) { return q.scanAll(ctx, sql, nil) })
		if err != nil {
			return fmt.Errorf("dashboard %s: %w\n%s", dq.Where, err, sql)
		}
		panels++
		fmt.Printf("# dashboard %s: %s, %d rows\n", dq.Where, t, n)
		if t.med > worst {
			worst, worstName = t.med, dq.Where
		}
	}
	if panels == 0 {
		return fmt.Errorf("dashboard: no panel queries found")
	}
	fmt.Printf("# dashboard: %d panel queries, last 30 days, all %d orgs, interval 1h; slowest: %s (no baseline: the panels have no direct-query twins)\n",
		panels, len(orgs), worstName)
	v := ms(worst)
	figure("query_dashboard_max_ms", fmt.Sprintf("%.1f", v), "ms")
	q.b.target("query_dashboard_max_ms", math.Round(v*10)/10, v <= 500, "≤ 500")
	return nil
}

// firstLine is s up to its first newline.
func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
