// Package ingestd is the ingest worker: it wires a source, the pipeline,
// the ClickHouse timeline and the HTTP endpoints together. cmd/ingest is
// only flags around it.
package ingestd

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	runtimepprof "runtime/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/term"

	"github.com/seatline/seatline/internal/cli"
	"github.com/seatline/seatline/internal/enrich"
	"github.com/seatline/seatline/internal/ghflags"
	"github.com/seatline/seatline/internal/ingest"
	"github.com/seatline/seatline/internal/kafkasrc"
	"github.com/seatline/seatline/internal/s3src"
	"github.com/seatline/seatline/internal/timeline"
	"github.com/seatline/seatline/pkg/ghclient"
)

// Config is everything the ingest worker needs.
type Config struct {
	Source     string // kafka, s3 or file
	Kafka      kafkasrc.Config
	S3         s3src.Config
	Files      s3src.FileConfig
	Shard      string // --shard i/n for the s3 and file sources
	ClickHouse timeline.Config
	Pipeline   ingest.Config
	GitHub     ghflags.Flags // inline enrichment; off without credentials
	Enrich     enrich.Config
	HTTPAddr   string // /metrics, /healthz, /readyz; "" disables
	PProf      bool   // also serve /debug/pprof/ on HTTPAddr
	CPUProfile string // write a CPU profile of the whole run here
	LogFormat  string
	LogLevel   string
}

// RegisterFlags binds cfg to fs. Defaults are those of each package's
// Validate, repeated here so --help shows them.
func RegisterFlags(fs *flag.FlagSet, cfg *Config) {
	fs.StringVar(&cfg.Source, "source", "kafka", "where events come from: kafka, s3 (GitHub's audit-log streaming bucket) or file (local files/directories)")

	k := &cfg.Kafka
	fs.Var((*cli.List)(&k.Brokers), "kafka-brokers", "Kafka bootstrap brokers, comma-separated host:port")
	fs.Var((*cli.List)(&k.Topics), "kafka-topics", "topics holding the audit stream, comma-separated")
	fs.StringVar(&k.GroupID, "kafka-group", "seatline-ingest", "consumer group id (workers in one group share partitions)")
	fs.StringVar(&k.ClientID, "kafka-client-id", "seatline", "Kafka client id")
	fs.StringVar(&k.StartOffset, "kafka-start-offset", "first", "where a new group starts: first or last")
	fs.StringVar(&k.SASLMechanism, "kafka-sasl-mechanism", "", "SASL mechanism: plain, scram-sha-256 or scram-sha-512 (empty: none)")
	fs.StringVar(&k.SASLUsername, "kafka-sasl-username", "", "SASL username ($ConnectionString for Azure Event Hubs)")
	fs.StringVar(&k.SASLPassword, "kafka-sasl-password", "", "SASL password (never logged; prefer the environment variable)")
	fs.BoolVar(&k.TLS, "kafka-tls", false, "connect to Kafka with TLS")
	fs.StringVar(&k.TLSCAFile, "kafka-tls-ca", "", "PEM CA bundle for Kafka's certificate (implies --kafka-tls)")
	fs.StringVar(&k.TLSCertFile, "kafka-tls-cert", "", "client certificate PEM for mutual TLS")
	fs.StringVar(&k.TLSKeyFile, "kafka-tls-key", "", "client key PEM for mutual TLS")
	fs.BoolVar(&k.TLSInsecure, "kafka-tls-insecure-skip-verify", false, "do not verify Kafka's certificate (testing only)")
	fs.IntVar(&k.MaxBytes, "kafka-max-bytes", 4<<20, "bytes fetched per request; a larger message is still fetched whole (Kafka KIP-74)")
	fs.DurationVar(&k.SessionTimeout, "kafka-session-timeout", 30*time.Second, "group session timeout")

	s := &cfg.S3
	fs.StringVar(&s.Bucket, "s3-bucket", "", "S3 bucket GitHub streams the audit log to (--source s3)")
	fs.StringVar(&s.Prefix, "s3-prefix", "", "key prefix above GitHub's YYYY/MM/DD/HH/mm/<uuid>.json.log.gz keys")
	fs.StringVar(&s.Region, "s3-region", "", "bucket region (default: AWS_REGION / the shared profile, else us-east-1)")
	fs.StringVar(&s.Endpoint, "s3-endpoint", "", "S3-compatible endpoint URL, e.g. http://minio:9000 (default: AWS)")
	fs.BoolVar(&s.PathStyle, "s3-path-style", false, "path-style addressing (MinIO, versitygw and most S3-compatible stores)")
	fs.StringVar(&s.Mode, "s3-mode", "follow", "follow: poll for new objects for ever; backfill: read --since..--until once, then exit 0")
	fs.StringVar(&s.Since, "since", "", "first day to read, YYYY-MM-DD UTC (backfill: only these days' prefixes are listed; follow: where to start)")
	fs.StringVar(&s.Until, "until", "", "last day to read, YYYY-MM-DD UTC, inclusive (backfill; default today)")
	fs.DurationVar(&s.PollInterval, "s3-poll-interval", 30*time.Second, "follow mode: time between listings")
	fs.DurationVar(&s.Lookback, "s3-lookback", time.Hour, "follow mode: list again from this long before the newest key seen (late objects)")
	fs.IntVar(&s.Concurrency, "s3-concurrency", 4, "objects downloaded and read at once")
	fs.StringVar(&cfg.Shard, "shard", "", "i/n: this worker reads only keys whose hash mod n is i; run n workers 0/n … n-1/n (s3, file)")
	fs.Var((*cli.List)(&cfg.Files.Paths), "files", "files or directories (recursive) of NDJSON or JSON-array exports, gzipped or not, comma-separated (--source file)")

	cli.ClickHouseFlags(fs, &cfg.ClickHouse, "database (created if missing)")

	p := &cfg.Pipeline
	fs.IntVar(&p.BatchRows, "batch-rows", 10000, "write a batch when it holds this many rows")
	fs.DurationVar(&p.BatchWait, "batch-wait", 500*time.Millisecond, "write a batch at the latest this long after its first message")
	fs.DurationVar(&p.BatchIdleAge, "batch-idle-age", 200*time.Millisecond, "a batch this old is written as soon as the source is quiet for 20ms")
	fs.IntVar(&p.MaxEventBytes, "max-event-bytes", 1<<20, "larger events become dead letters")
	fs.DurationVar(&p.ShutdownTimeout, "shutdown-timeout", 30*time.Second, "on SIGTERM, time allowed to flush and commit")
	fs.StringVar((*string)(&p.PII), "pii", "keep", "actor_ip and user_agent: keep, hash (salted SHA-256) or drop")
	fs.StringVar(&p.PIISalt, "pii-salt", "", "salt for --pii hash (never logged)")

	ghflags.Register(fs, &cfg.GitHub, 0)
	fs.DurationVar(&cfg.Enrich.Budget, "enrich-budget", 300*time.Millisecond, "inline enrichment: time one batch may spend on GitHub lookups")
	fs.IntVar(&cfg.Enrich.MaxRequests, "enrich-max-requests", 25, "inline enrichment: GitHub requests one batch may make")

	fs.StringVar(&cfg.HTTPAddr, "http-addr", ":9464", "address for /metrics, /healthz and /readyz (empty: off)")
	fs.BoolVar(&cfg.PProf, "pprof", false, "serve Go's /debug/pprof/ profiles on --http-addr (for diagnosing CPU or memory use)")
	fs.StringVar(&cfg.CPUProfile, "cpu-profile", "", "write a CPU profile of the whole run to this file, for `go tool pprof` (diagnosis; empty: off)")
	fs.StringVar(&cfg.LogFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&cfg.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
}

// Validate checks every part and names the first bad field.
func (c *Config) Validate() error {
	var src func() error
	switch c.Source {
	case "kafka":
		src = c.Kafka.Validate
	case "s3":
		c.S3.Shard = c.Shard
		if c.S3.MaxLineBytes == 0 {
			c.S3.MaxLineBytes = c.Pipeline.MaxEventBytes
		}
		src = c.S3.Validate
	case "file":
		c.Files.Shard = c.Shard
		if c.Files.MaxLineBytes == 0 {
			c.Files.MaxLineBytes = c.Pipeline.MaxEventBytes
		}
		src = c.Files.Validate
	default:
		return &cli.ConfigError{Err: fmt.Errorf("source: must be kafka, s3 or file, got %q", c.Source)}
	}
	if c.Source == "kafka" && c.Shard != "" {
		return &cli.ConfigError{Err: fmt.Errorf("shard: only with --source s3 or file (Kafka workers share partitions through --kafka-group)")}
	}
	for _, v := range []func() error{src, c.ClickHouse.Validate, c.Pipeline.Validate, c.Enrich.Validate} {
		if err := v(); err != nil {
			return &cli.ConfigError{Err: err}
		}
	}
	if c.GitHub.Enabled() {
		if _, err := c.GitHub.Config(); err != nil {
			return &cli.ConfigError{Err: err}
		}
	}
	if c.HTTPAddr != "" {
		if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
			return &cli.ConfigError{Err: fmt.Errorf("http-addr: %q is not host:port", c.HTTPAddr)}
		}
	}
	return nil
}

// Run ingests until ctx ends (SIGTERM), then flushes and commits.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	var srcAttrs []any
	switch cfg.Source {
	case "kafka":
		srcAttrs = []any{"brokers", cfg.Kafka.Brokers, "topics", cfg.Kafka.Topics,
			"group", cfg.Kafka.GroupID, "sasl", cfg.Kafka.SASLMechanism, "kafka_tls", cfg.Kafka.TLS}
	case "s3":
		srcAttrs = []any{"bucket", cfg.S3.Bucket, "prefix", cfg.S3.Prefix, "mode", cfg.S3.Mode, "since", cfg.S3.Since,
			"until", cfg.S3.Until, "endpoint", cfg.S3.Endpoint, "concurrency", cfg.S3.Concurrency, "shard", shardOrAll(cfg.Shard)}
	case "file":
		srcAttrs = []any{"files", cfg.Files.Paths, "shard", shardOrAll(cfg.Shard)}
	}
	log.Info("starting ingest", append(append([]any{"source", cfg.Source}, srcAttrs...),
		"clickhouse", cfg.ClickHouse.Addrs, "database", cfg.ClickHouse.Database,
		"batch_rows", cfg.Pipeline.BatchRows, "batch_wait", cfg.Pipeline.BatchWait.String(), "pii", cfg.Pipeline.PII)...)

	if cfg.CPUProfile != "" {
		f, err := os.Create(cfg.CPUProfile)
		if err != nil {
			return &cli.ConfigError{Err: fmt.Errorf("cpu-profile: %w", err)}
		}
		if err := runtimepprof.StartCPUProfile(f); err != nil {
			f.Close()
			return fmt.Errorf("cpu-profile: %w", err)
		}
		defer func() { runtimepprof.StopCPUProfile(); f.Close() }()
	}

	// A stop signal during start-up is a clean stop: nothing was read yet.
	stoppedEarly := func(err error) error {
		if ctx.Err() != nil {
			log.Info("stopped during start-up: nothing was read")
			return nil
		}
		return err
	}
	store, err := timeline.Open(ctx, cfg.ClickHouse)
	if err != nil {
		return stoppedEarly(err)
	}
	defer store.Close()
	if err := store.Migrate(ctx); err != nil {
		return stoppedEarly(err)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := ingest.NewMetrics(reg)
	// The S3 and file sources run the pipeline's byte pre-filter themselves
	// (so non-Copilot lines are never copied or queued); they count here.
	filtered := func(n int64) {
		metrics.Messages.Add(float64(n))
		metrics.Filtered.Add(float64(n))
	}

	var src ingest.Source
	var kafka *kafkasrc.Source
	switch cfg.Source {
	case "kafka":
		if kafka, err = kafkasrc.Open(cfg.Kafka, log); err != nil {
			return &cli.ConfigError{Err: err}
		}
		src = kafka
	case "s3":
		if cfg.S3.Progress == nil && isTerminal(os.Stderr) {
			cfg.S3.Progress = os.Stderr
		}
		if cfg.S3.Filtered == nil {
			cfg.S3.Filtered = filtered
		}
		s3, err := s3src.Open(ctx, cfg.S3, store, log)
		if err != nil {
			if ctx.Err() != nil {
				return stoppedEarly(err)
			}
			return &cli.ConfigError{Err: err}
		}
		src = s3
	case "file":
		if cfg.Files.Progress == nil && isTerminal(os.Stderr) {
			cfg.Files.Progress = os.Stderr
		}
		if cfg.Files.Filtered == nil {
			cfg.Files.Filtered = filtered
		}
		files, err := s3src.OpenFiles(cfg.Files, store, log)
		if err != nil {
			if ctx.Err() != nil {
				return stoppedEarly(err)
			}
			return &cli.ConfigError{Err: err}
		}
		src = files
	}
	defer func() {
		done := make(chan struct{})
		go func() { _ = src.Close(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			log.Warn(cfg.Source + ": closing the source took over 10s; exiting anyway")
		}
	}()

	pipe, err := ingest.New(cfg.Pipeline, src, store, log, metrics)
	if err != nil {
		return &cli.ConfigError{Err: err}
	}

	if cfg.GitHub.Enabled() {
		ghcfg, err := cfg.GitHub.Config()
		if err != nil {
			return &cli.ConfigError{Err: err}
		}
		gh, err := ghclient.New(ghcfg, log)
		if err != nil {
			return &cli.ConfigError{Err: err}
		}
		enricher, err := enrich.New(ghclient.NewLookup(gh, ghclient.LookupConfig{}), gh, cfg.Enrich)
		if err != nil {
			return &cli.ConfigError{Err: err}
		}
		pipe.SetEnricher(enricher)
		log.Info("inline enrichment on", "github", ghcfg.BaseURL, "budget", cfg.Enrich.Budget.String(), "max_requests", cfg.Enrich.MaxRequests)
	} else {
		log.Info("inline enrichment off (no --github-token or --github-app-id): seat rows stay pending for cmd/enrich")
	}

	if cfg.HTTPAddr != "" {
		srv, err := serveHTTP(cfg.HTTPAddr, cfg.PProf, reg, pipe, log)
		if err != nil {
			return err
		}
		defer srv.Close()
	}

	if kafka != nil {
		lagCtx, stopLag := context.WithCancel(ctx)
		defer stopLag()
		go watchLag(lagCtx, kafka, metrics, log)
	}

	err = pipe.Run(ctx)
	if err != nil {
		return err
	}
	if ctx.Err() == nil {
		log.Info("input finished: every object was read, written and checkpointed")
	}
	log.Info("stopped cleanly: every row read was written and committed")
	return nil
}

func shardOrAll(s string) string {
	if s == "" {
		return "0/1"
	}
	return s
}

func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

func watchLag(ctx context.Context, src *kafkasrc.Source, m *ingest.Metrics, log *slog.Logger) {
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

func serveHTTP(addr string, pprofOn bool, reg *prometheus.Registry, pipe *ingest.Pipeline, log *slog.Logger) (*http.Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("http-addr %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !pipe.Ready() {
			http.Error(w, "ClickHouse writes are failing; the stream is held", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	if pprofOn {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server stopped", "err", err)
		}
	}()
	log.Info("serving /metrics, /healthz, /readyz", "addr", ln.Addr().String())
	return srv, nil
}
