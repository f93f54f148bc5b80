package records

import (
	"bytes"
	"fmt"
)

// framer cuts a unit's text into records:
//
//   - at top level, a value that starts with '[' is a JSON array: each of
//     its elements is a record (Index 0, 1, …), found by following strings
//     and nesting, whatever the newlines;
//   - any other value is a line (NDJSON). A line that starts with '{' and
//     does not end with '}' may be a pretty-printed object: it goes on over
//     the next lines while its braces are open and the next line looks like
//     the inside of one (it starts with whitespace, '"', '}' or ']', as
//     every pretty-printer writes them); otherwise the open line was
//     truncated and a new record starts. A string open at the newline ends
//     the record too (JSON strings hold no newline).
//
// Every decision depends on the text only, never on where reads happen to
// end: an object read in chunks frames exactly like the same bytes in one
// Kafka message.
type framer struct {
	t     *text
	limit int
	emit  func(*span)
	line  int64 // line of buf[lo]

	inArray  bool
	arrLine  int64
	index    int
	expect   bool // in an array: an element must come (after '[' or ',')
	comma    bool // in an array: the last delimiter was ','
	lastCut  bool // the last element ended with the text, not at a delimiter
	sc       nesting
	p        piece
	sp       span
	inPieces bool // the current record spans reads: its bytes are in p
}

func (f *framer) reset(t *text, limit int, emit func(*span)) {
	f.t, f.limit, f.emit, f.line = t, limit, emit, 1
	f.inArray, f.index, f.expect, f.comma, f.lastCut = false, 0, false, false, false
}

// run frames the whole text.
func (f *framer) run() {
	t := f.t
	for {
		if !f.skipSpace() {
			if f.inArray && !f.lastCut && t.err == nil {
				f.fault(&span{line: f.arrLine, index: f.index, depth: -1},
					"JSON array that starts on line %d is not closed: the input ends after %d elements (truncated?)", f.arrLine, f.index)
			}
			return
		}
		c := t.buf[t.lo]
		if !f.inArray {
			if c == '[' {
				f.inArray, f.arrLine, f.index, f.expect, f.comma, f.lastCut = true, f.line, 0, true, false, false
				t.lo++
				continue
			}
			f.lineRecord()
			continue
		}
		switch c {
		case ']':
			if f.comma {
				f.emptyElement("a ',' just before ']'")
			}
			f.inArray = false
			t.lo++
			continue
		case ',':
			if f.expect {
				f.emptyElement("two ',' in a row, or ',' after '['")
			}
			f.expect, f.comma = true, true
			t.lo++
			continue
		}
		f.element()
		f.expect, f.comma = false, false
	}
}

// skipSpace moves lo to the next non-space byte, counting lines; false at
// the end of the text.
func (f *framer) skipSpace() bool {
	t := f.t
	for {
		for t.lo < t.hi {
			switch t.buf[t.lo] {
			case '\n':
				f.line++
			case ' ', '\t', '\r':
			default:
				return true
			}
			t.lo++
		}
		if _, ok := t.fill(t.hi); !ok {
			return false
		}
	}
}

func (f *framer) emptyElement(why string) {
	f.fault(&span{line: f.arrLine, index: f.index, depth: -1}, "empty element in a JSON array (%s)", why)
	f.index++
}

// fault emits a record that is a dead letter of the framing itself.
func (f *framer) fault(s *span, format string, args ...any) {
	s.data, s.cut = nil, false
	s.end = f.t.pos(f.t.lo)
	s.fault = fmt.Sprintf(format, args...)
	f.emit(s)
}

// element frames one array element starting at lo.
func (f *framer) element() {
	t := f.t
	f.sc.reset()
	f.startRecord()
	rs, i := t.lo, t.lo
	lines := int64(0)
	for {
		if j := f.sc.element(t.buf[i:t.hi], &lines); j >= 0 {
			end := i + j
			f.finishRecord(rs, end, f.arrLine, f.index, f.sc.max, false)
			t.lo = end
			f.line += lines
			f.index++
			f.lastCut = false
			return
		}
		rs, i = f.more(rs)
		if i < 0 {
			f.finishRecord(rs, t.hi, f.arrLine, f.index, f.sc.max, t.err != nil)
			t.lo = t.hi
			f.line += lines
			f.index++
			// An element the input ends in the middle of is itself the
			// sign of truncation; a whole one leaves the array unclosed.
			f.lastCut = f.sc.depth > 0 || f.sc.inStr
			return
		}
	}
}

// lineRecord frames one top-level record that is not an array.
func (f *framer) lineRecord() {
	t := f.t
	f.startRecord()
	rs, i := t.lo, t.lo
	start := f.line
	opens := t.buf[rs] == '{'
	// The first line, found at memory speed.
	for {
		if j := bytes.IndexByte(t.buf[i:t.hi], '\n'); j >= 0 {
			i += j
			break
		}
		if rs, i = f.more(rs); i < 0 {
			f.finishRecord(rs, t.hi, start, -1, -1, t.err != nil)
			t.lo = t.hi
			return
		}
	}
	// i is at the first newline. Most records end here.
	if !opens || f.firstLineEnds(t.buf[rs:i]) {
		f.finishRecord(rs, i, start, -1, -1, false)
		t.lo = i
		return
	}
	// A '{' line without its '}': follow the structure from the start.
	f.sc.reset()
	if f.inPieces {
		f.sc.line(f.p.buf[:f.p.n]) // whole: firstLineEnds is true for a line over the limit
	}
	f.sc.line(t.buf[rs : i+1])
	lines := int64(0)
	for {
		// i is at a newline that the structure has reached.
		if f.sc.inStr || f.sc.depth <= 0 {
			break
		}
		// Does the next line continue the record? Peek at its first byte.
		if i+1 >= t.hi {
			var ok bool
			if rs, i, ok = f.peek(rs, i); !ok {
				break
			}
		}
		if !continues(t.buf[i+1]) {
			break
		}
		lines++
		i++
		for {
			if j := f.sc.line(t.buf[i:t.hi]); j >= 0 {
				i += j
				break
			}
			if rs, i = f.more(rs); i < 0 {
				f.line += lines
				f.finishRecord(rs, t.hi, start, -1, f.sc.max, t.err != nil)
				t.lo = t.hi
				return
			}
		}
	}
	f.line += lines
	f.finishRecord(rs, i, start, -1, f.sc.max, false)
	t.lo = i
}

// firstLineEnds: the first line of a '{' record is the whole record when
// its last non-space byte is '}', or when it is over the size limit (an
// oversize line is not followed further).
func (f *framer) firstLineEnds(tail []byte) bool {
	last := lastNonSpace(tail)
	if last >= 0 {
		return tail[last] == '}' || f.p.n+int64(last)+1 > int64(f.limit)
	}
	// The line's end was all in earlier reads.
	if f.p.over() {
		return true
	}
	b := f.p.buf[:f.p.last+1]
	return len(b) > 0 && b[len(b)-1] == '}'
}

// startRecord clears the piece for a new record.
func (f *framer) startRecord() {
	f.inPieces = false
	f.p.reset(f.limit)
}

// more saves the record's bytes so far (from rs) and reads more text. It
// returns the record's start and the scan position in the new window
// (both 0), or i = -1 when the text has ended (the record is then what is
// in the piece and buf[rs:hi]).
func (f *framer) more(rs int) (int, int) {
	t := f.t
	if t.end { // nothing more will come: the record ends at hi, in the window
		return rs, -1
	}
	f.p.add(t.buf[rs:t.hi])
	f.inPieces = true
	if _, ok := f.t.fill(t.hi); !ok {
		return 0, -1
	}
	return 0, 0
}

// peek makes the byte after the newline at i readable, keeping the record
// (from rs) intact. ok is false when the text ends after the newline.
func (f *framer) peek(rs, i int) (int, int, bool) {
	t := f.t
	if i+1 < t.hi {
		return rs, i, true
	}
	if t.end {
		return rs, i, false
	}
	// Save everything up to the newline; keep the newline in the window.
	f.p.add(t.buf[rs:i])
	f.inPieces = true
	t.fill(i)
	return 0, 0, t.hi > 1
}

// finishRecord emits the record whose last bytes are buf[rs:end] (after
// any in the piece). cut: the text ended in damage before the record did.
func (f *framer) finishRecord(rs, end int, line int64, index, depth int, cut bool) {
	tail := f.t.buf[rs:end]
	s := &f.sp
	*s = span{line: line, index: index, depth: depth, cut: cut, end: f.t.pos(end)}
	if f.inPieces {
		f.p.add(tail)
		s.finish(&f.p)
	} else {
		s.whole(tail, f.limit)
	}
	if s.length == 0 && !cut && index < 0 {
		return // only whitespace: nothing to frame
	}
	f.emit(s)
}

// continues: a line starting with c can be the inside of a pretty-printed
// object.
func continues(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '"' || c == '}' || c == ']'
}
