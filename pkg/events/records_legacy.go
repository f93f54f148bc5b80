package events

import (
	"bytes"
	stdjson "encoding/json"
	"errors"
	"fmt"
)

func isJSONSpace(c byte) bool {
	return c == ' ' || c == '\n' || c == '\r' || c == '\t'
}

// trimJSONSpace trims JSON whitespace (space, tab, CR, LF) from both ends.
func trimJSONSpace(b []byte) []byte {
	i, j := 0, len(b)
	for i < j && isJSONSpace(b[i]) {
		i++
	}
	for j > i && isJSONSpace(b[j-1]) {
		j--
	}
	return b[i:j]
}

// Records splits one source payload (a Kafka message, an S3 object's
// decompressed chunk) into records and calls fn for each, in order:
//
//   - a JSON array of events ("[{…},{…}]", as some shippers batch): fn gets
//     each element, index = 0-based element number. The whole array is
//     checked first; if it is not valid JSON, Records calls fn for nothing
//     and returns an *InvalidError with ReasonMalformedBatch.
//   - otherwise NDJSON: fn gets each non-blank line (trimmed), index =
//     0-based line number; blank lines are skipped but counted. A truncated
//     or broken line is still passed on (Parse rejects it). A single event
//     pretty-printed over several lines is recognised and passed whole.
//
// The rec slices passed to fn alias payload.
func Records(payload []byte, fn func(index int, rec []byte)) error {
	p := trimJSONSpace(payload)
	if len(p) == 0 {
		return nil
	}
	if p[0] == '[' {
		return splitArray(p, fn)
	}
	// Index of the first non-blank line: count newlines before p.
	lead := bytes.Count(payload[:len(payload)-len(trimLeftJSONSpace(payload))], []byte{'\n'})
	nl := bytes.IndexByte(p, '\n')
	if nl < 0 {
		fn(lead, p)
		return nil
	}
	// Several lines. NDJSON unless the first line is not JSON by itself but
	// the whole payload is (one pretty-printed event).
	if first := trimJSONSpace(p[:nl]); !validJSON(first) && validJSON(p) {
		fn(lead, p)
		return nil
	}
	for line, rest, more := lead, p, true; more; line++ {
		l := rest
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			l, rest = rest[:i], rest[i+1:]
		} else {
			more = false
		}
		if l = trimJSONSpace(l); len(l) > 0 {
			fn(line, l)
		}
	}
	return nil
}

func trimLeftJSONSpace(b []byte) []byte {
	i := 0
	for i < len(b) && isJSONSpace(b[i]) {
		i++
	}
	return b[i:]
}

// splitArray validates p as one JSON array and hands out each element's
// bytes, in one validating pass that records element boundaries (fn is only
// called once the whole array is known to be valid).
func splitArray(p []byte, fn func(int, []byte)) error {
	var stack [2 * 128]int
	bounds := stack[:0] // start, end of each element
	i, ok := skipSpace(p, 1), true
	if i < len(p) && p[i] == ']' {
		i++
	} else {
		for ok {
			start := i
			if i, ok = validValue(p, i, 1); !ok {
				break
			}
			bounds = append(bounds, start, i)
			if i = skipSpace(p, i); i >= len(p) {
				ok = false
				break
			}
			if p[i] == ']' {
				i++
				break
			}
			if p[i] != ',' {
				ok = false
				break
			}
			i = skipSpace(p, i+1)
		}
	}
	if !ok || skipSpace(p, i) != len(p) {
		err := stdjson.Unmarshal(p, new(any)) // error path only: exact offsets
		detail := "not a valid JSON array"
		var se *stdjson.SyntaxError
		if errors.As(err, &se) {
			detail = fmt.Sprintf("not a valid JSON array: %s (at byte offset %d)", se.Error(), se.Offset)
		}
		return &InvalidError{Reason: ReasonMalformedBatch, Detail: detail}
	}
	for k := 0; k < len(bounds); k += 2 {
		fn(k/2, p[bounds[k]:bounds[k+1]])
	}
	return nil
}

// maxJSONDepth is encoding/json's nesting limit, so that validJSON agrees
// with json.Valid exactly.
const maxJSONDepth = 10000

// validJSON reports whether b is one JSON value with optional surrounding
// whitespace: exactly json.Valid (which, like it, does not check UTF-8 in
// strings), but several times faster, so that a JSON-array batch is checked
// at close to memory speed before its elements are pre-filtered.
func validJSON(b []byte) bool {
	i, ok := validValue(b, skipSpace(b, 0), 0)
	return ok && skipSpace(b, i) == len(b)
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && isJSONSpace(b[i]) {
		i++
	}
	return i
}

func validValue(b []byte, i, depth int) (int, bool) {
	if i >= len(b) {
		return i, false
	}
	var ok bool
	switch c := b[i]; c {
	case '{':
		if depth++; depth > maxJSONDepth {
			return i, false
		}
		if i = skipSpace(b, i+1); i < len(b) && b[i] == '}' {
			return i + 1, true
		}
		for {
			if i >= len(b) || b[i] != '"' {
				return i, false
			}
			if i, ok = validString(b, i); !ok {
				return i, false
			}
			if i = skipSpace(b, i); i >= len(b) || b[i] != ':' {
				return i, false
			}
			if i, ok = validValue(b, skipSpace(b, i+1), depth); !ok {
				return i, false
			}
			if i = skipSpace(b, i); i >= len(b) {
				return i, false
			}
			switch b[i] {
			case '}':
				return i + 1, true
			case ',':
				i = skipSpace(b, i+1)
			default:
				return i, false
			}
		}
	case '[':
		if depth++; depth > maxJSONDepth {
			return i, false
		}
		if i = skipSpace(b, i+1); i < len(b) && b[i] == ']' {
			return i + 1, true
		}
		for {
			if i, ok = validValue(b, i, depth); !ok {
				return i, false
			}
			if i = skipSpace(b, i); i >= len(b) {
				return i, false
			}
			switch b[i] {
			case ']':
				return i + 1, true
			case ',':
				i = skipSpace(b, i+1)
			default:
				return i, false
			}
		}
	case '"':
		return validString(b, i)
	case 't':
		return validLiteral(b, i, "true")
	case 'f':
		return validLiteral(b, i, "false")
	case 'n':
		return validLiteral(b, i, "null")
	}
	return validNumber(b, i)
}

func validLiteral(b []byte, i int, lit string) (int, bool) {
	if len(b)-i >= len(lit) && string(b[i:i+len(lit)]) == lit {
		return i + len(lit), true
	}
	return i, false
}

// stringSpecial marks the bytes that end the fast path inside a string.
var stringSpecial = func() (t [256]bool) {
	for c := 0; c < 0x20; c++ {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	return t
}()

// validString checks the string starting at b[i] == '"'.
func validString(b []byte, i int) (int, bool) {
	i++
	for i < len(b) {
		c := b[i]
		if !stringSpecial[c] {
			i++
			continue
		}
		switch {
		case c == '"':
			return i + 1, true
		case c < 0x20:
			return i, false
		}
		// backslash
		if i+1 >= len(b) {
			return i, false
		}
		switch b[i+1] {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			i += 2
		case 'u':
			if i+6 > len(b) {
				return i, false
			}
			if _, ok := hex4(b[i+2 : i+6]); !ok {
				return i, false
			}
			i += 6
		default:
			return i, false
		}
	}
	return i, false
}

func validNumber(b []byte, i int) (int, bool) {
	if i < len(b) && b[i] == '-' {
		i++
	}
	if i >= len(b) {
		return i, false
	}
	switch c := b[i]; {
	case c == '0':
		i++
	case '1' <= c && c <= '9':
		for i++; i < len(b) && '0' <= b[i] && b[i] <= '9'; i++ {
		}
	default:
		return i, false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return i, false
		}
		for i++; i < len(b) && '0' <= b[i] && b[i] <= '9'; i++ {
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return i, false
		}
		for i++; i < len(b) && '0' <= b[i] && b[i] <= '9'; i++ {
		}
	}
	return i, true
}
