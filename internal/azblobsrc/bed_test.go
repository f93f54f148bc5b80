package azblobsrc_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
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
	os.Exit(code)
}

// bed is one test's servers: the shared ClickHouse with a database of its
// own, an Azurite server with one container, and a store to read results.
type bed struct {
	ch    *testenv.ClickHouse
	db    string
	az    *testenv.AzureContainer
	store *timeline.Store
}

func newBed(t *testing.T) *bed {
	t.Helper()
	ch := testenv.SharedClickHouse(t)
	db := testenv.NewDatabase(t, ch)
	return &bed{ch: ch, db: db, az: testenv.NewAzureContainer(t, "audit-stream"),
		store: testenv.OpenTimeline(t, timeline.Config{Addrs: []string{ch.Addr()}, Database: db})}
}

// object is one generated blob, keyed as GitHub keys them.
type object struct {
	key  string
	body []byte // gzipped NDJSON
	etag string // after upload
}

// genObjects makes n objects of perObject lines, one minute apart from
// start, and returns them with the _document_ids of their seat events.
func genObjects(n, perObject int, seed int64, start time.Time) ([]object, map[string]bool) {
	g := auditgen.New(auditgen.Config{Seed: seed, SeatFraction: 0.3, DuplicateFraction: 0.02,
		Start: start, Step: time.Minute / time.Duration(perObject)})
	seats := map[string]bool{}
	var out []object
	for i := range n {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		for range perObject {
			r := g.Next()
			if r.Kind == auditgen.KindSeat || r.Kind == auditgen.KindDuplicate {
				seats[r.DocumentID] = true
			}
			zw.Write(r.Line)
			zw.Write([]byte("\n"))
		}
		zw.Close()
		at := start.Add(time.Duration(i) * time.Minute)
		out = append(out, object{key: fmt.Sprintf("%s/%08x-0000-4000-8000-%012d.json.log.gz", at.UTC().Format("2006/01/02/15/04"), seed, i), body: buf.Bytes()})
	}
	return out, seats
}

func (b *bed) upload(t *testing.T, objs []object) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i := range objs {
		etag, err := b.az.Put(ctx, objs[i].key, objs[i].body)
		if err != nil {
			t.Fatal(err)
		}
		objs[i].etag = etag
	}
}

// args is the ingest command line for a backfill of the container with
// its connection string (a test's; the binary would read it from
// $SEATLINE_AZBLOB_CONNECTION_STRING).
func (b *bed) args(extra ...string) []string {
	return append([]string{"--source", "azblob", "--azblob-mode", "backfill",
		"--clickhouse-addr", b.ch.Addr(), "--clickhouse-database", b.db,
		"--batch-wait", "100ms", "--http-addr", "", "--log-level", "debug"}, extra...)
}

func (b *bed) withConnectionString(extra ...string) []string {
	return b.args(append([]string{"--azblob-container", b.az.Name, "--azblob-connection-string", b.az.ConnectionString()}, extra...)...)
}

// run runs the worker in this process until the input ends (or timeout).
func (b *bed) run(t *testing.T, args []string, timeout time.Duration) (string, error) {
	t.Helper()
	cfg, err := ingestd.ParseArgs(args...)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Pipeline.RetryMaxInterval = time.Second
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var logs syncBuf
	err = ingestd.Run(ctx, cfg, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
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
