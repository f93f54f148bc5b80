// Command seatctl queries the Copilot seat timeline in ClickHouse (seat
// history, current and idle seats, pending cancellations) and writes and
// verifies compliance export bundles. See seatctl --help; the logic is in
// internal/seatctl.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/seatline/seatline/internal/seatctl"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	code := seatctl.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
