package events

import (
	"bytes"
	"encoding/binary"
	"math/bits"
)

// identityKey is a top-level field that decides an event's identity or
// meaning. A record that carries one of them twice is ambiguous: decoders
// disagree on which copy wins (segmentio and encoding/json take the last,
// others the first), so seatline refuses to guess (ReasonAmbiguousField).
type identityKey uint8

const (
	keyNone identityKey = iota
	keyDocumentID
	keyTimestamp
	keyCreatedAt
	keyAction
	keyUser
	keyUserID
	keyOrg
	keyOrgID
	keyActor
	keyActorID
	keyBusiness
	keyBusinessID
	numKeys
)

var identityKeyNames = [numKeys]string{
	keyDocumentID: "_document_id",
	keyTimestamp:  "@timestamp",
	keyCreatedAt:  "created_at",
	keyAction:     "action",
	keyUser:       "user",
	keyUserID:     "user_id",
	keyOrg:        "org",
	keyOrgID:      "org_id",
	keyActor:      "actor",
	keyActorID:    "actor_id",
	keyBusiness:   "business",
	keyBusinessID: "business_id",
}

// lookupKey returns the identity key an (unescaped) object key names
// exactly, or keyNone. The switch compiles to length and byte compares: no
// hashing, no allocation.
func lookupKey(k []byte) identityKey {
	switch string(k) {
	case "_document_id":
		return keyDocumentID
	case "@timestamp":
		return keyTimestamp
	case "created_at":
		return keyCreatedAt
	case "action":
		return keyAction
	case "user":
		return keyUser
	case "user_id":
		return keyUserID
	case "org":
		return keyOrg
	case "org_id":
		return keyOrgID
	case "actor":
		return keyActor
	case "actor_id":
		return keyActorID
	case "business":
		return keyBusiness
	case "business_id":
		return keyBusinessID
	}
	return keyNone
}

// maxIdentityKeyLen is the longest identity key ("_document_id").
const maxIdentityKeyLen = 12

// topKeys is what scanTopKeys saw at the top level of one JSON object.
type topKeys struct {
	n [numKeys]int // occurrences of each identity key (after unescaping)

	// docID is the raw JSON value of the first _document_id (a sub-slice of
	// the record) and docIDEnd the offset just past it.
	docID    []byte
	docIDEnd int

	// collect names an identity key whose raw values to append to vals, in
	// order (keyNone: none; only the rare paths collect).
	collect identityKey
	vals    [][]byte

	complete bool // the scan reached the object's closing brace
}

// scanTopKeys walks the top level of the JSON object rec (rec[0] == '{'),
// counting the identity keys and stepping over every value without decoding
// it. Keys are compared after JSON unescaping ("\u0075ser" is user) and
// exactly ("User" is not user), as the decoder matches them. Nested keys do
// not count.
//
// It is exact for valid JSON, the case it runs for after a successful
// decode. On malformed input it stops where it loses its way (complete
// stays false) without panicking; what it saw before is best effort, and
// the caller checks positions against the real syntax error.
func scanTopKeys(rec []byte, tk *topKeys) {
	var buf [maxIdentityKeyLen]byte
	i := 1
	for {
		i = skipWS(rec, i)
		if i >= len(rec) {
			return
		}
		if rec[i] == '}' { // empty object (a '}' after a ',' is malformed, but harmless here)
			tk.complete = true
			return
		}
		if rec[i] != '"' {
			return
		}
		ke, esc, ok := stringEnd(rec, i+1)
		if !ok {
			return
		}
		key := rec[i+1 : ke]
		if esc {
			key = unescapeKey(key, buf[:0])
		}
		i = skipWS(rec, ke+1)
		if i >= len(rec) || rec[i] != ':' {
			return
		}
		vs := skipWS(rec, i+1)
		if i, ok = skipValue(rec, vs); !ok {
			return
		}
		if len(key) <= maxIdentityKeyLen {
			if k := lookupKey(key); k != keyNone {
				tk.n[k]++
				if k == keyDocumentID && tk.n[k] == 1 {
					tk.docID, tk.docIDEnd = rec[vs:i], i
				}
				if k == tk.collect {
					tk.vals = append(tk.vals, rec[vs:i])
				}
			}
		}
		i = skipWS(rec, i)
		if i >= len(rec) {
			return
		}
		switch rec[i] {
		case ',':
			i++
		case '}':
			tk.complete = true
			return
		default:
			return
		}
	}
}

func skipWS(b []byte, i int) int {
	// Every JSON whitespace byte is <= ' ': one compare for the usual case.
	for i < len(b) && b[i] <= ' ' && (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t') {
		i++
	}
	return i
}

// stringEnd returns the index of the '"' that closes the JSON string whose
// contents start at b[i], and whether the string holds an escape. It looks
// at eight bytes at a time for a quote or a backslash (SWAR): keys are
// short, where bytes.IndexByte's call overhead dominates.
func stringEnd(b []byte, i int) (end int, esc bool, ok bool) {
	for {
		for i+8 <= len(b) {
			w := binary.LittleEndian.Uint64(b[i:])
			if m := hasByte(w, '"') | hasByte(w, '\\'); m != 0 {
				i += bits.TrailingZeros64(m) >> 3
				break
			}
			i += 8
		}
		for i < len(b) && b[i] != '"' && b[i] != '\\' {
			i++
		}
		if i >= len(b) {
			return len(b), esc, false
		}
		if b[i] == '"' {
			return i, esc, true
		}
		esc = true
		i += 2 // the backslash and the byte it escapes
	}
}

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// hasByte returns a mask with the high bit set in each byte of w equal to c
// (exact for the lowest such byte, which is all stringEnd uses).
func hasByte(w uint64, c byte) uint64 {
	x := w ^ (lsb * uint64(c))
	return (x - lsb) &^ x & msb
}

// valueStringEnd is stringEnd for values, which can be long (user agents)
// and need no escape flag: bytes.IndexByte finds the quote, and a quote is
// escaped when an odd run of backslashes precedes it.
func valueStringEnd(b []byte, i int) (int, bool) {
	for {
		j := bytes.IndexByte(b[i:], '"')
		if j < 0 {
			return len(b), false
		}
		q := i + j
		bs := 0
		for k := q - 1; k >= i && b[k] == '\\'; k-- {
			bs++
		}
		if bs%2 == 0 {
			return q, true
		}
		i = q + 1
	}
}

// skipValue returns the offset just past the JSON value starting at b[i].
func skipValue(b []byte, i int) (int, bool) {
	if i >= len(b) {
		return i, false
	}
	switch b[i] {
	case '"':
		e, ok := valueStringEnd(b, i+1)
		return e + 1, ok
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				e, _, ok := stringEnd(b, i+1)
				if !ok {
					return e, false
				}
				i = e
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1, true
				}
			}
			i++
		}
		return i, false
	}
	// A number, true, false or null: up to the next delimiter.
	s := i
	for i < len(b) && !endsScalar[b[i]] {
		i++
	}
	return i, i > s && i < len(b)
}

// endsScalar marks the bytes that can follow a number or literal.
var endsScalar = [256]bool{',': true, '}': true, ']': true, ' ': true, '\n': true, '\r': true, '\t': true}

// unescapeKey decodes the escapes of an object key into buf when the result
// could be an identity key (short ASCII); otherwise it returns nil, which
// names no identity key.
func unescapeKey(k, buf []byte) []byte {
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c == '\\' {
			if i+1 >= len(k) {
				return nil
			}
			i++
			switch k[i] {
			case '"', '\\', '/':
				c = k[i]
			case 'b':
				c = '\b'
			case 'f':
				c = '\f'
			case 'n':
				c = '\n'
			case 'r':
				c = '\r'
			case 't':
				c = '\t'
			case 'u':
				if i+4 >= len(k) {
					return nil
				}
				r, ok := hex4(k[i+1 : i+5])
				if !ok || r >= 0x80 {
					return nil // not ASCII: not an identity key
				}
				c, i = byte(r), i+4
			default:
				return nil
			}
		}
		if len(buf) == cap(buf) {
			return nil // too long to be an identity key
		}
		buf = append(buf, c)
	}
	return buf
}
