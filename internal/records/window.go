package records

import (
	"crypto/sha256"
	"hash"
	"io"
)

// text is a unit's decoded text, seen through a window: buf[lo:hi] is
// what has been read and not yet framed. For an in-memory unit buf is the
// whole text and r is nil.
type text struct {
	r      io.Reader
	buf    []byte
	lo, hi int
	end    bool   // nothing more will come
	err    error  // what ended the text, when not a clean end (*damage, *ReadError)
	read   func() // called after every read (integrity bookkeeping)
	offset int64  // text bytes read before buf[0]
}

func (t *text) resetBytes(b []byte) {
	*t = text{buf: b, hi: len(b), end: true}
}

func (t *text) resetReader(r io.Reader, buf []byte, read func()) {
	*t = text{r: r, buf: buf, read: read}
}

// pos is the text offset of buf[i].
func (t *text) pos(i int) int64 { return t.offset + int64(i) }

// fill reads more text. Everything before buf[keep] is dropped (the
// framer has taken it), so the window never grows; indices move down by
// the returned shift. ok is false when the text has ended.
func (t *text) fill(keep int) (shift int, ok bool) {
	if t.end {
		return 0, false
	}
	if keep > 0 {
		t.hi = copy(t.buf, t.buf[keep:t.hi])
		t.lo = max(t.lo-keep, 0)
		t.offset += int64(keep)
		shift = keep
	}
	for {
		n, err := t.r.Read(t.buf[t.hi:])
		t.hi += n
		if err != nil {
			t.end = true
			if err != io.EOF {
				t.err = err
			}
		}
		if t.read != nil {
			t.read()
		}
		if n > 0 || t.end {
			return shift, n > 0
		}
	}
}

// piece collects a record that does not fit the window in one go. It
// keeps the record's first bytes (enough for the record within the limit,
// or a dead letter's MaxKept) and streams all of it through SHA-256, so an
// oversize record of any length costs no memory. Records that span reads
// are rare (one per window at most), so hashing them all costs nothing.
type piece struct {
	limit  int
	buf    []byte
	n      int64 // bytes added
	last   int64 // offset of the last non-space byte, or -1
	h      hash.Hash
	trail  []byte // whitespace after the last non-space byte: not hashed unless more follows
	hashed int64
}

// maxTrail bounds the whitespace held back from the hash. A record with
// more than this much whitespace in one run hashes it as content: input
// nobody writes, kept bounded rather than exact.
const maxTrail = 1 << 20

func (p *piece) reset(limit int) {
	p.limit, p.buf, p.n, p.last, p.trail, p.hashed = limit, p.buf[:0], 0, -1, p.trail[:0], 0
}

func (p *piece) add(b []byte) {
	if p.n == 0 { // the hash is set up only for records that need a piece
		if p.h == nil {
			p.h = sha256.New()
		}
		p.h.Reset()
	}
	if room := max(p.limit, MaxKept) - len(p.buf); room > 0 {
		p.buf = append(p.buf, b[:min(room, len(b))]...)
	}
	j := lastNonSpace(b)
	if j < 0 && len(p.trail)+len(b) <= maxTrail {
		p.trail = append(p.trail, b...)
		p.n += int64(len(b))
		return
	}
	if j < 0 {
		j = len(b) - 1
	}
	p.h.Write(p.trail)
	p.h.Write(b[:j+1])
	p.hashed += int64(len(p.trail) + j + 1)
	p.last = p.n + int64(j)
	p.trail = append(p.trail[:0], b[j+1:]...)
	p.n += int64(len(b))
}

// over: a non-space byte lies beyond the limit.
func (p *piece) over() bool { return p.last >= int64(p.limit) }

// span is one framed record, before the checks of the decoder.
type span struct {
	data   []byte // the record (trimmed); oversize: its first MaxKept bytes
	length int64  // the whole (trimmed) record's length
	over   bool
	sum    [32]byte // over: SHA-256 of the whole record
	line   int64
	index  int
	depth  int    // deepest nesting seen, or -1 when not scanned
	end    int64  // text offset just past the record
	cut    bool   // the text ended in damage inside this record
	fault  string // the framing itself found this record bad (an empty element, an unclosed array)
}

// whole makes the span of a record that lies in one slice.
func (s *span) whole(b []byte, limit int) {
	b = trimSpace(b)
	s.length = int64(len(b))
	s.over = len(b) > limit
	if s.over {
		s.sum = sha256.Sum256(b)
		b = b[:min(len(b), MaxKept)]
	}
	s.data = b
}

// finish makes the span of a record collected in p.
func (s *span) finish(p *piece) {
	if !p.over() {
		s.data = p.buf[:p.last+1]
		s.length = int64(len(s.data))
		s.over = false
		return
	}
	p.h.Sum(s.sum[:0])
	s.length = p.hashed
	s.over = true
	s.data = p.buf[:min(int64(len(p.buf)), MaxKept, p.hashed)]
}

func isSpace(c byte) bool { return c == ' ' || c == '\n' || c == '\r' || c == '\t' }

func lastNonSpace(b []byte) int {
	for j := len(b) - 1; j >= 0; j-- {
		if !isSpace(b[j]) {
			return j
		}
	}
	return -1
}

func trimRightSpace(b []byte) []byte { return b[:lastNonSpace(b)+1] }

func trimSpace(b []byte) []byte {
	i := 0
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return trimRightSpace(b[i:])
}
