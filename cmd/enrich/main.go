// Command enrich is seatline's GitHub-facing worker: it completes timeline
// rows that ingest left pending, polls Copilot seat lists into
// seat_snapshots, and reconciles them with the timeline (seat_drift). It
// runs as a daemon, or once with --once. Every flag is also an environment
// variable: see --help.
package main

import (
	"context"
	"flag"
	"log/slog"

	"github.com/seatline/seatline/internal/cli"
	"github.com/seatline/seatline/internal/enrichd"
)

func main() {
	var cfg enrichd.Config
	cli.Main("enrich", "enrich: complete pending seat rows from GitHub's Copilot API, poll seat lists, reconcile"+"\n\n"+cli.ExitCodesHelp,
		func(fs *flag.FlagSet) { enrichd.RegisterFlags(fs, &cfg) }, &cfg.LogFormat, &cfg.LogLevel,
		func(ctx context.Context, log *slog.Logger) error { return enrichd.Run(ctx, cfg, log) })
}
