package records

import (
	"encoding/binary"
	"fmt"
	"unicode/utf8"

	"github.com/seatline/seatline/pkg/events"
)

// unreadable reports why rec is not readable JSON text, or nil: invalid
// UTF-8, or a control character (JSON allows only tab, CR and LF between
// tokens and none inside strings). Every record passes here before the
// pre-filter, so it is written for speed: eight ASCII bytes at a time.
func unreadable(rec []byte) *events.InvalidError {
	const highs = 0x8080808080808080
	const spaces = 0x2020202020202020
	for b := rec; len(b) >= 16; b = b[16:] {
		x := binary.LittleEndian.Uint64(b)
		y := binary.LittleEndian.Uint64(b[8:])
		// A byte ≥ 0x80 sets its high bit in x; a byte < 0x20 sets it in
		// x-0x20… (borrows can only add false alarms, never hide one).
		if (x|(x-spaces)|y|(y-spaces))&highs != 0 {
			_, bad := slowCheck(rec, len(rec)-len(b), len(rec))
			return bad
		}
	}
	_, bad := slowCheck(rec, len(rec)-len(rec)%16, len(rec))
	return bad
}

// slowCheck checks rec from 'from' rune by rune until at least 'to' and
// returns where it stopped (a rune may extend past to).
func slowCheck(rec []byte, from, to int) (int, *events.InvalidError) {
	i := from
	for i < to {
		c := rec[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
				return i, &events.InvalidError{Reason: events.ReasonMalformedJSON,
					Detail: fmt.Sprintf("control character U+%04X at byte offset %d (not allowed in JSON text)", c, i)}
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(rec[i:])
		if r == utf8.RuneError && n == 1 {
			return i, &events.InvalidError{Reason: events.ReasonInvalidUTF8,
				Detail: fmt.Sprintf("invalid UTF-8 at byte offset %d", i)}
		}
		i += n
	}
	return i, nil
}
