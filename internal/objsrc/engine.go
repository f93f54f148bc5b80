package objsrc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/seatline/seatline/internal/ingest"
	"github.com/seatline/seatline/internal/records"
	"github.com/seatline/seatline/internal/source"
	"github.com/seatline/seatline/internal/timeline"
)

// Object is one thing to read: an S3 or Azure blob, a GCS object, a file.
type Object struct {
	Key  string
	ETag string // identifies the content (ETag, generation, size+mtime): a checkpoint applies to one
	Size int64  // -1: unknown
}

// ErrVanished: the object was listed but is gone when read.
var ErrVanished = errors.New("object no longer exists")

// Backend lists and opens one store's objects: all a kind of object
// source adds to the engine.
type Backend interface {
	// Pages lists the objects to consider with keys after startAfter ("":
	// from the start), in key order, calling fn once per page. Transient
	// failures are retried inside; an error returned is final.
	Pages(ctx context.Context, startAfter string, fn func([]Object) error) error
	// Open starts reading an object. It returns the ETag and size of what
	// it opened (which may differ from the listing's if the object
	// changed), ErrVanished if the object is gone, a *FatalError for
	// configuration problems, any other error for a transient failure.
	Open(ctx context.Context, o Object) (io.ReadCloser, Object, error)
	// Lookback is where a follow-mode listing starts again after seeing
	// maxKey: a key d before it, or maxKey itself.
	Lookback(maxKey string, d time.Duration) string
}

// FatalError is a configuration problem (no such bucket, access denied, no
// credentials): retrying will not help, so the worker stops and says why.
type FatalError struct{ Err error }

func (e *FatalError) Error() string { return e.Err.Error() }
func (e *FatalError) Unwrap() error { return e.Err }

// Options are what a kind of object source decides for the engine.
type Options struct {
	Kind         string // ingest.Source.Name: "s3", "file"
	Checkpoint   string // the checkpoints' source name: "s3:bucket/prefix"
	Follow       bool   // poll for new objects for ever; otherwise read once and end
	PollInterval time.Duration
	Lookback     time.Duration
	StartAfter   string // follow mode: the first listing starts after this key
	Concurrency  int
	ReadAttempts int // per object before its failure is a dead letter; 0: retry for ever
	Shard        Shard
	// ProgressInterval: how often progress is logged when not on a terminal.
	ProgressInterval time.Duration
}

// Source reads objects and delivers their records. It implements
// ingest.Source; every object source builds one with New.
type Source struct {
	opts  Options
	be    Backend
	deps  source.Deps
	cps   source.Checkpoints
	log   *slog.Logger
	ctx   context.Context // ends at Close
	stop  context.CancelFunc
	wg    sync.WaitGroup
	out   chan []ingest.Message // chunks of one object's lines, in order
	prog  *progress
	start sync.Once

	cur   []ingest.Message // Next's goroutine only
	curAt int

	failOnce sync.Once
	failed   chan struct{}
	failErr  error

	mu       sync.Mutex
	states   map[string]*objState           // dispatched and not yet checkpointed as finished
	finished map[string]string              // follow mode: key → etag finished by this process
	pending  map[string]timeline.Checkpoint // checkpoints not yet written (a failed write is retried)
	closed   bool
}

// objState is one object being read and acknowledged.
type objState struct {
	obj    Object
	final  int64  // offset of the object's last message; -1 until the reader reached its end
	detail string // set when the object is damaged: checkpoint state error
	lines  uint64 // once final is known: the object's records (done), or those before the failure (error)
}

// job is an object to read, skipping records 1..skip (already stored).
type job struct {
	obj  Object
	skip uint64
}

// New builds an object source on a backend. Records go through the
// records stage (deps.Records); positions are kept in deps.Checkpoints.
func New(opts Options, be Backend, deps source.Deps) (*Source, error) {
	if err := deps.Records.Validate(); err != nil {
		return nil, err
	}
	if deps.Checkpoints == nil {
		return nil, errors.New("objsrc: no checkpoint store")
	}
	log := deps.Log
	if log == nil {
		log = slog.Default()
	}
	if opts.ProgressInterval <= 0 {
		opts.ProgressInterval = 10 * time.Second
	}
	ctx, stop := context.WithCancel(context.Background())
	s := &Source{
		opts: opts, be: be, deps: deps, cps: deps.Checkpoints, log: log.With("source", opts.Kind),
		ctx: ctx, stop: stop,
		out:      make(chan []ingest.Message, 2*opts.Concurrency),
		failed:   make(chan struct{}),
		states:   map[string]*objState{},
		finished: map[string]string{},
		pending:  map[string]timeline.Checkpoint{},
		prog:     newProgress(opts.Kind, deps.Progress, opts.ProgressInterval, !opts.Follow),
	}
	// Records read count towards progress as well as the worker's metrics.
	counted := deps.Records.Counted
	s.deps.Records.Counted = func(read, filtered int64) {
		s.prog.events.Add(read)
		if counted != nil {
			counted(read, filtered)
		}
	}
	return s, nil
}

// Name implements ingest.Source: "s3", "file", …
func (s *Source) Name() string { return s.opts.Kind }

// run lists and reads until the input ends (finite sources) or Close.
func (s *Source) run() {
	jobs := make(chan job, s.opts.Concurrency)
	var workers sync.WaitGroup
	for range s.opts.Concurrency {
		workers.Add(1)
		go func() {
			defer workers.Done()
			dec, err := records.NewDecoder(s.deps.Records)
			if err != nil {
				s.fail(err)
				for range jobs {
				}
				return
			}
			r := &reader{s: s, dec: dec}
			for j := range jobs {
				if err := r.read(s.ctx, j); err != nil {
					if s.ctx.Err() == nil {
						s.fail(err)
					}
					for range jobs { // let the lister finish
					}
					return
				}
			}
		}()
	}
	var err error
	if s.opts.Follow {
		err = s.follow(jobs)
	} else {
		err = s.backfill(jobs)
	}
	close(jobs)
	if err != nil && s.ctx.Err() == nil {
		s.fail(err)
	}
	workers.Wait()
	close(s.out)
}

// backfill lists everything once to count (for progress and its ETA), then
// again to read.
func (s *Source) backfill(jobs chan<- job) error {
	var objects, bytes, done int64
	err := s.be.Pages(s.ctx, "", func(objs []Object) error {
		return s.plan(objs, func(o Object, skip uint64, finished bool) error {
			if finished {
				done++
				return nil
			}
			objects++
			bytes += o.Size
			return nil
		})
	})
	if err != nil {
		return err
	}
	s.prog.setTotals(s.log, objects, bytes, done)
	if objects == 0 {
		return nil
	}
	return s.be.Pages(s.ctx, "", func(objs []Object) error {
		return s.plan(objs, func(o Object, skip uint64, finished bool) error {
			if finished {
				return nil
			}
			return s.dispatch(jobs, o, skip)
		})
	})
}

// follow lists again every poll interval, from a lookback before the
// newest key seen; objects finished (here or by an earlier run) are skipped.
func (s *Source) follow(jobs chan<- job) error {
	startAfter := s.opts.StartAfter
	for {
		maxKey := ""
		err := s.be.Pages(s.ctx, startAfter, func(objs []Object) error {
			maxKey = objs[len(objs)-1].Key
			return s.plan(objs, func(o Object, skip uint64, finished bool) error {
				if finished {
					return nil
				}
				return s.dispatch(jobs, o, skip)
			})
		})
		if err != nil {
			return err
		}
		if maxKey != "" {
			if next := s.be.Lookback(maxKey, s.opts.Lookback); next > startAfter {
				startAfter = next
				s.mu.Lock()
				for k := range s.finished {
					if k <= startAfter {
						delete(s.finished, k)
					}
				}
				s.mu.Unlock()
			}
		}
		s.prog.logFollow(s.log, startAfter)
		select {
		case <-s.ctx.Done():
			return nil
		case <-time.After(s.opts.PollInterval):
		}
	}
}

// plan decides, for one listed page, what each object of this shard needs,
// from its checkpoint: nothing (finished with the same ETag), a resume after
// the acknowledged records, or a read from the start (new, or its ETag changed).
func (s *Source) plan(objs []Object, fn func(o Object, skip uint64, finished bool) error) error {
	mine := objs[:0:0]
	for _, o := range objs {
		if s.opts.Shard.Owns(o.Key) {
			mine = append(mine, o)
		}
	}
	if len(mine) == 0 {
		return nil
	}
	cps, err := s.readCheckpoints(mine[0].Key, mine[len(mine)-1].Key)
	if err != nil {
		return err
	}
	for _, o := range mine {
		s.mu.Lock()
		_, busy := s.states[o.Key]
		etag, fin := s.finished[o.Key]
		s.mu.Unlock()
		if busy || (fin && etag == o.ETag) {
			continue // being read now, or just done by this process
		}
		cp, ok := cps[o.Key]
		var skip uint64
		switch {
		case ok && cp.Finished(o.ETag):
			if err := fn(o, 0, true); err != nil {
				return err
			}
			continue
		case ok && cp.ETag == o.ETag:
			skip = cp.Lines
		case ok:
			s.log.Info("object changed since its checkpoint: reading it again from the start (duplicates collapse by _document_id)",
				"key", o.Key, "old_etag", cp.ETag, "etag", o.ETag, "old_state", string(cp.State))
		}
		if err := fn(o, skip, false); err != nil {
			return err
		}
	}
	return nil
}

// readCheckpoints reads the checkpoints of a key range, retrying while
// ClickHouse fails. The outage is the store's Health's to report (once,
// with readiness and seatline_clickhouse_up), so each attempt is only a
// debug line here.
func (s *Source) readCheckpoints(from, to string) (map[string]timeline.Checkpoint, error) {
	var cps map[string]timeline.Checkpoint
	attempt := 0
	err := Retry(s.ctx, func() error {
		var err error
		cps, err = s.cps.Checkpoints(s.ctx, s.opts.Checkpoint, from, to)
		if err != nil && s.ctx.Err() == nil {
			attempt++
			s.log.Debug("reading checkpoints from ClickHouse failed; retrying", "attempt", attempt, "err", err)
		}
		return err
	})
	return cps, err
}

func (s *Source) dispatch(jobs chan<- job, o Object, skip uint64) error {
	s.mu.Lock()
	s.states[o.Key] = &objState{obj: o, final: -1}
	s.mu.Unlock()
	select {
	case jobs <- job{obj: o, skip: skip}:
		return nil
	case <-s.ctx.Done():
		return s.ctx.Err()
	case <-s.failed:
		return s.failErr
	}
}

// Next implements ingest.Source.
func (s *Source) Next(ctx context.Context) (ingest.Message, error) {
	if s.curAt < len(s.cur) {
		m := s.cur[s.curAt]
		s.cur[s.curAt] = ingest.Message{}
		s.curAt++
		return m, nil
	}
	s.start.Do(func() {
		s.wg.Add(1)
		go func() { defer s.wg.Done(); s.run() }()
	})
	select {
	case c, ok := <-s.out:
		if !ok {
			select {
			case <-s.failed:
				return ingest.Message{}, s.failErr
			default:
			}
			if s.ctx.Err() != nil {
				return ingest.Message{}, errors.New("objsrc: source closed")
			}
			return ingest.Message{}, ingest.ErrEndOfInput
		}
		s.cur, s.curAt = c, 1
		m := c[0]
		c[0] = ingest.Message{}
		return m, nil
	case <-s.failed:
		return ingest.Message{}, s.failErr
	case <-ctx.Done():
		return ingest.Message{}, ctx.Err()
	}
}

func (s *Source) fail(err error) {
	s.failOnce.Do(func() {
		s.failErr = err
		close(s.failed)
	})
}

// Commit implements ingest.Source: it writes one checkpoint per object in
// last (the last line acknowledged; done or error once that was the
// object's last message). Checkpoints whose write fails are written with
// the next Commit.
func (s *Source) Commit(ctx context.Context, last []ingest.Message) error {
	var finished []string
	s.mu.Lock()
	for _, m := range last {
		st := s.states[m.Stream]
		if st == nil {
			continue // finished and checkpointed already
		}
		cp := timeline.Checkpoint{
			Source: s.opts.Checkpoint, Key: st.obj.Key, ETag: st.obj.ETag, Size: uint64(max(st.obj.Size, 0)),
			Lines: uint64(max(m.Offset, 0)), State: timeline.CheckpointInProgress,
		}
		if st.final >= 0 && m.Offset >= st.final {
			cp.State, cp.Lines = timeline.CheckpointDone, st.lines
			if st.detail != "" {
				cp.State, cp.Detail = timeline.CheckpointError, st.detail
			}
			finished = append(finished, m.Stream)
		}
		s.pending[m.Stream] = cp
	}
	rows := make([]timeline.Checkpoint, 0, len(s.pending))
	for _, cp := range s.pending {
		rows = append(rows, cp)
	}
	s.mu.Unlock()
	if err := s.cps.WriteCheckpoints(ctx, rows); err != nil {
		return fmt.Errorf("writing checkpoints: %w", err)
	}
	s.mu.Lock()
	clear(s.pending)
	for _, k := range finished {
		if st := s.states[k]; st != nil {
			delete(s.states, k)
			if s.opts.Follow {
				s.finished[k] = st.obj.ETag
			}
			s.prog.objectDone(st.detail != "")
		}
	}
	s.mu.Unlock()
	return nil
}

// setFinal records the offset of an object's last message (before it is
// sent), its number of lines (or of lines before the damage), and what is
// wrong with it if it is damaged.
func (s *Source) setFinal(key string, off int64, lines uint64, detail string) {
	s.mu.Lock()
	if st := s.states[key]; st != nil {
		st.final, st.lines, st.detail = off, lines, detail
	}
	s.mu.Unlock()
}

// opened records what an object's read actually opened (its ETag and size
// may differ from the listing's).
func (s *Source) opened(o Object) {
	s.mu.Lock()
	if st := s.states[o.Key]; st != nil {
		st.obj = o
	}
	s.mu.Unlock()
}

// Close stops listing and reading and prints the final progress.
func (s *Source) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.stop()
	s.wg.Wait()
	s.prog.finish(s.log)
	return nil
}

// Progress is a snapshot of what the source has done.
type Progress struct {
	ObjectsTotal   int64 // backfill: objects to read (known after the first listing)
	ObjectsSkipped int64 // backfill: objects already done by an earlier run
	ObjectsDone    int64 // checkpointed done or error in this run
	ObjectsDamaged int64 // of ObjectsDone: checkpointed error
	BytesTotal     int64
	BytesRead      int64 // object bytes (compressed) downloaded
	Events         int64 // lines delivered
}

// Progress returns the counters so far.
func (s *Source) Progress() Progress { return s.prog.snapshot() }

// Retry runs fn with exponential backoff (100 ms to 30 s) until it
// succeeds, returns a *FatalError, or ctx ends.
func Retry(ctx context.Context, fn func() error) error {
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval = 100 * time.Millisecond
	bo.MaxInterval = 30 * time.Second
	bo.MaxElapsedTime = 0
	return backoff.Retry(func() error {
		err := fn()
		var fe *FatalError
		if err != nil && (errors.As(err, &fe) || ctx.Err() != nil) {
			return backoff.Permanent(err)
		}
		return err
	}, backoff.WithContext(bo, ctx))
}
