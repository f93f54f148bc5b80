// Package ingestd is the ingest worker: it wires a source, the pipeline,
// the ClickHouse timeline and the HTTP endpoints together. cmd/ingest is
// only flags around it.
package ingestd

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	runtimepprof "runtime/pprof"
	"sync/atomic"
	"time"

	"golang.org/x/term"

	"github.com/seatline/seatline/internal/cli"
	"github.com/seatline/seatline/internal/enrich"
	"github.com/seatline/seatline/internal/flagval"
	"github.com/seatline/seatline/internal/ghflags"
	"github.com/seatline/seatline/internal/ingest"
	"github.com/seatline/seatline/internal/objsrc"
	"github.com/seatline/seatline/internal/opshttp"
	"github.com/seatline/seatline/internal/records"
	"github.com/seatline/seatline/internal/source"
	_ "github.com/seatline/seatline/internal/source/all" // every kind of source
	"github.com/seatline/seatline/internal/timeline"
	"github.com/seatline/seatline/pkg/events"
	"github.com/seatline/seatline/pkg/ghclient"
)

// Config is everything the ingest worker needs.
type Config struct {
	Sources    *source.Set // --source and every kind's flags
	ClickHouse timeline.Config
	Records    records.Config
	Pipeline   ingest.Config
	GitHub     ghflags.Flags // inline enrichment; off without credentials
	Enrich     enrich.Config
	HTTPAddr   string // /metrics, /healthz, /readyz; "" disables
	PProf      bool   // also serve /debug/pprof/ on HTTPAddr
	CPUProfile string // write a CPU profile of the whole run here
	LogFormat  string
	LogLevel   string

	MemoryLimit string // the Go runtime's soft memory limit (memlimit.go)
}

// RegisterFlags binds cfg to fs; every default is in its flag.
func RegisterFlags(fs *flag.FlagSet, cfg *Config) {
	cfg.Sources = source.RegisterFlags(fs, "kafka")
	cli.ClickHouseFlags(fs, &cfg.ClickHouse, "database (created if missing)")
	cfg.Records.RegisterFlags(fs)
	cfg.Pipeline.RegisterFlags(fs)
	ghflags.Register(fs, &cfg.GitHub, 0)
	cfg.Enrich.RegisterFlags(fs, enrich.InlineDefaults(), "inline enrichment: ", "one batch", false)
	fs.StringVar(&cfg.HTTPAddr, "http-addr", ":9464", "address for /metrics, /healthz and /readyz, [host]:port (empty: off)")
	fs.BoolVar(&cfg.PProf, "pprof", false, "serve Go's /debug/pprof/ profiles on --http-addr (for diagnosing CPU or memory use)")
	fs.StringVar(&cfg.MemoryLimit, "memory-limit", memoryLimitAuto, memoryLimitUsage())
	fs.StringVar(&cfg.CPUProfile, "cpu-profile", "", "write a CPU profile of the whole run to this file, for go tool pprof (diagnosis; empty: off)")
	fs.StringVar(&cfg.LogFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&cfg.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
}

// ParseArgs is the configuration the ingest binary would have with args
// (and no SEATLINE_* environment): for tests and embedding.
func ParseArgs(args ...string) (Config, error) {
	var cfg Config
	fs := flag.NewFlagSet("ingest", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	RegisterFlags(fs, &cfg)
	if err := cli.ParseOnly(fs, args); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// Validate checks every flag and names the first bad one. It changes
// nothing and connects to nothing; it reads the files flags name (TLS
// material, the GitHub App key) and checks that --files can be read.
func (c *Config) Validate() error {
	if _, err := c.Sources.Selected(); err != nil {
		return &cli.ConfigError{Err: err}
	}
	if err := flagval.First(c.ClickHouse.Validate(), c.Records.Validate(), c.Pipeline.Validate(), c.Enrich.Validate(),
		c.GitHub.CheckValues(), c.checkOwn()); err != nil {
		return &cli.ConfigError{Err: err}
	}
	if c.GitHub.Enabled() {
		if _, err := c.GitHub.Config(); err != nil {
			return &cli.ConfigError{Err: err}
		}
	}
	return nil
}

// checkOwn checks the worker's own flags.
func (c *Config) checkOwn() error {
	if _, err := parseMemoryLimit(c.MemoryLimit); err != nil {
		return err
	}
	if c.HTTPAddr != "" {
		if err := flagval.HostPort("http-addr", c.HTTPAddr, true); err != nil {
			return err
		}
	} else if c.PProf {
		return fmt.Errorf("pprof: needs --http-addr to serve the profiles on")
	}
	if c.CPUProfile != "" {
		if err := flagval.OutputFile("cpu-profile", c.CPUProfile); err != nil {
			return err
		}
	}
	_, err := cli.Logger(io.Discard, c.LogFormat, c.LogLevel)
	return err
}

// Run ingests until ctx ends (SIGTERM), then flushes and commits.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	mem, err := applyMemoryLimit(cfg.MemoryLimit, cfg.Pipeline)
	if err != nil {
		return &cli.ConfigError{Err: err}
	}
	srcCfg, _ := cfg.Sources.Selected()
	log.Info("starting ingest", append(append([]any{"source", cfg.Sources.Source}, srcCfg.Describe()...),
		"clickhouse", cfg.ClickHouse.Addrs, "database", cfg.ClickHouse.Database,
		"batch_rows", cfg.Pipeline.BatchRows, "batch_bytes", cfg.Pipeline.BatchBytes, "batch_wait", cfg.Pipeline.BatchWait.String(), "pii", cfg.Pipeline.PII)...)
	log.Info("memory limit", "limit", mem.String(), "from", mem.source)

	if cfg.CPUProfile != "" {
		stop, err := startCPUProfile(cfg.CPUProfile)
		if err != nil {
			return err
		}
		defer stop()
	}

	// A stop signal during start-up is a clean stop: nothing was read yet.
	stoppedEarly := func(err error) error {
		if ctx.Err() != nil {
			log.Info("stopped during start-up: nothing was read")
			return nil
		}
		return err
	}
	health := timeline.NewHealth()
	store, err := timeline.Open(ctx, cfg.ClickHouse, timeline.WithHealth(health))
	if err != nil {
		return stoppedEarly(err)
	}
	defer store.Close()
	if err := store.Migrate(ctx); err != nil {
		return stoppedEarly(err)
	}
	// From here on, every ClickHouse call (batch writes, checkpoint reads
	// and writes) keeps the health current; an outage is logged once.
	stopWatch := health.Watch(ctx, store.Ping, log,
		"holding the input: nothing more is read or committed, and every call is retried until ClickHouse answers (nothing is lost)")
	defer stopWatch()

	reg := opshttp.NewRegistry()
	metrics := ingest.NewMetrics(reg)
	health.Register(reg)

	var read atomic.Int64 // records read: a store that refuses before any is misconfigured
	src, err := openSource(ctx, cfg, store, metrics, &read, log)
	if err != nil {
		if ctx.Err() != nil {
			return stoppedEarly(err)
		}
		return &cli.ConfigError{Err: err}
	}
	defer closeSource(src, cfg.Sources.Source, log)

	pipe, err := ingest.New(cfg.Pipeline, src, store, log, metrics)
	if err != nil {
		return &cli.ConfigError{Err: err}
	}

	if err := addEnrichment(cfg, pipe, metrics, log); err != nil {
		return &cli.ConfigError{Err: err}
	}

	if cfg.HTTPAddr != "" {
		srv, err := opshttp.Serve(cfg.HTTPAddr, reg, health, cfg.PProf, log)
		if err != nil {
			return err
		}
		defer srv.Close()
	}

	if lagger, ok := src.(source.Lagger); ok {
		lagCtx, stopLag := context.WithCancel(ctx)
		defer stopLag()
		go watchLag(lagCtx, lagger, metrics, log)
	}

	err = pipe.Run(ctx)
	if errors.As(err, new(*objsrc.FatalError)) && read.Load() == 0 {
		// The store refused before a record was read: the bucket, the
		// container or the credentials configured are wrong.
		return &cli.ConfigError{Err: err}
	}
	if err != nil {
		return err
	}
	if ctx.Err() == nil {
		log.Info("input finished: every object was read, written and checkpointed")
	}
	log.Info("stopped cleanly: every row read was written and committed")
	return nil
}

// startCPUProfile profiles the process into path until stop.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, &cli.ConfigError{Err: fmt.Errorf("cpu-profile: %w", err)}
	}
	if err := runtimepprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu-profile: %w", err)
	}
	return func() { runtimepprof.StopCPUProfile(); f.Close() }, nil
}

// openSource opens the source --source names, its records counted in
// metrics and read, and pre-filtered to what may be a seat event, its positions kept
// in store.
func openSource(ctx context.Context, cfg Config, store *timeline.Store, metrics *ingest.Metrics, read *atomic.Int64, log *slog.Logger) (ingest.Source, error) {
	srcCfg, _ := cfg.Sources.Selected()
	deps := source.Deps{Log: log, Records: cfg.Records, Checkpoints: store}
	deps.Records.Keep = events.MaybeSeatEvent
	deps.Records.Counted = func(n, filtered int64) {
		read.Add(n)
		metrics.Messages.Add(float64(n))
		metrics.Filtered.Add(float64(filtered))
	}
	if isTerminal(os.Stderr) {
		deps.Progress = os.Stderr
	}
	return srcCfg.Open(ctx, deps)
}

// closeSource closes src, giving up after 10 s so a stuck source cannot
// hold the exit.
func closeSource(src ingest.Source, name string, log *slog.Logger) {
	done := make(chan struct{})
	go func() { _ = src.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		log.Warn(name + ": closing the source took over 10s; exiting anyway")
	}
}

// addEnrichment adds the inline seat lookup to pipe when GitHub
// credentials are configured.
func addEnrichment(cfg Config, pipe *ingest.Pipeline, metrics *ingest.Metrics, log *slog.Logger) error {
	if !cfg.GitHub.Enabled() {
		log.Info("inline enrichment off (no --github-token or --github-app-id): seat rows stay pending for cmd/enrich")
		return nil
	}
	ghcfg, err := cfg.GitHub.Config()
	if err != nil {
		return err
	}
	gh, err := ghclient.New(ghcfg, log)
	if err != nil {
		return ghflags.FlagError(err)
	}
	enricher, err := enrich.New(ghclient.NewLookup(gh, ghclient.LookupConfig{}), gh, cfg.Enrich)
	if err != nil {
		return err
	}
	pipe.AddStep(ingest.EnrichStep(enricher, metrics))
	log.Info("inline enrichment on", "github", ghcfg.BaseURL, "budget", cfg.Enrich.Budget.String(), "max_requests", cfg.Enrich.MaxRequests)
	return nil
}

func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

func watchLag(ctx context.Context, src source.Lagger, m *ingest.Metrics, log *slog.Logger) {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		lag, err := src.Lag(ctx)
		if err != nil {
			log.Debug("kafka lag check failed", "err", err)
			continue
		}
		m.Lag.Set(float64(lag))
	}
}
