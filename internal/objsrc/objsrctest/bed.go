package objsrctest

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seatline/seatline/internal/ingestd"
	"github.com/seatline/seatline/internal/testenv"
	"github.com/seatline/seatline/internal/timeline"
	"golang.org/x/sync/errgroup"
)

// Bed is one test's servers: the shared ClickHouse with a database of its
// own (or a cluster), a bucket on a store's test server, and a store to
// read the results.
type Bed struct {
	CH      *testenv.ClickHouse
	DB      string
	Cluster string         // --clickhouse-cluster, for a cluster bed
	Bucket  testenv.Bucket // nil for a bed without one (the file source)
	Store   *timeline.Store
}

// NewBed is a bed on the package's shared ClickHouse (its TestMain calls
// testenv.Shutdown) with a database for this test.
func NewBed(t *testing.T, bucket testenv.Bucket) *Bed {
	t.Helper()
	ch := testenv.SharedClickHouse(t)
	return newBedOn(t, ch, testenv.NewDatabase(t, ch), "", bucket)
}

// NewClusterBed is NewBed on a two-shard ClickHouse cluster (testenv.NewCluster).
func NewClusterBed(t *testing.T, bucket testenv.Bucket) *Bed {
	t.Helper()
	cl := testenv.NewCluster(t)
	return newBedOn(t, cl.Nodes[0], "seatline", cl.Name, bucket)
}

func newBedOn(t *testing.T, ch *testenv.ClickHouse, db, cluster string, bucket testenv.Bucket) *Bed {
	t.Helper()
	b := &Bed{CH: ch, DB: db, Cluster: cluster, Bucket: bucket}
	b.Store = testenv.OpenTimeline(t, timeline.Config{Addrs: []string{ch.Addr()}, Database: db, Cluster: cluster})
	return b
}

// Flag is the bucket kind's flag of that name: Flag("mode") is --s3-mode
// on S3, --gcs-mode on GCS.
func (b *Bed) Flag(name string) string { return "--" + b.Bucket.Kind() + "-" + name }

// Source is the checkpoints' source name of a read of keys under prefix
// ("" or ending in "/").
func (b *Bed) Source(prefix string) string { return b.Bucket.Checkpoint(prefix) }

// Upload puts objs, eight at a time, and returns key → version tag.
func (b *Bed) Upload(t *testing.T, objs []Object) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var mu sync.Mutex
	tags := map[string]string{}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for _, o := range objs {
		g.Go(func() error {
			tag, err := b.Bucket.Put(gctx, o.Key, o.Body)
			mu.Lock()
			tags[o.Key] = tag
			mu.Unlock()
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	return tags
}

// WithKeys puts the store's credentials in the environment, for
// in-process workers and the children they start.
func (b *Bed) WithKeys(t *testing.T) {
	for _, kv := range b.Bucket.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
}

// Args is the ingest binary's command line for a backfill of the bucket,
// with extra flags.
func (b *Bed) Args(extra ...string) []string {
	var args []string
	if b.Bucket != nil {
		args = b.Bucket.IngestArgs()
	}
	return append(args, b.BaseArgs(extra...)...)
}

// BaseArgs is Args without the bucket's place and credentials: a backfill
// (when the bed has a bucket) into the bed's ClickHouse, with extra flags.
func (b *Bed) BaseArgs(extra ...string) []string {
	var args []string
	if b.Bucket != nil {
		args = []string{"--source", b.Bucket.Kind(), b.Flag("mode"), "backfill"}
	}
	args = append(args, "--clickhouse-addr", b.CH.Addr(), "--clickhouse-database", b.DB,
		"--batch-wait", "100ms", "--http-addr", "", "--log-level", "debug")
	if b.Cluster != "" {
		args = append(args, "--clickhouse-cluster", b.Cluster)
	}
	return append(args, extra...)
}

// Config is an in-process worker's configuration: Args parsed.
func (b *Bed) Config(t *testing.T, extra ...string) ingestd.Config {
	t.Helper()
	return b.Parse(t, b.Args(extra...))
}

// Parse is an in-process worker's configuration for a command line, with
// retries capped at a second.
func (b *Bed) Parse(t *testing.T, args []string) ingestd.Config {
	t.Helper()
	cfg, err := ingestd.ParseArgs(args...)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Pipeline.RetryMaxInterval = time.Second
	return cfg
}

// Run runs the worker in this process until the input ends (or timeout)
// and returns its debug log.
func (b *Bed) Run(t *testing.T, cfg ingestd.Config, timeout time.Duration) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var logs testenv.Buffer
	err := ingestd.Run(ctx, cfg, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if ctx.Err() != nil {
		t.Fatalf("worker did not finish within %s:\n%s", timeout, logs.String())
	}
	return logs.String(), err
}

// WaitDone waits until n objects of source are checkpointed done, failing
// the test if the worker ends first (done receives its result) or after
// within; logs is the worker's log, for the failure.
func (b *Bed) WaitDone(t *testing.T, source string, n int, within time.Duration, done <-chan error, logs *testenv.Buffer) {
	t.Helper()
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		got := 0
		for _, cp := range b.Checkpoints(t, source) {
			if cp.State == timeline.CheckpointDone {
				got++
			}
		}
		if got == n {
			return
		}
		select {
		case err := <-done:
			t.Fatalf("follow mode ended: %v\n%s", err, logs.String())
		default:
		}
	}
	t.Fatalf("%d objects not done within %s:\n%s", n, within, logs.String())
}

// Count runs a query giving one number.
func (b *Bed) Count(t *testing.T, query string, args ...any) uint64 {
	t.Helper()
	var n uint64
	if err := b.Store.Conn().QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// CheckExact asserts the deduplicated timeline holds exactly exp's seat
// events and the dead letters exactly its malformed lines.
func (b *Bed) CheckExact(t *testing.T, exp *Expect) {
	t.Helper()
	rows, err := b.Store.Conn().Query(context.Background(), "SELECT document_id, count() FROM seat_timeline GROUP BY document_id")
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
		if !exp.SeatIDs[id] && bad < 10 {
			bad++
			t.Errorf("document %s in the timeline was never produced", id)
		}
		seen++
	}
	if seen != len(exp.SeatIDs) {
		t.Fatalf("timeline holds %d events, produced %d: %d lost", seen, len(exp.SeatIDs), len(exp.SeatIDs)-seen)
	}
	if n := b.Count(t, "SELECT count() FROM dead_letters"); n != uint64(exp.Malformed) {
		t.Fatalf("dead letters = %d, want %d", n, exp.Malformed)
	}
}

// Checkpoints returns key → checkpoint (newest version) of source.
func (b *Bed) Checkpoints(t *testing.T, source string) map[string]timeline.Checkpoint {
	t.Helper()
	cps, err := b.Store.Checkpoints(context.Background(), source, "", "")
	if err != nil {
		t.Fatal(err)
	}
	return cps
}

// DeadLetters returns position → reason_code and position → reason of
// every dead letter, failing on a position visible twice.
func (b *Bed) DeadLetters(t *testing.T) (map[string]string, map[string]string) {
	t.Helper()
	rows, err := b.Store.Conn().Query(context.Background(), "SELECT position, reason_code, reason FROM dead_letters")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	codes, reasons := map[string]string{}, map[string]string{}
	for rows.Next() {
		var pos, code, reason string
		if err := rows.Scan(&pos, &code, &reason); err != nil {
			t.Fatal(err)
		}
		if _, dup := codes[pos]; dup {
			t.Errorf("dead letter %s visible twice", pos)
		}
		codes[pos], reasons[pos] = code, reason
	}
	return codes, reasons
}
