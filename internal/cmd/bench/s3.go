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

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/klauspost/compress/gzip"
	"golang.org/x/sync/errgroup"

	"github.com/seatline/seatline/internal/auditgen"
	"github.com/seatline/seatline/internal/benchkit"
	"github.com/seatline/seatline/internal/s3src"
	"github.com/seatline/seatline/internal/testenv"
	"github.com/seatline/seatline/internal/timeline"
)

// s3BenchObjects and s3BenchPerObject: the S3 benchmark's bucket, 240
// GitHub-layout objects (one a minute over four hours) of 5,000 streamed
// events each, gzipped NDJSON as GitHub writes them, 2% Copilot events.
const (
	s3BenchObjects   = 240
	s3BenchPerObject = 5000
	s3BenchBucket    = "bench-audit"
)

// runS3Bench measures an S3 backfill by the ingest binary bin against the
// better of two raw reads of the same objects, one before and one after
// (list, download, gunzip, split into lines, nothing else: the ceiling on
// this machine). It starts its own versitygw (testenv.StartS3) in tmp and
// has the worker write into database "bench_s3" of ch (dropped first). It
// prints
//
//	BENCH s3_events_per_s <v> events/s
//	BENCH s3_raw_read_events_per_s <v> events/s
//	BENCH s3_ratio_to_raw_read <v> ratio   (target ≥ 0.8)
//
// and returns the figures that miss their target (also printed as
// "# MISS:" lines).
func runS3Bench(ctx context.Context, bin, tmp, profileDir string, ch *testenv.ClickHouse) (misses []string, err error) {
	if _, err := ch.Query(ctx, "DROP DATABASE IF EXISTS bench_s3"); err != nil {
		return nil, err
	}
	srv, err := testenv.StartS3(ctx, testenv.S3Options{Dir: filepath.Join(tmp, "s3")})
	if err != nil {
		return nil, err
	}
	defer srv.Close()
	if err := srv.CreateBucket(ctx, s3BenchBucket); err != nil {
		return nil, err
	}
	// The worker finds the server's keys through the AWS default chain.
	for _, kv := range srv.Env() {
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
	st, err := uploadS3Bench(ctx, srv, start)
	if err != nil {
		return nil, err
	}
	fmt.Printf("# s3: %d objects (%s/YYYY/MM/DD/HH/mm/<uuid>.json.log.gz), %d events (%d seat/policy), %.1f MiB gzipped (%.1f MiB of NDJSON), generated and uploaded to versitygw in %s\n",
		s3BenchObjects, s3BenchBucket, st.events, st.seat, float64(st.gz)/(1<<20), float64(st.raw)/(1<<20), time.Since(t0).Round(time.Millisecond))

	raw1, err := rawReadS3(ctx, srv, st.events)
	if err != nil {
		return nil, err
	}
	args := append(srv.IngestArgs(s3BenchBucket),
		"--s3-mode", "backfill", "--since", start.Format("2006-01-02"), "--until", start.Add(24*time.Hour).Format("2006-01-02"),
		"--clickhouse-addr", ch.Addr(), "--clickhouse-database", "bench_s3")
	if profileDir != "" {
		args = append(args, "--cpu-profile", filepath.Join(profileDir, "ingest-s3.pprof"))
	}
	in, err := benchkit.StartIngest(bin, args, filepath.Join(tmp, "ingest-s3.log"))
	if err != nil {
		return nil, err
	}
	defer in.Close()
	// Poll /metrics only until the worker is reading (a scrape costs the
	// worker CPU), then watch for the exit; CPU and VmHWM every 100 ms.
	var first time.Time
	var firstSeen, peak float64
	var cpu, cpu0, gw, gw0, chCPU, ch0 float64
	var lastPoll time.Time
	for {
		if done, werr := in.Proc.Exited(); done {
			if werr != nil {
				return nil, fmt.Errorf("ingest --source s3 failed: %v\n%s", werr, in.LogTail(15))
			}
			break
		}
		if time.Since(lastPoll) >= 100*time.Millisecond {
			lastPoll = time.Now()
			if rss, err := in.Proc.PeakRSSMiB(); err == nil {
				peak = math.Max(peak, rss)
			}
			if c := benchkit.CPUSeconds(in.Proc.PID()); c > 0 {
				cpu = c
			}
			gw, chCPU = benchkit.CPUSeconds(srv.PID()), benchkit.CPUSeconds(ch.PID())
		}
		if first.IsZero() {
			if m, err := in.Metrics(ctx); err == nil && m.Messages > 0 {
				first, firstSeen = time.Now(), m.Messages
				cpu0, gw0, ch0 = benchkit.CPUSeconds(in.Proc.PID()), benchkit.CPUSeconds(srv.PID()), benchkit.CPUSeconds(ch.PID())
			}
		}
		if err := benchkit.Sleep(ctx, 5*time.Millisecond); err != nil {
			return nil, err
		}
	}
	end := time.Now()
	gw, chCPU = benchkit.CPUSeconds(srv.PID()), benchkit.CPUSeconds(ch.PID())
	if first.IsZero() {
		return nil, fmt.Errorf("ingest --source s3 exited before any /metrics poll saw a message\n%s", in.LogTail(15))
	}
	if !strings.Contains(in.Proc.Output(), "input finished") {
		return nil, fmt.Errorf("ingest --source s3 exited 0 without finishing the backfill\n%s", in.LogTail(15))
	}
	rows, err := countS3Rows(ctx, ch.Addr())
	if err != nil {
		return nil, err
	}
	if rows != uint64(st.seat) {
		return nil, fmt.Errorf("the S3 backfill left %d rows in seat_timeline, want %d (one per seat/policy event)", rows, st.seat)
	}
	rate := (float64(st.events) - firstSeen) / end.Sub(first).Seconds()

	raw2, err := rawReadS3(ctx, srv, st.events)
	if err != nil {
		return nil, err
	}
	rawRate := math.Max(raw1.rate, raw2.rate)
	fmt.Printf("# s3: ingest --s3-mode backfill read %d events in %s, from the first /metrics poll seeing any (%.0f by then, not counted) to exit 0 with every object checkpointed; seat_timeline holds all %d seat/policy events; peak RSS %.1f MiB\n",
		st.events, end.Sub(first).Round(time.Millisecond), firstSeen, rows, peak)
	fmt.Printf("# s3: CPU meanwhile: ingest %.2f s, ClickHouse %.2f s (inserts, merges), versitygw %.2f s\n", cpu-cpu0, chCPU-ch0, gw-gw0)
	for i, r := range []rawRead{raw1, raw2} {
		fmt.Printf("# s3: raw read %s (4 objects at once with ingest's S3 client: GET, gunzip, split lines, nothing else): %.0f events/s, %s wall, CPU %.2f s + versitygw %.2f s\n",
			[]string{"before", "after"}[i], r.rate, r.wall.Round(time.Millisecond), r.cpu, r.gwCPU)
	}
	fmt.Printf("BENCH s3_events_per_s %.0f events/s\n", rate)
	fmt.Printf("BENCH s3_raw_read_events_per_s %.0f events/s\n", rawRate)
	ratio := rate / rawRate
	fmt.Printf("BENCH s3_ratio_to_raw_read %.3f ratio\n", ratio)
	if ratio < 0.8 {
		msg := fmt.Sprintf("s3_ratio_to_raw_read = %.3f misses its target ≥ 0.8", ratio)
		fmt.Printf("# MISS: %s\n", msg)
		fmt.Println("# s3: the reading itself (GET, gunzip, lines) costs ingest what it costs the raw read; on top come the byte pre-filter on every line," +
			" JSON decoding and row building for the seat events, and ClickHouse's inserts and merges, all on the same cores (see the CPU lines above)")
		misses = append(misses, msg)
	}
	return misses, nil
}

type s3BenchStats struct {
	events, seat int
	gz, raw      int64
}

// countS3Rows counts the backfill's rows in the deduplicated timeline.
func countS3Rows(ctx context.Context, chAddr string) (uint64, error) {
	store, err := timeline.Open(ctx, timeline.Config{Addrs: []string{chAddr}, Database: "bench_s3"})
	if err != nil {
		return 0, err
	}
	defer store.Close()
	var n uint64
	err = store.Conn().QueryRow(ctx, "SELECT count() FROM seat_timeline WHERE source = 's3'").Scan(&n)
	return n, err
}

// uploadS3Bench generates the objects (one generator, so the stream is one
// realistic sequence) and uploads them 8 at a time while the next are
// compressed.
func uploadS3Bench(ctx context.Context, srv *testenv.S3, start time.Time) (s3BenchStats, error) {
	var st s3BenchStats
	g := auditgen.New(auditgen.Config{Seed: 11, SeatFraction: 0.02, Users: 5000,
		Start: start, Step: time.Minute / s3BenchPerObject})
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
				if _, err := srv.Put(ectx, s3BenchBucket, j.key, buf.Bytes()); err != nil {
					return err
				}
			}
			return nil
		})
	}
	eg.Go(func() error {
		defer close(jobs)
		for i := range s3BenchObjects {
			var b bytes.Buffer
			for range s3BenchPerObject {
				r := g.Next()
				if r.Kind == auditgen.KindSeat {
					st.seat++
				}
				b.Write(r.Line)
				b.WriteByte('\n')
				st.events++
			}
			key := fmt.Sprintf("%s/%08x-0000-4000-8000-%012x.json.log.gz",
				start.Add(time.Duration(i)*time.Minute).Format("2006/01/02/15/04"), i*2654435761, i)
			select {
			case jobs <- job{key, b.Bytes()}:
			case <-ectx.Done():
				return ectx.Err()
			}
		}
		return nil
	})
	err := eg.Wait()
	st.gz, st.raw = gz.Load(), raw.Load()
	return st, err
}

// rawReadS3 lists the bucket and reads every object 4 at a time (ingest's
// default --s3-concurrency) with the S3 client ingest uses (same SDK
// settings, response checksums included): GET, gunzip (the decompressor
// ingest uses), split into lines. It returns lines per second and checks
// the count.
func rawReadS3(ctx context.Context, srv *testenv.S3, want int) (rawRead, error) {
	cfg := s3src.Defaults()
	cfg.Bucket, cfg.Endpoint, cfg.PathStyle, cfg.Region = s3BenchBucket, srv.Endpoint, true, srv.Region
	if err := cfg.Validate(); err != nil {
		return rawRead{}, err
	}
	c, err := s3src.NewClient(ctx, cfg)
	if err != nil {
		return rawRead{}, err
	}
	t0 := time.Now()
	cpu0, gw0 := benchkit.CPUSeconds(-1), benchkit.CPUSeconds(srv.PID())
	var keys []string
	pg := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(s3BenchBucket)})
	for pg.HasMorePages() {
		out, err := pg.NextPage(ctx)
		if err != nil {
			return rawRead{}, err
		}
		for _, o := range out.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	var lines atomic.Int64
	work := make(chan string)
	eg, ectx := errgroup.WithContext(ctx)
	for range 4 {
		eg.Go(func() error {
			br := bufio.NewReaderSize(nil, 256<<10)
			var zr *gzip.Reader
			for key := range work {
				out, err := c.GetObject(ectx, &s3.GetObjectInput{Bucket: aws.String(s3BenchBucket), Key: aws.String(key)})
				if err != nil {
					return err
				}
				raw := bufio.NewReaderSize(out.Body, 64<<10)
				if zr == nil {
					zr, err = gzip.NewReader(raw)
				} else {
					err = zr.Reset(raw)
				}
				if err != nil {
					out.Body.Close()
					return err
				}
				br.Reset(zr)
				var n int64
				for {
					_, err := br.ReadSlice('\n')
					if err == nil {
						n++
						continue
					}
					if errors.Is(err, bufio.ErrBufferFull) {
						continue
					}
					if err != io.EOF {
						out.Body.Close()
						return err
					}
					break
				}
				out.Body.Close()
				lines.Add(n)
			}
			return nil
		})
	}
	eg.Go(func() error {
		defer close(work)
		for _, k := range keys {
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
	if n := lines.Load(); n != int64(want) {
		return rawRead{}, fmt.Errorf("raw read found %d lines, want %d", n, want)
	}
	wall := time.Since(t0)
	return rawRead{rate: float64(want) / wall.Seconds(), wall: wall,
		cpu: benchkit.CPUSeconds(-1) - cpu0, gwCPU: benchkit.CPUSeconds(srv.PID()) - gw0}, nil
}

// rawRead is one raw read's result; cpu is this process's (the bench's)
// CPU meanwhile.
type rawRead struct {
	rate       float64
	wall       time.Duration
	cpu, gwCPU float64
}
