// Command bench is `make bench`: it measures the ingest worker on a private
// local stack (ClickHouse and a kfake Kafka broker on loopback) and prints
// one line per figure as
//
//	BENCH <name> <value> <unit>
//
// with every other line prefixed by "# ". Figures:
//
//   - kafka_drain_events_per_s: a kafka-go group reader (kafkasrc's settings)
//     that only fetches the whole mixed topic: the ceiling on this broker.
//   - kafka_mixed_events_per_s: bin/ingest consuming the same topic (2% seat
//     events), from its first message to everything written and committed.
//   - kafka_mixed_ratio_to_drain: the two above (target ≥ 0.8).
//   - kafka_seat_rows_per_s: a 100% seat-event topic, ClickHouse rows per
//     second (target ≥ 50,000).
//   - e2e_p99_ms: produce-to-visible latency at 1,000 events/s, default batch
//     settings (target ≤ 1000).
//   - peak_rss_mb: VmHWM of the worker in the mixed run (target ≤ 256).
//   - peak_rss_seat_mb: VmHWM of the worker in the 100% seat run, a seat
//     burst at full rate: every message a row (target ≤ 256).
//   - gh_requests_per_event: GitHub requests per seat event for a burst of
//     10,000 seat events over 2,000 users of one org (a GitHub API simulator
//     with one assign_selected org of 2,000 seats), ingested by bin/ingest
//     with inline enrichment, then bin/enrich --once until nothing is
//     pending; every event must end enriched (target ≤ 0.0125; one
//     per-user lookup per event would be 1.0).
//   - gh_limit_violations: requests the simulator saw sent into an
//     exhausted rate limit or a Retry-After window, over the burst run (5,000
//     requests an hour) and a run with 100 requests a minute plus bursts of
//     429s, where the enrich worker has to wait (target 0).
//
// Reads (reads.go; --reads-events, default 5,000,000; the load alone is ~2
// minutes at 50k rows/s; 500,000 events took 9m43s on 2 shared cores): a
// 100% seat-event topic shaped like a
// large enterprise over 3 years up to today (150 orgs, users = 2/5 of the
// events, about 1.8M distinct org/user seats at 5M; assignments,
// unassignments, cancellations, refreshes, reuses, updates, policy and plan
// changes), loaded by bin/ingest, plus one seat-list snapshot of the seats
// (written directly, as enrich's poll would: the activity and billing
// detail that audit events do not carry). Each question is asked once
// untimed, then --reads-runs times (default 5); figures are medians.
//
//   - reads_load_rows_per_s: bin/ingest on that topic, rows per second,
//     with whatever read models the schema maintains on insert (target ≥
//     50,000); reads_load_peak_rss_mb: its VmHWM (target ≤ 256).
//   - query_history_ms: seatctl history --org O --user U for a seat with 4
//     events (target ≤ 50); query_seats_summary_ms: seatctl seats --summary;
//     query_idle_ms: seatctl seats --idle 30d; query_pending_ms: seatctl
//     pending (targets ≤ 500). Each is seatctl.Main run in this process with
//     --format csv, stdout discarded: connect, schema check, the query of
//     the public query builder (so whatever the views become), every row
//     formatted. Each has query_<q>_baseline_ms, the same question as a
//     direct query over seat_events FINAL with the views' logic written out
//     (reads_baseline.go), and query_<q>_ratio_to_baseline.
//   - query_dashboard_max_ms: the slowest panel query of
//     deploy/grafana/dashboards (macros expanded by internal/grafanasql,
//     the last 30 days, every org), every row scanned (target ≤ 500); each
//     panel's time is a "# " line.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/seatline/seatline/internal/auditgen"
	"github.com/seatline/seatline/internal/benchkit"
	"github.com/seatline/seatline/internal/ghsim"
	"github.com/seatline/seatline/internal/kafkasrc"
	"github.com/seatline/seatline/internal/testenv"
)

const (
	e2eTopic     = "bench-e2e"
	ghTopic      = "bench-gh"
	ghLimitTopic = "bench-gh-limit"
	ghToken      = "ghp_seatlineBenchSimulatorOnly000000000000" // accepted only by the local simulator
)

type options struct {
	events      int
	seatEvents  int
	e2eRate     int
	e2eDuration time.Duration
	ingest      string
	enrich      string
	profileDir  string
	readsEvents int
	readsRuns   int
	only        map[string]bool // nil: every part
}

// want reports whether the bench part (kafka, gh, s3, export, reads) runs.
func (o options) want(part string) bool { return o.only == nil || o.only[part] }

func main() {
	var o options
	flag.IntVar(&o.events, "events", 1000000, "events in the mixed (2% seat) stream for the throughput runs")
	flag.IntVar(&o.seatEvents, "seat-events", 0, "events in the 100% seat stream (0: 2/5 of --events, at most 200,000)")
	flag.IntVar(&o.e2eRate, "e2e-rate", 1000, "events per second in the latency run")
	flag.DurationVar(&o.e2eDuration, "e2e-duration", 30*time.Second, "length of the latency run")
	flag.StringVar(&o.ingest, "ingest", "", "ingest binary (default: bin/ingest, else built from ./cmd/ingest)")
	flag.StringVar(&o.enrich, "enrich", "", "enrich binary (default: bin/enrich, else built from ./cmd/enrich)")
	flag.StringVar(&o.profileDir, "cpu-profile-dir", "", "write a CPU profile of each ingest throughput run (ingest-<run>.pprof) here, for `go tool pprof`")
	flag.IntVar(&o.readsEvents, "reads-events", 5000000, "seat events loaded through Kafka and ingest for the read queries (the reads part)")
	flag.IntVar(&o.readsRuns, "reads-runs", 5, "timed runs of each read query (after one untimed); the figure is their median")
	parts := []string{"kafka", "gh"}
	for _, s := range bucketStores {
		parts = append(parts, s.kind)
	}
	parts = append(parts, "export", "reads")
	only := flag.String("only", "", "run only these parts, comma-separated: "+strings.Join(parts, ", ")+" (default: all)")
	flag.Parse()
	if *only != "" {
		o.only = map[string]bool{}
		for _, part := range strings.Split(*only, ",") {
			if !slices.Contains(parts, part) {
				fmt.Fprintf(os.Stderr, "bench: --only: unknown part %q (want one of %s)\n", part, strings.Join(parts, ", "))
				os.Exit(2)
			}
			o.only[part] = true
		}
	}
	if o.seatEvents == 0 {
		o.seatEvents = min(200000, o.events*2/5)
	}
	if o.events < 1000 || o.seatEvents < 1000 || o.readsEvents < 1000 || o.readsRuns < 1 || o.e2eRate <= 0 || o.e2eDuration < time.Second {
		fmt.Fprintln(os.Stderr, "bench: --events, --seat-events and --reads-events must be ≥ 1000, --reads-runs ≥ 1, --e2e-rate > 0, --e2e-duration ≥ 1s")
		os.Exit(2)
	}

	// Output piped into head must not kill us before we clean up.
	signal.Ignore(syscall.SIGPIPE)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	b := &bench{opt: o, t0: time.Now()}
	err := b.run(ctx)
	b.cleanup.Run()
	if b.tmp != "" {
		os.RemoveAll(b.tmp)
	}
	switch {
	case ctx.Err() != nil:
		fmt.Println("# interrupted: every process stopped, temp dir removed")
		os.Exit(130)
	case err != nil:
		fmt.Fprintf(os.Stderr, "bench failed: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("# done in %s; every process stopped, temp dir removed\n", time.Since(b.t0).Round(time.Second))
}

type bench struct {
	opt       options
	t0        time.Time
	tmp       string
	cleanup   benchkit.Cleanup
	st        *benchkit.Stack
	bin       string
	enrichBin string
	misses    []string
}

// target records a figure's target; a miss gets a "# " line.
func (b *bench) target(name string, value float64, ok bool, want string) {
	if !ok {
		msg := fmt.Sprintf("%s = %s misses its target %s", name, trimFloat(value), want)
		fmt.Printf("# MISS: %s\n", msg)
		b.misses = append(b.misses, msg)
	}
}

func trimFloat(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

func figure(name, value, unit string) { fmt.Printf("BENCH %s %s %s\n", name, value, unit) }

func (b *bench) run(ctx context.Context) error {
	var err error
	if b.tmp, err = os.MkdirTemp("", "seatline-bench-"); err != nil {
		return err
	}
	if b.bin, err = b.binary(ctx, "ingest", b.opt.ingest); err != nil {
		return err
	}
	if b.enrichBin, err = b.binary(ctx, "enrich", b.opt.enrich); err != nil {
		return err
	}
	st, err := benchkit.StartStack(ctx, filepath.Join(b.tmp, "clickhouse"))
	if err != nil {
		return err
	}
	b.st = st
	b.cleanup.Add(func() { st.Close() })

	fmt.Printf("# seatline bench, %s\n", time.Now().UTC().Format(time.RFC3339))
	fmt.Printf("# machine: %d cores, %s, %s, ClickHouse %s\n", runtime.NumCPU(), memTotal(), runtime.Version(), st.ClickHouseVersion(ctx))
	fmt.Printf("# load average at start: %s (other processes on this machine share its cores)\n", loadAvg())
	fmt.Printf("# ingest binary: %s, enrich binary: %s\n", b.bin, b.enrichBin)
	if names := benchkit.ScrubEnv(); len(names) > 0 {
		fmt.Printf("# ignoring %s (the bench runs ingest with its defaults)\n", strings.Join(names, ", "))
	}

	const mixedTopic, seatTopic = "bench-mixed", "bench-seat"
	// All topics first: kafka-go's shared default transport caches metadata
	// (6s), so a topic created after the first write is "unknown" to the
	// next producer for a while.
	for _, t := range []string{mixedTopic, seatTopic, e2eTopic, ghTopic, ghLimitTopic, readsTopic} {
		if err := st.Kafka.CreateTopic(ctx, t, 4); err != nil {
			return err
		}
	}
	if b.opt.want("kafka") {
		mixed, err := b.produce(ctx, mixedTopic, b.opt.events, auditgen.Config{Seed: 1, SeatFraction: 0.02, Users: 5000})
		if err != nil {
			return err
		}
		seat, err := b.produce(ctx, seatTopic, b.opt.seatEvents, auditgen.Config{Seed: 2, SeatFraction: 1, Users: 20000})
		if err != nil {
			return err
		}

		// Ceiling: fetch only.
		drainRate, err := b.drain(ctx, mixedTopic, mixed.n)
		if err != nil {
			return err
		}
		figure("kafka_drain_events_per_s", fmt.Sprintf("%.0f", drainRate), "events/s")

		// The real worker on the same topic.
		r, err := b.ingestRun(ctx, "mixed", mixedTopic, mixed.n)
		if err != nil {
			return err
		}
		if int(r.rows) < mixed.seat || int(r.members) < mixed.members {
			return fmt.Errorf("mixed run wrote %.0f rows and %.0f membership rows, want %d and %d (one per event)", r.rows, r.members, mixed.seat, mixed.members)
		}
		mixedRate := (float64(mixed.n) - r.firstSeen) / r.elapsed.Seconds()
		fmt.Printf("# mixed: %d messages, %.0f rows and %.0f membership rows written, %.0f dead letters; %.0f messages in %s from the first /metrics poll seeing any (%.0f by then, not counted) to lag 0\n",
			mixed.n, r.rows, r.members, r.dead, float64(mixed.n)-r.firstSeen, r.elapsed.Round(time.Millisecond), r.firstSeen)
		figure("kafka_mixed_events_per_s", fmt.Sprintf("%.0f", mixedRate), "events/s")
		ratio := mixedRate / drainRate
		figure("kafka_mixed_ratio_to_drain", fmt.Sprintf("%.3f", ratio), "ratio")
		b.target("kafka_mixed_ratio_to_drain", math.Round(ratio*1000)/1000, ratio >= 0.8, "≥ 0.8")

		// 100% seat events.
		s, err := b.ingestRun(ctx, "seat", seatTopic, seat.n)
		if err != nil {
			return err
		}
		if int(s.rows) < seat.seat {
			return fmt.Errorf("seat run wrote %.0f rows, want %d", s.rows, seat.seat)
		}
		seatRate := (s.rows - s.firstRows) / s.elapsed.Seconds()
		fmt.Printf("# seat: %d messages, %.0f rows written; %.0f rows in %s from the first /metrics poll seeing a message (%.0f messages read, %.0f rows written by then) to lag 0\n",
			seat.n, s.rows, s.rows-s.firstRows, s.elapsed.Round(time.Millisecond), s.firstSeen, s.firstRows)
		figure("kafka_seat_rows_per_s", fmt.Sprintf("%.0f", seatRate), "rows/s")
		b.target("kafka_seat_rows_per_s", math.Round(seatRate), seatRate >= 50000, "≥ 50000")

		// Latency at a steady rate.
		p99, err := b.e2e(ctx)
		if err != nil {
			return err
		}
		figure("e2e_p99_ms", fmt.Sprintf("%.1f", p99), "ms")
		b.target("e2e_p99_ms", math.Round(p99*10)/10, p99 <= 1000, "≤ 1000")

		fmt.Println("# peak_rss_mb: VmHWM of the ingest process at the end of the mixed run, just before SIGTERM")
		figure("peak_rss_mb", fmt.Sprintf("%.1f", r.peakRSS), "MiB")
		b.target("peak_rss_mb", math.Round(r.peakRSS*10)/10, r.peakRSS <= 256, "≤ 256")
		fmt.Println("# peak_rss_seat_mb: VmHWM of the ingest process at the end of the 100% seat run, just before SIGTERM")
		figure("peak_rss_seat_mb", fmt.Sprintf("%.1f", s.peakRSS), "MiB")
		b.target("peak_rss_seat_mb", math.Round(s.peakRSS*10)/10, s.peakRSS <= 256, "≤ 256")
	}
	if b.opt.want("gh") {
		// GitHub: requests per event for a burst, and rate-limit violations.
		burst, err := b.ghBurst(ctx)
		if err != nil {
			return err
		}
		perEvent := float64(burst.requests) / float64(burst.events)
		figure("gh_requests_per_event", fmt.Sprintf("%.4f", perEvent), "ratio")
		fmt.Printf("# gh_requests_per_event naive: 1.0 (one per-user lookup per event: %d requests for %d events)\n", burst.events, burst.events)
		b.target("gh_requests_per_event", math.Round(perEvent*10000)/10000, burst.requests <= burst.events/80, "≤ 0.0125")
		limited, err := b.ghLimited(ctx)
		if err != nil {
			return err
		}
		violations := burst.violations + limited.violations
		fmt.Printf("# gh_limit_violations: %d in the burst run (5000 requests/hour), %d in the run at 100 requests/minute with 429 bursts\n",
			burst.violations, limited.violations)
		figure("gh_limit_violations", strconv.Itoa(violations), "count")
		b.target("gh_limit_violations", float64(violations), violations == 0, "= 0")
	}
	for _, store := range bucketStores {
		if !b.opt.want(store.kind) {
			continue
		}
		st, err := store.start(ctx, b.tmp)
		if err != nil {
			return err
		}
		misses, err := runBucketBench(ctx, st, b.bin, b.tmp, b.opt.profileDir, b.st.CH)
		if err != nil {
			return err
		}
		b.misses = append(b.misses, misses...)
	}
	if b.opt.want("export") {
		exportMisses, err := runExportBench(ctx, b.tmp, b.st.CH.Addr(), 1000000)
		if err != nil {
			return err
		}
		b.misses = append(b.misses, exportMisses...)
	}
	if b.opt.want("reads") {
		if err := b.reads(ctx); err != nil {
			return err
		}
	}

	if len(b.misses) == 0 {
		fmt.Println("# every figure meets its target")
	} else {
		fmt.Printf("# %d figure(s) miss their target: %s\n", len(b.misses), strings.Join(b.misses, "; "))
	}
	return nil
}

// binary is path if given, else bin/<name>, else ./cmd/<name> built into
// the temp dir.
func (b *bench) binary(ctx context.Context, name, path string) (string, error) {
	if path != "" {
		return path, nil
	}
	p, built, err := benchkit.Binary(ctx, name, b.tmp)
	if err != nil {
		return "", err
	}
	if built {
		fmt.Printf("# bin/%s not found: built ./cmd/%s\n", name, name)
	}
	return p, nil
}

// ---- streams ----

type stream struct {
	n, seat int
	members int // membership changes (org, team, enterprise): admitted, kept apart
}

// produce writes n generated events to topic.
func (b *bench) produce(ctx context.Context, topic string, n int, cfg auditgen.Config) (stream, error) {
	g := auditgen.New(cfg)
	p := testenv.NewProducer(b.st.Kafka.Brokers(), topic)
	defer p.Close()
	s := stream{n: n}
	minLen, maxLen, sum, outside := math.MaxInt, 0, 0, 0
	t0 := time.Now()
	const chunk = 20000
	lines := make([][]byte, 0, chunk)
	for i := 0; i < n; i += chunk {
		lines = lines[:0]
		for j := i; j < min(n, i+chunk); j++ {
			r := g.Next()
			switch r.Kind {
			case auditgen.KindSeat:
				s.seat++
			case auditgen.KindMembership:
				s.members++
			}
			l := len(r.Line)
			minLen, maxLen, sum = min(minLen, l), max(maxLen, l), sum+l
			if l < 400 || l > 900 {
				outside++
			}
			lines = append(lines, r.Line)
		}
		if err := p.Write(ctx, lines...); err != nil {
			return s, err
		}
	}
	fmt.Printf("# topic %s: %d events (%d seat/policy, %.1f%%; %d membership changes), %d–%d bytes (mean %d, %d outside 400–900), produced in %s\n",
		topic, n, s.seat, 100*float64(s.seat)/float64(n), s.members, minLen, maxLen, sum/n, outside, time.Since(t0).Round(time.Millisecond))
	return s, p.Close()
}

// ---- drain ----

// drain reads the whole topic with a consumer-group reader configured like
// internal/kafkasrc, fetching only, and returns events per second from the
// first message to the last.
func (b *bench) drain(ctx context.Context, topic string, n int) (float64, error) {
	kc := kafkasrc.Defaults()
	kc.Brokers, kc.Topics, kc.GroupID = b.st.Kafka.Brokers(), []string{topic}, "bench-drain"
	if err := kc.Validate(); err != nil {
		return 0, err
	}
	dialer, err := kc.Dialer()
	if err != nil {
		return 0, err
	}
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:               kc.Brokers,
		GroupID:               kc.GroupID,
		GroupTopics:           kc.Topics,
		Dialer:                dialer,
		MinBytes:              kc.MinBytes, // 1
		MaxBytes:              kc.MaxBytes, // kafkasrc's default
		MaxWait:               kc.MaxWait,  // 250 ms
		QueueCapacity:         1000,
		CommitInterval:        0,
		StartOffset:           kafka.FirstOffset,
		SessionTimeout:        kc.SessionTimeout,
		HeartbeatInterval:     3 * time.Second,
		RebalanceTimeout:      kc.SessionTimeout,
		WatchPartitionChanges: true,
		ReadBackoffMin:        50 * time.Millisecond,
		ReadBackoffMax:        time.Second,
	})
	defer r.Close()
	rctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	var first, last time.Time
	var bytes int
	for i := 0; i < n; i++ {
		m, err := r.FetchMessage(rctx)
		if err != nil {
			return 0, fmt.Errorf("drain: after %d of %d messages: %w", i, n, err)
		}
		bytes += len(m.Value)
		if i == 0 {
			first = time.Now()
		}
	}
	last = time.Now()
	el := last.Sub(first)
	fmt.Printf("# drain: %d messages (%.0f MB) fetched in %s by a kafka-go group reader (MinBytes 1, MaxBytes %d MiB, MaxWait 250ms, QueueCapacity 1000: kafkasrc's settings)\n",
		n, float64(bytes)/1e6, el.Round(time.Millisecond), kc.MaxBytes>>20)
	return float64(n-1) / el.Seconds(), nil
}

// ---- ingest runs ----

type runResult struct {
	elapsed   time.Duration
	rows      float64
	members   float64 // membership rows written
	dead      float64
	peakRSS   float64
	messages  float64
	firstSeen float64 // messages_total at the first poll that saw > 0 (the clock's start)
	firstRows float64 // rows_written_total at that poll
	// readRate is messages per second between the first poll that saw
	// messages and the first that saw all of them; tail is the time from
	// the latter to lag 0 (the last batch's wait, write and commit).
	readRate float64
	tail     time.Duration
	// CPU seconds used while the clock ran (ingest: since it started).
	cpuIngest, cpuClickHouse, cpuBench float64
	batches, batchSeconds              float64
}

// ingestRun starts bin/ingest (default batch settings) on topic with a new
// group and database, and times it from its first consumed message to
// everything consumed and committed (messages_total ≥ n and group lag 0).
func (b *bench) ingestRun(ctx context.Context, name, topic string, n int) (runResult, error) {
	var res runResult
	group, db := "bench-"+name, "bench_"+name
	args := benchkit.IngestArgs(b.st, topic, group, db)
	if b.opt.profileDir != "" {
		args = append(args, "--cpu-profile", filepath.Join(b.opt.profileDir, "ingest-"+name+".pprof"))
	}
	in, err := benchkit.StartIngest(b.bin, args, filepath.Join(b.tmp, "ingest-"+name+".log"))
	if err != nil {
		return res, err
	}
	defer in.Close() // no-op once stopped

	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var firstAt, readAt time.Time
	var chCPU0, selfCPU0 float64
	// 10 minutes, more for a big topic (the reads part: at least 2,000
	// messages a second).
	limit := max(10*time.Minute, time.Duration(n/2000)*time.Second)
	deadline := time.Now().Add(limit)
	scrapeFails := 0
	for {
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-tick.C:
		}
		if err := in.CheckAlive(); err != nil {
			return res, err
		}
		if time.Now().After(deadline) {
			return res, fmt.Errorf("%s run: not caught up after %s\n%s", name, limit, in.LogTail(10))
		}
		m, err := in.Metrics(ctx)
		now := time.Now()
		if err != nil {
			// The HTTP server comes up after migrations; later failures count.
			if !firstAt.IsZero() {
				if scrapeFails++; scrapeFails > 20 {
					return res, fmt.Errorf("%s run: /metrics: %w", name, err)
				}
			}
			continue
		}
		scrapeFails = 0
		if firstAt.IsZero() {
			if m.Messages == 0 {
				continue
			}
			// The clock starts at the first poll that sees a consumed
			// message; what was consumed by then is not counted.
			firstAt = now
			res.firstSeen, res.firstRows = m.Messages, m.Rows
			chCPU0, selfCPU0 = benchkit.CPUSeconds(b.st.CH.PID()), benchkit.CPUSeconds(-1)
		}
		if m.Messages < float64(n) {
			continue
		}
		if readAt.IsZero() {
			readAt = now
			if d := readAt.Sub(firstAt); d > 0 {
				res.readRate = (m.Messages - res.firstSeen) / d.Seconds()
			}
		}
		lag, err := b.st.Lag(ctx, group, topic)
		if err != nil || lag > 0 {
			continue
		}
		res.elapsed, res.tail = time.Since(firstAt), time.Since(readAt)
		res.cpuIngest = benchkit.CPUSeconds(in.Proc.PID())
		res.cpuClickHouse = benchkit.CPUSeconds(b.st.CH.PID()) - chCPU0
		res.cpuBench = benchkit.CPUSeconds(-1) - selfCPU0
		break
	}
	if res.peakRSS, err = in.Proc.PeakRSSMiB(); err != nil {
		return res, err
	}
	m, err := in.Metrics(ctx)
	if err != nil {
		return res, err
	}
	res.rows, res.members, res.dead, res.messages = m.Rows, m.Members, m.DeadLetters, m.Messages
	res.batches, res.batchSeconds = m.BatchCount, m.BatchSum
	if err := in.Stop(60 * time.Second); err != nil {
		return res, err
	}
	fmt.Printf("# %s: read phase %.0f messages/s (first /metrics poll seeing messages → first seeing all %d); then %s to lag 0 (last batch's batch-wait, write, commit)\n",
		name, res.readRate, n, res.tail.Round(time.Millisecond))
	fmt.Printf("# %s: %.0f ClickHouse batch writes, mean %.0f ms; CPU while timed: ingest %.2fs (incl. start-up), clickhouse-server %.2fs, bench+kfake %.2fs, over %.2fs wall on %d cores\n",
		name, res.batches, 1000*res.batchSeconds/max(1, res.batches), res.cpuIngest, res.cpuClickHouse, res.cpuBench, res.elapsed.Seconds(), runtime.NumCPU())
	fmt.Printf("# %s: ingest (pid %d) exited 0 on SIGTERM, logged \"stopped cleanly\"\n", name, in.Proc.PID())
	return res, nil
}

// ---- end-to-end latency ----

// e2e produces a mixed 2% stream at --e2e-rate for --e2e-duration while
// bin/ingest (default batch settings) consumes it, and records, for every
// seat event, the time from just before the producer's write to the first
// poll of seat_events that returned it. It returns the p99 in ms.
func (b *bench) e2e(ctx context.Context) (float64, error) {
	const topic, group, db = e2eTopic, "bench-e2e", "bench_e2e"
	in, err := benchkit.StartIngest(b.bin, benchkit.IngestArgs(b.st, topic, group, db), filepath.Join(b.tmp, "ingest-e2e.log"))
	if err != nil {
		return 0, err
	}
	defer in.Close()
	p := testenv.NewProducer(b.st.Kafka.Brokers(), topic)
	defer p.Close()

	rate, dur := b.opt.e2eRate, b.opt.e2eDuration
	n := int(float64(rate) * dur.Seconds())
	g := auditgen.New(auditgen.Config{Seed: 3, SeatFraction: 0.02, Users: 2000,
		Start: time.Now().UTC(), Step: time.Second / time.Duration(rate)})
	lines := make([][]byte, n)
	seatAt := map[int]string{} // index → document id
	for i := range lines {
		r := g.Next()
		lines[i] = r.Line
		if r.Kind == auditgen.KindSeat {
			seatAt[i] = r.DocumentID
		}
	}

	// Warm-up: one seat event must be visible before the clock runs, so
	// process start, migrations and the group join are not measured.
	store, err := b.st.Store(ctx, db)
	if err != nil {
		return 0, err
	}
	defer store.Close()
	warm := auditgen.New(auditgen.Config{Seed: 4, SeatFraction: 1, Start: time.Now().UTC()}).Next()
	if err := p.Write(ctx, warm.Line); err != nil {
		return 0, err
	}
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	for {
		if err := in.CheckAlive(); err != nil {
			cancel()
			return 0, err
		}
		var c uint64
		qerr := store.Conn().QueryRow(wctx, "SELECT count() FROM seat_events WHERE document_id = ?", warm.DocumentID).Scan(&c)
		if qerr == nil && c > 0 {
			break
		}
		if err := benchkit.Sleep(wctx, 50*time.Millisecond); err != nil {
			cancel()
			return 0, fmt.Errorf("e2e warm-up: the first event never became visible: %v (last query error %v)", err, qerr)
		}
	}
	cancel()

	var mu sync.Mutex
	sentAt := map[string]time.Time{}
	seenAt := map[string]time.Time{}
	pending := map[string]bool{}

	// Producer: a ticker paces writes; each tick sends what is due.
	prodDone := make(chan error, 1)
	go func() {
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		t0 := time.Now()
		sent := 0
		for sent < n {
			select {
			case <-ctx.Done():
				prodDone <- ctx.Err()
				return
			case <-tick.C:
			}
			due := min(n, int(time.Since(t0).Seconds()*float64(rate)))
			if due <= sent {
				continue
			}
			now := time.Now()
			mu.Lock()
			for i := sent; i < due; i++ {
				if id, ok := seatAt[i]; ok {
					sentAt[id] = now
					pending[id] = true
				}
			}
			mu.Unlock()
			if err := p.Write(ctx, lines[sent:due]...); err != nil {
				prodDone <- err
				return
			}
			sent = due
		}
		prodDone <- nil
	}()

	// Poller: every 20 ms, ask for the pending seat events.
	produced := false
	var doneAt time.Time
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	queries := 0
	var queryTime time.Duration
	for {
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case err := <-prodDone:
			if err != nil {
				return 0, fmt.Errorf("e2e producer: %w", err)
			}
			produced, doneAt = true, time.Now()
		case <-tick.C:
		}
		mu.Lock()
		ids := make([]string, 0, len(pending))
		for id := range pending {
			ids = append(ids, id)
		}
		mu.Unlock()
		if len(ids) == 0 {
			if produced {
				break
			}
			continue
		}
		if produced && time.Since(doneAt) > 30*time.Second {
			return 0, fmt.Errorf("e2e: %d of %d seat events not visible 30s after the last was produced\n%s", len(ids), len(seatAt), in.LogTail(10))
		}
		if err := in.CheckAlive(); err != nil {
			return 0, err
		}
		q0 := time.Now()
		rows, err := store.Conn().Query(ctx, "SELECT document_id FROM seat_events WHERE has(?, document_id)", ids)
		if err != nil {
			return 0, fmt.Errorf("e2e poll: %w", err)
		}
		var got []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return 0, err
			}
			got = append(got, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return 0, fmt.Errorf("e2e poll: %w", err)
		}
		now := time.Now()
		queries++
		queryTime += now.Sub(q0)
		mu.Lock()
		for _, id := range got {
			if pending[id] {
				delete(pending, id)
				seenAt[id] = now
			}
		}
		mu.Unlock()
	}
	if err := in.Stop(60 * time.Second); err != nil {
		return 0, err
	}

	lat := make([]float64, 0, len(seenAt))
	for id, t := range seenAt {
		lat = append(lat, float64(t.Sub(sentAt[id]).Microseconds())/1000)
	}
	sort.Float64s(lat)
	if len(lat) == 0 {
		return 0, errors.New("e2e: no seat events measured")
	}
	fmt.Printf("# e2e: %d events at %d/s for %s, %d seat/policy events measured, ingest at default batch settings (batch-wait 500ms, batch-rows 10000)\n",
		n, rate, dur, len(lat))
	fmt.Printf("# e2e: %d polls of seat_events, mean query %.1f ms; latency from before the producer's write to the end of the first poll that returned the row\n",
		queries, float64(queryTime.Microseconds())/1000/float64(max(1, queries)))
	fmt.Printf("# e2e_p50_ms %.1f  p90 %.1f  max %.1f\n", quantile(lat, 0.50), quantile(lat, 0.90), lat[len(lat)-1])
	return quantile(lat, 0.99), nil
}

// quantile of sorted xs, nearest rank.
func quantile(xs []float64, q float64) float64 {
	i := int(math.Ceil(q*float64(len(xs)))) - 1
	return xs[max(0, min(len(xs)-1, i))]
}

// ---- GitHub ----

// ghResult is what one GitHub run measured.
type ghResult struct {
	events     int // seat events produced
	requests   int // API requests (not GET /rate_limit, not App token exchanges)
	violations int // the simulator's LimitViolations
}

// ghSim starts a GitHub API simulator that accepts ghToken; cleanup stops it.
func (b *bench) ghSim(opts ghsim.Options) (*ghsim.Server, error) {
	opts.Tokens = []string{ghToken}
	sim := ghsim.New(opts)
	if err := sim.Start(); err != nil {
		return nil, err
	}
	b.cleanup.Add(sim.Close)
	return sim, nil
}

var (
	ghFirst = []string{"maria", "james", "wei", "priya", "ahmed", "olga", "kenji", "fatima", "lucas", "chloe", "diego", "amara", "noah", "ingrid", "ravi", "sofia"}
	ghLast  = []string{"lopez", "chen", "patel", "kowalski", "okafor", "nguyen", "schmidt", "rossi", "tanaka", "silva", "kim", "dubois", "ivanova", "haddad"}
)

// ghLogins returns n distinct realistic logins.
func ghLogins(n int) []string {
	out := make([]string, n)
	per := len(ghFirst) * len(ghLast)
	for i := range out {
		out[i] = ghFirst[i%len(ghFirst)] + "-" + ghLast[(i/len(ghFirst))%len(ghLast)]
		if k := i / per; k > 0 {
			out[i] += strconv.Itoa(k + 1)
		}
	}
	return out
}

func (b *bench) produceLines(ctx context.Context, topic string, lines [][]byte) error {
	p := testenv.NewProducer(b.st.Kafka.Brokers(), topic)
	err := p.Write(ctx, lines...)
	if cerr := p.Close(); err == nil {
		err = cerr
	}
	return err
}

// ghIngest runs bin/ingest with inline enrichment from sim on topic until
// it has read n messages and committed them, then stops it.
func (b *bench) ghIngest(ctx context.Context, name, topic string, n int, sim *ghsim.Server) (benchkit.Metrics, time.Duration, error) {
	group, db := "bench-"+name, "bench_"+name
	args := append(benchkit.IngestArgs(b.st, topic, group, db), benchkit.GitHubArgs(sim, ghToken)...)
	in, err := benchkit.StartIngest(b.bin, args, filepath.Join(b.tmp, "ingest-"+name+".log"))
	if err != nil {
		return benchkit.Metrics{}, 0, err
	}
	defer in.Close()
	t0 := time.Now()
	deadline := t0.Add(5 * time.Minute)
	for {
		if err := benchkit.Sleep(ctx, 100*time.Millisecond); err != nil {
			return benchkit.Metrics{}, 0, err
		}
		if err := in.CheckAlive(); err != nil {
			return benchkit.Metrics{}, 0, err
		}
		if time.Now().After(deadline) {
			return benchkit.Metrics{}, 0, fmt.Errorf("%s run: ingest not caught up after 5 minutes\n%s", name, in.LogTail(10))
		}
		m, err := in.Metrics(ctx)
		if err != nil || m.Messages < float64(n) {
			continue
		}
		if lag, err := b.st.Lag(ctx, group, topic); err != nil || lag > 0 {
			continue
		}
		took := time.Since(t0)
		if err := in.Stop(60 * time.Second); err != nil {
			return m, took, err
		}
		return m, took, nil
	}
}

// ghCounts are timeline rows by enrichment state.
type ghCounts struct{ rows, enriched, pending, failed uint64 }

func ghCount(ctx context.Context, st *benchkit.Stack, db string) (ghCounts, error) {
	store, err := st.Store(ctx, db)
	if err != nil {
		return ghCounts{}, err
	}
	defer store.Close()
	var c ghCounts
	err = store.Conn().QueryRow(ctx, `SELECT count(), countIf(enrichment = 'enriched'), countIf(enrichment = 'pending'),
		countIf(enrichment = 'failed') FROM seat_timeline`).Scan(&c.rows, &c.enriched, &c.pending, &c.failed)
	return c, err
}

// ghEnrich runs bin/enrich --once against sim on database bench_<name>
// until no row is pending or failed (at most maxPasses passes).
func (b *bench) ghEnrich(ctx context.Context, name string, sim *ghsim.Server, maxPasses int, extra ...string) (passes int, took time.Duration, c ghCounts, err error) {
	db := "bench_" + name
	args := append(benchkit.EnrichArgs(b.st, db, extra...), benchkit.GitHubArgs(sim, ghToken)...)
	t0 := time.Now()
	for passes < maxPasses {
		passes++
		if _, err := benchkit.RunOnce(ctx, b.enrichBin, args, filepath.Join(b.tmp, "enrich-"+name+".log"), 10*time.Minute); err != nil {
			return passes, time.Since(t0), c, err
		}
		if c, err = ghCount(ctx, b.st, db); err != nil {
			return passes, time.Since(t0), c, err
		}
		if c.pending+c.failed == 0 {
			break
		}
	}
	return passes, time.Since(t0), c, nil
}

// ghBreakdown formats per-endpoint request counts.
func ghBreakdown(reqs map[string]int) string {
	keys := make([]string, 0, len(reqs))
	for k := range reqs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, reqs[k]))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// ghStatuses formats the simulator's rate-limit and error answers.
func ghStatuses(sim *ghsim.Server) string {
	st := sim.Statuses()
	var parts []string
	for _, code := range []int{403, 429, 500, 502, 503} {
		if st[code] > 0 {
			parts = append(parts, fmt.Sprintf("%d×%d", st[code], code))
		}
	}
	if len(parts) == 0 {
		return "no 403/429/5xx answers"
	}
	return strings.Join(parts, ", ")
}

// ghBurst: 10,000 seat events over the 2,000 users of one org, made by the
// simulator; ingest with inline enrichment, then enrich --once until
// nothing is pending.
func (b *bench) ghBurst(ctx context.Context) (ghResult, error) {
	const org, users, n, name = "acme-burst", 2000, 10000, "gh"
	var res ghResult
	sim, err := b.ghSim(ghsim.Options{Seed: 11, Start: time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)})
	if err != nil {
		return res, err
	}
	if err := sim.AddOrg(org, ghsim.AssignSelected, ghsim.PlanBusiness); err != nil {
		return res, err
	}
	logins := ghLogins(users)
	for _, u := range logins {
		if err := sim.AddMember(org, u); err != nil {
			return res, err
		}
	}
	for i := 0; i < users; i += 100 {
		if err := sim.Assign(org, "", logins[i:i+100]...); err != nil {
			return res, err
		}
		sim.Advance(time.Duration(1+i%7) * time.Second)
	}
	assigned := sim.PendingEvents()
	// Then one event per change: unassign an active seat, refresh a
	// pending one, re-assign an active one (reused).
	rng := rand.New(rand.NewPCG(11, 11))
	for sim.PendingEvents() < n {
		u := logins[rng.IntN(users)]
		sim.Advance(time.Duration(100+rng.IntN(900)) * time.Millisecond)
		st, _ := sim.Seat(org, u)
		if st.PendingCancellationDate != "" || rng.IntN(4) == 0 {
			err = sim.Assign(org, "", u)
		} else {
			err = sim.Unassign(org, "", u)
		}
		if err != nil {
			return res, err
		}
	}
	evs := sim.Events()
	if len(evs) != n {
		return res, fmt.Errorf("gh burst: the simulator emitted %d events, want %d", len(evs), n)
	}
	res.events = n
	seats := sim.Seats(org)
	fmt.Printf("# gh burst: simulator org %s (assign_selected, %d seats: %d seat-list pages); %d seat events made through it (%d from assigning all, then unassign / refresh / reuse)\n",
		org, len(seats), (len(seats)+ghPerPage-1)/ghPerPage, n, assigned)
	if err := b.produceLines(ctx, ghTopic, evs); err != nil {
		return res, err
	}

	m, took, err := b.ghIngest(ctx, name, ghTopic, n, sim)
	if err != nil {
		return res, err
	}
	inline, err := ghCount(ctx, b.st, "bench_"+name)
	if err != nil {
		return res, err
	}
	afterIngest := sim.Requests()
	fmt.Printf("# gh burst: bin/ingest (inline enrichment, default budget 300ms and 25 requests a batch): %d messages in %s, %.0f batches; %d rows enriched inline, %d pending; requests: %s\n",
		n, took.Round(time.Millisecond), m.BatchCount, inline.enriched, inline.pending+inline.failed, ghBreakdown(afterIngest))

	passes, took, c, err := b.ghEnrich(ctx, name, sim, 5, "--orgs", org)
	if err != nil {
		return res, err
	}
	fmt.Printf("# gh burst: bin/enrich --once, %d pass(es) in %s: completed pending rows, polled the seat list, reconciled; requests: %s\n",
		passes, took.Round(time.Millisecond), ghBreakdown(benchkit.DiffRequests(sim.Requests(), afterIngest)))
	if c.rows != n || c.enriched != n {
		return res, fmt.Errorf("gh burst: %d of %d events enriched (%d timeline rows, %d pending, %d failed): every event must end enriched",
			c.enriched, n, c.rows, c.pending, c.failed)
	}
	if err := b.ghAgree(ctx, "bench_"+name, org, seats); err != nil {
		return res, err
	}
	res.requests, res.violations = benchkit.APIRequests(sim.Requests()), sim.LimitViolations()
	fmt.Printf("# gh burst: %d/%d events enriched, the seat status of all %d users matches the simulator; %d API requests in all (%d with GET /rate_limit), %s, %d limit violations\n",
		c.enriched, n, users, res.requests, sim.TotalRequests(), ghStatuses(sim), res.violations)
	return res, nil
}

const ghPerPage = 100

// ghAgree checks each user's latest enriched seat status against the
// simulator's seats of org.
func (b *bench) ghAgree(ctx context.Context, db, org string, seats []ghsim.SeatState) error {
	want := map[string]string{}
	for _, s := range seats {
		want[s.Login] = "active"
		if s.PendingCancellationDate != "" {
			want[s.Login] = "pending_cancellation"
		}
	}
	store, err := b.st.Store(ctx, db)
	if err != nil {
		return err
	}
	defer store.Close()
	rows, err := store.Conn().Query(ctx, `SELECT user, toString(argMax(seat_status, (event_ms, document_id)))
		FROM seat_timeline WHERE org = ? GROUP BY user`, org)
	if err != nil {
		return err
	}
	defer rows.Close()
	bad, n := 0, 0
	var example string
	for rows.Next() {
		var user, status string
		if err := rows.Scan(&user, &status); err != nil {
			return err
		}
		n++
		w := want[user]
		if w == "" {
			w = "absent"
		}
		if status != w {
			if bad++; example == "" {
				example = fmt.Sprintf("%s: enriched %s, simulator %s", user, status, w)
			}
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if bad > 0 || n != len(want) {
		return fmt.Errorf("%s: the enriched seat status differs from the simulator for %d of %d users (simulator: %d seats), e.g. %s", org, bad, n, len(want), example)
	}
	return nil
}

// ghLimited: 60 orgs of 20 seats under a rate limit of 100 requests a
// minute with bursts of 429s: more lookups and seat-list polls than one
// window allows, so the enrich worker has to wait for the limit.
func (b *bench) ghLimited(ctx context.Context) (ghResult, error) {
	const orgsN, perOrg, name = 60, 20, "gh_limit"
	var res ghResult
	sim, err := b.ghSim(ghsim.Options{Seed: 12, Limit: 100, Window: time.Minute, Start: time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)})
	if err != nil {
		return res, err
	}
	logins := ghLogins(orgsN * perOrg)
	for i := range orgsN {
		org := fmt.Sprintf("acme-unit-%02d", i+1)
		if err := sim.AddOrg(org, ghsim.AssignSelected, ghsim.PlanBusiness); err != nil {
			return res, err
		}
		us := logins[i*perOrg : (i+1)*perOrg]
		for _, u := range us {
			if err := sim.AddMember(org, u); err != nil {
				return res, err
			}
		}
		if err := sim.Assign(org, "", us...); err != nil {
			return res, err
		}
		sim.Advance(time.Minute)
		if err := sim.Unassign(org, "", us[:2]...); err != nil {
			return res, err
		}
		sim.Advance(time.Minute)
	}
	evs := sim.Events()
	res.events = len(evs)
	faults := ghsim.Faults{Burst429Every: 30, Burst429Len: 2, RetryAfter: time.Second}
	sim.SetFaults(faults)
	fmt.Printf("# gh limit: simulator at 100 requests/minute per token, %d×429 (Retry-After 1s) after every %d requests; %d orgs of %d seats, %d seat events\n",
		faults.Burst429Len, faults.Burst429Every, orgsN, perOrg, len(evs))
	if err := b.produceLines(ctx, ghLimitTopic, evs); err != nil {
		return res, err
	}
	_, took, err := b.ghIngest(ctx, name, ghLimitTopic, len(evs), sim)
	if err != nil {
		return res, err
	}
	inline, err := ghCount(ctx, b.st, "bench_"+name)
	if err != nil {
		return res, err
	}
	afterIngest := benchkit.APIRequests(sim.Requests())
	fmt.Printf("# gh limit: bin/ingest in %s: %d rows enriched inline, %d left pending (ingest never waits for a rate limit); %d requests\n",
		took.Round(time.Millisecond), inline.enriched, inline.pending+inline.failed, afterIngest)
	// A Retry-After the token got in ingest's process is unknown to a new
	// process (GET /rate_limit does not tell it): start enrich after any
	// such window has passed, as a worker started later would.
	if err := benchkit.Sleep(ctx, 2*faults.RetryAfter); err != nil {
		return res, err
	}
	passes, took, c, err := b.ghEnrich(ctx, name, sim, 10)
	if err != nil {
		return res, err
	}
	res.requests, res.violations = benchkit.APIRequests(sim.Requests()), sim.LimitViolations()
	fmt.Printf("# gh limit: bin/enrich --once, %d pass(es): %d requests in %s, more than the window had left after ingest, so it waited for the window's reset; in all %s, %d limit violations\n",
		passes, res.requests-afterIngest, took.Round(time.Second), ghStatuses(sim), res.violations)
	if c.enriched != uint64(len(evs)) {
		return res, fmt.Errorf("gh limit: %d of %d events enriched after %d enrich passes (%d pending, %d failed)", c.enriched, len(evs), passes, c.pending, c.failed)
	}
	return res, nil
}

// ---- machine ----

func memTotal() string {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return "? RAM"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "MemTotal:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return fmt.Sprintf("%.1f GiB RAM", kb/(1<<20))
		}
	}
	return "? RAM"
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
