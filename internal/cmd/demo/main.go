// Command demo is `make demo`: it starts a private ClickHouse, Kafka and
// GitHub API simulator on loopback, makes seat changes in the simulator's
// fictional enterprise, streams the audit events they emitted (mixed into
// ordinary audit noise, with redeliveries and malformed lines) through the
// real ingest binary with inline enrichment, runs the enrich worker once,
// and prints what ended up in the timeline: seat history, GitHub's seat
// details on each row, reconciliation and what it cost in GitHub requests,
// the seat lifecycle, and a seat reclamation (plan, apply, confirmed).
// Everything it starts is stopped, and its temp directory removed, before it
// exits (also on Ctrl-C).
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

	"github.com/seatline/seatline/internal/benchkit"
	"github.com/seatline/seatline/internal/testenv"
	"github.com/seatline/seatline/internal/timeline"
)

const (
	topic      = "github-audit"
	group      = "seatline-demo"
	database   = "seatline"
	enterprise = "acme-corp"
	noiseTotal = 20000 // auditgen lines (other audit activity and malformed lines)
	// ghToken is a made-up token that only the local simulator accepts.
	ghToken = "ghp_seatlineDemoSimulatorOnly00000000000"
)

var orgs = []string{"acme-platform", "acme-mobile", "acme-research"} // the last assigns seats to all members

func main() {
	// Output piped into head must not kill us before we clean up.
	signal.Ignore(syscall.SIGPIPE)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	d := &demo{t0: time.Now()}
	err := d.run(ctx)
	interrupted := ctx.Err() != nil
	if interrupted {
		fmt.Println("\ninterrupted: stopping ingest, the GitHub simulator, Kafka and ClickHouse …")
	}
	keepLogs := err != nil && !interrupted && d.ingest != nil
	d.cleanup.Run()
	switch {
	case d.tmp == "":
	case keepLogs:
		// Keep the ingest and enrich logs, remove the rest (ClickHouse's data).
		entries, _ := os.ReadDir(d.tmp)
		for _, e := range entries {
			if !strings.HasSuffix(e.Name(), ".log") {
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
		if keepLogs {
			fmt.Fprintf(os.Stderr, "logs: %s\n", filepath.Join(d.tmp, "*.log"))
		}
		os.Exit(1)
	}
}

type demo struct {
	t0        time.Time
	tmp       string
	cleanup   benchkit.Cleanup
	stack     *benchkit.Stack
	ingest    *benchkit.Ingest
	store     *timeline.Store
	enrichBin string
	sc        *scenario

	// what was produced
	total, noise, malformed, dups int
	simEvents, simUser            int // simulator seat events; those naming a user (seat changes)
	simMember                     int // simulator membership events (org, team, enterprise team)
	pairs                         map[[2]string]bool
	lines                         [][]byte // the stream, in order
	half                          int      // lines[:half] go out while GitHub is down

	// enrichment
	inline       enrichCounts // after ingest
	final        enrichCounts // after enrich --once
	inlineReqs   map[string]int
	outageReqs   int // requests answered 5xx while GitHub was down
	enrichPasses int
	enrichTook   time.Duration
	snapshots    uint64
}

func step(format string, args ...any) { fmt.Printf("▸ "+format+"\n", args...) }

func (d *demo) run(ctx context.Context) error {
	fmt.Println("seatline demo: a GitHub audit stream → Copilot seat timeline in ClickHouse, enriched from GitHub's API")
	fmt.Println()
	if names := benchkit.ScrubEnv(); len(names) > 0 {
		step("ignoring %s for this private stack", strings.Join(names, ", "))
	}
	var err error
	if d.tmp, err = os.MkdirTemp("", "seatline-demo-"); err != nil {
		return err
	}

	bin, built, err := benchkit.Binary(ctx, "ingest", d.tmp)
	if err != nil {
		return fmt.Errorf("ingest binary: %w", err)
	}
	if built {
		step("bin/ingest not found: built ./cmd/ingest into the temp dir")
	}
	if d.enrichBin, built, err = benchkit.Binary(ctx, "enrich", d.tmp); err != nil {
		return fmt.Errorf("enrich binary: %w", err)
	}
	if built {
		step("bin/enrich not found: built ./cmd/enrich into the temp dir")
	}

	if err := d.startStack(ctx); err != nil {
		return err
	}
	if err := d.startSimulator(); err != nil {
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
	if err := d.runEnrich(ctx); err != nil {
		return err
	}

	var checks []error
	for _, section := range []func(context.Context) error{d.summary, d.enrichment, d.timelines, d.seatState, d.lifecycle, d.reclaim, d.deadLetters} {
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
	if err := runS3Demo(ctx, bin, d.tmp, d.stack.CH.Addr(), "seatline_s3"); err != nil {
		return err
	}
	fmt.Println()
	if err := seatctlDemo(ctx, d.stack.CH.Addr(), database, d.tmp); err != nil {
		return err
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

func checkf(format string, args ...any) error { return checkError{fmt.Sprintf(format, args...)} }

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
	return s.Kafka.CreateTopic(ctx, topic, 4)
}

func (d *demo) stop() error {
	fmt.Println("Stopping")
	in := d.ingest
	if err := in.Stop(30 * time.Second); err != nil {
		return err
	}
	fmt.Printf("  ✓ ingest (pid %d) got SIGTERM and exited 0: %q\n", in.Proc.PID(), logMsg(in.CleanLine()))
	d.cleanup.Run() // the query connection, the simulator, Kafka, ClickHouse
	if err := os.RemoveAll(d.tmp); err != nil {
		return err
	}
	fmt.Printf("  ✓ GitHub simulator, Kafka and ClickHouse stopped; %s removed\n", d.tmp)
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
