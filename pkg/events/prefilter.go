package events

import "bytes"

// MaybeSeatEvent is the byte pre-filter run before any JSON decoding. It
// reports whether rec might be an event seatline keeps (Admitted): a
// copilot.* action, business.add_seats / remove_seats, an enterprise-team
// licence, or a membership change (team.add_member, org.remove_member,
// business.remove_member, enterprise_team.*_member,
// external_identity.deprovision, user.suspend / unsuspend / rename), or a
// \uXXXX escape of a character those are made of (a JSON string may spell
// the action with escapes; such records are rare and simply go to Parse).
//
// It never returns false for a record that Parse would accept; false
// positives are fine (Parse then returns ErrNotSeatEvent). It does not
// allocate.
//
// Every needle contains a '.', which is much rarer in audit events than any
// letter, so one vectorised IndexByte pass over the dots, checking the
// bytes around each (dispatched on the byte before the dot), beats
// bytes.Index for each needle.
func MaybeSeatEvent(rec []byte) bool {
	for i := 0; ; {
		j := bytes.IndexByte(rec[i:], '.')
		if j < 0 {
			break
		}
		if p := i + j; p > 0 && admittedAt(rec[:p], rec[p+1:]) {
			return true
		}
		i += j + 1
	}
	return hasLetterEscape(rec)
}

// admittedAt reports whether before + "." + after starts an admitted action.
func admittedAt(before, after []byte) bool {
	switch before[len(before)-1] {
	case 't':
		return hasSuffix(before, "copilot")
	case 'm': // team.*, enterprise_team.*
		return hasSuffix(before, "team") &&
			(hasPrefix(after, "add_member") || hasPrefix(after, "remove_member") || hasPrefix(after, "copilot_"))
	case 'g':
		return hasSuffix(before, "org") && (hasPrefix(after, "add_member") || hasPrefix(after, "remove_member"))
	case 's':
		return hasSuffix(before, "business") &&
			(hasPrefix(after, "add_seats") || hasPrefix(after, "remove_seats") || hasPrefix(after, "remove_member"))
	case 'y':
		return hasSuffix(before, "external_identity") && hasPrefix(after, "deprovision")
	case 'r':
		return hasSuffix(before, "user") && (hasPrefix(after, "suspend") || hasPrefix(after, "unsuspend") || hasPrefix(after, "rename"))
	}
	return false
}

func hasPrefix(b []byte, prefix string) bool {
	return len(b) >= len(prefix) && string(b[:len(prefix)]) == prefix
}

func hasSuffix(b []byte, suffix string) bool {
	return len(b) >= len(suffix) && string(b[len(b)-len(suffix):]) == suffix
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
