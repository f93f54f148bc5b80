// Command enrich is seatline's GitHub-facing worker: it completes timeline
// rows that ingest left pending, polls Copilot seat lists into
// seat_snapshots, and reconciles them with the timeline (seat_drift). It
// runs as a daemon, or once with --once. Every flag is also an environment
// variable: see --help.
package main

import (
	"context"
	"flag"
	"os"
	"os/signal"
	"syscall"

	"github.com/seatline/seatline/internal/cli"
	"github.com/seatline/seatline/internal/enrichd"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	var cfg enrichd.Config
	fs := flag.NewFlagSet("enrich", flag.ContinueOnError)
	enrichd.RegisterFlags(fs, &cfg)
	if err := cli.Parse(fs, os.Args[1:], "enrich: complete pending seat rows from GitHub's Copilot API, poll seat lists, reconcile"); err != nil {
		cli.Fatal("enrich", &cli.ConfigError{Err: err})
	}
	log, err := cli.Logger(os.Stderr, cfg.LogFormat, cfg.LogLevel)
	if err != nil {
		cli.Fatal("enrich", &cli.ConfigError{Err: err})
	}
	err = enrichd.Run(ctx, cfg, log)
	stop()
	cli.Fatal("enrich", err)
}
