package ghclient

import (
	"fmt"
	"log/slog"
	"strings"
	"sync"
)

// redacted is what every secret prints as.
const redacted = "[REDACTED]"

// Secret is a string credential (a PAT, an installation token). Every way of
// printing it (fmt verbs including %#v, String, slog, JSON, text marshalling)
// gives "[REDACTED]"; only this package reads the value.
type Secret string

// String implements fmt.Stringer.
func (Secret) String() string { return redacted }

// GoString implements fmt.GoStringer.
func (Secret) GoString() string { return `"` + redacted + `"` }

// Format implements fmt.Formatter for every verb.
func (Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redacted)) }

// LogValue implements slog.LogValuer.
func (Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalJSON implements json.Marshaler.
func (Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// MarshalText implements encoding.TextMarshaler.
func (Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// SecretBytes is a binary credential (a GitHub App private key in PEM form),
// redacted the same way as Secret.
type SecretBytes []byte

// String implements fmt.Stringer.
func (SecretBytes) String() string { return redacted }

// GoString implements fmt.GoStringer.
func (SecretBytes) GoString() string { return `"` + redacted + `"` }

// Format implements fmt.Formatter for every verb.
func (SecretBytes) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redacted)) }

// LogValue implements slog.LogValuer.
func (SecretBytes) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalJSON implements json.Marshaler.
func (SecretBytes) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// MarshalText implements encoding.TextMarshaler.
func (SecretBytes) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// scrubber remembers every credential the client has put on the wire (the
// PAT, installation tokens, App JWTs) and removes them from any text that
// came from outside this package (server messages, transport errors) before
// that text goes into an error or a log line.
type scrubber struct {
	mu      sync.Mutex
	secrets []string // most recent last
}

const maxRememberedSecrets = 16

func (s *scrubber) add(v string) {
	v = strings.TrimSpace(v)
	if len(v) < 4 { // too short to be a credential; replacing it would mangle text
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, have := range s.secrets {
		if have == v {
			return
		}
	}
	if len(s.secrets) >= maxRememberedSecrets {
		// Keep the first (the configured PAT, when there is one) and drop the oldest of the rest.
		s.secrets = append(s.secrets[:1], s.secrets[2:]...)
	}
	s.secrets = append(s.secrets, v)
}

// addAuthHeader records the credential in an Authorization header value
// ("Bearer x", "token x").
func (s *scrubber) addAuthHeader(h string) {
	if h == "" {
		return
	}
	if _, v, ok := strings.Cut(h, " "); ok {
		s.add(v)
		return
	}
	s.add(h)
}

func (s *scrubber) scrub(text string) string {
	if s == nil || text == "" {
		return text
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range s.secrets {
		if strings.Contains(text, v) {
			text = strings.ReplaceAll(text, v, redacted)
		}
	}
	return text
}
