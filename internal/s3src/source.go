package s3src

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
	"github.com/seatline/seatline/internal/timeline"
)

// Checkpoints is where positions are kept: *timeline.Store.
type Checkpoints interface {
	WriteCheckpoints(ctx context.Context, cps []timeline.Checkpoint) error
	Checkpoints(ctx context.Context, source, fromKey, toKey string) (map[string]timeline.Checkpoint, error)
}

// object is one thing to read: an S3 object or a local file.
type object struct {
	Key  string
	ETag string
	Size int64
}

// errVanished: the object was listed but is gone when read.
var errVanished = errors.New("object no longer exists")

// backend lists and opens objects (S3 or local files).
type backend interface {
	// pages lists the objects to consider with keys after startAfter ("":
	// from the start), in key order, calling fn once per page. Transient
	// failures are retried inside; an error returned is final.
	pages(ctx context.Context, startAfter string, fn func([]object) error) error
	// open starts reading an object. It returns the ETag and size of what it
	// opened (which may differ from the listing's if the object changed),
	// errVanished if the object is gone, a *fatalError for configuration
	// problems, any other error for a transient failure.
	open(ctx context.Context, o object) (io.ReadCloser, object, error)
	// lookback is where a follow-mode listing starts again after seeing
	// maxKey: a key d before it, or maxKey itself.
	lookback(maxKey string, d time.Duration) string
}

// fatalError is a configuration problem (no such bucket, access denied, no
// credentials): retrying will not help, so the worker stops and says why.
type fatalError struct{ err error }

func (e *fatalError) Error() string { return e.err.Error() }
func (e *fatalError) Unwrap() error { return e.err }

// engineConfig is what the S3 and file sources share.
type engineConfig struct {
	kind             string // "s3" or "file": ingest.Source.Name
	source           string // checkpoint source
	follow           bool
	pollInterval     time.Duration
	lookback         time.Duration
	startAfter       string // follow mode: first listing starts after this key
	concurrency      int
	readAttempts     int // per object before its failure is a dead letter; 0: retry for ever
	shard            Shard
	maxLineBytes     int
	progress         io.Writer
	progressInterval time.Duration
	filtered         func(lines int64)
}

// Source reads objects and delivers their lines. It implements
// ingest.Source; Open (S3) and OpenFiles (local files) build one.
type Source struct {
	cfg   engineConfig
	be    backend
	cps   Checkpoints
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
	obj    object
	final  int64  // offset of the object's last message; -1 until the reader reached its end
	detail string // set when the object is damaged: checkpoint state error
	lines  uint64 // once final is known: the object's lines (done), or the lines before the damage (error)
}

// job is an object to read, skipping lines 1..skip (already stored).
type job struct {
	obj  object
	skip uint64
}

func newSource(cfg engineConfig, be backend, cps Checkpoints, log *slog.Logger) *Source {
	if log == nil {
		log = slog.Default()
	}
	ctx, stop := context.WithCancel(context.Background())
	return &Source{
		cfg: cfg, be: be, cps: cps, log: log.With("source", cfg.kind),
		ctx: ctx, stop: stop,
		out:      make(chan []ingest.Message, 2*cfg.concurrency),
		failed:   make(chan struct{}),
		states:   map[string]*objState{},
		finished: map[string]string{},
		pending:  map[string]timeline.Checkpoint{},
		prog:     newProgress(cfg.kind, cfg.progress, cfg.progressInterval, !cfg.follow),
	}
}

// Name implements ingest.Source: "s3" or "file".
func (s *Source) Name() string { return s.cfg.kind }

// run lists and reads until the input ends (finite sources) or Close.
func (s *Source) run() {
	jobs := make(chan job, s.cfg.concurrency)
	var workers sync.WaitGroup
	for range s.cfg.concurrency {
		workers.Add(1)
		go func() {
			defer workers.Done()
			r := newObjectReader(s)
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
	if s.cfg.follow {
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
	err := s.be.pages(s.ctx, "", func(objs []object) error {
		return s.plan(objs, func(o object, skip uint64, finished bool) error {
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
	return s.be.pages(s.ctx, "", func(objs []object) error {
		return s.plan(objs, func(o object, skip uint64, finished bool) error {
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
	startAfter := s.cfg.startAfter
	for {
		maxKey := ""
		err := s.be.pages(s.ctx, startAfter, func(objs []object) error {
			maxKey = objs[len(objs)-1].Key
			return s.plan(objs, func(o object, skip uint64, finished bool) error {
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
			if next := s.be.lookback(maxKey, s.cfg.lookback); next > startAfter {
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
		case <-time.After(s.cfg.pollInterval):
		}
	}
}

// plan decides, for one listed page, what each object of this shard needs,
// from its checkpoint: nothing (finished with the same ETag), a resume after
// the acknowledged lines, or a read from line 1 (new, or its ETag changed).
func (s *Source) plan(objs []object, fn func(o object, skip uint64, finished bool) error) error {
	mine := objs[:0:0]
	for _, o := range objs {
		if s.cfg.shard.Owns(o.Key) {
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
			s.log.Info("object changed since its checkpoint: reading it again from line 1 (duplicates collapse by _document_id)",
				"key", o.Key, "old_etag", cp.ETag, "etag", o.ETag, "old_state", string(cp.State))
		}
		if err := fn(o, skip, false); err != nil {
			return err
		}
	}
	return nil
}

// readCheckpoints reads the checkpoints of a key range, retrying while
// ClickHouse is unreachable.
func (s *Source) readCheckpoints(from, to string) (map[string]timeline.Checkpoint, error) {
	var cps map[string]timeline.Checkpoint
	warned := false
	err := retry(s.ctx, func() error {
		var err error
		cps, err = s.cps.Checkpoints(s.ctx, s.cfg.source, from, to)
		if err != nil && !warned && s.ctx.Err() == nil {
			warned = true
			s.log.Warn("reading checkpoints from ClickHouse failed; retrying", "err", err)
		}
		return err
	})
	return cps, err
}

func (s *Source) dispatch(jobs chan<- job, o object, skip uint64) error {
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
				return ingest.Message{}, errors.New("s3src: source closed")
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
			Source: s.cfg.source, Key: st.obj.Key, ETag: st.obj.ETag, Size: uint64(max(st.obj.Size, 0)),
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
			if s.cfg.follow {
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
func (s *Source) opened(o object) {
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

// retry runs fn with exponential backoff (100 ms to 30 s) until it
// succeeds, returns a *fatalError, or ctx ends.
func retry(ctx context.Context, fn func() error) error {
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval = 100 * time.Millisecond
	bo.MaxInterval = 30 * time.Second
	bo.MaxElapsedTime = 0
	return backoff.Retry(func() error {
		err := fn()
		var fe *fatalError
		if err != nil && (errors.As(err, &fe) || ctx.Err() != nil) {
			return backoff.Permanent(err)
		}
		return err
	}, backoff.WithContext(bo, ctx))
}
