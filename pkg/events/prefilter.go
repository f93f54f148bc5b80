package events

import "bytes"

// MaybeSeatEvent is the byte pre-filter run before any JSON decoding. It
// reports whether rec might be a Copilot seat or policy event: it contains
// "copilot.", "business.add_seats" or "business.remove_seats", or a \uXXXX
// escape of a character those are made of (a JSON string may spell the action
// with escapes; such records are rare and simply go to Parse).
//
// It never returns false for a record that Parse would accept as a seat
// event; false positives are fine (Parse then returns ErrNotSeatEvent).
// It does not allocate.
//
// Every needle contains a '.', which is much rarer in audit events than any
// letter, so one vectorised IndexByte pass over the dots, checking the
// bytes around each, beats bytes.Index for each needle (whose fallback is a
// byte-at-a-time compare).
func MaybeSeatEvent(rec []byte) bool {
	for i := 0; ; {
		j := bytes.IndexByte(rec[i:], '.')
		if j < 0 {
			break
		}
		p := i + j
		if p >= 7 && string(rec[p-7:p]) == "copilot" {
			return true
		}
		if p >= 8 && string(rec[p-8:p]) == "business" {
			if rest := rec[p+1:]; hasPrefix(rest, "add_seats") || hasPrefix(rest, "remove_seats") {
				return true
			}
		}
		i = p + 1
	}
	return hasLetterEscape(rec)
}

func hasPrefix(b []byte, prefix string) bool {
	return len(b) >= len(prefix) && string(b[:len(prefix)]) == prefix
}

// hasLetterEscape reports whether rec holds a JSON \uXXXX escape of a
// character that can appear in a seat action name: a lowercase ASCII letter,
// '.' or '_'. Any backslash starts a two-byte escape inside a JSON string,
// so stepping over the escaped byte keeps "\\u0063" (a literal backslash)
// from being misread; misreads would only cost a false positive anyway.
func hasLetterEscape(rec []byte) bool {
	for i := 0; ; {
		j := bytes.IndexByte(rec[i:], '\\')
		if j < 0 {
			return false
		}
		i += j
		if i+5 < len(rec) && rec[i+1] == 'u' {
			if r, ok := hex4(rec[i+2 : i+6]); ok && (r == '.' || r == '_' || ('a' <= r && r <= 'z')) {
				return true
			}
		}
		i += 2
		if i >= len(rec) {
			return false
		}
	}
}

func hex4(b []byte) (rune, bool) {
	var r rune
	for _, c := range b {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}
