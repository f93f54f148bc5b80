package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/gzip"
	"golang.org/x/sync/errgroup"

	"github.com/seatline/seatline/internal/auditgen"
	"github.com/seatline/seatline/internal/benchkit"
	"github.com/seatline/seatline/internal/testenv"
	"github.com/seatline/seatline/internal/timeline"
)

// bucketBenchObjects and bucketBenchPerObject: each bucket benchmark's
// bucket, 240 GitHub-layout objects (one a minute over four hours) of
// 5,000 streamed events each, gzipped NDJSON as GitHub writes them, 2%
// Copilot events.
const (
	bucketBenchObjects   = 240
	bucketBenchPerObject = 5000
	bucketBenchName      = "bench-audit"
)

// benchStore is a store's test server holding the benchmark's bucket.
type benchStore struct {
	bucket testenv.Bucket
	server string     // what the CPU line calls it: versitygw, Azurite, fake-gcs-server
	pid    func() int // the server's, for its CPU time
	close  func()
}

// runBucketBench measures a backfill of a bucket by the ingest binary bin
// against the better of two raw reads of the same objects, one before and
// one after (download, gunzip, split into lines, nothing else, with the
// store's own SDK: the ceiling on this machine). The worker writes into
// database "bench_<kind>" of ch (dropped first). It prints
//
//	BENCH <kind>_events_per_s <v> events/s
//	BENCH <kind>_raw_read_events_per_s <v> events/s
//	BENCH <kind>_ratio_to_raw_read <v> ratio   (target ≥ 0.8)
//
// and returns the figures that miss their target (also "# MISS:" lines).
func runBucketBench(ctx context.Context, st benchStore, bin, tmp, profileDir string, ch *testenv.ClickHouse) (misses []string, err error) {
	defer st.close()
	kind := st.bucket.Kind()
	db := "bench_" + kind
	if _, err := ch.Query(ctx, "DROP DATABASE IF EXISTS "+db); err != nil {
		return nil, err
	}
	// The worker finds the server's credentials in its environment.
	for _, kv := range st.bucket.Env() {
		k, v, _ := strings.Cut(kv, "=")
		old, had := os.LookupEnv(k)
		os.Setenv(k, v)
		defer func() {
			if had {
				os.Setenv(k, old)
			} else {
				os.Unsetenv(k)
			}
		}()
	}

	t0 := time.Now()
	start := time.Date(2026, 6, 1, 22, 0, 0, 0, time.UTC) // crosses midnight: two day prefixes
	up, err := uploadBucketBench(ctx, st.bucket, start)
	if err != nil {
		return nil, err
	}
	fmt.Printf("# %s: %d objects (%s/YYYY/MM/DD/HH/mm/<uuid>.json.log.gz), %d events (%d seat/policy), %.1f MiB gzipped (%.1f MiB of NDJSON), generated and uploaded to %s in %s\n",
		kind, bucketBenchObjects, bucketBenchName, up.events, up.seat, float64(up.gz)/(1<<20), float64(up.raw)/(1<<20), st.server, time.Since(t0).Round(time.Millisecond))

	raw1, err := rawReadBucket(ctx, st, up)
	if err != nil {
		return nil, err
	}
	args := append(st.bucket.IngestArgs(),
		"--"+kind+"-mode", "backfill", "--since", start.Format("2006-01-02"), "--until", start.Add(24*time.Hour).Format("2006-01-02"),
		"--clickhouse-addr", ch.Addr(), "--clickhouse-database", db)
	if profileDir != "" {
		args = append(args, "--cpu-profile", filepath.Join(profileDir, "ingest-"+kind+".pprof"))
	}
	in, err := benchkit.StartIngest(bin, args, filepath.Join(tmp, "ingest-"+kind+".log"))
	if err != nil {
		return nil, err
	}
	defer in.Close()
	w, err := watchBackfill(ctx, in, st, ch)
	if err != nil {
		return nil, err
	}
	if !strings.Contains(in.Proc.Output(), "input finished") {
		return nil, fmt.Errorf("ingest --source %s exited 0 without finishing the backfill\n%s", kind, in.LogTail(15))
	}
	rows, err := countBucketRows(ctx, ch.Addr(), db, kind)
	if err != nil {
		return nil, err
	}
	if rows != uint64(up.seat) {
		return nil, fmt.Errorf("the %s backfill left %d rows in seat_timeline, want %d (one per seat/policy event)", kind, rows, up.seat)
	}
	rate := (float64(up.events) - w.firstSeen) / w.end.Sub(w.first).Seconds()

	raw2, err := rawReadBucket(ctx, st, up)
	if err != nil {
		return nil, err
	}
	rawRate := math.Max(raw1.rate, raw2.rate)
	fmt.Printf("# %s: ingest --%s-mode backfill read %d events in %s, from the first /metrics poll seeing any (%.0f by then, not counted) to exit 0 with every object checkpointed; seat_timeline holds all %d seat/policy events; peak RSS %.1f MiB\n",
		kind, kind, up.events, w.end.Sub(w.first).Round(time.Millisecond), w.firstSeen, rows, w.peakRSS)
	fmt.Printf("# %s: CPU meanwhile: ingest %.2f s, ClickHouse %.2f s (inserts, merges), %s %.2f s\n", kind, w.cpuIngest, w.cpuClickHouse, st.server, w.cpuServer)
	for i, r := range []rawRead{raw1, raw2} {
		fmt.Printf("# %s: raw read %s (4 objects at once with the store's SDK: download, gunzip, split lines, nothing else): %.0f events/s, %s wall, CPU %.2f s + %s %.2f s\n",
			kind, []string{"before", "after"}[i], r.rate, r.wall.Round(time.Millisecond), r.cpu, st.server, r.srvCPU)
	}
	fmt.Printf("BENCH %s_events_per_s %.0f events/s\n", kind, rate)
	fmt.Printf("BENCH %s_raw_read_events_per_s %.0f events/s\n", kind, rawRate)
	ratio := rate / rawRate
	fmt.Printf("BENCH %s_ratio_to_raw_read %.3f ratio\n", kind, ratio)
	if ratio < 0.8 {
		msg := fmt.Sprintf("%s_ratio_to_raw_read = %.3f misses its target ≥ 0.8", kind, ratio)
		fmt.Printf("# MISS: %s\n", msg)
		fmt.Printf("# %s: the reading itself (download, gunzip, lines) costs ingest what it costs the raw read; on top come the byte pre-filter on every line,"+
			" JSON decoding and row building for the seat events, and ClickHouse's inserts and merges, all on the same cores (see the CPU lines above)\n", kind)
		misses = append(misses, msg)
	}
	return misses, nil
}

// backfillWatch is what watching a backfill worker measured: from the
// first /metrics poll that saw a message (and how many by then) to its exit.
type backfillWatch struct {
	first, end                          time.Time
	firstSeen, peakRSS                  float64
	cpuIngest, cpuClickHouse, cpuServer float64
}

// watchBackfill waits for the worker to exit 0. It polls /metrics only
// until the worker is reading (a scrape costs the worker CPU), then
// watches for the exit; CPU and VmHWM every 100 ms.
func watchBackfill(ctx context.Context, in *benchkit.Ingest, st benchStore, ch *testenv.ClickHouse) (backfillWatch, error) {
	var w backfillWatch
	var cpu, cpu0, srv, srv0, chCPU, ch0 float64
	var lastPoll time.Time
	for {
		if done, werr := in.Proc.Exited(); done {
			if werr != nil {
				return w, fmt.Errorf("ingest --source %s failed: %v\n%s", st.bucket.Kind(), werr, in.LogTail(15))
			}
			break
		}
		if time.Since(lastPoll) >= 100*time.Millisecond {
			lastPoll = time.Now()
			if rss, err := in.Proc.PeakRSSMiB(); err == nil {
				w.peakRSS = math.Max(w.peakRSS, rss)
			}
			if c := benchkit.CPUSeconds(in.Proc.PID()); c > 0 {
				cpu = c
			}
			srv, chCPU = benchkit.CPUSeconds(st.pid()), benchkit.CPUSeconds(ch.PID())
		}
		if w.first.IsZero() {
			if m, err := in.Metrics(ctx); err == nil && m.Messages > 0 {
				w.first, w.firstSeen = time.Now(), m.Messages
				cpu0, srv0, ch0 = benchkit.CPUSeconds(in.Proc.PID()), benchkit.CPUSeconds(st.pid()), benchkit.CPUSeconds(ch.PID())
			}
		}
		if err := benchkit.Sleep(ctx, 5*time.Millisecond); err != nil {
			return w, err
		}
	}
	w.end = time.Now()
	srv, chCPU = benchkit.CPUSeconds(st.pid()), benchkit.CPUSeconds(ch.PID())
	if w.first.IsZero() {
		return w, fmt.Errorf("ingest --source %s exited before any /metrics poll saw a message\n%s", st.bucket.Kind(), in.LogTail(15))
	}
	w.cpuIngest, w.cpuClickHouse, w.cpuServer = cpu-cpu0, chCPU-ch0, srv-srv0
	return w, nil
}

// bucketUpload is what uploadBucketBench stored.
type bucketUpload struct {
	keys         []string
	events, seat int
	gz, raw      int64
}

// countBucketRows counts the backfill's rows in the deduplicated timeline.
func countBucketRows(ctx context.Context, chAddr, db, kind string) (uint64, error) {
	store, err := timeline.Open(ctx, timeline.Config{Addrs: []string{chAddr}, Database: db})
	if err != nil {
		return 0, err
	}
	defer store.Close()
	var n uint64
	err = store.Conn().QueryRow(ctx, "SELECT count() FROM seat_timeline WHERE source = ?", kind).Scan(&n)
	return n, err
}

// uploadBucketBench generates the objects (one generator, so the stream is
// one realistic sequence) and uploads them while the next are compressed.
func uploadBucketBench(ctx context.Context, bucket testenv.Bucket, start time.Time) (bucketUpload, error) {
	var up bucketUpload
	g := auditgen.New(auditgen.Config{Seed: 11, SeatFraction: 0.02, Users: 5000,
		Start: start, Step: time.Minute / bucketBenchPerObject})
	type job struct {
		key   string
		lines []byte
	}
	jobs := make(chan job, 4)
	var gz, raw atomic.Int64
	eg, ectx := errgroup.WithContext(ctx)
	for range max(2, runtime.NumCPU()) {
		eg.Go(func() error {
			var buf bytes.Buffer
			for j := range jobs {
				buf.Reset()
				zw := gzip.NewWriter(&buf)
				zw.Write(j.lines)
				zw.Close()
				gz.Add(int64(buf.Len()))
				raw.Add(int64(len(j.lines)))
				if _, err := bucket.Put(ectx, j.key, buf.Bytes()); err != nil {
					return err
				}
			}
			return nil
		})
	}
	eg.Go(func() error {
		defer close(jobs)
		for i := range bucketBenchObjects {
			var b bytes.Buffer
			for range bucketBenchPerObject {
				r := g.Next()
				if r.Kind == auditgen.KindSeat {
					up.seat++
				}
				b.Write(r.Line)
				b.WriteByte('\n')
				up.events++
			}
			key := fmt.Sprintf("%s/%08x-0000-4000-8000-%012x.json.log.gz",
				start.Add(time.Duration(i)*time.Minute).Format("2006/01/02/15/04"), i*2654435761, i)
			up.keys = append(up.keys, key)
			select {
			case jobs <- job{key, b.Bytes()}:
			case <-ectx.Done():
				return ectx.Err()
			}
		}
		return nil
	})
	err := eg.Wait()
	up.gz, up.raw = gz.Load(), raw.Load()
	return up, err
}

// rawReadBucket reads every object 4 at a time (ingest's default
// concurrency) with the store's own SDK (testenv.Bucket.Open): download,
// gunzip (the decompressor ingest uses), split into lines. It returns
// lines per second and checks the count.
func rawReadBucket(ctx context.Context, st benchStore, up bucketUpload) (rawRead, error) {
	t0 := time.Now()
	cpu0, srv0 := benchkit.CPUSeconds(-1), benchkit.CPUSeconds(st.pid())
	var lines atomic.Int64
	work := make(chan string)
	eg, ectx := errgroup.WithContext(ctx)
	for range 4 {
		eg.Go(func() error {
			br := bufio.NewReaderSize(nil, 256<<10)
			var zr *gzip.Reader
			for key := range work {
				body, err := st.bucket.Open(ectx, key)
				if err != nil {
					return err
				}
				n, err := countLines(body, br, &zr)
				body.Close()
				if err != nil {
					return fmt.Errorf("%s: %w", key, err)
				}
				lines.Add(n)
			}
			return nil
		})
	}
	eg.Go(func() error {
		defer close(work)
		for _, k := range up.keys {
			select {
			case work <- k:
			case <-ectx.Done():
				return ectx.Err()
			}
		}
		return nil
	})
	if err := eg.Wait(); err != nil {
		return rawRead{}, fmt.Errorf("raw read: %w", err)
	}
	if n := lines.Load(); n != int64(up.events) {
		return rawRead{}, fmt.Errorf("raw read found %d lines, want %d", n, up.events)
	}
	wall := time.Since(t0)
	return rawRead{rate: float64(up.events) / wall.Seconds(), wall: wall,
		cpu: benchkit.CPUSeconds(-1) - cpu0, srvCPU: benchkit.CPUSeconds(st.pid()) - srv0}, nil
}

// countLines gunzips body and counts its lines, reusing br and *zr.
func countLines(body io.Reader, br *bufio.Reader, zr **gzip.Reader) (int64, error) {
	raw := bufio.NewReaderSize(body, 64<<10)
	var err error
	if *zr == nil {
		*zr, err = gzip.NewReader(raw)
	} else {
		err = (*zr).Reset(raw)
	}
	if err != nil {
		return 0, err
	}
	br.Reset(*zr)
	var n int64
	for {
		_, err := br.ReadSlice('\n')
		switch {
		case err == nil:
			n++
		case errors.Is(err, bufio.ErrBufferFull):
		case err == io.EOF:
			return n, nil
		default:
			return n, err
		}
	}
}

// rawRead is one raw read's result; cpu is this process's (the bench's)
// CPU meanwhile, srvCPU the store server's.
type rawRead struct {
	rate        float64
	wall        time.Duration
	cpu, srvCPU float64
}

// s3BenchStore starts versitygw in tmp with the benchmark's bucket.
func s3BenchStore(ctx context.Context, tmp string) (benchStore, error) {
	srv, err := testenv.StartS3(ctx, testenv.S3Options{Dir: filepath.Join(tmp, "s3")})
	if err != nil {
		return benchStore{}, err
	}
	if err := srv.CreateBucket(ctx, bucketBenchName); err != nil {
		srv.Close()
		return benchStore{}, err
	}
	return benchStore{bucket: &testenv.S3Bucket{S3: srv, Name: bucketBenchName}, server: "versitygw", pid: srv.PID, close: func() { srv.Close() }}, nil
}

// azblobBenchStore starts Azurite in tmp with the benchmark's container.
func azblobBenchStore(ctx context.Context, tmp string) (benchStore, error) {
	az, err := testenv.StartAzurite(ctx, testenv.AzuriteOptions{Dir: filepath.Join(tmp, "azurite")})
	if err != nil {
		return benchStore{}, err
	}
	if err := az.CreateContainer(ctx, bucketBenchName); err != nil {
		az.Close()
		return benchStore{}, err
	}
	return benchStore{bucket: &testenv.AzureContainer{Azurite: az, Name: bucketBenchName}, server: "Azurite", pid: az.PID, close: func() { az.Close() }}, nil
}

// gcsBenchStore starts fake-gcs-server in tmp with the benchmark's bucket.
func gcsBenchStore(ctx context.Context, tmp string) (benchStore, error) {
	g, err := testenv.StartGCS(ctx, testenv.GCSOptions{Dir: filepath.Join(tmp, "gcs")})
	if err != nil {
		return benchStore{}, err
	}
	if err := g.CreateBucket(ctx, bucketBenchName); err != nil {
		g.Close()
		return benchStore{}, err
	}
	return benchStore{bucket: &testenv.GCSBucket{GCS: g, Name: bucketBenchName}, server: "fake-gcs-server", pid: g.PID, close: func() { g.Close() }}, nil
}

// bucketStores are the bucket benchmarks, in the order they run.
var bucketStores = []struct {
	kind  string
	start func(ctx context.Context, tmp string) (benchStore, error)
}{
	{"s3", s3BenchStore},
	{"azblob", azblobBenchStore},
	{"gcs", gcsBenchStore},
}
