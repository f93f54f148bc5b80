// Command demo is `make demo`: it starts a private ClickHouse and Kafka on
// loopback, streams a fictional enterprise's GitHub audit log through the
// real ingest binary, and prints what ended up in the timeline. Everything
// it starts is stopped, and its temp directory removed, before it exits
// (also on Ctrl-C).
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/seatline/seatline/internal/auditgen"
	"github.com/seatline/seatline/internal/benchkit"
	"github.com/seatline/seatline/internal/testenv"
	"github.com/seatline/seatline/internal/timeline"
)

const (
	topic    = "github-audit"
	group    = "seatline-demo"
	database = "seatline"
	total    = 20000
)

var orgs = []string{"acme-platform", "acme-mobile", "acme-research"}

func main() {
	// Output piped into head must not kill us before we clean up.
	signal.Ignore(syscall.SIGPIPE)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	d := &demo{t0: time.Now()}
	err := d.run(ctx)
	interrupted := ctx.Err() != nil
	if interrupted {
		fmt.Println("\ninterrupted: stopping ingest, Kafka and ClickHouse …")
	}
	keepLog := err != nil && !interrupted && d.ingest != nil
	d.cleanup.Run()
	switch {
	case d.tmp == "":
	case keepLog:
		// Keep the ingest log, remove the rest (ClickHouse's data).
		entries, _ := os.ReadDir(d.tmp)
		for _, e := range entries {
			if e.Name() != "ingest.log" {
				os.RemoveAll(filepath.Join(d.tmp, e.Name()))
			}
		}
	default:
		os.RemoveAll(d.tmp)
	}
	switch {
	case interrupted:
		fmt.Println("interrupted: everything the demo started is stopped and its temp directory removed")
		os.Exit(130)
	case err != nil:
		fmt.Fprintf(os.Stderr, "\ndemo failed: %v\n", err)
		if keepLog {
			fmt.Fprintf(os.Stderr, "ingest log: %s\n", d.ingest.LogPath)
		}
		os.Exit(1)
	}
}

type demo struct {
	t0      time.Time
	tmp     string
	cleanup benchkit.Cleanup
	stack   *benchkit.Stack
	ingest  *benchkit.Ingest
	store   *timeline.Store

	// what was produced
	kinds    map[auditgen.Kind]int
	userSeat int // seat changes of a user (not policy/plan)
	genState map[[2]string]string
}

func step(format string, args ...any) { fmt.Printf("▸ "+format+"\n", args...) }

func (d *demo) run(ctx context.Context) error {
	fmt.Println("seatline demo: a GitHub audit stream → Copilot seat timeline in ClickHouse")
	fmt.Println()
	if names := benchkit.ScrubEnv(); len(names) > 0 {
		step("ignoring %s for this private stack", strings.Join(names, ", "))
	}
	var err error
	if d.tmp, err = os.MkdirTemp("", "seatline-demo-"); err != nil {
		return err
	}

	bin, built, err := benchkit.IngestBinary(ctx, d.tmp)
	if err != nil {
		return fmt.Errorf("ingest binary: %w", err)
	}
	if built {
		step("bin/ingest not found: built ./cmd/ingest into the temp dir")
	}

	if err := d.startStack(ctx); err != nil {
		return err
	}
	if err := d.produce(ctx); err != nil {
		return err
	}
	if err := d.runIngest(ctx, bin); err != nil {
		return err
	}

	if d.store, err = d.stack.Store(ctx, database); err != nil {
		return err
	}
	d.cleanup.Add(func() { d.store.Close() })
	var checks []error
	for _, section := range []func(context.Context) error{d.summary, d.timelines, d.seatState, d.deadLetters} {
		fmt.Println()
		if err := section(ctx); err != nil {
			var ce checkError
			if !errors.As(err, &ce) {
				return err
			}
			checks = append(checks, err)
		}
	}
	fmt.Println()
	if err := d.stop(); err != nil {
		return err
	}
	if len(checks) > 0 {
		return errors.Join(checks...)
	}
	fmt.Printf("\nDone in %.1fs. Run it yourself: see README.md (\"Querying the timeline\").\n", time.Since(d.t0).Seconds())
	return nil
}

// checkError is a result that differs from what was produced: reported
// after everything is printed.
type checkError struct{ msg string }

func (e checkError) Error() string { return e.msg }

func (d *demo) startStack(ctx context.Context) error {
	s, err := benchkit.StartStack(ctx, filepath.Join(d.tmp, "clickhouse"))
	if err != nil {
		if errors.Is(err, testenv.ErrNoClickHouse) {
			return fmt.Errorf("%w\n(make demo installs it: it runs scripts/deps.sh first)", err)
		}
		return err
	}
	d.stack = s
	d.cleanup.Add(func() { s.Close() })
	step("ClickHouse %s on %s, Kafka (kfake) on %s: ready in %.1fs",
		s.ClickHouseVersion(ctx), s.CH.Addr(), s.Broker(), s.Started.Seconds())
	if err := s.Kafka.CreateTopic(ctx, topic, 4); err != nil {
		return err
	}
	return nil
}

func (d *demo) produce(ctx context.Context) error {
	g := auditgen.New(auditgen.Config{
		Seed: 7, Enterprise: "acme-corp", BusinessID: 4242, Orgs: orgs, Users: 40,
		SeatFraction: 0.05, DuplicateFraction: 0.02, MalformedFraction: 0.003,
		Start: time.Date(2025, 3, 3, 8, 0, 0, 0, time.UTC), Step: 137331 * time.Millisecond,
	})
	d.kinds = map[auditgen.Kind]int{}
	lines := make([][]byte, 0, total)
	for range total {
		r := g.Next()
		d.kinds[r.Kind]++
		if r.Kind == auditgen.KindSeat && r.User != "" {
			d.userSeat++
		}
		lines = append(lines, r.Line)
	}
	d.genState = g.State()
	t0 := time.Now()
	p := testenv.NewProducer(d.stack.Kafka.Brokers(), topic)
	err := p.Write(ctx, lines...)
	if cerr := p.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	first := g.Config().Start
	last := first.Add(time.Duration(total-1) * g.Config().Step)
	step("produced %s audit events of acme-corp (%d orgs, 40 users, %s → %s) to topic %s (4 partitions) in %.1fs",
		num(total), len(orgs), first.Format("2006-01-02"), last.Format("2006-01-02"), topic, time.Since(t0).Seconds())
	return nil
}

func (d *demo) runIngest(ctx context.Context, bin string) error {
	args := benchkit.IngestArgs(d.stack, topic, group, database, "--batch-wait", "200ms")
	in, err := benchkit.StartIngest(bin, args, filepath.Join(d.tmp, "ingest.log"))
	if err != nil {
		return err
	}
	d.ingest = in
	d.cleanup.Add(in.Close) // no-op after d.stop's Stop
	step("started bin/ingest (pid %d, group %s, metrics on http://%s/metrics)", in.Proc.PID(), group, in.HTTPAddr)

	t0 := time.Now()
	lastPrint := t0
	deadline := t0.Add(2 * time.Minute)
	for {
		if err := benchkit.Sleep(ctx, 200*time.Millisecond); err != nil {
			return err
		}
		if err := in.CheckAlive(); err != nil {
			return err
		}
		lag, lerr := d.stack.Lag(ctx, group, topic)
		m, merr := in.Metrics(ctx)
		done := lerr == nil && lag == 0
		if done || time.Since(lastPrint) >= time.Second {
			lastPrint = time.Now()
			if merr == nil {
				status := "lag " + num(int(lag))
				if done {
					status = "caught up (lag 0)"
				} else if lerr != nil {
					status = "lag ?"
				}
				fmt.Printf("    %4.1fs  read %6s / %s   rows written %5s   dead letters %3s   %s\n",
					time.Since(t0).Seconds(), num(int(m.Messages)), num(total), num(int(m.Rows)), num(int(m.DeadLetters)), status)
			}
		}
		if done {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("ingest did not catch up within 2 minutes (lag %d, lag error %v, metrics error %v)", lag, lerr, merr)
		}
	}
}

func (d *demo) count(ctx context.Context, q string) (uint64, error) {
	var n uint64
	err := d.store.Conn().QueryRow(ctx, q).Scan(&n)
	return n, err
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

	seat, dup, mal, noise := d.kinds[auditgen.KindSeat], d.kinds[auditgen.KindDuplicate], d.kinds[auditgen.KindMalformed], d.kinds[auditgen.KindNoise]
	mark := func(ok bool) string {
		if ok {
			return "✓"
		}
		return "✗"
	}
	fmt.Println("Summary")
	t := [][]string{
		{"audit events produced", num(total), ""},
		{"  Copilot seat and policy events", num(seat), fmt.Sprintf("%s seat changes, %s policy/plan changes", num(d.userSeat), num(seat-d.userSeat))},
		{"  duplicates (redelivered)", num(dup), "same _document_id as an earlier event"},
		{"  malformed lines", num(mal), ""},
		{"  other audit activity", num(noise), "git.*, repo.*, workflows.* …: skipped unparsed"},
		{"timeline rows (seat_timeline)", num(int(rows)), mark(int(rows) == seat) + " each seat/policy event exactly once"},
		{"  stored copies (seat_events)", num(int(raw)), "duplicates collapse on read (FINAL)"},
		{"dead letters (dead_letters)", num(int(dead)), mark(int(dead) == mal) + " each malformed line, with its reason"},
	}
	printTable("  ", "lrl", nil, t)
	if len(reasons) > 0 {
		fmt.Printf("    %s\n", strings.Join(reasons, " · "))
	}
	var errs []error
	if int(rows) != seat {
		errs = append(errs, checkError{fmt.Sprintf("seat_timeline holds %d rows, but %d distinct seat/policy events were produced", rows, seat)})
	}
	if int(dead) != mal {
		errs = append(errs, checkError{fmt.Sprintf("dead_letters holds %d rows, but %d malformed lines were produced", dead, mal)})
	}
	return errors.Join(errs...)
}

type tlEvent struct {
	ms                       uint64
	transition, action, actr string
	pos                      string
}

type history struct {
	org, user string
	evs       []tlEvent
}

func (h *history) transitions() []string {
	out := make([]string, len(h.evs))
	for i, e := range h.evs {
		out[i] = e.transition
	}
	return out
}

func (d *demo) timelines(ctx context.Context) error {
	q, err := d.store.Conn().Query(ctx, `SELECT org, user, event_ms, toString(transition), action, actor, source_position
		FROM seat_timeline
		WHERE user != '' AND transition NOT IN ('other', 'policy_changed', 'plan_changed')
		ORDER BY org, user, event_ms, document_id`)
	if err != nil {
		return err
	}
	var hs []*history
	for q.Next() {
		var org, user string
		var e tlEvent
		if err := q.Scan(&org, &user, &e.ms, &e.transition, &e.action, &e.actr, &e.pos); err != nil {
			q.Close()
			return err
		}
		if n := len(hs); n == 0 || hs[n-1].org != org || hs[n-1].user != user {
			hs = append(hs, &history{org: org, user: user})
		}
		h := hs[len(hs)-1]
		h.evs = append(h.evs, e)
	}
	q.Close()
	if err := q.Err(); err != nil {
		return err
	}
	if len(hs) == 0 {
		return checkError{"seat_timeline holds no seat changes"}
	}

	type pick struct {
		h      *history
		title  string
		lo, hi int // window shown
	}
	used := map[*history]bool{}
	var picks []pick
	const window = 5

	// 1. assigned → unassigned → cancelled, as early in a history as possible.
	best, bestAt := (*history)(nil), 0
	for _, h := range hs {
		tr := h.transitions()
		for i := 0; i+2 < len(tr); i++ {
			if tr[i] == "assigned" && tr[i+1] == "unassigned" && strings.HasPrefix(tr[i+2], "cancelled") {
				if best == nil || i < bestAt || (i == bestAt && len(tr) < len(best.evs)) {
					best, bestAt = h, i
				}
				break
			}
		}
	}
	usedOrg := map[string]bool{}
	if best != nil {
		used[best], usedOrg[best.org] = true, true
		lo := max(0, bestAt-1)
		picks = append(picks, pick{best, "assigned → unassigned → cancelled", lo, min(len(best.evs), lo+window)})
	}

	// 2. a seat refreshed (re-assigned while pending cancellation) and reused.
	var bestScore int
	best = nil
	for _, h := range hs {
		if used[h] {
			continue
		}
		tr := h.transitions()
		for i := 0; i < len(tr); i++ {
			lo, hi := i, min(len(tr), i+window)
			score := 0
			seen := map[string]bool{}
			for _, t := range tr[lo:hi] {
				if (t == "refreshed" || t == "reused") && !seen[t] {
					score += 10
				}
				seen[t] = true
			}
			score += len(seen) // variety
			if !usedOrg[h.org] {
				score += 5 // another org than the first pick
			}
			if score > bestScore {
				best, bestScore, bestAt = h, score, i
			}
		}
	}
	if best != nil {
		used[best], usedOrg[best.org] = true, true
		picks = append(picks, pick{best, "seat refreshed and reused", bestAt, min(len(best.evs), bestAt+window)})
	}

	// 3. still active now: the end of a history whose last change keeps the seat.
	activeNow := map[string]bool{"assigned": true, "refreshed": true, "reused": true, "updated": true, "access_reinstated": true}
	best = nil
	for _, h := range hs {
		if used[h] || !activeNow[h.evs[len(h.evs)-1].transition] {
			continue
		}
		score := func(h *history) int {
			s := variety(h, window)
			if !usedOrg[h.org] {
				s += 10
			}
			return s
		}
		if best == nil || score(h) > score(best) {
			best = h
		}
	}
	if best != nil {
		picks = append(picks, pick{best, "still holds a seat", max(0, len(best.evs)-window), len(best.evs)})
	}

	fmt.Println("Seat timelines (seat_timeline, ordered by event_ms)")
	for i, p := range picks {
		if i > 0 {
			fmt.Println()
		}
		fmt.Printf("  %s in %s: %s (%d changes in all)\n", p.h.user, p.h.org, p.title, len(p.h.evs))
		var t [][]string
		if p.lo > 0 {
			t = append(t, []string{"…", fmt.Sprintf("%d earlier", p.lo), "", ""})
		}
		for _, e := range p.h.evs[p.lo:p.hi] {
			t = append(t, []string{iso(e.ms), e.transition, e.action, "by " + e.actr})
		}
		if rest := len(p.h.evs) - p.hi; rest > 0 {
			t = append(t, []string{"…", fmt.Sprintf("%d later", rest), "", ""})
		}
		printTable("    ", "llll", nil, t)
	}
	return nil
}

// variety is how many distinct transitions the last n changes of h hold.
func variety(h *history, n int) int {
	seen := map[string]bool{}
	for _, e := range h.evs[max(0, len(h.evs)-n):] {
		seen[e.transition] = true
	}
	return len(seen)
}

func (d *demo) seatState(ctx context.Context) error {
	q, err := d.store.Conn().Query(ctx, `SELECT org, countIf(state = 'active'), countIf(state = 'pending_cancellation'),
		countIf(state = 'cancelled'), countIf(state NOT IN ('active', 'pending_cancellation', 'cancelled'))
		FROM seat_state GROUP BY org ORDER BY org`)
	if err != nil {
		return err
	}
	t := [][]string{}
	var sum [4]uint64
	got := map[string][4]uint64{}
	for q.Next() {
		var org string
		var c [4]uint64
		if err := q.Scan(&org, &c[0], &c[1], &c[2], &c[3]); err != nil {
			q.Close()
			return err
		}
		got[org] = c
		for i := range c {
			sum[i] += c[i]
		}
		t = append(t, []string{org, u64(c[0]), u64(c[1]), u64(c[2])})
	}
	q.Close()
	if err := q.Err(); err != nil {
		return err
	}

	// The generator's own bookkeeping of each (org, user)'s last change.
	want := map[string][4]uint64{}
	for k, tr := range d.genState {
		c := want[k[0]]
		switch tr {
		case "assigned", "refreshed", "reused", "updated", "access_reinstated":
			c[0]++
		case "unassigned":
			c[1]++
		case "cancelled", "cancelled_by_staff":
			c[2]++
		default:
			c[3]++
		}
		want[k[0]] = c
	}
	ok := len(want) == len(got)
	for org, c := range want {
		if got[org] != c {
			ok = false
		}
	}
	note := "✓ matches the generator's own state"
	if !ok {
		note = "✗ differs from the generator's own state"
	}
	t = append(t, []string{"all orgs", u64(sum[0]), u64(sum[1]), u64(sum[2]), note})
	fmt.Println("Current seats (seat_state)")
	printTable("  ", "lrrrl", []string{"org", "active", "pending_cancellation", "cancelled", ""}, t)
	if sum[3] > 0 {
		fmt.Printf("  (%d in another state: revoked or unknown)\n", sum[3])
	}
	if !ok {
		return checkError{fmt.Sprintf("seat_state per org %v differs from the generator's %v (active, pending, cancelled, other)", got, want)}
	}
	return nil
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

func (d *demo) stop() error {
	fmt.Println("Stopping")
	in := d.ingest
	if err := in.Stop(30 * time.Second); err != nil {
		return err
	}
	fmt.Printf("  ✓ ingest (pid %d) got SIGTERM and exited 0: %q\n", in.Proc.PID(), logMsg(in.CleanLine()))
	d.cleanup.Run() // the query connection, Kafka, ClickHouse
	if err := os.RemoveAll(d.tmp); err != nil {
		return err
	}
	fmt.Printf("  ✓ Kafka and ClickHouse stopped; %s removed\n", d.tmp)
	return nil
}

// logMsg is the msg of a text-format slog line.
func logMsg(line string) string {
	const key = `msg="`
	i := strings.Index(line, key)
	if i < 0 {
		return line
	}
	s, err := strconv.QuotedPrefix(line[i+len(key)-1:])
	if err != nil {
		return line
	}
	u, err := strconv.Unquote(s)
	if err != nil {
		return line
	}
	return u
}

// ---- formatting ----

func iso(ms uint64) string {
	return time.UnixMilli(int64(ms)).UTC().Format("2006-01-02T15:04:05Z")
}

func num(n int) string {
	s := strconv.Itoa(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func u64(n uint64) string { return num(int(n)) }

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// printTable prints rows in aligned columns; align has one 'l' or 'r' per
// column. The last column is not padded.
func printTable(indent, align string, header []string, rows [][]string) {
	all := rows
	if header != nil {
		all = append([][]string{header}, rows...)
	}
	width := make([]int, len(align))
	for _, r := range all {
		for i, c := range r {
			if i < len(width) {
				width[i] = max(width[i], len([]rune(c)))
			}
		}
	}
	for _, r := range all {
		var b strings.Builder
		b.WriteString(indent)
		for i, c := range r {
			pad := strings.Repeat(" ", width[i]-len([]rune(c)))
			if i > 0 {
				b.WriteString("  ")
			}
			if align[i] == 'r' {
				b.WriteString(pad + c)
			} else if i < len(r)-1 {
				b.WriteString(c + pad)
			} else {
				b.WriteString(c)
			}
		}
		fmt.Println(strings.TrimRight(b.String(), " "))
	}
}
