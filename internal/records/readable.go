package records

import (
	"encoding/binary"
	"fmt"
	"unicode/utf8"

	"github.com/seatline/seatline/pkg/events"
)

// unreadable reports why rec is not JSON text, or nil: invalid UTF-8, or a
// control character (JSON allows only tab, CR and LF between tokens and
// none inside strings). Sixteen ASCII bytes at a time.
func unreadable(rec []byte) *events.InvalidError {
	if len(rec) < 16 {
		_, bad := slowCheck(rec, 0, len(rec))
		return bad
	}
	// The last 16 bytes first, overlapping the loop's last block: then the
	// loop needs no byte-by-byte tail.
	if clean16(rec[len(rec)-16:]) {
		for b := rec; len(b) >= 16; b = b[16:] {
			if !clean16(b) {
				_, bad := slowCheck(rec, len(rec)-len(b), len(rec))
				return bad
			}
		}
		return nil
	}
	_, bad := slowCheck(rec, 0, len(rec))
	return bad
}

// clean16 reports whether b's first 16 bytes are all ASCII from 0x20 up:
// no byte ≥ 0x80 (its high bit is set in x) and none < 0x20 (its high bit
// is set in x-0x20…; borrows can only add false alarms, never hide one).
// Tab, CR and LF are not clean here; slowCheck then accepts them.
func clean16(b []byte) bool {
	const highs = 0x8080808080808080
	const spaces = 0x2020202020202020
	x := binary.LittleEndian.Uint64(b)
	y := binary.LittleEndian.Uint64(b[8:16])
	return (x|(x-spaces)|y|(y-spaces))&highs == 0
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
