package ingest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

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

var piiFields = []string{"actor_ip", "user_agent"}

// scrubPII applies mode to the typed fields and to the raw event, so the
// value is gone from every column, not only the typed ones.
func scrubPII(ev *events.Event, mode PII, salt string) error {
	if mode == PIIKeep || mode == "" {
		return nil
	}
	ev.ActorIP = piiValue(ev.ActorIP, mode, salt)
	ev.UserAgent = piiValue(ev.UserAgent, mode, salt)
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(ev.Raw, &obj); err != nil {
		return fmt.Errorf("scrub PII: %w", err)
	}
	changed := false
	for _, f := range piiFields {
		v, ok := obj[f]
		if !ok {
			continue
		}
		changed = true
		if mode == PIIDrop {
			delete(obj, f)
			continue
		}
		var s string
		if json.Unmarshal(v, &s) != nil {
			s = string(v)
		}
		obj[f], _ = json.Marshal(piiValue(s, mode, salt))
	}
	if !changed {
		return nil
	}
	raw, err := json.Marshal(obj)
	if err != nil {
		return fmt.Errorf("scrub PII: %w", err)
	}
	ev.Raw = raw
	return nil
}

func piiValue(v string, mode PII, salt string) string {
	if v == "" {
		return ""
	}
	switch mode {
	case PIIDrop:
		return ""
	case PIIHash:
		sum := sha256.Sum256([]byte(salt + v))
		return hex.EncodeToString(sum[:16])
	}
	return v
}
