package records

import (
	"bufio"
	"compress/bzip2"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// inflater decompresses a unit and says which of its output is trustworthy:
// a decompressor hands out data before it has seen the checksum that covers
// it, so output counts only once verified() says so.
type inflater interface {
	io.Reader
	// verified: every byte returned so far passed its checksum.
	verified() bool
	// where describes, for a message, the place of the damage.
	where() string
}

// damage is content that cannot be read: a failed checksum, a truncated
// stream, garbage where a member should start. It is the unit's fault, so
// reading it again will not help (unlike a *ReadError).
type damage struct {
	what string // "gzip member at byte offset 120"
	err  error
}

func (d *damage) Error() string {
	switch {
	case errors.Is(d.err, io.ErrUnexpectedEOF):
		return "truncated " + d.what + ": the data ends before the stream does"
	case errors.Is(d.err, gzip.ErrChecksum), errors.Is(d.err, zstd.ErrCRCMismatch):
		return d.what + " failed its checksum: its content cannot be trusted"
	}
	return "corrupt " + d.what + ": " + d.err.Error()
}

// gzipMembers reads concatenated gzip members (gzip -c a b > ab) one at a
// time, so that each member's output is verified by its own CRC-32 and
// length before it counts.
type gzipMembers struct {
	zr     *gzip.Reader
	br     *bufio.Reader // the unit's raw bytes (gzip needs a ByteReader)
	raw    *rawReader
	start  int64 // raw offset where the current member starts
	out    int64 // bytes returned
	okOut  int64 // of them, in members that verified
	ended  bool  // the last read ended a member
	broken error
}

func (g *gzipMembers) reset(zr *gzip.Reader, br *bufio.Reader, raw *rawReader) error {
	*g = gzipMembers{zr: zr, br: br, raw: raw}
	if err := zr.Reset(br); err != nil {
		return g.fail(err)
	}
	zr.Multistream(false)
	return nil
}

func (g *gzipMembers) verified() bool { return g.okOut == g.out }
func (g *gzipMembers) where() string {
	return fmt.Sprintf("gzip member at byte offset %d", g.start)
}

func (g *gzipMembers) fail(err error) error {
	if g.raw.err != nil { // the download failed, not the content
		return g.raw.readError()
	}
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	g.broken = &damage{what: g.where(), err: err}
	return g.broken
}

// Read never returns bytes of two members at once: after the read that
// ends a member, verified() covers everything returned, so the caller can
// release what it framed before the next member's bytes arrive.
func (g *gzipMembers) Read(p []byte) (int, error) {
	if g.broken != nil {
		return 0, g.broken
	}
	if g.ended {
		// The last read ended a member: is there another?
		if _, err := g.br.Peek(1); err != nil {
			if err == io.EOF && g.raw.err == nil {
				return 0, io.EOF
			}
			return 0, g.raw.readError()
		}
		g.start = g.raw.n - int64(g.br.Buffered())
		if err := g.zr.Reset(g.br); err != nil {
			return 0, g.fail(err)
		}
		g.zr.Multistream(false)
		g.ended = false
	}
	n, err := g.zr.Read(p)
	g.out += int64(n)
	switch {
	case err == io.EOF: // the member ended and its CRC-32 and length matched
		g.okOut, g.ended = g.out, true
		return n, nil
	case err != nil:
		return n, g.fail(err)
	}
	return n, nil
}

// wholeStream is a zstd or bzip2 stream: their checksums are checked as
// the stream ends, so nothing counts as verified before then.
type wholeStream struct {
	r      io.Reader
	raw    *rawReader
	name   string
	done   bool
	broken error
}

func (w *wholeStream) verified() bool { return w.done }
func (w *wholeStream) where() string  { return w.name + " stream" }

func (w *wholeStream) Read(p []byte) (n int, err error) {
	if w.broken != nil {
		return 0, w.broken
	}
	defer func() {
		// compress/bzip2 panics on some corrupt input it cannot describe.
		if r := recover(); r != nil {
			n, err = 0, &damage{what: w.where(), err: fmt.Errorf("%v", r)}
			w.broken = err
		}
	}()
	n, err = w.r.Read(p)
	switch {
	case err == nil:
	case err == io.EOF && w.raw.err == nil:
		w.done = true
	case w.raw.err != nil:
		err = w.raw.readError()
	default:
		w.broken = &damage{what: w.where(), err: err}
		err = w.broken
	}
	return n, err
}

// decompressors are made once per Decoder and reset for each unit.
type decompressors struct {
	gz      *gzip.Reader
	members gzipMembers
	zs      *zstd.Decoder
}

// open starts decompressing br (the unit's raw bytes) with c.
func (d *decompressors) open(c codec, br *bufio.Reader, raw *rawReader) (inflater, error) {
	switch c {
	case codecGzip:
		if d.gz == nil {
			d.gz = new(gzip.Reader)
		}
		if err := d.members.reset(d.gz, br, raw); err != nil {
			return nil, err
		}
		return &d.members, nil
	case codecZstd:
		if d.zs == nil {
			var err error
			// One goroutine, low memory, a 64 MiB window at most: a
			// hostile frame cannot make the decoder allocate gigabytes.
			d.zs, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
				zstd.WithDecoderMaxWindow(64<<20), zstd.WithDecoderMaxMemory(1<<30))
			if err != nil {
				return nil, err
			}
		}
		if err := d.zs.Reset(br); err != nil {
			return nil, &damage{what: "zstd stream", err: err}
		}
		return &wholeStream{r: d.zs, raw: raw, name: "zstd"}, nil
	case codecBzip2:
		return &wholeStream{r: bzip2.NewReader(br), raw: raw, name: "bzip2"}, nil
	}
	panic("records: no decompressor for " + c.String())
}

// rawReader counts a unit's bytes and keeps the error that ended them: an
// error of the source (a broken download) as opposed to bad content.
type rawReader struct {
	r   io.Reader
	n   int64
	err error
}

func (r *rawReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.n += int64(n)
	if err != nil && err != io.EOF && r.err == nil {
		r.err = err
	}
	return n, err
}

func (r *rawReader) readError() error { return &ReadError{Offset: r.n, Err: r.err} }

// ReadError is a failure of the source while reading a unit (a download
// cut short): reading the unit again may succeed. The records before it
// that were emitted stay emitted.
type ReadError struct {
	Offset int64 // bytes of the unit read before the failure
	Err    error
}

func (e *ReadError) Error() string {
	return fmt.Sprintf("reading failed after %d bytes: %v", e.Offset, e.Err)
}
func (e *ReadError) Unwrap() error { return e.Err }
