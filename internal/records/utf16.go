package records

import (
	"io"
	"unicode/utf16"
	"unicode/utf8"
)

// badUnit stands for UTF-16 input that is not a character (an unpaired
// surrogate, a lone last byte). It is not valid UTF-8, so the record that
// contains it becomes an invalid_utf8 dead letter: golang.org/x/text's
// decoder would silently replace it with U+FFFD instead.
const badUnit = 0xff

// utf16Reader transcodes UTF-16 to UTF-8.
type utf16Reader struct {
	r         io.Reader
	bigEndian bool
	in        []byte
	lo, hi    int // unconverted input: in[lo:hi]
	out       []byte
	pending   []byte // converted, not yet returned: a sub-slice of out
	err       error  // what ended r
}

func newUTF16Reader(r io.Reader, bigEndian bool) *utf16Reader {
	return &utf16Reader{r: r, bigEndian: bigEndian, in: make([]byte, 32<<10), out: make([]byte, 0, 48<<10)}
}

// settled reports whether every input byte read so far has been converted
// (none is carried into the next read).
func (u *utf16Reader) settled() bool { return u.lo == u.hi }

func (u *utf16Reader) Read(p []byte) (int, error) {
	for len(u.pending) == 0 {
		if u.err != nil {
			return 0, u.err
		}
		if u.lo > 0 {
			u.hi = copy(u.in, u.in[u.lo:u.hi])
			u.lo = 0
		}
		n, err := u.r.Read(u.in[u.hi:])
		u.hi += n
		if err != nil {
			u.err = err
		}
		u.convert(err != nil)
	}
	n := copy(p, u.pending)
	u.pending = u.pending[n:]
	return n, nil
}

func (u *utf16Reader) unit(i int) uint16 {
	if u.bigEndian {
		return uint16(u.in[i])<<8 | uint16(u.in[i+1])
	}
	return uint16(u.in[i+1])<<8 | uint16(u.in[i])
}

// convert turns whole characters of in[lo:hi] into UTF-8; final: the input
// has ended, so nothing is carried.
func (u *utf16Reader) convert(final bool) {
	out := u.out[:0]
	i := u.lo
	for i+2 <= u.hi {
		c := u.unit(i)
		switch {
		case c < utf8.RuneSelf:
			out = append(out, byte(c))
			i += 2
		case utf16.IsSurrogate(rune(c)) && c < 0xdc00: // high surrogate
			if i+4 > u.hi {
				if !final {
					u.lo, u.out, u.pending = i, out, out
					return
				}
				out = append(out, badUnit)
				i += 2
				continue
			}
			if r := utf16.DecodeRune(rune(c), rune(u.unit(i+2))); r != utf8.RuneError {
				out = utf8.AppendRune(out, r)
				i += 4
			} else {
				out = append(out, badUnit)
				i += 2
			}
		case utf16.IsSurrogate(rune(c)): // low surrogate without a high one
			out = append(out, badUnit)
			i += 2
		default:
			out = utf8.AppendRune(out, rune(c))
			i += 2
		}
	}
	if final && i < u.hi { // an odd last byte
		out = append(out, badUnit)
		i = u.hi
	}
	u.lo, u.out, u.pending = i, out, out
}
