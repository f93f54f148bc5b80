package objsrc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/seatline/seatline/internal/ingest"
	"github.com/seatline/seatline/internal/records"
)

const (
	// A chunk is what a reader hands to Next at once: up to chunkMessages
	// records or chunkBytes of one object, or whatever it holds chunkAge
	// after its first record. With 2×concurrency chunks queued and one
	// filling per reader, memory stays bounded whatever the size of the
	// objects.
	chunkMessages = 256
	chunkBytes    = 1 << 20
	chunkAge      = 50 * time.Millisecond
)

// reader reads objects one after another (one per worker goroutine) with
// its own records decoder.
type reader struct {
	s    *Source
	dec  *records.Decoder
	slab records.Slab
}

// read reads one object: every record after j.skip becomes a message, in
// order. It returns only when the object is finished (its last message is
// handed over), the source is closing, or on a fatal error. A failed
// download is read again, skipping the records already handed over.
func (r *reader) read(ctx context.Context, j job) error {
	s := r.s
	o := j.obj
	em := &emitter{s: s, key: o.Key}
	skip := j.skip
	var consumed uint64 // the last record handed over by this run
	first := true
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval, bo.MaxInterval, bo.MaxElapsedTime = 200*time.Millisecond, 30*time.Second, 0
	failures := 0
	for {
		body, got, err := s.be.Open(ctx, o)
		if err == nil && !first && got.ETag != o.ETag {
			body.Close()
			s.log.Warn("object replaced while it was being read: finishing the old version; the next run reads the new one",
				"key", o.Key, "etag", o.ETag, "new_etag", got.ETag)
			return em.finish(ctx, max(skip, consumed), "")
		}
		var failed error
		switch {
		case err == nil:
			if first {
				first = false
				if got.ETag != o.ETag && skip > 0 {
					s.log.Info("object changed since it was listed: reading it from its first record", "key", o.Key, "etag", got.ETag)
					skip = 0
				}
				o = got
				s.opened(o)
			}
			in := &download{r: body, size: o.Size, total: &s.prog.bytesRead}
			sum, err := r.dec.Decode(in, max(skip, consumed), func(rec *records.Record) error {
				consumed = rec.Seq
				return em.add(ctx, ingest.FromRecord(o.Key, int64(rec.Seq), -1, rec, r.slab.Copy(rec.Data)))
			})
			body.Close()
			var re *records.ReadError
			switch {
			case err == nil:
				if sum.Damage != "" {
					s.log.Warn("damaged object: what could be read is stored, the rest is dead letters", "key", o.Key, "records", sum.Records, "damage", sum.Damage)
				}
				return em.finish(ctx, sum.Records, sum.Damage)
			case ctx.Err() != nil:
				return ctx.Err()
			case errors.As(err, &re):
				failed = err
			default:
				return err
			}
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.As(err, new(*FatalError)):
			return err
		case errors.Is(err, ErrVanished):
			s.log.Warn("object listed but gone when read: recorded as a dead letter", "key", o.Key)
			return em.fail(ctx, max(skip, consumed), fmt.Errorf("object %s was listed but no longer exists when read", o.Key))
		default:
			failed = err
		}
		failures++
		if failures == 1 || failures%10 == 0 {
			s.log.Warn("reading object failed; retrying", "key", o.Key, "attempt", failures, "records_read", consumed, "err", failed)
		}
		if s.opts.ReadAttempts > 0 && failures >= s.opts.ReadAttempts {
			return em.fail(ctx, max(skip, consumed), fmt.Errorf("reading %s failed %d times: %w", o.Key, failures, failed))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(bo.NextBackOff()):
		}
	}
}

// download is an object's body: it counts bytes for progress and turns a
// body that ends before the object's size into an error, so a cut download
// is read again rather than taken for a truncated object.
type download struct {
	r     io.Reader
	n     int64
	size  int64 // -1: unknown
	total *atomic.Int64
}

var errShortBody = errors.New("the download ended before the object did")

func (d *download) Read(p []byte) (int, error) {
	n, err := d.r.Read(p)
	d.n += int64(n)
	d.total.Add(int64(n))
	if err == io.EOF && d.size >= 0 && d.n < d.size {
		return n, fmt.Errorf("%w (after %d of %d bytes)", errShortBody, d.n, d.size)
	}
	return n, err
}

// emitter hands one object's messages to Next in chunks. It holds back the
// latest message until the next one is read or the object ends, so the
// object's last message is known as last before anyone can commit it.
type emitter struct {
	s       *Source
	key     string
	chunk   []ingest.Message
	bytes   int
	started time.Time
	pending ingest.Message
	has     bool
}

func (e *emitter) add(ctx context.Context, m ingest.Message) error {
	if e.has {
		if err := e.push(ctx, e.pending); err != nil {
			return err
		}
	}
	e.pending, e.has = m, true
	return nil
}

func (e *emitter) push(ctx context.Context, m ingest.Message) error {
	if len(e.chunk) == 0 {
		e.chunk = make([]ingest.Message, 0, chunkMessages)
		e.started = time.Now()
	}
	e.chunk = append(e.chunk, m)
	e.bytes += len(m.Data)
	if len(e.chunk) >= chunkMessages || e.bytes >= chunkBytes || (len(e.chunk)%16 == 0 && time.Since(e.started) >= chunkAge) {
		return e.flush(ctx)
	}
	return nil
}

func (e *emitter) flush(ctx context.Context) error {
	if len(e.chunk) == 0 {
		return nil
	}
	select {
	case e.s.out <- e.chunk:
	case <-ctx.Done():
		return ctx.Err()
	}
	e.chunk, e.bytes = nil, 0
	return nil
}

// finish ends the object after its records (the last Seq is records):
// its last message is the held-back one; an object that gave no message in
// this run (empty, only noise, or every record already stored) gets a bare
// position at records, so committing it checkpoints the object. damage,
// when set, checkpoints it as error.
func (e *emitter) finish(ctx context.Context, records uint64, damage string) error {
	if !e.has {
		e.pending, e.has = ingest.Message{Stream: e.key, Offset: int64(records), Unit: -1, Loc: recordsLoc(records)}, true
	}
	e.s.setFinal(e.key, e.pending.Offset, records, damage)
	if err := e.push(ctx, e.pending); err != nil {
		return err
	}
	e.has = false
	return e.flush(ctx)
}

// fail ends the object with a dead letter of the source's own (it vanished,
// or could not be read): the object is checkpointed as error after the
// records stored before.
func (e *emitter) fail(ctx context.Context, records uint64, f error) error {
	if e.has {
		if err := e.push(ctx, e.pending); err != nil {
			return err
		}
		e.has = false
	}
	m := ingest.Message{Stream: e.key, Offset: int64(records + 1), Unit: -1, Loc: recordsLoc(0), Fault: f}
	e.s.setFinal(e.key, m.Offset, records, f.Error())
	if err := e.push(ctx, m); err != nil {
		return err
	}
	return e.flush(ctx)
}

// recordsLoc places a bare position: line 0 names the object itself.
func recordsLoc(seq uint64) records.Loc { return records.Loc{Seq: seq, Index: -1} }
