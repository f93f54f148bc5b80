package records

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math"
	"unicode/utf8"

	"github.com/seatline/seatline/pkg/events"
)

// Decoder turns units into records. One Decoder serves one goroutine and
// reuses its buffers and decompressors from unit to unit.
type Decoder struct {
	cfg Config
	br  *bufio.Reader
	raw rawReader
	dz  decompressors
	win []byte
	t   text
	f   framer
	h   hold
	in  bytes.Reader

	// per unit
	emit       func(*Record) error
	skip, seq  uint64
	read, filt int64 // not yet reported to Counted
	filtered   uint64
	inf        inflater
	u16        *utf16Reader
	enc        encoding
	verifiedTo int64
	stopped    error // emit failed: the unit is abandoned
	damaged    string
	rec        Record
	spanFn     func(*span) // d.onSpan and d.afterRead, bound once: a method
	readFn     func()      // value made per unit would allocate per message
}

// Summary describes a unit once decoded.
type Summary struct {
	Records  uint64 // records in the unit (the last Seq), including any skipped
	Filtered uint64 // of the records after skip, those the pre-filter dropped
	// Damage is set when the unit could not be read to its end as data
	// (a failed checksum, truncation, an unsupported format or encoding):
	// an object is then checkpointed as error, with this as its detail.
	Damage string
}

// window is the streaming read size: a record longer than it is collected
// in pieces, so memory does not follow the size of the input.
const window = 256 << 10

// NewDecoder checks cfg and makes a Decoder.
func NewDecoder(cfg Config) (*Decoder, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	d := &Decoder{cfg: cfg, br: bufio.NewReaderSize(nil, 64<<10), h: hold{limit: cfg.HoldBytes, dir: cfg.TempDir}}
	d.spanFn, d.readFn = d.onSpan, d.afterRead
	return d, nil
}

var errStop = errors.New("records: stopped")

// Decode reads one unit from r and calls emit for each of its records
// after the first skip, in order (a resumed object skips what is stored).
// Records the pre-filter drops are counted, not emitted.
//
// r must report a failure of the source as an error, never as an early
// io.EOF (a download cut short is not a truncated object). Decode then
// returns a *ReadError: the records emitted so far stay emitted, and the
// unit may be read again with skip set past them. An error from emit stops
// the unit and is returned as is. Damage in the content is not an error:
// it becomes dead letters and Summary.Damage.
func (d *Decoder) Decode(r io.Reader, skip uint64, emit func(*Record) error) (Summary, error) {
	d.begin(skip, emit)
	defer d.h.close()
	d.raw = rawReader{r: r}
	d.br.Reset(&d.raw)
	head, _ := d.br.Peek(sniffLen)
	if d.raw.err != nil {
		return d.summary(), d.raw.readError()
	}
	var src io.Reader = d.br
	if m, ok := sniffMagic(head); ok {
		if m.codec == codecNone {
			return d.refused(d.refuse(events.ReasonUnsupportedFormat, m.name, nil, d.br))
		}
		inf, err := d.dz.open(m.codec, d.br, &d.raw)
		if err != nil {
			return d.openFailed(err)
		}
		d.inf, src = inf, inf
		d.verifiedTo = 0
	}
	if d.win == nil {
		d.win = make([]byte, window)
	}
	d.t.resetReader(src, d.win, d.readFn)
	for d.t.hi < sniffLen && !d.t.end {
		d.t.fill(0)
	}
	text := d.t.buf[:d.t.hi]
	if d.inf != nil {
		if m, ok := sniffMagic(text); ok {
			return d.refused(d.refuse(events.ReasonUnsupportedFormat, m.name+" inside "+d.inf.where(), text, src))
		}
	}
	d.enc = sniffEncoding(text)
	switch d.enc {
	case encUTF32:
		return d.refused(d.refuse(events.ReasonUnsupportedEncoding, "UTF-32 text", text, src))
	case encBinary:
		return d.refused(d.refuse(events.ReasonUnsupportedFormat, "binary data, not JSON text", text, src))
	case encUTF8BOM:
		d.t.lo = 3
	}
	if ok, be := d.enc.utf16(); ok {
		// The window holds the first bytes already: they go first.
		head := bytes.Clone(text[d.enc.bomLen():])
		d.u16 = newUTF16Reader(io.MultiReader(bytes.NewReader(head), src), be)
		d.t.resetReader(d.u16, d.win, d.readFn)
	}
	d.f.reset(&d.t, d.cfg.MaxBytes, d.spanFn)
	d.f.run()
	return d.finish()
}

// DecodeBytes decodes a unit held in memory (a Kafka message). Plain UTF-8
// text is framed where it lies, without a copy; anything else takes the
// streaming path, so both give the same records.
func (d *Decoder) DecodeBytes(p []byte, emit func(*Record) error) (Summary, error) {
	head := p[:min(len(p), sniffLen)]
	if _, ok := sniffMagic(head); !ok {
		enc := encUTF8
		if len(p) < 2 || p[0] != '{' || p[1] == 0 { // '{' then not NUL: UTF-8 JSON, the usual message
			enc = sniffEncoding(head)
		}
		if enc == encUTF8 && len(p) <= d.cfg.MaxBytes {
			if rec := oneObject(p); rec != nil {
				// One event per message, GitHub's streaming shape: what the
				// framer would make of it, without the framer.
				d.begin(0, emit)
				d.t.resetBytes(p)
				d.f.sp = span{data: rec, length: int64(len(rec)), line: 1, index: -1, depth: -1, end: int64(len(p))}
				d.onSpan(&d.f.sp)
				return d.finish()
			}
		}
		if enc == encUTF8 || enc == encUTF8BOM {
			d.begin(0, emit)
			defer d.h.close()
			d.t.resetBytes(p)
			d.t.lo = enc.bomLen()
			d.f.reset(&d.t, d.cfg.MaxBytes, d.spanFn)
			d.f.run()
			return d.finish()
		}
	}
	d.in.Reset(p)
	return d.Decode(&d.in, 0, emit)
}

// oneObject returns p trimmed when it is one line holding one object by
// the framer's rules (it starts with '{', its last non-space byte is '}',
// no newline but a final one), else nil.
func oneObject(p []byte) []byte {
	if len(p) == 0 || p[0] != '{' {
		return nil
	}
	if nl := bytes.IndexByte(p, '\n'); nl >= 0 && nl != len(p)-1 {
		return nil
	}
	rec := trimRightSpace(p)
	if rec[len(rec)-1] != '}' {
		return nil
	}
	return rec
}

func (d *Decoder) begin(skip uint64, emit func(*Record) error) {
	d.emit, d.skip, d.seq = emit, skip, 0
	d.filtered, d.inf, d.u16, d.enc = 0, nil, nil, encUTF8
	d.verifiedTo, d.stopped, d.damaged = math.MaxInt64, nil, ""
}

func (d *Decoder) summary() Summary {
	return Summary{Records: d.seq, Filtered: d.filtered, Damage: d.damaged}
}

// finish releases or condemns what is held, reports counts and returns.
func (d *Decoder) finish() (Summary, error) {
	switch err := d.t.err; {
	case d.stopped != nil:
	case err == nil:
		d.release()
	case isDamage(err):
		if d.damaged == "" { // not yet told by a record it cut
			d.condemn(err.(*damage), false)
		}
	default: // the source failed: what is held is read again on the retry
		d.h.close()
		d.count(true)
		if d.raw.err != nil {
			err = d.raw.readError()
		}
		return d.summary(), err
	}
	d.count(true)
	if d.stopped != nil {
		return d.summary(), d.stopped
	}
	return d.summary(), nil
}

func (d *Decoder) openFailed(err error) (Summary, error) {
	if dmg, ok := err.(*damage); ok {
		d.t.resetBytes(nil)
		d.t.err = err
		d.condemn(dmg, false)
		d.count(true)
		return d.summary(), d.stopped
	}
	return d.summary(), err
}

// isDamage: the text ended in damage (the decompressors return *damage
// itself, never wrapped).
func isDamage(err error) bool {
	_, ok := err.(*damage)
	return ok
}

// afterRead runs after every read of the text: once all of it that was
// read is verified, the records framed from it may go.
func (d *Decoder) afterRead() {
	if d.stopped != nil {
		d.t.end, d.t.err = true, errStop
		return
	}
	if d.inf != nil && d.inf.verified() && (d.u16 == nil || d.u16.settled()) {
		d.verifiedTo = d.t.pos(d.t.hi)
		d.release()
	}
}

func (d *Decoder) release() {
	if d.h.len() == 0 {
		return
	}
	if err := d.h.drain(d.send); err != nil {
		d.stop(err)
	}
}

// condemn turns what is held into dead letters: they came from content
// that failed its check. The damage itself is one more dead letter unless
// a record was cut by it (cut: that record is the damage's dead letter).
func (d *Decoder) condemn(dmg *damage, cut bool) {
	d.damaged = dmg.Error()
	why := dmg.Error() + ": this record was read from it, so it is not stored as an event"
	if err := d.h.drain(func(r *Record) {
		detail := why
		if r.Fault != nil { // unreadable, oversize, too deep: the damage comes first
			detail += "; it was also " + r.Fault.Error()
		} else {
			r.SHA256 = sha256.Sum256(r.Data)
			r.DocumentID = peekDocumentID(r.Data)
		}
		r.Fault = &events.InvalidError{Reason: events.ReasonCorruptObject, Detail: detail}
		d.send(r)
	}); err != nil {
		d.stop(err)
	}
	if cut || d.stopped != nil {
		return
	}
	d.seq++
	if d.seq <= d.skip {
		return
	}
	r := &d.rec
	*r = Record{Loc: Loc{Seq: d.seq, Line: d.f.line, Index: -1},
		Fault: &events.InvalidError{Reason: events.ReasonCorruptObject, Detail: d.damaged}, SHA256: sha256.Sum256(nil)}
	d.read++
	d.send(r)
}

// onSpan turns a framed record into a Record: checks, pre-filter, limits.
func (d *Decoder) onSpan(s *span) {
	if d.stopped != nil {
		return
	}
	d.seq++
	if d.seq <= d.skip {
		return
	}
	d.read++
	r := &d.rec
	*r = Record{Loc: Loc{Seq: d.seq, Line: s.line, Index: s.index}, Data: s.data, Length: s.length}
	switch {
	case s.cut && isDamage(d.t.err):
		// The text broke inside this record: what was held, then this.
		dmg := d.t.err.(*damage)
		d.condemn(dmg, true)
		r.Fault = &events.InvalidError{Reason: events.ReasonCorruptObject,
			Detail: dmg.Error() + " (the data ends inside this record)"}
		d.faulted(r, s)
		d.count(false)
		d.send(r)
		return
	case s.cut: // a read error: the retry frames it again
		d.seq--
		d.read--
		return
	case s.fault != "":
		r.Fault = &events.InvalidError{Reason: events.ReasonMalformedJSON, Detail: s.fault}
		d.faulted(r, s)
	case s.over:
		r.Fault = &events.InvalidError{Reason: events.ReasonOversize,
			Detail: fmt.Sprintf("%d bytes exceeds the limit of %d (max-event-bytes)", s.length, d.cfg.MaxBytes)}
		d.faulted(r, s)
	default:
		// Readable text first: the pre-filter never sees bytes that are
		// not UTF-8, so what it drops was read, not guessed at. utf8.Valid
		// runs at memory speed; the precise reason comes from unreadable.
		if !utf8.Valid(r.Data) {
			r.Fault = unreadable(r.Data)
			if ok, _ := d.enc.utf16(); ok {
				r.Fault.Detail += " (the input is " + d.enc.String() + ": an unpaired surrogate or an odd byte)"
			}
			d.faulted(r, s)
			break
		}
		if r.Data[0] == '{' && d.cfg.Keep != nil && !d.cfg.Keep(r.Data) {
			d.filtered++
			d.filt++
			d.count(false)
			return
		}
		// A record that is kept must be JSON text: no control characters.
		if bad := unreadable(r.Data); bad != nil {
			r.Fault = bad
			d.faulted(r, s)
			break
		}
		if deep(r.Data, s.depth, d.cfg.MaxDepth) {
			r.Fault = &events.InvalidError{Reason: events.ReasonTooDeep,
				Detail: fmt.Sprintf("nested deeper than %d levels (max-event-depth)", d.cfg.MaxDepth)}
			d.faulted(r, s)
		}
	}
	d.count(false)
	if d.h.len() == 0 && s.end <= d.verifiedTo {
		d.send(r)
		return
	}
	if err := d.h.add(r); err != nil {
		d.stop(err)
	}
}

// faulted completes a dead letter found by this package: the hash of the
// whole original (streamed already when it was oversize), at most MaxKept
// bytes of it, and its document id when readable.
func (d *Decoder) faulted(r *Record, s *span) {
	if s.over {
		r.SHA256 = s.sum
	} else {
		r.SHA256 = sha256.Sum256(r.Data)
	}
	r.DocumentID = peekDocumentID(r.Data)
	if len(r.Data) > MaxKept {
		r.Data = r.Data[:MaxKept]
	}
}

// deep reports whether rec nests deeper than limit. depth is what the
// framer saw, or -1: then rec is scanned, unless it has too few brackets
// to be that deep (one fast count).
func deep(rec []byte, depth, limit int) bool {
	if depth < 0 {
		if bytes.Count(rec, []byte{'{'})+bytes.Count(rec, []byte{'['}) <= limit {
			return false
		}
		depth = depthOf(rec)
	}
	return depth > limit
}

func (d *Decoder) send(r *Record) {
	if d.stopped != nil {
		return
	}
	if err := d.emit(r); err != nil {
		d.stop(err)
	}
}

func (d *Decoder) stop(err error) {
	if d.stopped == nil {
		d.stopped = err
		d.t.end = true
	}
}

// count reports to Config.Counted every 4096 records, and at the end.
func (d *Decoder) count(final bool) {
	if d.cfg.Counted == nil || d.read == 0 && d.filt == 0 || !final && d.read < 4096 {
		return
	}
	d.cfg.Counted(d.read, d.filt)
	d.read, d.filt = 0, 0
}

// refuse makes the whole unit one dead letter: a format or an encoding
// this package does not read. Its length and SHA-256 are those of the
// whole stream at the layer where it was found: read, the bytes already
// taken from it, then the rest of r.
func (d *Decoder) refuse(reason events.Reason, what string, read []byte, r io.Reader) error {
	h := sha256.New()
	kept := &headWriter{max: MaxKept}
	n, err := io.Copy(io.MultiWriter(h, kept), io.MultiReader(bytes.NewReader(read), r))
	if d.raw.err != nil {
		return d.raw.readError()
	}
	hint := "seatline reads JSON, NDJSON or JSON-array text in UTF-8 or UTF-16, plain or compressed with gzip, zstd or bzip2"
	detail := fmt.Sprintf("%s (first bytes %s): %s", what, hexHead(kept.b), hint)
	if err != nil {
		detail += fmt.Sprintf("; reading it to the end failed after %d bytes: %v", n, err)
	}
	d.damaged = detail
	d.seq++
	if d.seq <= d.skip {
		return nil
	}
	d.read++
	r0 := &d.rec
	*r0 = Record{Loc: Loc{Seq: d.seq, Line: 1, Index: -1}, Data: kept.b, Length: n,
		Fault: &events.InvalidError{Reason: reason, Detail: detail}}
	h.Sum(r0.SHA256[:0])
	d.send(r0)
	return nil
}

// headWriter keeps the first max bytes written to it.
type headWriter struct {
	b   []byte
	max int
}

func (w *headWriter) Write(p []byte) (int, error) {
	if room := w.max - len(w.b); room > 0 {
		w.b = append(w.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

// refused ends a unit that refuse made one dead letter.
func (d *Decoder) refused(err error) (Summary, error) {
	if err != nil {
		return d.summary(), err
	}
	return d.finish()
}
