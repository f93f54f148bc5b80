package records

// nesting follows JSON structure byte by byte: strings (with escapes) and
// the depth of objects and arrays. It never recurses, so a record nested a
// million levels deep costs a counter, not a stack.
type nesting struct {
	depth, max int
	inStr, esc bool
}

func (s *nesting) reset() { *s = nesting{} }

// skipString advances i over string content to the next '"', '\\' or '\n',
// or len(b).
func skipString(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case '"', '\\', '\n':
			return i
		}
		i++
	}
	return i
}

// stringByte handles b[i] inside a string; it reports a newline (JSON has
// none inside strings: the caller decides what that means).
func (s *nesting) stringByte(c byte) (newline bool) {
	if s.esc {
		s.esc = false
		return c == '\n'
	}
	switch c {
	case '"':
		s.inStr = false
	case '\\':
		s.esc = true
	case '\n':
		return true
	}
	return false
}

func (s *nesting) open() {
	s.depth++
	if s.depth > s.max {
		s.max = s.depth
	}
}

// element scans b for the end of an array element: the offset of a ',' or
// ']' at depth 0 outside strings, or -1. Newlines are counted into lines.
func (s *nesting) element(b []byte, lines *int64) int {
	for i := 0; i < len(b); i++ {
		if s.inStr {
			if !s.esc {
				if i = skipString(b, i); i == len(b) {
					return -1
				}
			}
			if s.stringByte(b[i]) {
				*lines++
			}
			continue
		}
		switch b[i] {
		case '"':
			s.inStr = true
		case '{', '[':
			s.open()
		case '}':
			if s.depth > 0 {
				s.depth--
			}
		case ']':
			if s.depth == 0 {
				return i
			}
			s.depth--
		case ',':
			if s.depth == 0 {
				return i
			}
		case '\n':
			*lines++
		}
	}
	return -1
}

// line scans b up to its first newline and returns the newline's offset,
// or -1. A newline inside a string leaves inStr set: the caller ends the
// record there (JSON strings hold no raw newline).
func (s *nesting) line(b []byte) int {
	for i := 0; i < len(b); i++ {
		if s.inStr {
			if !s.esc {
				if i = skipString(b, i); i == len(b) {
					return -1
				}
			}
			if s.stringByte(b[i]) {
				return i
			}
			continue
		}
		switch b[i] {
		case '"':
			s.inStr = true
		case '{', '[':
			s.open()
		case '}', ']':
			if s.depth > 0 {
				s.depth--
			}
		case '\n':
			return i
		}
	}
	return -1
}

// depthOf is the deepest nesting in a whole record.
func depthOf(b []byte) int {
	var s nesting
	for i := 0; i < len(b); i++ {
		if s.inStr {
			if !s.esc {
				if i = skipString(b, i); i == len(b) {
					break
				}
			}
			s.stringByte(b[i])
			continue
		}
		switch b[i] {
		case '"':
			s.inStr = true
		case '{', '[':
			s.open()
		case '}', ']':
			if s.depth > 0 {
				s.depth--
			}
		}
	}
	return s.max
}
