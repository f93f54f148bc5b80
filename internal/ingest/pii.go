package ingest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/segmentio/encoding/json"

	"github.com/seatline/seatline/pkg/events"
)

// PII says what happens to actor_ip and user_agent before they are stored.
type PII string

const (
	PIIKeep PII = "keep" // store as received (default)
	PIIHash PII = "hash" // store a salted SHA-256 (first 16 bytes, hex): joinable, not readable
	PIIDrop PII = "drop" // store nothing
)

func (p PII) valid() bool { return p == PIIKeep || p == PIIHash || p == PIIDrop }

// MinPIISaltBytes is the shortest --pii-salt accepted. Without a secret
// salt every IPv4 address can be hashed in minutes and looked up; 16 bytes
// (128 bits, e.g. `openssl rand -hex 16`) cannot be guessed.
const MinPIISaltBytes = 16

// piiKeys are the fields scrubbed wherever they appear, matched as a JSON
// decoder would match a struct field: after unescaping, ignoring case.
var piiKeys = [...][]byte{[]byte("actor_ip"), []byte("user_agent")}

// isPIIKey reports whether the unescaped key k names a PII field. Case is
// folded as encoding/json folds it (bytes.EqualFold, so "uſer_agent" with a
// long s counts too).
func isPIIKey(k []byte) bool {
	if len(k) < len("actor_ip") || len(k) > 3*len("user_agent") { // a folded rune is at most 3 bytes
		return false
	}
	for _, p := range piiKeys {
		if bytes.EqualFold(k, p) {
			return true
		}
	}
	return false
}

// scrubber applies the PII mode to events and dead letters. It keeps a
// buffer between calls, so it is used by one goroutine (the pipeline's
// read loop).
type scrubber struct {
	mode PII
	salt []byte
	buf  []byte // hash input
}

func newScrubber(mode PII, salt string) *scrubber {
	return &scrubber{mode: mode, salt: []byte(salt)}
}

// on reports whether anything is scrubbed (hash or drop).
func (s *scrubber) on() bool { return s.mode == PIIHash || s.mode == PIIDrop }

// event applies the mode to the typed fields and to every PII member of the
// raw event, at any depth, so the value is gone from every column. Raw
// stays a valid JSON object with everything else as received.
func (s *scrubber) event(ev *events.Event) {
	if !s.on() {
		return
	}
	ev.ActorIP = s.value(ev.ActorIP)
	ev.UserAgent = s.value(ev.UserAgent)
	ev.Raw = s.members(ev.Raw, true, false) // Parse accepted it: valid JSON
}

// deadLetter returns kept (the start of a dead letter's original) without
// PII. JSON is scrubbed as events are, and every IP address literal in any
// other string goes too: a dead letter's fields were not understood, so an
// address may be anywhere. Bytes that are not JSON are scrubbed by
// pattern: the value after every PII key, to the end of the input when it
// is cut off there, then every IP address literal. kept itself is never
// modified.
func (s *scrubber) deadLetter(kept []byte) []byte {
	if !s.on() || len(kept) == 0 {
		return kept
	}
	if json.Valid(kept) {
		return s.members(kept, true, true)
	}
	out := s.members(kept, false, false)
	if scrubbed := s.addresses(out, true); scrubbed != nil {
		return scrubbed
	}
	return out
}

// reason returns a dead letter's reason without IP address literals:
// reasons describe positions and types, never values, but one from a
// source's own error could quote what it read.
func (s *scrubber) reason(r string) string {
	if !s.on() {
		return r
	}
	if out := s.addresses([]byte(r), false); out != nil {
		return string(out)
	}
	return r
}

// value is what is stored for a PII string: its salted hash, or nothing.
func (s *scrubber) value(v string) string {
	if v == "" || !s.on() {
		return v
	}
	if s.mode == PIIDrop {
		return ""
	}
	return string(s.appendHash(nil, []byte(v)))
}

// appendHash appends the hex of the first 16 bytes of SHA-256(salt ‖ v),
// the form --pii hash has always stored (so hashes stay joinable with
// those written before).
func (s *scrubber) appendHash(dst, v []byte) []byte {
	s.buf = append(append(s.buf[:0], s.salt...), v...)
	sum := sha256.Sum256(s.buf)
	return hex.AppendEncode(dst, sum[:16])
}

// appendReplacement appends what replaces a PII value in raw text: its
// hash as a JSON string, or "" when dropping.
func (s *scrubber) appendReplacement(dst, v []byte) []byte {
	dst = append(dst, '"')
	if s.mode == PIIHash {
		dst = s.appendHash(dst, v)
	}
	return append(dst, '"')
}

// validatePII checks the mode and, for hash, the salt. The salt is never
// echoed: only its length.
func validatePII(mode PII, salt string) error {
	switch {
	case !mode.valid():
		return fmt.Errorf("pii: must be keep, hash or drop, got %q", mode)
	case mode == PIIHash && salt == "":
		return fmt.Errorf("pii-salt: required with --pii hash (at least %d bytes of secret, e.g. `openssl rand -hex 16`): unsalted, every IPv4 address can be hashed and looked up in minutes", MinPIISaltBytes)
	case mode == PIIHash && len(salt) < MinPIISaltBytes:
		return fmt.Errorf("pii-salt: must be at least %d bytes, got %d (e.g. `openssl rand -hex 16`)", MinPIISaltBytes, len(salt))
	}
	return nil
}
