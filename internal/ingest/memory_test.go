package ingest_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seatline/seatline/internal/ingest"
	"github.com/seatline/seatline/internal/testenv"
	"github.com/seatline/seatline/internal/timeline"
)

// What a pipeline holds is bounded: each batch by its events' bytes, and
// the batches being written by Writers.

// watchingStore writes to real ClickHouse, taking hold ms per write, and
// records each batch's raw bytes and how many writes ran at once.
type watchingStore struct {
	*timeline.Store
	hold time.Duration

	mu               sync.Mutex
	inFlight, most   int
	batches          [][]int  // raw sizes of each written batch's rows
	lastIDs          []string // the document id of each written batch's last row
	rows, batchCount int
}

func (w *watchingStore) WriteBatch(ctx context.Context, b *timeline.Batch) error {
	w.mu.Lock()
	w.inFlight++
	w.most = max(w.most, w.inFlight)
	w.mu.Unlock()
	time.Sleep(w.hold)
	err := w.Store.WriteBatch(ctx, b)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.inFlight--
	if err == nil {
		sizes := make([]int, len(b.Rows))
		for i := range b.Rows {
			sizes[i] = len(b.Rows[i].Event.Raw)
		}
		w.batches = append(w.batches, sizes)
		if len(b.Rows) > 0 {
			w.lastIDs = append(w.lastIDs, b.Rows[len(b.Rows)-1].Event.DocumentID)
		} else {
			w.lastIDs = append(w.lastIDs, "")
		}
		w.rows += len(b.Rows)
	}
	return err
}

func openStore(t *testing.T) *timeline.Store {
	t.Helper()
	ch := testenv.SharedClickHouse(t)
	db := testenv.NewDatabase(t, ch)
	ctx := context.Background()
	store, err := timeline.Open(ctx, timeline.Config{Addrs: []string{ch.Addr()}, Database: db})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return store
}

// paddedSeatLine is a seat event of about size bytes.
func paddedSeatLine(i, size int) []byte {
	line := seatLine(i)
	pad := size - len(line) - len(`,"pad":""`)
	return append(line[:len(line)-1], fmt.Sprintf(`,"pad":"%s"}`, strings.Repeat("p", max(0, pad)))...)
}

func TestBatchBytesBoundsEachBatch(t *testing.T) {
	store := openStore(t)
	const limit, events = 64 << 10, 600
	var mu sync.Mutex
	var log []string
	src := &memSource{mu: &mu, committed: -1, log: &log}
	total := 0
	for i := range events {
		line := paddedSeatLine(i, 1000+(i*7919)%3000) // 1,000 to 4,000 bytes
		src.msgs = append(src.msgs, line)
		total += len(line)
	}
	ws := &watchingStore{Store: store}
	cfg := ingest.Defaults()
	cfg.BatchBytes, cfg.BatchWait = limit, 10*time.Second // neither rows nor time: bytes close every batch
	p, err := ingest.New(cfg, src, ws, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if ws.rows != events || src.committed != events-1 {
		t.Fatalf("wrote %d rows and committed up to %d, want %d and %d", ws.rows, src.committed, events, events-1)
	}
	if len(ws.batches) > total/limit+1 {
		t.Fatalf("%d batches for %d bytes at %d bytes a batch", len(ws.batches), total, limit)
	}
	for i, sizes := range ws.batches {
		sum := 0
		for _, n := range sizes {
			sum += n
		}
		// A batch is written once its bytes reach the limit: only its last
		// event may take it there.
		if last := sizes[len(sizes)-1]; sum-last >= limit {
			t.Fatalf("batch %d holds %d bytes (%d events): it reached the %d-byte limit before its last event", i, sum, len(sizes), limit)
		}
		// Writes finish in any order: the one short batch is the stream's end.
		if sum < limit && ws.lastIDs[i] != fmt.Sprintf("id-%d", events-1) {
			t.Fatalf("batch %d holds %d bytes: written before the %d-byte limit with neither rows nor time up", i, sum, limit)
		}
	}
}

func TestWritesInFlightAreWriters(t *testing.T) {
	store := openStore(t)
	for _, writers := range []int{1, 2, 3} {
		var mu sync.Mutex
		var log []string
		src := &memSource{mu: &mu, committed: -1, log: &log}
		for i := range 1500 {
			src.msgs = append(src.msgs, seatLine(writers*10000+i))
		}
		ws := &watchingStore{Store: store, hold: 50 * time.Millisecond}
		cfg := ingest.Defaults()
		cfg.BatchRows, cfg.Writers = 100, writers
		p, err := ingest.New(cfg, src, ws, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		if ws.rows != 1500 || src.committed != 1499 {
			t.Fatalf("writers %d: wrote %d rows and committed up to %d, want 1500 and 1499", writers, ws.rows, src.committed)
		}
		// Fifteen batches, each write held 50 ms: the writers are all busy
		// at some point, and never more of them.
		if ws.most != writers {
			t.Errorf("writers %d: %d batches were written at once", writers, ws.most)
		}
	}
}
