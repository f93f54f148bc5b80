package records

// Slab copies records out of the decoder's buffers into memory that is
// never reused, so a source can hand them on: 256 KiB at a time rather
// than one allocation per record.
type Slab struct{ b []byte }

const slabSize = 256 << 10

// Copy places b in the slab and returns the copy.
func (s *Slab) Copy(b []byte) []byte {
	if len(b) > slabSize/4 {
		return append([]byte(nil), b...)
	}
	if cap(s.b)-len(s.b) < len(b) {
		s.b = make([]byte, 0, slabSize)
	}
	start := len(s.b)
	s.b = append(s.b, b...)
	return s.b[start:len(s.b):len(s.b)]
}
