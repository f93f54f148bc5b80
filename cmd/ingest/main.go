// Command ingest reads GitHub audit events from Kafka, keeps the Copilot
// seat and policy events, and writes the seat-lifecycle timeline into
// ClickHouse. Every flag is also an environment variable: see --help.
package main

import (
	"context"
	"flag"
	"os"
	"os/signal"
	"syscall"

	"github.com/seatline/seatline/internal/cli"
	"github.com/seatline/seatline/internal/ingestd"
)

func main() {
	// First, so a SIGTERM during start-up is a clean stop, not a kill.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	var cfg ingestd.Config
	fs := flag.NewFlagSet("ingest", flag.ContinueOnError)
	ingestd.RegisterFlags(fs, &cfg)
	if err := cli.Parse(fs, os.Args[1:], "ingest: GitHub audit stream → Copilot seat timeline in ClickHouse"); err != nil {
		cli.Fatal("ingest", &cli.ConfigError{Err: err})
	}
	log, err := cli.Logger(os.Stderr, cfg.LogFormat, cfg.LogLevel)
	if err != nil {
		cli.Fatal("ingest", &cli.ConfigError{Err: err})
	}
	err = ingestd.Run(ctx, cfg, log)
	stop()
	cli.Fatal("ingest", err)
}
