package s3src_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"hash/fnv"
	"log/slog"
	"os"
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
	if tmpDir != "" {
		os.RemoveAll(tmpDir)
	}
	os.Exit(code)
}

var tmpDir string

// testDir is a directory that lives as long as the test binary (for the
// ingest binary built once).
func testDir() (string, error) {
	if tmpDir == "" {
		d, err := os.MkdirTemp("", "s3src-test-")
		if err != nil {
			return "", err
		}
		tmpDir = d
	}
	return tmpDir, nil
}

// bed is one test's servers: the shared ClickHouse with a database of its
// own, a versitygw S3 server with one bucket, and a store to read results.
type bed struct {
	ch      *testenv.ClickHouse
	db      string
	cluster string // --clickhouse-cluster, for a cluster bed
	s3      *testenv.S3
	bucket  string
	store   *timeline.Store
}

func newBed(t *testing.T) *bed {
	t.Helper()
	ch := testenv.SharedClickHouse(t)
	return newBedOn(t, ch, testenv.NewDatabase(t, ch), "")
}

// newClusterBed is newBed on a two-shard ClickHouse cluster (testenv.NewCluster).
func newClusterBed(t *testing.T) *bed {
	t.Helper()
	cl := testenv.NewCluster(t)
	return newBedOn(t, cl.Nodes[0], "seatline", cl.Name)
}

func newBedOn(t *testing.T, ch *testenv.ClickHouse, db, cluster string) *bed {
	t.Helper()
	b := &bed{ch: ch, db: db, cluster: cluster, s3: testenv.NewS3(t), bucket: "audit-stream"}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.s3.CreateBucket(ctx, b.bucket); err != nil {
		t.Fatal(err)
	}
	b.store = testenv.OpenTimeline(t, timeline.Config{Addrs: []string{ch.Addr()}, Database: db, Cluster: cluster})
	return b
}

// expect is what the timeline and the dead letters must hold.
type expect struct {
	seatIDs   map[string]bool
	malformed int // dead letters
}

func newExpect() *expect { return &expect{seatIDs: map[string]bool{}} }

func (e *expect) record(r auditgen.Record) {
	switch r.Kind {
	case auditgen.KindSeat, auditgen.KindDuplicate:
		e.seatIDs[r.DocumentID] = true
	case auditgen.KindMalformed:
		e.malformed++
	}
}

// object is one generated S3 object.
type object struct {
	key   string
	lines [][]byte
	body  []byte // gzipped NDJSON
}

// genObjects makes n objects of perObject lines each, keyed as GitHub
// does (YYYY/MM/DD/HH/mm/<uuid>.json.log.gz), one minute apart from start.
func genObjects(prefix string, n, perObject int, seed int64, start time.Time, seatFraction float64, exp *expect) []object {
	g := auditgen.New(auditgen.Config{Seed: seed, SeatFraction: seatFraction, DuplicateFraction: 0.02, MalformedFraction: 0.002,
		Start: start, Step: time.Minute / time.Duration(perObject)})
	out := make([]object, 0, n)
	for i := range n {
		o := object{key: githubKey(prefix, start.Add(time.Duration(i)*time.Minute), seed, i)}
		for range perObject {
			r := g.Next()
			exp.record(r)
			o.lines = append(o.lines, r.Line)
		}
		o.body = gzipLines(o.lines)
		out = append(out, o)
	}
	return out
}

func githubKey(prefix string, t time.Time, seed int64, i int) string {
	h := fnv.New128a()
	fmt.Fprintf(h, "%d/%d", seed, i)
	u := h.Sum(nil)
	return fmt.Sprintf("%s%s/%x-%x-%x-%x-%x.json.log.gz", prefix, t.UTC().Format("2006/01/02/15/04"), u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

func ndjson(lines [][]byte) []byte {
	var b bytes.Buffer
	for _, l := range lines {
		b.Write(l)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

func gzipBytes(p []byte) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write(p)
	zw.Close()
	return b.Bytes()
}

func gzipLines(lines [][]byte) []byte { return gzipBytes(ndjson(lines)) }

func (b *bed) upload(t *testing.T, objs []object) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	errs := make(chan error, len(objs))
	for _, o := range objs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if _, err := b.s3.Put(ctx, b.bucket, o.key, o.body); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// config is an in-process worker's configuration for a backfill of b's
// bucket: the binary's command line (args) with extra flags.
func (b *bed) config(t *testing.T, extra ...string) ingestd.Config {
	t.Helper()
	cfg, err := ingestd.ParseArgs(b.args(extra...)...)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Pipeline.RetryMaxInterval = time.Second
	return cfg
}

// withKeys sets the S3 credentials of the test server for in-process runs
// (the AWS default chain reads the environment).
func (b *bed) withKeys(t *testing.T) {
	for _, kv := range b.s3.Env() {
		k, v, _ := bytes.Cut([]byte(kv), []byte("="))
		t.Setenv(string(k), string(v))
	}
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

// args is the ingest binary's command line for a backfill of b's bucket.
func (b *bed) args(extra ...string) []string {
	args := append(b.s3.IngestArgs(b.bucket),
		"--s3-mode", "backfill", "--clickhouse-addr", b.ch.Addr(), "--clickhouse-database", b.db,
		"--batch-wait", "100ms", "--http-addr", "", "--log-level", "debug")
	if b.cluster != "" {
		args = append(args, "--clickhouse-cluster", b.cluster)
	}
	return append(args, extra...)
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
// events and the dead letters exactly its malformed lines.
func (b *bed) checkExact(t *testing.T, exp *expect) {
	t.Helper()
	rows, err := b.store.Conn().Query(context.Background(), "SELECT document_id, count() FROM seat_timeline GROUP BY document_id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	seen, bad := 0, 0
	for rows.Next() {
		var id string
		var n uint64
		if err := rows.Scan(&id, &n); err != nil {
			t.Fatal(err)
		}
		if n != 1 && bad < 10 {
			bad++
			t.Errorf("document %s visible %d times", id, n)
		}
		if !exp.seatIDs[id] && bad < 10 {
			bad++
			t.Errorf("document %s in the timeline was never produced", id)
		}
		seen++
	}
	if seen != len(exp.seatIDs) {
		t.Fatalf("timeline holds %d events, produced %d: %d lost", seen, len(exp.seatIDs), len(exp.seatIDs)-seen)
	}
	if n := b.count(t, "SELECT count() FROM dead_letters"); n != uint64(exp.malformed) {
		t.Fatalf("dead letters = %d, want %d", n, exp.malformed)
	}
}

// checkpoints returns key → state of every checkpoint of source (newest
// version), and fails on a key with more than one state row visible.
func (b *bed) checkpoints(t *testing.T, source string) map[string]timeline.Checkpoint {
	t.Helper()
	cps, err := b.store.Checkpoints(context.Background(), source, "", "")
	if err != nil {
		t.Fatal(err)
	}
	return cps
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
