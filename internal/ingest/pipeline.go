package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"

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
	// MaxEventBytes: a larger record is a dead letter (default 1 MiB).
	MaxEventBytes int
	// ShutdownTimeout bounds the final flush after a stop signal (default 30 s).
	ShutdownTimeout time.Duration
	// PII and PIISalt: what to do with actor_ip and user_agent (default keep).
	PII     PII
	PIISalt string
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
	if c.RetryMaxInterval == 0 {
		c.RetryMaxInterval = 10 * time.Second
	}
	return nil
}

// Writer stores batches: *timeline.Store.
type Writer interface {
	Write(ctx context.Context, rows []timeline.Row, dead []timeline.DeadLetter) error
}

// Pipeline moves messages from a Source into the timeline.
type Pipeline struct {
	cfg     Config
	src     Source
	store   Writer
	log     *slog.Logger
	metrics *Metrics
	now     func() time.Time

	ready atomic.Bool // last ClickHouse write succeeded (or none failed yet)
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

// Ready reports whether the last ClickHouse write succeeded (for /readyz).
func (p *Pipeline) Ready() bool { return p.ready.Load() }

// batch is what one ClickHouse write and one source commit cover.
type batch struct {
	rows     []timeline.Row
	dead     []timeline.DeadLetter
	last     map[string]Message // last message per stream, payload dropped
	messages int
	filtered int
	started  time.Time
}

func (b *batch) size() int { return len(b.rows) + len(b.dead) }

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

func (p *Pipeline) readLoop(ctx, wctx context.Context, out chan<- *batch) error {
	b := p.newBatch()
	var bctx context.Context = ctx
	cancel := func() {}
	flush := func() bool {
		cancel()
		bctx, cancel = ctx, func() {}
		if b.messages == 0 {
			return true
		}
		select {
		case out <- b:
		case <-wctx.Done():
			return false
		}
		b = p.newBatch()
		return true
	}
	defer func() { cancel() }()
	for {
		msg, err := p.src.Next(bctx)
		if err != nil {
			if ctx.Err() == nil && bctx.Err() != nil && errors.Is(err, bctx.Err()) {
				// The batch's time is up.
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
			bctx, cancel = context.WithDeadline(ctx, b.started.Add(p.cfg.BatchWait))
		}
		p.add(b, msg)
		if b.size() >= p.cfg.BatchRows {
			if !flush() {
				return wctx.Err()
			}
		}
	}
}

func (p *Pipeline) newBatch() *batch { return &batch{last: make(map[string]Message, 8)} }

// add splits a message into records and turns each into a row, a dead
// letter, or nothing (not a Copilot event).
func (p *Pipeline) add(b *batch, msg Message) {
	b.messages++
	p.metrics.Messages.Inc()
	now := p.now()
	if err := events.Records(msg.Payload, func(i int, rec []byte) { p.record(b, &msg, i, rec, now) }); err != nil {
		p.deadLetter(b, msg.Position(), err, msg.Payload, now)
	}
	msg.Payload = nil // the batch keeps the position only
	b.last[msg.Stream] = msg
}

func (p *Pipeline) record(b *batch, msg *Message, i int, rec []byte, now time.Time) {
	// Oversize records are dead letters whatever they hold; everything else
	// that the byte filter rules out is skipped without decoding.
	if len(rec) <= p.cfg.MaxEventBytes && !events.MaybeSeatEvent(rec) {
		b.filtered++
		p.metrics.Filtered.Inc()
		return
	}
	pos := msg.Position()
	if i > 0 {
		pos = fmt.Sprintf("%s#%d", pos, i)
	}
	ev, err := events.Parse(rec, p.cfg.MaxEventBytes)
	if errors.Is(err, events.ErrNotSeatEvent) {
		b.filtered++
		p.metrics.Filtered.Inc()
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
	code := "invalid"
	var inv *events.InvalidError
	if errors.As(err, &inv) {
		code = string(inv.Reason)
	}
	p.metrics.DeadLetters.WithLabelValues(code).Inc()
	b.dead = append(b.dead, timeline.NewDeadLetter(p.src.Name(), pos, code, err.Error(), raw, now))
	return &b.dead[len(b.dead)-1]
}

// writeLoop writes batches in order and commits each after ClickHouse has
// acknowledged it. While ClickHouse is down it retries the same batch, so
// the reader blocks (backpressure) and nothing is committed.
func (p *Pipeline) writeLoop(ctx context.Context, in <-chan *batch) error {
	var failing bool
	var failedSince time.Time
	attempts := 0
	for b := range in {
		start := p.now()
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
			attempts++
			p.log.Debug("ClickHouse write attempt failed", "attempt", attempts, "err", err)
			if !failing {
				failing, failedSince = true, p.now()
				p.ready.Store(false)
				p.metrics.ClickHouseUp.Set(0)
				p.log.Warn("ClickHouse write failed; holding the stream, committing nothing, retrying with backoff",
					"err", err, "rows", len(b.rows), "dead_letters", len(b.dead))
			}
			return err
		}, backoff.WithContext(bo, ctx))
		if err != nil {
			for range in { // drain so the reader is not stuck
			}
			return fmt.Errorf("stopped with %d rows not written (their source positions are not committed and will be read again): %w", len(b.rows)+len(b.dead), err)
		}
		if failing {
			p.log.Info("ClickHouse writes resumed", "down_for", p.now().Sub(failedSince).Round(time.Millisecond).String(), "failed_attempts", attempts)
			failing, attempts = false, 0
		}
		p.ready.Store(true)
		p.metrics.ClickHouseUp.Set(1)
		p.metrics.BatchSeconds.Observe(p.now().Sub(start).Seconds())
		p.metrics.Rows.Add(float64(len(b.rows)))

		last := make([]Message, 0, len(b.last))
		for _, m := range b.last {
			last = append(last, m)
		}
		if err := p.commit(ctx, last); err != nil {
			// Rows are stored; an uncommitted position is only read again and
			// deduplicated, so this is not data loss.
			p.log.Warn("source commit failed; those messages will be delivered again (deduplicated)", "err", err)
			continue
		}
		p.metrics.Committed.Inc()
	}
	return nil
}

func (p *Pipeline) commit(ctx context.Context, last []Message) error {
	bo := backoff.WithContext(backoff.WithMaxRetries(backoff.NewExponentialBackOff(), 5), ctx)
	return backoff.Retry(func() error { return p.src.Commit(ctx, last) }, bo)
}
