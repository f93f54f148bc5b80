package seatctl

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/seatline/seatline/internal/timeline"
)

const rebuildAbout = `seatctl rebuild: fill the read models again from the timeline

The read models (seat_history, seat_current, scope_revocations)
are what history, seats, pending and the dashboards read; materialized views keep them
current as rows arrive, and migration 6 filled them from the rows already stored.
rebuild empties each and runs its views' SELECT over the whole timeline again: after
restoring seat_events from a backup, or when --check finds a difference. Ingest may
keep running; reads see partly filled models until rebuild ends.

--check changes nothing: it rebuilds each model into a scratch table beside it,
compares the two (every value, after merging), says which differ, and exits 1 if any
does. Single server only.

` + exitCodesHelp

func runRebuild(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("rebuild", flag.ContinueOnError)
	var cfg timeline.Config
	clickhouseFlags(fs, &cfg)
	check := fs.Bool("check", false, "compare each read model with a rebuild of it, changing nothing")
	pos, err := parse(e, fs, args, rebuildAbout)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErrorf("unexpected argument %q", pos[0])
	}
	store, err := connect(ctx, cfg, e.stderr)
	if err != nil {
		return err
	}
	defer store.Close()
	if *check {
		diffs, err := store.CheckReadModels(ctx)
		if err != nil {
			return timeline.Explain(store.Config(), err)
		}
		for _, d := range diffs {
			fmt.Fprintf(e.stdout, "DIFFERS  %s; run seatctl rebuild\n", d)
		}
		if len(diffs) > 0 {
			return errVerifyFailed
		}
		fmt.Fprintln(e.stdout, "every read model equals a rebuild from the timeline")
		return nil
	}
	t0 := time.Now()
	err = store.RebuildReadModels(ctx, func(target string, rows uint64, took time.Duration) {
		fmt.Fprintf(e.stdout, "rebuilt %-20s %10d rows in %s\n", target, rows, took.Round(time.Millisecond))
	})
	if err != nil {
		return timeline.Explain(store.Config(), err)
	}
	fmt.Fprintf(e.stdout, "read models rebuilt from the timeline in %s\n", time.Since(t0).Round(time.Millisecond))
	return nil
}
