package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/seatline/seatline/internal/benchkit"
	"github.com/seatline/seatline/internal/seatctl/seatdata"
	"github.com/seatline/seatline/internal/testenv"
	"github.com/seatline/seatline/internal/timeline"
)

// exportBenchDB is the database the export benchmark fills.
const exportBenchDB = "bench_export"

// runExportBench measures a compliance export by the seatctl binary
// (bin/seatctl, else built from ./cmd/seatctl into tmp): rows synthetic
// timeline rows are written into database "bench_export" of the ClickHouse
// at chAddr (timeline.Store.Write, 50,000 a batch), then
// `seatctl export --formats csv` writes them all to a bundle in tmp, as a
// child process whose VmHWM is sampled every 10ms. It prints
//
//	BENCH export_rows_per_s <v> rows/s      (rows / wall time of the export process)
//	BENCH export_peak_rss_mb <v> MiB        (target < 100)
//
// plus "# " lines (sizes, the verify run's time and memory) and returns the
// figures that miss their target (also printed as "# MISS:" lines).
func runExportBench(ctx context.Context, tmp, chAddr string, rows int) (misses []string, err error) {
	bin, built, err := benchkit.Binary(ctx, "seatctl", tmp)
	if err != nil {
		return nil, fmt.Errorf("seatctl binary: %w", err)
	}
	if built {
		fmt.Println("# bin/seatctl not found: built ./cmd/seatctl")
	}
	store, err := timeline.Open(ctx, timeline.Config{Addrs: []string{chAddr}, Database: exportBenchDB})
	if err != nil {
		return nil, err
	}
	defer store.Close()
	if err := store.Migrate(ctx); err != nil {
		return nil, err
	}
	t0 := time.Now()
	if err := seatdata.Synthetic(ctx, store, rows, 50000); err != nil {
		return nil, err
	}
	fmt.Printf("# export: %d timeline rows written in %.1fs (50,000 a batch)\n", rows, time.Since(t0).Seconds())

	bundle := filepath.Join(tmp, "export-bundle")
	exp, err := testenv.RunToEnd(ctx, bin, "export", "--clickhouse-addr", chAddr, "--clickhouse-database", exportBenchDB,
		"--out", bundle, "--formats", "csv")
	if err != nil {
		return nil, fmt.Errorf("seatctl export: %w\n%s", err, exp.Output)
	}
	if !strings.Contains(exp.Output, fmt.Sprintf("exported %d rows", rows)) {
		return nil, fmt.Errorf("seatctl export did not export %d rows:\n%s", rows, exp.Output)
	}
	var size int64
	if fi, err := os.Stat(filepath.Join(bundle, "events.csv")); err == nil {
		size = fi.Size()
	}
	rate := float64(rows) / exp.Elapsed.Seconds()
	fmt.Printf("# export: seatctl export of %d rows (csv, %.0f MiB, hash chain, manifest) in %.2fs, peak RSS %.1f MiB (VmHWM)\n",
		rows, float64(size)/(1<<20), exp.Elapsed.Seconds(), exp.PeakRSSMiB)

	ver, err := testenv.RunToEnd(ctx, bin, "verify", bundle)
	if err != nil {
		return nil, fmt.Errorf("seatctl verify: %w\n%s", err, ver.Output)
	}
	fmt.Printf("# export: seatctl verify of the bundle in %.2fs (%.0f rows/s), peak RSS %.1f MiB\n",
		ver.Elapsed.Seconds(), float64(rows)/ver.Elapsed.Seconds(), ver.PeakRSSMiB)
	os.RemoveAll(bundle)

	fmt.Printf("BENCH export_rows_per_s %.0f rows/s\n", rate)
	fmt.Printf("BENCH export_peak_rss_mb %.1f MiB\n", exp.PeakRSSMiB)
	if exp.PeakRSSMiB >= 100 {
		msg := fmt.Sprintf("export_peak_rss_mb = %.1f misses its target < 100", math.Round(exp.PeakRSSMiB*10)/10)
		fmt.Printf("# MISS: %s\n", msg)
		misses = append(misses, msg)
	}
	return misses, nil
}
