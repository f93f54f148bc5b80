package s3src_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	kgzip "github.com/klauspost/compress/gzip"

	"github.com/seatline/seatline/internal/ingest"
	"github.com/seatline/seatline/internal/objsrc"
	"github.com/seatline/seatline/internal/objsrc/objsrctest"
	"github.com/seatline/seatline/internal/records"
	"github.com/seatline/seatline/internal/s3src"
	"github.com/seatline/seatline/internal/source"
	"github.com/seatline/seatline/internal/testenv"
	"github.com/seatline/seatline/internal/timeline"
	"github.com/seatline/seatline/pkg/events"
)

// memCheckpoints keeps checkpoints in memory (benchmarks without ClickHouse).
type memCheckpoints struct {
	mu  sync.Mutex
	cps map[string]timeline.Checkpoint
}

func (m *memCheckpoints) WriteCheckpoints(_ context.Context, cps []timeline.Checkpoint) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, c := range cps {
		m.cps[c.Key] = c
	}
	return nil
}

func (m *memCheckpoints) Checkpoints(_ context.Context, _, from, to string) (map[string]timeline.Checkpoint, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]timeline.Checkpoint{}
	for k, c := range m.cps {
		if k >= from && (to == "" || k <= to) {
			out[k] = c
		}
	}
	return out, nil
}

type nopWriter struct{ rows int }

func (w *nopWriter) WriteBatch(_ context.Context, b *timeline.Batch) error {
	w.rows += len(b.Rows)
	return nil
}

// openSource opens the S3 source itself (no worker) on a bucket of a test
// server, with the worker's pre-filter and checkpoints in memory.
func openSource(tb testing.TB, srv *testenv.S3, bucket string) *objsrc.Source {
	tb.Helper()
	cfg := s3src.Defaults()
	cfg.Bucket, cfg.Endpoint, cfg.PathStyle, cfg.Region, cfg.Mode = bucket, srv.Endpoint, true, srv.Region, objsrc.ModeBackfill
	cfg.Credentials = credentials.NewStaticCredentialsProvider(srv.AccessKey, srv.SecretKey, "")
	rc := records.Defaults()
	rc.Keep = events.MaybeSeatEvent
	src, err := cfg.Open(context.Background(), source.Deps{Records: rc, Checkpoints: &memCheckpoints{cps: map[string]timeline.Checkpoint{}},
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		tb.Fatal(err)
	}
	return src.(*objsrc.Source)
}

// BenchmarkBackfillPipeline: the S3 source and the pipeline (decode,
// filter, batch; a writer that drops the rows) over 40 objects of 5,000
// events (2% Copilot) on versitygw.
func BenchmarkBackfillPipeline(b *testing.B) {
	srv, err := testenv.StartS3(context.Background(), testenv.S3Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	ctx := context.Background()
	if err := srv.CreateBucket(ctx, "bench"); err != nil {
		b.Fatal(err)
	}
	exp := objsrctest.NewExpect()
	objs := objsrctest.GenObjects("", 40, 5000, 1, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), 0.02, exp)
	for _, o := range objs {
		if _, err := srv.Put(ctx, "bench", o.Key, o.Body); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	cpu0 := cpuSeconds()
	for range b.N {
		src := openSource(b, srv, "bench")
		w := &nopWriter{}
		p, err := ingest.New(ingest.Defaults(), src, w, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
		if err != nil {
			b.Fatal(err)
		}
		if err := p.Run(ctx); err != nil && !errors.Is(err, ingest.ErrEndOfInput) {
			b.Fatal(err)
		}
		src.Close()
		if got := src.Progress().Events; got != 200000 {
			b.Fatalf("%d events", got)
		}
	}
	b.ReportMetric(float64(200000*b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric((cpuSeconds()-cpu0)/float64(b.N), "cpu-s/op")
}

// BenchmarkRawRead is the ceiling for BenchmarkBackfillPipeline: GET,
// gunzip and split the same objects into lines, 4 at a time, nothing else.
func BenchmarkRawRead(b *testing.B) {
	srv, err := testenv.StartS3(context.Background(), testenv.S3Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	ctx := context.Background()
	if err := srv.CreateBucket(ctx, "bench"); err != nil {
		b.Fatal(err)
	}
	objs := objsrctest.GenObjects("", 40, 5000, 1, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), 0.02, objsrctest.NewExpect())
	for _, o := range objs {
		if _, err := srv.Put(ctx, "bench", o.Key, o.Body); err != nil {
			b.Fatal(err)
		}
	}
	cfg := s3src.Config{Bucket: "bench", Endpoint: srv.Endpoint, PathStyle: true, Region: srv.Region,
		Credentials: credentials.NewStaticCredentialsProvider(srv.AccessKey, srv.SecretKey, "")}
	if err := cfg.Validate(); err != nil {
		b.Fatal(err)
	}
	c, err := s3src.NewClient(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	cpu0 := cpuSeconds()
	for range b.N {
		work := make(chan string)
		var wg sync.WaitGroup
		var lines atomic.Int64
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				br := bufio.NewReaderSize(nil, 256<<10)
				for key := range work {
					out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bench"), Key: aws.String(key)})
					if err != nil {
						b.Error(err)
						return
					}
					zr, err := kgzip.NewReader(bufio.NewReaderSize(out.Body, 64<<10))
					if err != nil {
						b.Error(err)
						return
					}
					br.Reset(zr)
					for {
						_, err := br.ReadSlice('\n')
						if err == nil {
							lines.Add(1)
						} else if err != bufio.ErrBufferFull {
							break
						}
					}
					out.Body.Close()
				}
			}()
		}
		for _, o := range objs {
			work <- o.Key
		}
		close(work)
		wg.Wait()
		if lines.Load() != 200000 {
			b.Fatalf("%d lines", lines.Load())
		}
	}
	b.ReportMetric(float64(200000*b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric((cpuSeconds()-cpu0)/float64(b.N), "cpu-s/op")
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}
