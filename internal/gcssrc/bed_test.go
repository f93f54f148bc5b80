package gcssrc_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"hash/fnv"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seatline/seatline/internal/auditgen"
	"github.com/seatline/seatline/internal/ingestd"
	"github.com/seatline/seatline/internal/testenv"
	"github.com/seatline/seatline/internal/timeline"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.Shutdown()
	os.Exit(code)
}

// bed is one test's servers: the shared ClickHouse with a database of its
// own, a fake-gcs-server with one bucket, and a store to read results.
type bed struct {
	ch     *testenv.ClickHouse
	db     string
	gcs    *testenv.GCSBucket
	store  *timeline.Store
	gcsArg []string // where the worker reads: the bucket's IngestArgs unless a test points it elsewhere
}

func newBed(t *testing.T) *bed {
	t.Helper()
	ch := testenv.SharedClickHouse(t)
	db := testenv.NewDatabase(t, ch)
	b := &bed{ch: ch, db: db, gcs: testenv.NewGCSBucket(t, "audit-stream")}
	b.gcsArg = b.gcs.IngestArgs()
	b.store = testenv.OpenTimeline(t, timeline.Config{Addrs: []string{ch.Addr()}, Database: db})
	// No Google client library in this process may look beyond loopback
	// for credentials (metadata server, the user's gcloud login).
	for _, kv := range b.gcs.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	return b
}

// object is one generated GCS object.
type object struct {
	key   string
	lines [][]byte
	body  []byte // gzipped NDJSON
}

// expect is what the timeline and the dead letters must hold.
type expect struct {
	seatIDs   map[string]bool
	malformed int
}

func newExpect() *expect { return &expect{seatIDs: map[string]bool{}} }

// genObjects makes n objects of perObject lines each, named as GitHub
// does (YYYY/MM/DD/HH/mm/<uuid>.json.log.gz), one minute apart from start.
func genObjects(prefix string, n, perObject int, seed int64, start time.Time, exp *expect) []object {
	g := auditgen.New(auditgen.Config{Seed: seed, SeatFraction: 0.3, DuplicateFraction: 0.02, MalformedFraction: 0.005,
		Start: start, Step: time.Minute / time.Duration(perObject)})
	out := make([]object, 0, n)
	for i := range n {
		h := fnv.New128a()
		fmt.Fprintf(h, "%d/%d", seed, i)
		u := h.Sum(nil)
		o := object{key: fmt.Sprintf("%s%s/%x-%x-%x-%x-%x.json.log.gz", prefix, start.Add(time.Duration(i)*time.Minute).UTC().Format("2006/01/02/15/04"),
			u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])}
		for range perObject {
			r := g.Next()
			switch r.Kind {
			case auditgen.KindSeat, auditgen.KindDuplicate:
				exp.seatIDs[r.DocumentID] = true
			case auditgen.KindMalformed:
				exp.malformed++
			}
			o.lines = append(o.lines, r.Line)
		}
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		for _, l := range o.lines {
			zw.Write(l)
			zw.Write([]byte("\n"))
		}
		zw.Close()
		o.body = buf.Bytes()
		out = append(out, o)
	}
	return out
}

// upload stores objs and returns key → generation.
func (b *bed) upload(t *testing.T, objs []object) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	gens := map[string]string{}
	for _, o := range objs {
		g, err := b.gcs.Put(ctx, o.key, o.body)
		if err != nil {
			t.Fatal(err)
		}
		gens[o.key] = g
	}
	return gens
}

// config is an in-process worker's configuration for a backfill: the
// binary's command line with extra flags.
func (b *bed) config(t *testing.T, extra ...string) ingestd.Config {
	t.Helper()
	args := append(append([]string{}, b.gcsArg...),
		"--gcs-mode", "backfill", "--clickhouse-addr", b.ch.Addr(), "--clickhouse-database", b.db,
		"--batch-wait", "100ms", "--http-addr", "", "--log-level", "debug")
	cfg, err := ingestd.ParseArgs(append(args, extra...)...)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Pipeline.RetryMaxInterval = time.Second
	return cfg
}

// run runs the worker in this process until the input ends (or timeout).
func (b *bed) run(t *testing.T, cfg ingestd.Config, timeout time.Duration) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var logs syncBuf
	err := ingestd.Run(ctx, cfg, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if ctx.Err() != nil {
		t.Fatalf("worker did not finish within %s:\n%s", timeout, logs.String())
	}
	return logs.String(), err
}

func (b *bed) count(t *testing.T, query string, args ...any) uint64 {
	t.Helper()
	var n uint64
	if err := b.store.Conn().QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// checkExact asserts the deduplicated timeline holds exactly exp's seat
// events, each once, and the dead letters exactly its malformed lines.
func (b *bed) checkExact(t *testing.T, exp *expect) {
	t.Helper()
	rows, err := b.store.Conn().Query(context.Background(), "SELECT document_id, count() FROM seat_timeline GROUP BY document_id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	seen := 0
	for rows.Next() {
		var id string
		var n uint64
		if err := rows.Scan(&id, &n); err != nil {
			t.Fatal(err)
		}
		if n != 1 || !exp.seatIDs[id] {
			t.Errorf("document %s visible %d times (produced: %v)", id, n, exp.seatIDs[id])
		}
		seen++
	}
	if seen != len(exp.seatIDs) {
		t.Fatalf("timeline holds %d events, produced %d", seen, len(exp.seatIDs))
	}
	if n := b.count(t, "SELECT count() FROM dead_letters"); n != uint64(exp.malformed) {
		t.Fatalf("dead letters = %d, want %d", n, exp.malformed)
	}
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
