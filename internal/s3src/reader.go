package s3src

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/seatline/seatline/internal/ingest"
	"github.com/seatline/seatline/internal/timeline"
	"github.com/seatline/seatline/pkg/events"
)

const (
	// A chunk is what a reader hands to Next at once: up to chunkMessages
	// lines or chunkBytes of one object, or whatever it holds chunkAge after
	// its first line. With 2×concurrency chunks queued and one filling per
	// reader, memory stays bounded whatever the size of the objects.
	chunkMessages = 256
	chunkBytes    = 1 << 20
	chunkAge      = 50 * time.Millisecond

	slabSize = 256 << 10 // lines are copied into slabs that are never reused
)

// objectReader reads objects one after another (one per worker goroutine),
// reusing its buffers and decompressor.
type objectReader struct {
	s       *Source
	raw     *bufio.Reader // over the object's bytes: gzip reads it byte-exactly
	lines   *bufio.Reader // over the decompressed stream
	zr      *gzip.Reader
	member  int64  // offset in the object where the current gzip member starts
	scratch []byte // a line longer than the lines buffer
	slab    []byte
}

func newObjectReader(s *Source) *objectReader {
	return &objectReader{
		s:     s,
		raw:   bufio.NewReaderSize(nil, 64<<10),
		lines: bufio.NewReaderSize(nil, 256<<10),
	}
}

// outcome of one pass over an object's bytes.
type outcome int

const (
	outEOF       outcome = iota // read to its end
	outTransient                // the download failed: read it again
	outDamaged                  // the content is bad from here on
	outCanceled
)

type scanResult struct {
	kind    outcome
	err     error  // outTransient: why
	fault   error  // outDamaged: the dead letter's error
	partial []byte // outDamaged: the bytes of the damaged line, if any
	lines   uint64 // complete lines (or array elements) before the end or damage
}

// read reads one object: every line after j.skip becomes a message, in
// order. It returns only when the object is finished (its last message is
// handed over), the source is closing, or on a fatal error.
func (r *objectReader) read(ctx context.Context, j job) error {
	s := r.s
	o := j.obj
	em := &emitter{r: r, key: o.Key}
	skip := j.skip
	var consumed uint64 // the highest line handled by this run
	first := true
	bo := newReadBackoff()
	failures := 0
	for {
		body, got, err := s.be.open(ctx, o)
		if err == nil && !first && got.ETag != o.ETag {
			body.Close()
			s.log.Warn("object replaced while it was being read: finishing the old version; the next run reads the new one",
				"key", o.Key, "etag", o.ETag, "new_etag", got.ETag)
			return em.finish(ctx, max(skip, consumed), nil, "")
		}
		var res scanResult
		switch {
		case err == nil:
			if first {
				first = false
				if got.ETag != o.ETag && skip > 0 {
					s.log.Info("object changed since it was listed: reading it from line 1", "key", o.Key, "etag", got.ETag)
					skip = 0
				}
				o = got
				s.opened(o)
			}
			res = r.scan(ctx, body, o, max(skip, consumed), &consumed, em)
			body.Close()
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.As(err, new(*fatalError)):
			return err
		case errors.Is(err, errVanished):
			s.log.Warn("object listed but gone when read: recorded as a dead letter", "key", o.Key)
			n := max(skip, consumed)
			f := fmt.Errorf("object %s was listed but no longer exists when read", o.Key)
			return em.finish(ctx, n, &ingest.Message{Stream: o.Key, Offset: int64(n + 1), Fault: f}, f.Error())
		default:
			res = scanResult{kind: outTransient, err: err}
		}
		switch res.kind {
		case outEOF:
			return em.finish(ctx, max(skip, consumed, res.lines), nil, "")
		case outCanceled:
			return ctx.Err()
		case outDamaged:
			n := max(skip, consumed, res.lines)
			s.log.Warn("damaged object: the lines before the damage are stored, the damage is a dead letter",
				"key", o.Key, "lines", n, "err", res.fault)
			msg := &ingest.Message{Stream: o.Key, Offset: int64(n + 1), Payload: res.partial, Fault: res.fault}
			return em.finish(ctx, n, msg, res.fault.Error())
		}
		// Transient: read it again, skipping what this run has handled.
		failures++
		if failures == 1 || failures%10 == 0 {
			s.log.Warn("reading object failed; retrying", "key", o.Key, "attempt", failures, "lines_read", consumed, "err", res.err)
		}
		if s.cfg.readAttempts > 0 && failures >= s.cfg.readAttempts {
			n := max(skip, consumed)
			f := fmt.Errorf("reading %s failed %d times: %w", o.Key, failures, res.err)
			return em.finish(ctx, n, &ingest.Message{Stream: o.Key, Offset: int64(n + 1), Fault: f}, f.Error())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(bo.NextBackOff()):
		}
	}
}

// scan reads an object's bytes once: gzip or not (by its magic bytes), NDJSON
// lines or a JSON array (by its first character). Lines up to from are
// skipped; *consumed follows the lines handled.
func (r *objectReader) scan(ctx context.Context, body io.Reader, o object, from uint64, consumed *uint64, em *emitter) scanResult {
	cr := &countingReader{r: body, total: &r.s.prog.bytesRead}
	r.raw.Reset(cr)
	head, _ := r.raw.Peek(2)
	gz := len(head) == 2 && head[0] == 0x1f && head[1] == 0x8b
	var stream io.Reader = r.raw
	r.member = 0
	if gz {
		var err error
		if r.zr == nil {
			r.zr, err = gzip.NewReader(r.raw)
		} else {
			err = r.zr.Reset(r.raw)
		}
		if err != nil {
			return r.streamFailed(ctx, cr, o, gz, err, nil, 0)
		}
		r.zr.Multistream(false)
		stream = &members{r: r, cr: cr}
	}
	er := &errReader{r: stream}
	r.lines.Reset(er)
	// A UTF-8 byte order mark is not part of the first line.
	if b, _ := r.lines.Peek(3); bytes.Equal(b, []byte{0xef, 0xbb, 0xbf}) {
		_, _ = r.lines.Discard(3)
	}
	if isJSONArray(r.lines) {
		return r.scanArray(ctx, cr, er, o, gz, from, consumed, em)
	}
	limit := r.s.cfg.maxLineBytes
	var no uint64
	for {
		line, n, err := r.readLine(limit)
		if err == io.EOF {
			return scanResult{kind: outEOF, lines: no}
		}
		if err != nil {
			return r.streamFailed(ctx, cr, o, gz, err, append([]byte(nil), line...), no)
		}
		no++
		if no <= from {
			continue
		}
		*consumed = no
		if n > limit {
			f := &events.InvalidError{Reason: events.ReasonOversize,
				Detail: fmt.Sprintf("line of %d bytes exceeds the limit of %d (max-event-bytes)", n, limit)}
			keep := line[:min(len(line), timeline.MaxDeadLetterRaw)]
			if err := em.add(ctx, ingest.Message{Stream: o.Key, Offset: int64(no), Payload: append([]byte(nil), keep...), Fault: f}); err != nil {
				return scanResult{kind: outCanceled}
			}
			continue
		}
		t := bytes.TrimSpace(line)
		if len(t) == 0 {
			continue
		}
		if !events.MaybeSeatEvent(t) {
			// The pipeline's own byte pre-filter, run here so that the 98% of
			// an audit stream that is not Copilot is never copied or queued.
			em.filtered++
			continue
		}
		if err := em.add(ctx, ingest.Message{Stream: o.Key, Offset: int64(no), Payload: r.copy(t)}); err != nil {
			return scanResult{kind: outCanceled}
		}
	}
}

// scanArray reads a JSON-array file (GitHub's audit-log export) element by
// element; Offset is the element's number. A further top-level value (an
// object or another array) continues the numbering.
func (r *objectReader) scanArray(ctx context.Context, cr *countingReader, er *errReader, o object, gz bool, from uint64, consumed *uint64, em *emitter) scanResult {
	dec := json.NewDecoder(r.lines)
	limit := r.s.cfg.maxLineBytes
	var no uint64
	elem := func(raw []byte) error {
		no++
		if no <= from {
			return nil
		}
		*consumed = no
		if len(raw) > limit {
			f := &events.InvalidError{Reason: events.ReasonOversize,
				Detail: fmt.Sprintf("JSON-array element of %d bytes exceeds the limit of %d (max-event-bytes)", len(raw), limit)}
			return em.add(ctx, ingest.Message{Stream: o.Key, Offset: int64(no), Payload: raw[:min(len(raw), timeline.MaxDeadLetterRaw)], Fault: f})
		}
		if !events.MaybeSeatEvent(raw) {
			em.filtered++
			return nil
		}
		return em.add(ctx, ingest.Message{Stream: o.Key, Offset: int64(no), Payload: raw})
	}
	bad := func(err error) scanResult {
		if er.err != nil { // the bytes underneath failed, not the JSON
			return r.streamFailed(ctx, cr, o, gz, er.err, nil, no)
		}
		if ctx.Err() != nil {
			return scanResult{kind: outCanceled}
		}
		detail := fmt.Sprintf("JSON array: element %d: %v", no+1, err)
		if errors.Is(err, io.ErrUnexpectedEOF) {
			detail = fmt.Sprintf("JSON array ends inside element %d (truncated file)", no+1)
		}
		return scanResult{kind: outDamaged, lines: no, fault: &events.InvalidError{Reason: events.ReasonMalformedBatch, Detail: detail}}
	}
	if _, err := dec.Token(); err != nil { // '['
		return bad(err)
	}
	for dec.More() {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return bad(err)
		}
		if err := elem(raw); err != nil {
			return scanResult{kind: outCanceled}
		}
	}
	if _, err := dec.Token(); err != nil { // ']'
		return bad(err)
	}
	for dec.More() { // rare: more top-level values after the array
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return bad(err)
		}
		var elems []json.RawMessage
		if raw[0] != '[' {
			elems = []json.RawMessage{raw}
		} else if err := json.Unmarshal(raw, &elems); err != nil {
			return bad(err)
		}
		for _, e := range elems {
			if err := elem(e); err != nil {
				return scanResult{kind: outCanceled}
			}
		}
	}
	if tok, err := dec.Token(); err != io.EOF {
		if err == nil {
			err = fmt.Errorf("unexpected %v after the array", tok)
		}
		return bad(err)
	}
	return scanResult{kind: outEOF, lines: no}
}

// isJSONArray reports whether the stream's first non-blank byte is '['.
func isJSONArray(br *bufio.Reader) bool {
	for n := 64; n <= 4096; n *= 4 {
		b, _ := br.Peek(n)
		for _, c := range b {
			switch c {
			case ' ', '\t', '\r', '\n':
				continue
			case '[':
				return true
			default:
				return false
			}
		}
		if len(b) < n {
			return false
		}
	}
	return false
}

// streamFailed classifies a failure of the object's byte stream. If the
// download itself failed or ended short, it is transient. Otherwise the
// bytes are all there and bad: a truncated or corrupt gzip stream, reported
// with the byte offset in the object where the damage was found.
func (r *objectReader) streamFailed(ctx context.Context, cr *countingReader, o object, gz bool, err error, partial []byte, lines uint64) scanResult {
	if ctx.Err() != nil {
		return scanResult{kind: outCanceled}
	}
	if cr.err != nil || !gz || (cr.eof && o.Size >= 0 && cr.n < o.Size) {
		if cr.err != nil {
			err = cr.err
		}
		return scanResult{kind: outTransient, err: fmt.Errorf("%w (after %d of %d bytes)", err, cr.n, o.Size)}
	}
	offset := cr.n - int64(r.raw.Buffered())
	if errors.Is(err, gzip.ErrHeader) {
		offset = r.member // not a gzip member where one should start
	}
	var f *events.InvalidError
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		f = &events.InvalidError{Reason: events.ReasonCorruptObject,
			Detail: fmt.Sprintf("truncated gzip at byte offset %d (object of %d bytes; %d lines before the damage)", offset, o.Size, lines)}
	} else {
		f = &events.InvalidError{Reason: events.ReasonCorruptObject,
			Detail: fmt.Sprintf("corrupt gzip at byte offset %d (object of %d bytes; %d lines before the damage): %v", offset, o.Size, lines, err)}
	}
	if len(partial) > timeline.MaxDeadLetterRaw {
		partial = partial[:timeline.MaxDeadLetterRaw]
	}
	return scanResult{kind: outDamaged, fault: f, partial: partial, lines: lines}
}

// readLine returns the next line without its newline and the line's full
// length. A line longer than max is returned cut (its length tells). At a
// clean end it returns io.EOF; a failure returns the partial line and the
// error. The line is valid until the next call.
func (r *objectReader) readLine(limit int) ([]byte, int, error) {
	frag, err := r.lines.ReadSlice('\n')
	if err == nil {
		return frag[:len(frag)-1], len(frag) - 1, nil
	}
	if err == io.EOF && len(frag) == 0 {
		return nil, 0, io.EOF
	}
	buf := append(r.scratch[:0], frag...)
	n := len(frag)
	for err == bufio.ErrBufferFull {
		frag, err = r.lines.ReadSlice('\n')
		n += len(frag)
		if room := limit + 1 - len(buf); room > 0 {
			buf = append(buf, frag[:min(room, len(frag))]...)
		}
	}
	if cap(buf) <= 4<<20 {
		r.scratch = buf
	}
	switch {
	case err == nil:
		n-- // the newline
		if len(buf) > n {
			buf = buf[:n]
		}
		return buf, n, nil
	case err == io.EOF: // a last line without a newline
		return buf, n, nil
	}
	return buf, n, err
}

// copy places b in the current slab. Slabs are never reused, so a payload
// stays valid however long the pipeline keeps it.
func (r *objectReader) copy(b []byte) []byte {
	if len(b) > slabSize/4 {
		return append([]byte(nil), b...)
	}
	if cap(r.slab)-len(r.slab) < len(b) {
		r.slab = make([]byte, 0, slabSize)
	}
	start := len(r.slab)
	r.slab = append(r.slab, b...)
	return r.slab[start:len(r.slab):len(r.slab)]
}

// emitter hands one object's messages to Next in chunks. It holds back the
// latest message until the next one is read or the object ends, so the
// object's last message is known as last before anyone can commit it.
type emitter struct {
	r        *objectReader
	key      string
	chunk    []ingest.Message
	bytes    int
	events   int64
	filtered int64 // lines dropped by the byte pre-filter since the last flush
	started  time.Time
	pending  ingest.Message
	has      bool
}

func (e *emitter) add(ctx context.Context, m ingest.Message) error {
	if e.has {
		if err := e.push(ctx, e.pending); err != nil {
			return err
		}
	}
	e.pending, e.has = m, true
	if e.filtered >= 4096 {
		e.countFiltered()
	}
	return nil
}

// countFiltered reports the lines the pre-filter dropped: they count as
// read (progress) and as read and filtered (the pipeline's metrics).
func (e *emitter) countFiltered() {
	if e.filtered == 0 {
		return
	}
	s := e.r.s
	s.prog.events.Add(e.filtered)
	if s.cfg.filtered != nil {
		s.cfg.filtered(e.filtered)
	}
	e.filtered = 0
}

func (e *emitter) push(ctx context.Context, m ingest.Message) error {
	if len(e.chunk) == 0 {
		e.chunk = make([]ingest.Message, 0, chunkMessages)
		e.started = time.Now()
	}
	e.chunk = append(e.chunk, m)
	e.bytes += len(m.Payload)
	if m.Payload != nil || m.Fault != nil {
		e.events++
	}
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
	case e.r.s.out <- e.chunk:
	case <-ctx.Done():
		return ctx.Err()
	}
	e.r.s.prog.events.Add(e.events)
	e.chunk, e.bytes, e.events = nil, 0, 0
	return nil
}

// finish ends the object: its last message is the held-back line, then the
// fault if it is damaged; an object that gave no message in this run (empty,
// blank, or every line already stored) gets an empty marker message at
// offset lines, so committing it checkpoints the object as done.
func (e *emitter) finish(ctx context.Context, lines uint64, fault *ingest.Message, detail string) error {
	if !e.has && fault == nil {
		e.pending, e.has = ingest.Message{Stream: e.key, Offset: int64(lines)}, true
	}
	final := e.pending.Offset
	if fault != nil {
		final = fault.Offset
	}
	e.r.s.setFinal(e.key, final, lines, detail)
	if e.has {
		if err := e.push(ctx, e.pending); err != nil {
			return err
		}
		e.has = false
	}
	if fault != nil {
		if err := e.push(ctx, *fault); err != nil {
			return err
		}
	}
	e.countFiltered()
	return e.flush(ctx)
}

// members reads concatenated gzip members (as gzip -c a b does) one at a
// time, so a bad member is reported at the offset where it starts.
type members struct {
	r  *objectReader
	cr *countingReader
}

func (m *members) Read(p []byte) (int, error) {
	for {
		n, err := m.r.zr.Read(p)
		if err != io.EOF {
			return n, err
		}
		if _, perr := m.r.raw.Peek(1); perr != nil {
			if perr == io.EOF {
				return n, io.EOF // the last member ended cleanly
			}
			return n, perr
		}
		m.r.member = m.cr.n - int64(m.r.raw.Buffered())
		if err := m.r.zr.Reset(m.r.raw); err != nil {
			return n, err
		}
		m.r.zr.Multistream(false)
		if n > 0 {
			return n, nil
		}
	}
}

// countingReader counts an object's bytes and remembers how its stream
// ended: a clean EOF or a download error.
type countingReader struct {
	r     io.Reader
	n     int64
	total *atomic.Int64
	eof   bool
	err   error
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	c.total.Add(int64(n))
	if err == io.EOF {
		c.eof = true
	} else if err != nil {
		c.err = err
	}
	return n, err
}

// errReader remembers the first error (other than EOF) of a stream.
type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF && e.err == nil {
		e.err = err
	}
	return n, err
}

func newReadBackoff() interface{ NextBackOff() time.Duration } {
	return &simpleBackoff{next: 200 * time.Millisecond, max: 30 * time.Second}
}

type simpleBackoff struct{ next, max time.Duration }

func (b *simpleBackoff) NextBackOff() time.Duration {
	d := b.next
	b.next = min(2*b.next, b.max)
	return d
}
