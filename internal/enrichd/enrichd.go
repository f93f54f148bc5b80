// Package enrichd is the GitHub-facing worker behind cmd/enrich: it
// completes timeline rows left pending by ingest, polls org and enterprise
// seat lists into seat_snapshots, reconciles them with the timeline, and
// keeps the seat periods derived from the timeline current.
package enrichd

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/seatline/seatline/internal/cli"
	"github.com/seatline/seatline/internal/enrich"
	"github.com/seatline/seatline/internal/flagval"
	"github.com/seatline/seatline/internal/ghflags"
	"github.com/seatline/seatline/internal/opshttp"
	"github.com/seatline/seatline/internal/timeline"
	"github.com/seatline/seatline/pkg/ghclient"
)

// Config of the enrich worker. Defaults() has the values the flags show.
type Config struct {
	ClickHouse timeline.Config
	GitHub     ghflags.Flags
	Enrich     enrich.Config

	Orgs        []string // seat lists to poll; empty: every org seen in the timeline
	Enterprises []string // enterprise seat lists to poll

	Interval         time.Duration // between passes over pending rows
	SnapshotInterval time.Duration // between seat-list polls
	PendingBatch     int           // rows completed per lookup round
	RetryFailedEvery int           // retry failed rows every Nth pass
	Once             bool          // one pass of everything, then exit

	HTTPAddr  string
	LogFormat string
	LogLevel  string
}

// Defaults are the enrich worker's defaults (the flags show them).
func Defaults() Config {
	return Config{ClickHouse: timeline.Defaults(), GitHub: ghflags.Defaults(5 * time.Minute), Enrich: enrich.WorkerDefaults(),
		Interval: 30 * time.Second, SnapshotInterval: time.Hour, PendingBatch: 2000, RetryFailedEvery: 10,
		HTTPAddr: ":9465", LogFormat: "text", LogLevel: "info"}
}

// The worker's own flags and their ranges.
var (
	intervalFlag         = flagval.Duration{Name: "interval", Min: time.Second, Max: 24 * time.Hour}
	snapshotIntervalFlag = flagval.Duration{Name: "snapshot-interval", Min: time.Minute, Max: 7 * 24 * time.Hour}
	pendingBatchFlag     = flagval.Int{Name: "pending-batch", Min: 1, Max: 100000}
	retryFailedEveryFlag = flagval.Int{Name: "retry-failed-every", Min: 1, Max: 10000}
)

// RegisterFlags binds cfg to fs; every default is in Defaults.
func RegisterFlags(fs *flag.FlagSet, cfg *Config) {
	d := Defaults()
	cli.ClickHouseFlags(fs, &cfg.ClickHouse, "database (created if missing)")

	ghflags.Register(fs, &cfg.GitHub, d.GitHub.MaxWait)
	cfg.Enrich.RegisterFlags(fs, d.Enrich, "", "one round over pending rows", true)

	fs.Var((*cli.List)(&cfg.Orgs), "orgs", "organizations whose seat lists are polled, comma-separated (default: every org in the timeline)")
	fs.Var((*cli.List)(&cfg.Enterprises), "enterprises", "enterprises whose seat lists are polled, comma-separated (their slugs)")
	fs.DurationVar(&cfg.Interval, intervalFlag.Name, d.Interval, intervalFlag.Usage("time between passes over pending rows"))
	fs.DurationVar(&cfg.SnapshotInterval, snapshotIntervalFlag.Name, d.SnapshotInterval, snapshotIntervalFlag.Usage("time between seat-list polls"))
	fs.IntVar(&cfg.PendingBatch, pendingBatchFlag.Name, d.PendingBatch, pendingBatchFlag.Usage("pending rows completed per round"))
	fs.IntVar(&cfg.RetryFailedEvery, retryFailedEveryFlag.Name, d.RetryFailedEvery, retryFailedEveryFlag.Usage("retry rows marked failed every Nth pass"))
	fs.BoolVar(&cfg.Once, "once", false, "do one pass (pending rows, seat lists, reconciliation) and exit")

	fs.StringVar(&cfg.HTTPAddr, "http-addr", d.HTTPAddr, "address for /metrics, /healthz and /readyz, [host]:port (empty: off; not served with --once)")
	fs.StringVar(&cfg.LogFormat, "log-format", d.LogFormat, "log format: text or json")
	fs.StringVar(&cfg.LogLevel, "log-level", d.LogLevel, "log level: debug, info, warn or error")
}

// githubName: an organization login or an enterprise slug (they go into
// API paths, so nothing that could change the path).
var githubName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$`)

// Validate names the first invalid field. It only validates: it changes
// nothing and connects to nothing (it reads the GitHub App key).
func (c *Config) Validate() error {
	if err := c.validate(); err != nil {
		return &cli.ConfigError{Err: err}
	}
	return nil
}

func (c *Config) validate() error {
	if err := flagval.First(c.ClickHouse.Validate(), c.Enrich.Validate()); err != nil {
		return err
	}
	if _, err := c.GitHub.Config(); err != nil {
		return err
	}
	for _, l := range []struct {
		flag  string
		names []string
	}{{"orgs", c.Orgs}, {"enterprises", c.Enterprises}} {
		for _, n := range l.names {
			if !githubName.MatchString(n) {
				return fmt.Errorf("%s: %q is not an organization login or enterprise slug", l.flag, n)
			}
		}
	}
	if err := flagval.First(intervalFlag.Check(c.Interval), snapshotIntervalFlag.Check(c.SnapshotInterval),
		pendingBatchFlag.Check(c.PendingBatch), retryFailedEveryFlag.Check(c.RetryFailedEvery)); err != nil {
		return err
	}
	if c.HTTPAddr != "" {
		if err := flagval.HostPort("http-addr", c.HTTPAddr, true); err != nil {
			return err
		}
	}
	_, err := cli.Logger(io.Discard, c.LogFormat, c.LogLevel)
	return err
}

// Worker holds the connections of a running enrich worker.
type Worker struct {
	cfg      Config
	store    *timeline.Store
	gh       *ghclient.Client
	enricher *enrich.Enricher
	log      *slog.Logger
	metrics  *metrics
	now      func() time.Time
	passes   int
}

type metrics struct {
	rows      *prometheus.CounterVec
	snapshots prometheus.Counter
	drift     *prometheus.CounterVec
	remaining prometheus.Gauge
	periods   *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg) // nil: registered nowhere
	m := &metrics{
		rows: f.NewCounterVec(prometheus.CounterOpts{Name: "seatline_enrich_rows_total",
			Help: "Timeline rows processed by outcome: enriched, pending, failed."}, []string{"outcome"}),
		snapshots: f.NewCounter(prometheus.CounterOpts{Name: "seatline_enrich_snapshot_seats_total",
			Help: "Seats written to seat_snapshots."}),
		drift: f.NewCounterVec(prometheus.CounterOpts{Name: "seatline_enrich_drift_total",
			Help: "Reconciliation findings by kind."}, []string{"kind"}),
		remaining: f.NewGauge(prometheus.GaugeOpts{Name: "seatline_github_ratelimit_remaining",
			Help: "GitHub primary rate-limit requests remaining, as last reported."}),
		periods: f.NewCounterVec(prometheus.CounterOpts{Name: "seatline_enrich_periods_total",
			Help: "Seat periods written by the derivation: written (new or changed) or removed."}, []string{"change"}),
	}
	return m
}

// Open validates cfg and connects to ClickHouse (applying migrations) and
// prepares the GitHub client.
func Open(ctx context.Context, cfg Config, log *slog.Logger, reg prometheus.Registerer) (*Worker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ghcfg, err := cfg.GitHub.Config()
	if err != nil {
		return nil, &cli.ConfigError{Err: err}
	}
	gh, err := ghclient.New(ghcfg, log)
	if err != nil {
		return nil, &cli.ConfigError{Err: ghflags.FlagError(err)}
	}
	enricher, err := enrich.New(ghclient.NewLookup(gh, ghclient.LookupConfig{}), gh, cfg.Enrich)
	if err != nil {
		return nil, &cli.ConfigError{Err: err}
	}
	store, err := timeline.Open(ctx, cfg.ClickHouse) // with its own Health: Run serves it
	if err != nil {
		return nil, err
	}
	if err := store.Migrate(ctx); err != nil {
		store.Close()
		return nil, err
	}
	return &Worker{cfg: cfg, store: store, gh: gh, enricher: enricher, log: log, metrics: newMetrics(reg), now: time.Now}, nil
}

// Close releases the ClickHouse connections.
func (w *Worker) Close() error { return w.store.Close() }

// Run works until ctx ends (or after one pass with Once).
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	reg := opshttp.NewRegistry()
	w, err := Open(ctx, cfg, log, reg)
	if err != nil {
		if ctx.Err() != nil { // a stop signal during start-up is a clean stop
			log.Info("stopped during start-up")
			return nil
		}
		return err
	}
	defer w.Close()
	health := w.store.Health()
	health.Register(reg)
	stopWatch := health.Watch(ctx, w.store.Ping, log, "enrich tries again on its next pass")
	defer stopWatch()
	if cfg.HTTPAddr != "" && !cfg.Once {
		srv, err := opshttp.Serve(cfg.HTTPAddr, reg, health, false, log)
		if err != nil {
			return err
		}
		defer srv.Close()
	}
	log.Info("starting enrich", "github", cfg.GitHub.BaseURL, "orgs", cfg.Orgs, "enterprises", cfg.Enterprises,
		"interval", cfg.Interval.String(), "snapshot_interval", cfg.SnapshotInterval.String(), "once", cfg.Once)

	var lastSnapshot, derivedSince time.Time
	for {
		// A step that fails is logged and tried again next pass; with
		// --once, the run's error (and so its exit code) holds every one.
		var failed []error
		step := func(what string, err error) {
			if err == nil || ctx.Err() != nil {
				return
			}
			msg := what + " failed"
			if !cfg.Once {
				msg += "; will retry next pass"
			}
			if timeline.IsClickHouseError(err) && !health.Up() {
				log.Debug(msg, "err", err) // the outage itself is logged once, by health
			} else {
				log.Warn(msg, "err", err)
			}
			if !errors.Is(err, errNoProgress) { // rows left pending for no GitHub failure: not the pass's
				failed = append(failed, fmt.Errorf("%s: %w", what, err))
			}
		}
		step("completing pending rows", w.CompletePending(ctx))
		next, err := w.DerivePeriods(ctx, derivedSince)
		step("deriving seat periods", err)
		if err == nil {
			derivedSince = next
		}
		if w.now().Sub(lastSnapshot) >= cfg.SnapshotInterval || cfg.Once {
			err := w.SnapshotAndReconcile(ctx)
			step("seat-list poll", err)
			if err == nil {
				lastSnapshot = w.now()
			}
		}
		if cfg.Once {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if len(failed) > 0 {
				return fmt.Errorf("the pass did not complete: %w", errors.Join(failed...))
			}
			log.Info("pass complete")
			return nil
		}
		select {
		case <-ctx.Done():
			log.Info("stopped")
			return nil
		case <-time.After(cfg.Interval):
		}
	}
}

// errNoProgress stops a pass when a round enriched nothing (GitHub down or
// out of budget): the next pass tries again.
var errNoProgress = errors.New("no row could be enriched this round")
