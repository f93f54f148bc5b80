package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seatline/seatline/internal/cli"
	"github.com/seatline/seatline/internal/ingest"
	"github.com/seatline/seatline/internal/records"
	"github.com/seatline/seatline/internal/testenv"
	"github.com/seatline/seatline/internal/timeline"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.Shutdown()
	os.Exit(code)
}

// memSource is a finite in-memory source: one stream, offsets 0..n-1.
type memSource struct {
	mu        *sync.Mutex
	msgs      [][]byte
	next      int
	committed int64 // highest committed offset, -1 before any
	log       *[]string
}

func (s *memSource) Name() string { return "mem" }

func (s *memSource) Next(ctx context.Context) (ingest.Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return ingest.Message{}, err
	}
	if s.next >= len(s.msgs) {
		return ingest.Message{}, ingest.ErrEndOfInput
	}
	i := s.next
	s.next++
	return ingest.Message{Stream: "mem", Offset: int64(i), Unit: int64(i), Loc: records.Loc{Seq: 1, Line: 1, Index: -1}, Data: s.msgs[i]}, nil
}

func (s *memSource) Commit(_ context.Context, last []ingest.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range last {
		if m.Offset <= s.committed {
			return fmt.Errorf("commit went backwards: %d after %d", m.Offset, s.committed)
		}
		s.committed = m.Offset
		*s.log = append(*s.log, fmt.Sprintf("commit %d", m.Offset))
	}
	return nil
}

func (s *memSource) Close() error { return nil }

// recordingStore writes to real ClickHouse and records what was acknowledged.
type recordingStore struct {
	*timeline.Store
	mu   *sync.Mutex // shared with memSource: one ordered log
	log  *[]string
	fail int // fail this many writes first
}

func (r *recordingStore) WriteBatch(ctx context.Context, b *timeline.Batch) error {
	rows := b.Rows
	r.mu.Lock()
	fail := r.fail > 0
	if fail {
		r.fail--
	}
	r.mu.Unlock()
	if fail {
		return &timeline.UnavailableError{Addr: "test", Err: errors.New("injected")}
	}
	if err := r.Store.WriteBatch(ctx, b); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	last := int64(-1)
	for _, row := range rows {
		var off int64
		fmt.Sscanf(row.SourcePosition, "mem/%d", &off)
		last = max(last, off)
	}
	*r.log = append(*r.log, fmt.Sprintf("write %d", last))
	return nil
}

func seatLine(i int) []byte {
	return []byte(fmt.Sprintf(`{"@timestamp":%d,"_document_id":"id-%d","action":"copilot.cfb_seat_added","org":"acme","user":"u%d","actor_ip":"198.51.100.7","user_agent":"curl/8"}`,
		1732406400000+int64(i), i, i))
}

func TestCommitsOnlyAfterWritesAndRetries(t *testing.T) {
	ch := testenv.SharedClickHouse(t)
	db := testenv.NewDatabase(t, ch)
	ctx := context.Background()
	store, err := timeline.Open(ctx, timeline.Config{Addrs: []string{ch.Addr()}, Database: db})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	var log []string
	var mu sync.Mutex
	src := &memSource{mu: &mu, committed: -1, log: &log}
	for i := 0; i < 5000; i++ {
		src.msgs = append(src.msgs, seatLine(i))
		if i%10 == 0 {
			src.msgs = append(src.msgs, []byte(`{"action":"repo.create","_document_id":"n","@timestamp":1}`))
		}
	}
	rs := &recordingStore{Store: store, mu: &mu, log: &log, fail: 3}
	cfg := ingest.Defaults()
	cfg.BatchRows, cfg.BatchWait, cfg.RetryMaxInterval, cfg.PII, cfg.PIISalt = 1000, time.Second, 50*time.Millisecond, ingest.PIIHash, "pepper-0123456789abcdef"
	p, err := ingest.New(cfg, src, rs, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(ctx); err != nil {
		t.Fatal(err)
	}
	// Every commit comes after a write that covers it.
	written := int64(-1)
	commits := 0
	for _, e := range log {
		var n int64
		if _, err := fmt.Sscanf(e, "write %d", &n); err == nil {
			written = max(written, n)
			continue
		}
		fmt.Sscanf(e, "commit %d", &n)
		commits++
		// The commit may cover trailing noise after the last row, never a row not yet written.
		if n > written+11 {
			t.Fatalf("commit of offset %d before rows up to it were written (written up to %d): %v", n, written, log)
		}
	}
	if commits < 5 {
		t.Fatalf("expected at least 5 batches committed, got %d: %v", commits, log)
	}
	if src.committed != int64(len(src.msgs)-1) {
		t.Fatalf("committed up to %d, want %d", src.committed, len(src.msgs)-1)
	}
	var n uint64
	var ip, ua, raw string
	if err := store.Conn().QueryRow(ctx, "SELECT count(), any(actor_ip), any(user_agent), any(raw) FROM seat_timeline").Scan(&n, &ip, &ua, &raw); err != nil {
		t.Fatal(err)
	}
	if n != 5000 {
		t.Fatalf("rows %d, want 5000", n)
	}
	if len(ip) != 32 || strings.Contains(raw, "198.51.100.7") || strings.Contains(raw, "curl/8") {
		t.Fatalf("PII not hashed everywhere: ip=%q ua=%q raw=%s", ip, ua, raw)
	}
}

func TestConfigValidateNamesField(t *testing.T) {
	with := func(f func(*ingest.Config)) ingest.Config { c := ingest.Defaults(); f(&c); return c }
	for _, tc := range []struct {
		cfg   ingest.Config
		field string
	}{
		{with(func(c *ingest.Config) { c.BatchRows = -1 }), "batch-rows"},
		{with(func(c *ingest.Config) { c.BatchRows = 0 }), "batch-rows"},
		{with(func(c *ingest.Config) { c.BatchBytes = 1000 }), "batch-bytes"},
		{with(func(c *ingest.Config) { c.BatchBytes = 2 << 30 }), "batch-bytes"},
		{with(func(c *ingest.Config) { c.BatchWait = -time.Second }), "batch-wait"},
		{with(func(c *ingest.Config) { c.ShutdownTimeout = -time.Second }), "shutdown-timeout"},
		{with(func(c *ingest.Config) { c.PII = "maybe" }), "pii"},
		{with(func(c *ingest.Config) { c.PII = ingest.PIIHash }), "pii-salt"},
		{with(func(c *ingest.Config) { c.PII, c.PIISalt = ingest.PIIHash, "pepper" }), "pii-salt"},
	} {
		err := tc.cfg.Validate()
		if err == nil || !strings.HasPrefix(err.Error(), tc.field+":") {
			t.Errorf("%+v: got %v, want an error naming %s", tc.cfg, err, tc.field)
		}
	}
}

// failingStore is ClickHouse unreachable for every write.
type failingStore struct{ attempts atomic.Int64 }

func (f *failingStore) WriteBatch(context.Context, *timeline.Batch) error {
	f.attempts.Add(1)
	return &timeline.UnavailableError{Addr: "127.0.0.1:9000", Err: errors.New("connection refused")}
}

// A stop while ClickHouse is down: the final flush gives up after
// ShutdownTimeout, nothing is committed, and the run's error is
// ClickHouse's (exit code 3), not the context's.
func TestShutdownDuringOutage(t *testing.T) {
	var log []string
	var mu sync.Mutex
	src := &memSource{mu: &mu, committed: -1, log: &log}
	for i := range 100 {
		src.msgs = append(src.msgs, seatLine(i))
	}
	store := &failingStore{}
	cfg := ingest.Defaults()
	cfg.BatchRows, cfg.BatchWait, cfg.RetryMaxInterval, cfg.ShutdownTimeout = 50, 50*time.Millisecond, 50*time.Millisecond, time.Second
	p, err := ingest.New(cfg, &endless{src}, store, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = p.Run(ctx)
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("Run took %s: the shutdown timeout is 1s", took)
	}
	if code := cli.ExitCode(err); code != cli.ExitUnavailable || !strings.Contains(fmt.Sprint(err), "cannot reach ClickHouse") {
		t.Fatalf("Run: %v (exit %d), want ClickHouse's error (exit %d)", err, code, cli.ExitUnavailable)
	}
	if src.committed != -1 || store.attempts.Load() < 2 {
		t.Fatalf("committed %d after %d failed attempts: nothing may be committed", src.committed, store.attempts.Load())
	}
}

// endless is a source that, once its messages are read, waits for the stop
// signal (a stream, not a finite input).
type endless struct{ *memSource }

func (e *endless) Next(ctx context.Context) (ingest.Message, error) {
	m, err := e.memSource.Next(ctx)
	if errors.Is(err, ingest.ErrEndOfInput) {
		<-ctx.Done()
		return ingest.Message{}, ctx.Err()
	}
	return m, err
}
