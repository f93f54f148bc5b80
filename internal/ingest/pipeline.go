package ingest

import (
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/seatline/seatline/internal/flagval"
	"github.com/seatline/seatline/internal/timeline"
	"github.com/seatline/seatline/pkg/events"
)

// Config tunes the pipeline. Defaults() has the values the flags show.
type Config struct {
	// A batch is written when it holds BatchRows rows (timeline rows plus
	// dead letters) or BatchBytes of events (their raw bytes), or BatchWait
	// after its first message, whichever comes first. BatchBytes bounds
	// the memory a batch holds whatever the events' size.
	BatchRows  int
	BatchBytes int
	BatchWait  time.Duration
	// BatchIdleAge: a batch at least this old is written as soon as the
	// source has been quiet for 20 ms (never later than BatchWait).
	BatchIdleAge time.Duration
	// ShutdownTimeout bounds the final flush after a stop signal.
	ShutdownTimeout time.Duration
	// PII and PIISalt: what to do with actor_ip and user_agent.
	PII     PII
	PIISalt string
	// Writers: batches written to ClickHouse at once; commits stay in
	// order whatever the number.
	Writers int
	// RetryMaxInterval caps the backoff between ClickHouse write attempts.
	RetryMaxInterval time.Duration
}

// Defaults are the pipeline's defaults (the flags show them).
func Defaults() Config {
	return Config{BatchRows: 10000, BatchBytes: 8 << 20, BatchWait: 500 * time.Millisecond, BatchIdleAge: 200 * time.Millisecond,
		ShutdownTimeout: 30 * time.Second, PII: PIIKeep, Writers: 2, RetryMaxInterval: 10 * time.Second}
}

// The batching and shutdown flags and their ranges.
var (
	batchRows       = flagval.Int{Name: "batch-rows", Min: 1, Max: 1000000}
	batchBytes      = flagval.Int{Name: "batch-bytes", Min: 64 << 10, Max: 1 << 30}
	batchWait       = flagval.Duration{Name: "batch-wait", Min: time.Millisecond, Max: 10 * time.Minute}
	batchIdleAge    = flagval.Duration{Name: "batch-idle-age", Min: time.Millisecond, Max: 10 * time.Minute}
	shutdownTimeout = flagval.Duration{Name: "shutdown-timeout", Min: time.Second, Max: time.Hour}
)

// RegisterFlags binds the pipeline's flags to fs, with Defaults.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	d := Defaults()
	fs.IntVar(&c.BatchRows, batchRows.Name, d.BatchRows, batchRows.Usage("write a batch when it holds this many rows"))
	fs.IntVar(&c.BatchBytes, batchBytes.Name, d.BatchBytes, batchBytes.Usage("also write a batch when its events' raw bytes reach this: bounds the memory each batch holds"))
	fs.DurationVar(&c.BatchWait, batchWait.Name, d.BatchWait, batchWait.Usage("write a batch at the latest this long after its first message"))
	fs.DurationVar(&c.BatchIdleAge, batchIdleAge.Name, d.BatchIdleAge, batchIdleAge.Usage("a batch this old is written as soon as the source is quiet for 20ms"))
	fs.DurationVar(&c.ShutdownTimeout, shutdownTimeout.Name, d.ShutdownTimeout, shutdownTimeout.Usage("on SIGTERM, time allowed to flush and commit"))
	fs.StringVar((*string)(&c.PII), "pii", string(d.PII), "actor_ip and user_agent, in columns, raw events (any key case, any depth) and dead letters: keep, hash (salted SHA-256) or drop")
	fs.StringVar(&c.PIISalt, "pii-salt", "", fmt.Sprintf("secret salt, required with --pii hash: at least %d bytes (e.g. from openssl rand -hex 16); keep it to keep hashes joinable (never logged)", MinPIISaltBytes))
	c.Writers, c.RetryMaxInterval = d.Writers, d.RetryMaxInterval
}

// Validate names the first invalid field; it changes nothing.
func (c *Config) Validate() error {
	if err := flagval.First(batchRows.Check(c.BatchRows), batchBytes.Check(c.BatchBytes), batchWait.Check(c.BatchWait),
		batchIdleAge.Check(c.BatchIdleAge), shutdownTimeout.Check(c.ShutdownTimeout)); err != nil {
		return err
	}
	switch {
	case c.Writers < 1 || c.Writers > 16:
		return fmt.Errorf("writers: must be 1 to 16, got %d", c.Writers)
	case c.RetryMaxInterval <= 0:
		return fmt.Errorf("retry-max-interval: must be positive, got %s", c.RetryMaxInterval)
	}
	return validatePII(c.PII, c.PIISalt)
}

// Step works on a batch's rows between classify and write, within its own
// budget (inline enrichment). It is never retried with the write.
type Step interface {
	Name() string
	Apply(ctx context.Context, rows []timeline.Row)
}

// Writer stores batches: *timeline.Store.
type Writer interface {
	WriteBatch(ctx context.Context, b *timeline.Batch) error
}

// Pipeline moves messages from a Source into the timeline.
type Pipeline struct {
	cfg     Config
	src     Source
	store   Writer
	log     *slog.Logger
	metrics *Metrics
	now     func() time.Time
	steps   []Step
	ids     *identity // nil when the store cannot look documents up (tests' fakes)
	pii     *scrubber // used by the read loop only

	health *timeline.Health // ClickHouse as the store's calls saw it: Ready, and the outage's log lines
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
	p := &Pipeline{cfg: cfg, src: src, store: store, log: log, metrics: metrics, now: time.Now, pii: newScrubber(cfg.PII, cfg.PIISalt)}
	if docs, ok := store.(Documents); ok {
		p.ids = newIdentity(docs)
	}
	if hs, ok := store.(interface{ Health() *timeline.Health }); ok {
		p.health = hs.Health()
	} else {
		p.health = timeline.NewHealth() // a store that reports nothing: always ready
	}
	return p, nil
}

// AddStep adds a step that runs on every batch before it is written
// (before Run).
func (p *Pipeline) AddStep(s Step) { p.steps = append(p.steps, s) }

// Ready reports whether ClickHouse answers the store's calls: reads and
// writes, the source's checkpoints included (the store's Health).
func (p *Pipeline) Ready() bool { return p.health.Up() }

// batch is what one ClickHouse write and one source commit cover.
type batch struct {
	rows     []timeline.Row
	members  []timeline.Member
	dead     []timeline.DeadLetter
	claims   []timeline.Document // first versions of ids this batch stores (identity)
	last     map[string]Message  // last message of each stream but cur's, payload dropped
	cur      Message             // the latest message, payload dropped
	messages int
	filtered int
	bytes    int          // the records' raw bytes, for BatchBytes
	started  time.Time    // first message; also the ingested_at of every row in the batch
	seen     atomic.Int64 // messages, for the idle check on the timer goroutine
}

func (b *batch) size() int { return len(b.rows) + len(b.members) + len(b.dead) }

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

	batches := make(chan *batch) // the writer holds one full batch while the next fills: backpressure beyond that
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
		if b.size() >= p.cfg.BatchRows || b.bytes >= p.cfg.BatchBytes {
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

// add turns a message into a row, a dead letter, or only a position. The
// records stage has framed, checked and pre-filtered it already.
func (p *Pipeline) add(b *batch, msg Message) {
	if b.messages > 0 && msg.Stream != b.cur.Stream {
		b.last[b.cur.Stream] = b.cur
	}
	b.messages++
	b.bytes += len(msg.Data)
	b.seen.Add(1)
	switch {
	case msg.Fault != nil:
		docID := ""
		if msg.Original != nil {
			docID = msg.Original.DocumentID
		}
		p.deadLetter(b, &msg, msg.Fault, docID)
	case msg.Data != nil:
		p.record(b, &msg)
	}
	msg.Data = nil // the batch keeps the position only
	b.cur = msg
}

func (p *Pipeline) record(b *batch, msg *Message) {
	ev, err := events.Parse(msg.Data)
	if errors.Is(err, events.ErrNotSeatEvent) {
		b.filtered++ // the byte pre-filter let it through; the decoder knows better
		return
	}
	if err != nil {
		p.deadLetter(b, msg, err, ev.DocumentID)
		return
	}
	p.pii.event(&ev)
	if ev.Membership != events.MembershipNone {
		b.members = append(b.members, timeline.Member{Event: ev, Source: p.src.Name(), SourcePosition: msg.Position(), IngestedAt: b.started})
		return
	}
	b.rows = append(b.rows, timeline.NewRow(ev, p.src.Name(), msg.Position(), b.started))
}

func (p *Pipeline) deadLetter(b *batch, msg *Message, err error, docID string) {
	code := "source_error"
	var inv *events.InvalidError
	if errors.As(err, &inv) {
		code = string(inv.Reason)
	}
	p.metrics.DeadLetters.WithLabelValues(code).Inc()
	length, sum := int64(len(msg.Data)), [32]byte{}
	if o := msg.Original; o != nil {
		length, sum = o.Length, o.SHA256 // Data keeps only the start
	} else {
		sum = sha256.Sum256(msg.Data)
	}
	// The original's length and SHA-256 identify it; what is kept of it is
	// scrubbed like an event (PII model in the README).
	kept := p.pii.deadLetter(msg.Data[:min(len(msg.Data), timeline.MaxDeadLetterRaw)])
	dl := timeline.DeadLetterOf(p.src.Name(), msg.Position(), code, p.pii.reason(err.Error()), kept, length, sum, b.started)
	dl.DocumentID = docID
	b.dead = append(b.dead, dl)
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
	// A batch is taken from the reader only once a slot is free (a slot
	// is released at its batch's commit): Writers batches in flight and
	// the reader's next one are all a burst holds.
	slots := make(chan struct{}, p.cfg.Writers)
	queue := make(chan *inflight, p.cfg.Writers)
	committed := make(chan error, 1)
	go func() { committed <- p.commitLoop(ctx, queue, slots) }()
	var err error
	for {
		select {
		case slots <- struct{}{}:
		case err = <-committed: // a write failed for good (ctx ended): commit nothing more
		}
		if err != nil {
			break
		}
		b, ok := <-in
		if !ok {
			break
		}
		// In read order, before the write: the next batch's check sees
		// this one's claims.
		if err = p.checkIdentity(ctx, b); err != nil {
			err = fmt.Errorf("stopped with %d rows not written (their source positions are not committed and will be read again): %w", b.size(), err)
			break
		}
		f := &inflight{b: b, done: make(chan error, 1)} // buffered: a writer never blocks on it
		queue <- f                                      // never blocks: each queued batch holds a slot
		go func() { f.done <- p.write(ctx, f.b) }()
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
func (p *Pipeline) commitLoop(ctx context.Context, queue <-chan *inflight, slots <-chan struct{}) error {
	for f := range queue {
		if err := <-f.done; err != nil {
			return fmt.Errorf("stopped with %d rows not written (their source positions are not committed and will be read again): %w",
				f.b.size(), err)
		}
		if err := p.commit(ctx, f.b.positions()); err != nil {
			// Rows are stored; an uncommitted position is only read again and
			// deduplicated, so this is not data loss. A checkpoint write
			// failing in a ClickHouse outage is the outage's, logged once.
			msg := "source commit failed; those messages will be delivered again (deduplicated)"
			if timeline.IsClickHouseError(err) && !p.health.Up() {
				p.log.Debug(msg, "err", err)
			} else {
				p.log.Warn(msg, "err", err)
			}
		} else {
			p.metrics.Committed.Inc()
		}
		<-slots
	}
	return nil
}

// write stores one batch, retrying with backoff until ClickHouse takes it
// or ctx ends.
func (p *Pipeline) write(ctx context.Context, b *batch) error {
	start := p.now()
	if len(b.rows) > 0 {
		for _, s := range p.steps {
			s.Apply(ctx, b.rows)
		}
	}
	err := p.untilClickHouse(ctx, b, func() error {
		return p.store.WriteBatch(ctx, &timeline.Batch{Rows: b.rows, Members: b.members, Dead: b.dead, Claims: b.claims})
	})
	if err != nil {
		return err
	}
	if p.ids != nil {
		p.ids.written(b)
	}
	p.metrics.BatchSeconds.Observe(p.now().Sub(start).Seconds())
	p.metrics.Rows.Add(float64(len(b.rows)))
	p.metrics.Members.Add(float64(len(b.members)))
	return nil
}

// checkIdentity runs the identity check on b, retrying the lookup as a
// write is retried.
func (p *Pipeline) checkIdentity(ctx context.Context, b *batch) error {
	if p.ids == nil {
		return nil
	}
	before := len(b.dead)
	if err := p.untilClickHouse(ctx, b, func() error { return p.ids.check(ctx, b, p.conflictingCopy) }); err != nil {
		return err
	}
	if n := len(b.dead) - before; n > 0 {
		p.log.Warn("conflicting copies of known _document_ids: kept the first version, dead-lettered the copies (ingest_errors, reason_code conflicting_copy)", "copies", n)
	}
	return nil
}

// conflictingCopy dead-letters a copy the identity check refused.
func (p *Pipeline) conflictingCopy(b *batch, pos string, raw []byte, docID, reason string) {
	p.metrics.DeadLetters.WithLabelValues(ReasonConflictingCopy).Inc()
	p.metrics.Conflicts.Inc()
	dl := timeline.NewDeadLetter(p.src.Name(), pos, ReasonConflictingCopy, reason, raw, b.started)
	dl.DocumentID = docID
	b.dead = append(b.dead, dl)
}

// untilClickHouse runs f, which talks to ClickHouse for batch b, until it
// succeeds or ctx ends, with backoff. The outage itself (readiness, the
// one line when it starts and the one when it ends) is the store's
// Health's: it sees every call, whichever writer or source made it.
func (p *Pipeline) untilClickHouse(ctx context.Context, b *batch, f func() error) error {
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval = 100 * time.Millisecond
	bo.MaxInterval = p.cfg.RetryMaxInterval
	bo.MaxElapsedTime = 0 // never give up while running: losing the batch is not an option
	attempts := 0
	var failing error // the last failed attempt's error
	err := backoff.Retry(func() error {
		err := f()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return backoff.Permanent(err)
		}
		attempts++
		failing = err
		p.metrics.WriteErrors.Inc()
		p.log.Debug("ClickHouse attempt failed; retrying with backoff", "attempt", attempts, "err", err,
			"rows", len(b.rows), "membership_changes", len(b.members), "dead_letters", len(b.dead))
		return err
	}, backoff.WithContext(bo, ctx))
	if err != nil && failing != nil {
		// Time ran out (shutdown) while ClickHouse was failing: that is the
		// reason, not the context's end.
		return fmt.Errorf("ClickHouse was failing when time ran out: %w", failing)
	}
	return err
}

func (p *Pipeline) commit(ctx context.Context, last []Message) error {
	bo := backoff.WithContext(backoff.WithMaxRetries(backoff.NewExponentialBackOff(), 5), ctx)
	return backoff.Retry(func() error { return p.src.Commit(ctx, last) }, bo)
}
