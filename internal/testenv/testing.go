package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/seatline/seatline/internal/timeline"
)

var shared struct {
	mu  sync.Mutex
	ch  *ClickHouse
	err error // a failed start, reported to every later caller without retrying
}

// SharedClickHouse returns the test binary's ClickHouse, starting it on the
// first call. It registers no cleanup: the package's TestMain must call
// Shutdown after m.Run. If clickhouse-server is not installed or does not
// start, tb fails with the reason (and how to install it); later callers fail
// the same way without another attempt.
func SharedClickHouse(tb testing.TB) *ClickHouse {
	tb.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.ch == nil && shared.err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 3*readyTimeout)
		shared.ch, shared.err = StartClickHouse(ctx, ClickHouseOptions{})
		cancel()
	}
	if shared.err != nil {
		if errors.Is(shared.err, ErrNoClickHouse) {
			tb.Fatalf("%v", shared.err)
		}
		tb.Fatalf("testenv: the shared clickhouse-server did not start: %v", shared.err)
	}
	return shared.ch
}

// Shutdown stops the shared ClickHouse, if one was started, and removes its
// directory and the binaries Binary built. Call it from TestMain after m.Run.
func Shutdown() {
	removeBinaries()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.ch != nil {
		shared.ch.Close()
	}
	shared.ch, shared.err = nil, nil
}

var (
	dbSeq    atomic.Int64
	dbPrefix = func() string {
		var b [3]byte
		_, _ = rand.Read(b[:])
		return hex.EncodeToString(b[:])
	}()
)

// NewDatabase creates a database with a name unique to this test (made from
// the test's name) on ch and drops it when the test ends; the drop is skipped
// if ch has been closed by then.
func NewDatabase(tb testing.TB, ch *ClickHouse) string {
	tb.Helper()
	name := fmt.Sprintf("t_%s_%s_%d", sanitizeName(tb.Name(), 40), dbPrefix, dbSeq.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := ch.CreateDatabase(ctx, name); err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	tb.Cleanup(func() {
		if ch.closedNow() {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := ch.DropDatabase(ctx, name); err != nil {
			tb.Logf("testenv: dropping database %s: %v", name, err)
		}
	})
	return name
}

// sanitizeName keeps [A-Za-z0-9_] of s, mapping anything else to '_', and
// cuts it to at most n bytes.
func sanitizeName(s string, n int) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			b[i] = '_'
		}
	}
	s = strings.Trim(string(b), "_")
	if len(s) > n {
		s = s[:n]
	}
	return s
}

// NewKafka starts a Kafka (see StartKafka) that is closed when the test ends.
func NewKafka(tb testing.TB, opts ...kfake.Opt) *Kafka {
	tb.Helper()
	k, err := StartKafka(opts...)
	if err != nil {
		tb.Fatalf("%v", err)
	}
	tb.Cleanup(k.Close)
	return k
}

// NewCluster starts a ZooKeeper and a two-shard ClickHouse cluster named
// "seatline" for one test, stopped and removed when it ends. It fails tb if
// ZooKeeper or clickhouse-server is missing (make test installs both).
func NewCluster(tb testing.TB) *ClickHouseCluster {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*readyTimeout)
	defer cancel()
	zk, err := StartZooKeeper(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { zk.Close() })
	cl, err := StartClickHouseCluster(ctx, ClusterOptions{Name: "seatline", Shards: 2, ZooKeeper: zk, Logf: tb.Logf})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { cl.Close() }) // before the ZooKeeper's: cleanups run last first
	return cl
}

// OpenTimeline opens the timeline store cfg describes, applies the
// migrations, and closes it when the test ends.
func OpenTimeline(tb testing.TB, cfg timeline.Config) *timeline.Store {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	store, err := timeline.Open(ctx, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { store.Close() })
	if err := store.Migrate(ctx); err != nil {
		tb.Fatal(err)
	}
	return store
}
