package ingest

import (
	"bytes"

	"github.com/segmentio/encoding/json"
)

// members rewrites the value of every PII member in doc: a quoted key that
// isPIIKey once unescaped, followed by ':'. With hash the value (a
// string's text; an object, array or number as written) becomes its hash
// as a JSON string; null and "" stay. Everything else is copied byte for
// byte. doc is never modified; the result is doc itself when nothing
// changed.
//
// exact: doc is valid JSON (the decoder or json.Valid said so). Then the
// scan goes string by string, and a string followed by ':' is exactly a
// key, at whatever depth: no tokenizer or decoding is needed (a
// segmentio/encoding Tokenizer walk cost about three times as much,
// BenchmarkScrub). With drop the member is removed with its comma, so doc
// stays valid JSON. With addrs every IP address literal in any other
// string, key or value, is replaced too (dead letters).
//
// Not exact (truncated or garbage text): every quote may start a key, a
// value may be cut off by the end of doc (its rest is the value), and drop
// replaces a value by "".
func (s *scrubber) members(doc []byte, exact, addrs bool) []byte {
	e := edit{doc: doc}
	for i := 0; i < len(doc); {
		q := bytes.IndexByte(doc[i:], '"')
		if q < 0 {
			break
		}
		start := i + q
		var end, next int
		var closed bool
		if exact {
			end, closed = stringEnd(doc, start)
			next = end
		} else {
			// Any quote may start a key, so look for its end only as far
			// as a key can reach: scanning to the end of the input from
			// every quote would be quadratic.
			end, closed = stringEnd(doc[:min(len(doc), start+maxKeyString)], start)
			next = start + 1
		}
		if !closed {
			i = next
			continue
		}
		colon := skipSpace(doc, end)
		if colon >= len(doc) || doc[colon] != ':' || !isPIIKeyString(doc[start:end]) {
			if addrs {
				s.stringAddresses(&e, start, end)
			}
			i = next
			continue
		}
		v := skipSpace(doc, colon+1)
		if v >= len(doc) {
			break // the input ends after the key: no value to scrub
		}
		vEnd, val, keep := valueAt(doc, v)
		switch {
		case s.mode == PIIDrop && exact:
			dropMember(&e, start, vEnd)
		case keep:
		case s.mode == PIIDrop:
			e.replace(v, vEnd, []byte(`""`))
		default:
			e.out = s.appendReplacement(e.upTo(v), val)
			e.copied = vEnd
		}
		i = vEnd
	}
	return e.result()
}

// dropMember removes the member doc[key:end] of valid JSON with the comma
// that separates it from the one before; or, when none is left before it
// in its object, with the comma after it.
func dropMember(e *edit, key, end int) {
	doc := e.doc
	p := key - 1
	for p > 0 && isSpace(doc[p]) {
		p--
	}
	if doc[p] == ',' && p >= e.copied { // that comma is still there
		e.replace(p, end, nil)
		return
	}
	if n := skipSpace(doc, end); n < len(doc) && doc[n] == ',' {
		end = n + 1
	}
	e.replace(max(key, e.copied), end, nil)
}

// maxKeyString is the longest a quoted PII key can be written: every
// character \u-escaped.
const maxKeyString = 2 + 6*len("user_agent")

// isPIIKeyString reports whether the quoted string str names a PII field.
func isPIIKeyString(str []byte) bool {
	if len(str) > maxKeyString {
		return false
	}
	return isPIIKey(stringText(str))
}

// stringAddresses rewrites the string doc[start:end] when its text holds
// an IP address literal.
func (s *scrubber) stringAddresses(e *edit, start, end int) {
	scrubbed := s.addresses(stringText(e.doc[start:end]), false)
	if scrubbed == nil {
		return
	}
	e.replace(start, end, json.AppendEscape(nil, string(scrubbed), 0))
}

// stringEnd finds the end of the string starting at b[start] (a quote):
// after its closing quote, or len(b) when there is none (closed false).
func stringEnd(b []byte, start int) (end int, closed bool) {
	for j := start + 1; ; {
		q := bytes.IndexByte(b[j:], '"')
		if q < 0 {
			return len(b), false
		}
		k := j + q
		n := 0 // backslashes before the quote: an odd number escapes it
		for k-1-n > start && b[k-1-n] == '\\' {
			n++
		}
		if n%2 == 0 {
			return k + 1, true
		}
		j = k + 1
	}
}

// stringText is the text of the quoted string str: unescaped when it has
// escapes (then a copy), as written when that fails.
func stringText(str []byte) []byte {
	if bytes.IndexByte(str, '\\') < 0 {
		return str[1 : len(str)-1]
	}
	var u string
	if json.Unmarshal(str, &u) != nil {
		return str[1 : len(str)-1]
	}
	return []byte(u)
}

// valueAt finds the value starting at b[v] (not a space): a string to its
// closing quote, an object or array to its matching bracket, anything else
// to the next ',', '}', ']' or line end; each to the end of b when cut off
// before. val is what is hashed: a complete string's text, else the bytes
// as written. keep: null or "" (nothing to hide).
func valueAt(b []byte, v int) (end int, val []byte, keep bool) {
	switch b[v] {
	case '"':
		end, closed := stringEnd(b, v)
		if !closed {
			return end, b[v+1:], false
		}
		val = stringText(b[v:end])
		return end, val, len(val) == 0
	case '{', '[':
		depth := 0
		for j := v; j < len(b); j++ {
			switch b[j] {
			case '"':
				end, closed := stringEnd(b, j)
				if !closed {
					return len(b), b[v:], false
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1, b[v : j+1], false
				}
			}
		}
		return len(b), b[v:], false
	}
	j := v
	for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != '\n' && b[j] != '\r' {
		j++
	}
	for j > v && (b[j-1] == ' ' || b[j-1] == '\t') {
		j--
	}
	return j, b[v:j], string(b[v:j]) == "null"
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// edit builds a rewritten copy of doc from left to right, allocating only
// at the first change.
type edit struct {
	doc     []byte
	out     []byte
	copied  int // doc[:copied] is accounted for in out
	changed bool
}

// replace puts with in place of doc[start:end] (start ≥ copied).
func (e *edit) replace(start, end int, with []byte) {
	e.out = append(e.upTo(start), with...)
	e.copied = end
}

// upTo copies what is left of doc before start into out and returns out,
// to append a replacement to; the caller then sets copied past what it
// replaced.
func (e *edit) upTo(start int) []byte {
	if !e.changed {
		e.out, e.changed = make([]byte, 0, len(e.doc)+32), true
	}
	return append(e.out, e.doc[e.copied:start]...)
}

func (e *edit) result() []byte {
	if !e.changed {
		return e.doc
	}
	return append(e.out, e.doc[e.copied:]...)
}
