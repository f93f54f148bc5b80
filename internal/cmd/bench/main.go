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
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/seatline/seatline/internal/benchkit"
)

const (
	mixedTopic   = "bench-mixed"
	seatTopic    = "bench-seat"
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

// want reports whether the bench part (kafka, gh, s3, …, reads) runs.
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
	var parts []string
	for _, p := range (&bench{}).parts() {
		parts = append(parts, p.name)
	}
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

	// All topics first: kafka-go's shared default transport caches metadata
	// (6s), so a topic created after the first write is "unknown" to the
	// next producer for a while.
	for _, t := range []string{mixedTopic, seatTopic, e2eTopic, ghTopic, ghLimitTopic, readsTopic} {
		if err := st.Kafka.CreateTopic(ctx, t, 4); err != nil {
			return err
		}
	}
	for _, p := range b.parts() {
		if b.opt.want(p.name) {
			if err := p.run(ctx); err != nil {
				return err
			}
		}
	}

	if len(b.misses) == 0 {
		fmt.Println("# every figure meets its target")
	} else {
		fmt.Printf("# %d figure(s) miss their target: %s\n", len(b.misses), strings.Join(b.misses, "; "))
	}
	return nil
}

// part is one part of the bench, selected by --only.
type part struct {
	name string
	run  func(ctx context.Context) error
}

// parts are the bench's parts, in the order they run.
func (b *bench) parts() []part {
	parts := []part{{"kafka", b.kafka}, {"gh", b.gh}}
	for _, store := range bucketStores {
		parts = append(parts, part{store.kind, func(ctx context.Context) error {
			st, err := store.start(ctx, b.tmp)
			if err != nil {
				return err
			}
			misses, err := runBucketBench(ctx, st, b.bin, b.tmp, b.opt.profileDir, b.st.CH)
			b.misses = append(b.misses, misses...)
			return err
		}})
	}
	return append(parts, part{"export", func(ctx context.Context) error {
		misses, err := runExportBench(ctx, b.tmp, b.st.CH.Addr(), 1000000)
		b.misses = append(b.misses, misses...)
		return err
	}}, part{"reads", b.reads})
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
