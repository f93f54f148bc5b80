// Command ingest reads GitHub audit events from Kafka, S3 or local files,
// keeps the Copilot seat and policy events, and writes the seat-lifecycle
// timeline into ClickHouse. Every flag is also an environment variable:
// see --help.
package main

import (
	"context"
	"flag"
	"log/slog"

	"github.com/seatline/seatline/internal/cli"
	"github.com/seatline/seatline/internal/ingestd"
)

func main() {
	var cfg ingestd.Config
	cli.Main("ingest", "ingest: GitHub audit stream → Copilot seat timeline in ClickHouse"+"\n\n"+cli.ExitCodesHelp,
		func(fs *flag.FlagSet) { ingestd.RegisterFlags(fs, &cfg) }, &cfg.LogFormat, &cfg.LogLevel,
		func(ctx context.Context, log *slog.Logger) error { return ingestd.Run(ctx, cfg, log) })
}
