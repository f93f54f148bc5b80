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
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/seatline/seatline/internal/cli"
	"github.com/seatline/seatline/internal/enrich"
	"github.com/seatline/seatline/internal/ghflags"
	"github.com/seatline/seatline/internal/timeline"
	"github.com/seatline/seatline/pkg/ghclient"
)

// Config of the enrich worker.
type Config struct {
	ClickHouse timeline.Config
	GitHub     ghflags.Flags
	Enrich     enrich.Config

	Orgs        []string // seat lists to poll; empty: every org seen in the timeline
	Enterprises []string // enterprise seat lists to poll

	Interval         time.Duration // between passes over pending rows (default 30 s)
	SnapshotInterval time.Duration // between seat-list polls (default 1 h)
	PendingBatch     int           // rows completed per lookup round (default 2,000)
	RetryFailedEvery int           // retry failed rows every Nth pass (default 10)
	Once             bool          // one pass of everything, then exit

	HTTPAddr  string
	LogFormat string
	LogLevel  string
}

// RegisterFlags binds cfg to fs.
func RegisterFlags(fs *flag.FlagSet, cfg *Config) {
	cli.ClickHouseFlags(fs, &cfg.ClickHouse, "database (created if missing)")

	ghflags.Register(fs, &cfg.GitHub, 5*time.Minute)
	fs.DurationVar(&cfg.Enrich.Budget, "enrich-budget", time.Minute, "time one round of lookups may take")
	fs.IntVar(&cfg.Enrich.MaxRequests, "enrich-max-requests", 500, "GitHub requests one round of lookups may make")
	fs.IntVar(&cfg.Enrich.MaxAttempts, "enrich-max-attempts", 10, "failed lookups before a row is marked failed")

	fs.Var((*cli.List)(&cfg.Orgs), "orgs", "organizations whose seat lists are polled, comma-separated (default: every org in the timeline)")
	fs.Var((*cli.List)(&cfg.Enterprises), "enterprises", "enterprises whose seat lists are polled, comma-separated")
	fs.DurationVar(&cfg.Interval, "interval", 30*time.Second, "time between passes over pending rows")
	fs.DurationVar(&cfg.SnapshotInterval, "snapshot-interval", time.Hour, "time between seat-list polls")
	fs.IntVar(&cfg.PendingBatch, "pending-batch", 2000, "pending rows completed per round")
	fs.IntVar(&cfg.RetryFailedEvery, "retry-failed-every", 10, "retry rows marked failed every Nth pass")
	fs.BoolVar(&cfg.Once, "once", false, "do one pass (pending rows, seat lists, reconciliation) and exit")

	fs.StringVar(&cfg.HTTPAddr, "http-addr", ":9465", "address for /metrics and /healthz (empty: off)")
	fs.StringVar(&cfg.LogFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&cfg.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
}

// Validate fills defaults and names the first invalid field.
func (c *Config) Validate() error {
	bad := func(err error) error { return &cli.ConfigError{Err: err} }
	if err := c.ClickHouse.Validate(); err != nil {
		return bad(err)
	}
	if err := c.Enrich.Validate(); err != nil {
		return bad(err)
	}
	if _, err := c.GitHub.Config(); err != nil {
		return bad(err)
	}
	if c.Interval <= 0 {
		c.Interval = 30 * time.Second
	}
	if c.SnapshotInterval <= 0 {
		c.SnapshotInterval = time.Hour
	}
	if c.PendingBatch <= 0 {
		c.PendingBatch = 2000
	}
	if c.RetryFailedEvery <= 0 {
		c.RetryFailedEvery = 10
	}
	if c.HTTPAddr != "" {
		if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
			return bad(fmt.Errorf("http-addr: %q is not host:port", c.HTTPAddr))
		}
	}
	return nil
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
	m := &metrics{
		rows: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "seatline_enrich_rows_total",
			Help: "Timeline rows processed by outcome: enriched, pending, failed."}, []string{"outcome"}),
		snapshots: prometheus.NewCounter(prometheus.CounterOpts{Name: "seatline_enrich_snapshot_seats_total",
			Help: "Seats written to seat_snapshots."}),
		drift: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "seatline_enrich_drift_total",
			Help: "Reconciliation findings by kind."}, []string{"kind"}),
		remaining: prometheus.NewGauge(prometheus.GaugeOpts{Name: "seatline_github_ratelimit_remaining",
			Help: "GitHub primary rate-limit requests remaining, as last reported."}),
		periods: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "seatline_enrich_periods_total",
			Help: "Seat periods written by the derivation: written (new or changed) or removed."}, []string{"change"}),
	}
	if reg != nil {
		reg.MustRegister(m.rows, m.snapshots, m.drift, m.remaining, m.periods)
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
		return nil, &cli.ConfigError{Err: err}
	}
	enricher, err := enrich.New(ghclient.NewLookup(gh, ghclient.LookupConfig{}), gh, cfg.Enrich)
	if err != nil {
		return nil, &cli.ConfigError{Err: err}
	}
	store, err := timeline.Open(ctx, cfg.ClickHouse)
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
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	w, err := Open(ctx, cfg, log, reg)
	if err != nil {
		if ctx.Err() != nil { // a stop signal during start-up is a clean stop
			log.Info("stopped during start-up")
			return nil
		}
		return err
	}
	defer w.Close()
	if cfg.HTTPAddr != "" && !cfg.Once {
		ln, err := net.Listen("tcp", cfg.HTTPAddr)
		if err != nil {
			return fmt.Errorf("http-addr %s: %w", cfg.HTTPAddr, err)
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		defer srv.Close()
		log.Info("serving /metrics, /healthz", "addr", ln.Addr().String())
	}
	log.Info("starting enrich", "github", cfg.GitHub.BaseURL, "orgs", cfg.Orgs, "enterprises", cfg.Enterprises,
		"interval", cfg.Interval.String(), "snapshot_interval", cfg.SnapshotInterval.String(), "once", cfg.Once)

	var lastSnapshot, derivedSince time.Time
	for {
		if err := w.CompletePending(ctx); err != nil && ctx.Err() == nil {
			log.Warn("completing pending rows failed; will retry next pass", "err", err)
		}
		if next, err := w.DerivePeriods(ctx, derivedSince); err != nil && ctx.Err() == nil {
			log.Warn("deriving seat periods failed; will retry next pass", "err", err)
		} else {
			derivedSince = next
		}
		if w.now().Sub(lastSnapshot) >= cfg.SnapshotInterval || cfg.Once {
			if err := w.SnapshotAndReconcile(ctx); err != nil && ctx.Err() == nil {
				log.Warn("seat-list poll failed; will retry next pass", "err", err)
			} else {
				lastSnapshot = w.now()
			}
		}
		if cfg.Once {
			return ctx.Err()
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
