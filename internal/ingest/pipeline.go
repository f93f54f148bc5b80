package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/seatline/seatline/internal/enrich"
	"github.com/seatline/seatline/internal/timeline"
	"github.com/seatline/seatline/pkg/events"
)

// Config tunes the pipeline. Zero values take the documented defaults.
type Config struct {
	// A batch is written when it holds BatchRows rows (timeline rows plus
	// dead letters) or BatchWait after its first message, whichever comes
	// first. Defaults: 10,000 rows, 500 ms.
	BatchRows int
	BatchWait time.Duration
	// BatchIdleAge: a batch at least this old is written as soon as the
	// source has been quiet for 20 ms (default 200 ms; never above BatchWait).
	BatchIdleAge time.Duration
	// MaxEventBytes: a larger record is a dead letter (default 1 MiB).
	MaxEventBytes int
	// ShutdownTimeout bounds the final flush after a stop signal (default 30 s).
	ShutdownTimeout time.Duration
	// PII and PIISalt: what to do with actor_ip and user_agent (default keep).
	PII     PII
	PIISalt string
	// Writers: batches written to ClickHouse at once (default 2); commits
	// stay in order whatever the number.
	Writers int
	// RetryMaxInterval caps the backoff between ClickHouse write attempts (default 10 s).
	RetryMaxInterval time.Duration
}

// Validate fills defaults and names the first invalid field.
func (c *Config) Validate() error {
	if c.BatchRows == 0 {
		c.BatchRows = 10000
	}
	if c.BatchRows < 0 {
		return fmt.Errorf("batch-rows: must be positive, got %d", c.BatchRows)
	}
	if c.BatchWait == 0 {
		c.BatchWait = 500 * time.Millisecond
	}
	if c.BatchWait < 0 {
		return fmt.Errorf("batch-wait: must be positive, got %s", c.BatchWait)
	}
	if c.BatchIdleAge == 0 {
		c.BatchIdleAge = 200 * time.Millisecond
	}
	if c.BatchIdleAge < 0 {
		return fmt.Errorf("batch-idle-age: must be positive, got %s", c.BatchIdleAge)
	}
	c.BatchIdleAge = min(c.BatchIdleAge, c.BatchWait)
	if c.MaxEventBytes == 0 {
		c.MaxEventBytes = events.DefaultMaxEventBytes
	}
	if c.MaxEventBytes < 0 {
		return fmt.Errorf("max-event-bytes: must be positive, got %d", c.MaxEventBytes)
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = 30 * time.Second
	}
	if c.PII == "" {
		c.PII = PIIKeep
	}
	if !c.PII.valid() {
		return fmt.Errorf("pii: must be keep, hash or drop, got %q", c.PII)
	}
	if c.Writers == 0 {
		c.Writers = 2
	}
	if c.Writers < 0 || c.Writers > 16 {
		return fmt.Errorf("writers: must be 1 to 16, got %d", c.Writers)
	}
	if c.RetryMaxInterval == 0 {
		c.RetryMaxInterval = 10 * time.Second
	}
	return nil
}

// Enricher completes the seat details of a batch's rows within its own
// budget (*enrich.Enricher); rows it cannot complete stay pending.
type Enricher interface {
	Enrich(ctx context.Context, rows []timeline.Row) enrich.Stats
}

// Writer stores batches: *timeline.Store.
type Writer interface {
	Write(ctx context.Context, rows []timeline.Row, dead []timeline.DeadLetter) error
}

// Pipeline moves messages from a Source into the timeline.
type Pipeline struct {
	cfg      Config
	src      Source
	store    Writer
	log      *slog.Logger
	metrics  *Metrics
	now      func() time.Time
	enricher Enricher // nil: rows stay pending for cmd/enrich

	ready atomic.Bool // last ClickHouse write succeeded (or none failed yet)

	outage struct { // shared by concurrent writers
		sync.Mutex
		failing  bool
		since    time.Time
		attempts int
	}
}

// New checks cfg and builds a pipeline. metrics may be nil.
func New(cfg Config, src Source, store Writer, log *slog.Logger, metrics *Metrics) (*Pipeline, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if metrics == nil {
		metrics = NewMetrics(nil)
	}
	if log == nil {
		log = slog.Default()
	}
	p := &Pipeline{cfg: cfg, src: src, store: store, log: log, metrics: metrics, now: time.Now}
	p.ready.Store(true)
	return p, nil
}

// SetEnricher turns on inline enrichment (before Run).
func (p *Pipeline) SetEnricher(e Enricher) { p.enricher = e }

// Ready reports whether the last ClickHouse write succeeded (for /readyz).
func (p *Pipeline) Ready() bool { return p.ready.Load() }

// batch is what one ClickHouse write and one source commit cover.
type batch struct {
	rows     []timeline.Row
	dead     []timeline.DeadLetter
	last     map[string]Message // last message of each stream but cur's, payload dropped
	cur      Message            // the latest message, payload dropped
	messages int
	filtered int
	started  time.Time    // first message; also the ingested_at of every row in the batch
	seen     atomic.Int64 // messages, for the idle check on the timer goroutine
}

func (b *batch) size() int { return len(b.rows) + len(b.dead) }

// positions is the last message of every stream in the batch: what Commit acknowledges.
func (b *batch) positions() []Message {
	out := make([]Message, 0, len(b.last)+1)
	for s, m := range b.last {
		if s != b.cur.Stream {
			out = append(out, m)
		}
	}
	return append(out, b.cur)
}

// Run reads until ctx ends (a stop signal) or a finite source ends. After
// ctx ends it still writes and commits what it has read, for at most
// ShutdownTimeout. It returns nil on a clean stop.
func (p *Pipeline) Run(ctx context.Context) error {
	// wctx outlives ctx by ShutdownTimeout so the last batch can be flushed.
	wctx, wcancel := context.WithCancel(context.Background())
	defer wcancel()
	stopTimer := context.AfterFunc(ctx, func() {
		time.AfterFunc(p.cfg.ShutdownTimeout, wcancel)
	})
	defer stopTimer()

	batches := make(chan *batch, 1) // one batch in flight while the next fills: backpressure beyond that
	writerDone := make(chan error, 1)
	go func() { writerDone <- p.writeLoop(wctx, batches) }()

	readErr := p.readLoop(ctx, wctx, batches)
	close(batches)
	writeErr := <-writerDone
	switch {
	case writeErr != nil:
		return writeErr
	case readErr != nil && !errors.Is(readErr, ErrEndOfInput) && ctx.Err() == nil:
		return readErr
	}
	return nil
}

// idleTick: how often a filling batch checks whether the source went
// quiet. A batch that is at least BatchIdleAge old is written as soon as no
// message arrived for a tick, so the end of a burst is not held for the
// whole BatchWait, while a trickle still makes at most a few inserts a second.
const idleTick = 20 * time.Millisecond

func (p *Pipeline) readLoop(ctx, wctx context.Context, out chan<- *batch) error {
	b := p.newBatch(0)
	var bctx context.Context = ctx
	cancel := func() {}
	flush := func() bool {
		cancel()
		bctx, cancel = ctx, func() {}
		if b.messages == 0 {
			return true
		}
		p.metrics.Filtered.Add(float64(b.filtered))
		select {
		case out <- b:
		case <-wctx.Done():
			return false
		}
		b = p.newBatch(len(b.rows))
		return true
	}
	defer func() { cancel() }()
	for {
		msg, err := p.src.Next(bctx)
		if err != nil {
			if ctx.Err() == nil && bctx.Err() != nil && errors.Is(err, bctx.Err()) {
				// The batch's time is up, or the source went quiet.
				if !flush() {
					return wctx.Err()
				}
				continue
			}
			flush()
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		if b.messages == 0 {
			b.started = p.now()
			bctx, cancel = p.batchContext(ctx, b)
		}
		p.add(b, msg)
		if b.size() >= p.cfg.BatchRows {
			if !flush() {
				return wctx.Err()
			}
		}
	}
}

// batchContext ends at the batch's deadline, or earlier once the batch is
// BatchIdleAge old and no message arrived for an idleTick.
func (p *Pipeline) batchContext(ctx context.Context, b *batch) (context.Context, context.CancelFunc) {
	bctx, cancel := context.WithDeadline(ctx, b.started.Add(p.cfg.BatchWait))
	var seen int64 = -1
	var timer *time.Timer
	var check func()
	check = func() {
		if bctx.Err() != nil {
			return
		}
		n := b.seen.Load()
		if n == seen && time.Since(b.started) >= p.cfg.BatchIdleAge {
			cancel()
			return
		}
		seen = n
		timer.Reset(idleTick)
	}
	timer = time.AfterFunc(time.Hour, check) // armed only once timer is set
	timer.Reset(idleTick)
	return bctx, func() { timer.Stop(); cancel() }
}

// newBatch sizes the row slice like the last batch (rowsHint): growing it
// row by row was a quarter of the CPU per seat event.
func (p *Pipeline) newBatch(rowsHint int) *batch {
	return &batch{last: make(map[string]Message, 8), rows: make([]timeline.Row, 0, min(rowsHint+rowsHint/8+16, p.cfg.BatchRows))}
}

// add splits a message into records and turns each into a row, a dead
// letter, or nothing (not a Copilot event). It runs for every message of
// the stream, most of them not Copilot: keep it cheap.
func (p *Pipeline) add(b *batch, msg Message) {
	if b.messages > 0 && msg.Stream != b.cur.Stream {
		b.last[b.cur.Stream] = b.cur
	}
	b.messages++
	b.seen.Add(1)
	p.metrics.Messages.Inc() // live: progress and lag dashboards read it
	if msg.Fault != nil {
		p.deadLetter(b, msg.Position(), msg.Fault, msg.Payload, b.started)
	} else if err := events.Records(msg.Payload, func(i int, rec []byte) { p.record(b, &msg, i, rec, b.started) }); err != nil {
		p.deadLetter(b, msg.Position(), err, msg.Payload, b.started)
	}
	msg.Payload = nil // the batch keeps the position only
	b.cur = msg
}

func (p *Pipeline) record(b *batch, msg *Message, i int, rec []byte, now time.Time) {
	// Oversize records are dead letters whatever they hold; everything else
	// that the byte filter rules out is skipped without decoding.
	if len(rec) <= p.cfg.MaxEventBytes && !events.MaybeSeatEvent(rec) {
		b.filtered++
		return
	}
	pos := msg.Position()
	if i > 0 {
		pos = fmt.Sprintf("%s#%d", pos, i)
	}
	ev, err := events.Parse(rec)
	if errors.Is(err, events.ErrNotSeatEvent) {
		b.filtered++
		return
	}
	if err == nil {
		ev.Raw = append([]byte(nil), ev.Raw...) // rec belongs to the source's buffer
		err = scrubPII(&ev, p.cfg.PII, p.cfg.PIISalt)
	}
	if err != nil {
		dl := p.deadLetter(b, pos, err, rec, now)
		dl.DocumentID = ev.DocumentID
		return
	}
	b.rows = append(b.rows, timeline.NewRow(ev, p.src.Name(), pos, now))
}

func (p *Pipeline) deadLetter(b *batch, pos string, err error, raw []byte, now time.Time) *timeline.DeadLetter {
	code := "source_error"
	var inv *events.InvalidError
	if errors.As(err, &inv) {
		code = string(inv.Reason)
	}
	p.metrics.DeadLetters.WithLabelValues(code).Inc()
	b.dead = append(b.dead, timeline.NewDeadLetter(p.src.Name(), pos, code, err.Error(), raw, now))
	return &b.dead[len(b.dead)-1]
}

// inflight is a batch being written; done gets the write's result.
type inflight struct {
	b    *batch
	done chan error
}

// writeLoop writes up to Writers batches at once (ClickHouse works on one
// insert while the next is encoded) and commits them strictly in order,
// each only after it and every batch before it were acknowledged. While
// ClickHouse is down the writes retry, the queue fills, the reader blocks
// (backpressure) and nothing is committed.
func (p *Pipeline) writeLoop(ctx context.Context, in <-chan *batch) error {
	queue := make(chan *inflight, p.cfg.Writers-1) // with the one the committer holds: Writers in flight
	committed := make(chan error, 1)
	go func() { committed <- p.commitLoop(ctx, queue) }()
	var err error
	for b := range in {
		f := &inflight{b: b, done: make(chan error, 1)} // buffered: a writer never blocks on it
		go func() { f.done <- p.write(ctx, f.b) }()
		select {
		case queue <- f:
		case err = <-committed: // a write failed for good (ctx ended): commit nothing more
		}
		if err != nil {
			break
		}
	}
	close(queue)
	for range in { // drain so the reader is not stuck
	}
	if err == nil {
		err = <-committed
	}
	return err
}

// commitLoop commits batches in the order they were read, each once its
// write succeeded. It stops at the first write that failed for good.
func (p *Pipeline) commitLoop(ctx context.Context, queue <-chan *inflight) error {
	for f := range queue {
		if err := <-f.done; err != nil {
			return fmt.Errorf("stopped with %d rows not written (their source positions are not committed and will be read again): %w",
				len(f.b.rows)+len(f.b.dead), err)
		}
		if err := p.commit(ctx, f.b.positions()); err != nil {
			// Rows are stored; an uncommitted position is only read again and
			// deduplicated, so this is not data loss.
			p.log.Warn("source commit failed; those messages will be delivered again (deduplicated)", "err", err)
			continue
		}
		p.metrics.Committed.Inc()
	}
	return nil
}

// write stores one batch, retrying with backoff until ClickHouse takes it
// or ctx ends. Concurrent writers share the outage state, so an outage is
// logged once when it starts and once when it ends.
func (p *Pipeline) write(ctx context.Context, b *batch) error {
	start := p.now()
	if p.enricher != nil && len(b.rows) > 0 {
		// Bounded by the enricher's own budget; never retried with the write.
		st := p.enricher.Enrich(ctx, b.rows)
		p.metrics.Enrichment.WithLabelValues("enriched").Add(float64(st.Enriched))
		p.metrics.Enrichment.WithLabelValues("pending").Add(float64(st.StillPending))
		p.metrics.Enrichment.WithLabelValues("failed").Add(float64(st.Failed))
	}
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval = 100 * time.Millisecond
	bo.MaxInterval = p.cfg.RetryMaxInterval
	bo.MaxElapsedTime = 0 // never give up while running: losing the batch is not an option
	err := backoff.Retry(func() error {
		err := p.store.Write(ctx, b.rows, b.dead)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return backoff.Permanent(err)
		}
		p.metrics.WriteErrors.Inc()
		p.outage.Lock()
		p.outage.attempts++
		p.log.Debug("ClickHouse write attempt failed", "attempt", p.outage.attempts, "err", err)
		if !p.outage.failing {
			p.outage.failing, p.outage.since = true, p.now()
			p.ready.Store(false)
			p.metrics.ClickHouseUp.Set(0)
			p.log.Warn("ClickHouse write failed; holding the stream, committing nothing, retrying with backoff",
				"err", err, "rows", len(b.rows), "dead_letters", len(b.dead))
		}
		p.outage.Unlock()
		return err
	}, backoff.WithContext(bo, ctx))
	if err != nil {
		return err
	}
	p.outage.Lock()
	if p.outage.failing {
		p.log.Info("ClickHouse writes resumed", "down_for", p.now().Sub(p.outage.since).Round(time.Millisecond).String(), "failed_attempts", p.outage.attempts)
		p.outage.failing, p.outage.attempts = false, 0
	}
	p.outage.Unlock()
	p.ready.Store(true)
	p.metrics.ClickHouseUp.Set(1)
	p.metrics.BatchSeconds.Observe(p.now().Sub(start).Seconds())
	p.metrics.Rows.Add(float64(len(b.rows)))
	return nil
}

func (p *Pipeline) commit(ctx context.Context, last []Message) error {
	bo := backoff.WithContext(backoff.WithMaxRetries(backoff.NewExponentialBackOff(), 5), ctx)
	return backoff.Retry(func() error { return p.src.Commit(ctx, last) }, bo)
}
