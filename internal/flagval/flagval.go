// Package flagval checks the values of the worker binaries' flags and
// quotes them safely. A range is declared once, with the flag's name, and
// serves both the flag's help text ("(1 to 64)") and its check, so the two
// cannot drift. Every error names the flag and quotes a value only through
// Redact: a password inside an address never reaches a log or a terminal.
package flagval

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Int is an integer flag's name and its inclusive range.
type Int struct {
	Name     string
	Min, Max int
}

// Usage is the flag's help text with its range.
func (r Int) Usage(text string) string { return fmt.Sprintf("%s (%d to %d)", text, r.Min, r.Max) }

// Check names the flag when v is out of range.
func (r Int) Check(v int) error {
	if v < r.Min || v > r.Max {
		return fmt.Errorf("%s: must be %d to %d, got %d", r.Name, r.Min, r.Max, v)
	}
	return nil
}

// Duration is a duration flag's name and its inclusive range.
type Duration struct {
	Name     string
	Min, Max time.Duration
}

// Usage is the flag's help text with its range.
func (r Duration) Usage(text string) string {
	return fmt.Sprintf("%s (%s to %s)", text, Short(r.Min), Short(r.Max))
}

// Check names the flag when v is out of range.
func (r Duration) Check(v time.Duration) error {
	if v < r.Min || v > r.Max {
		return fmt.Errorf("%s: must be %s to %s, got %s", r.Name, Short(r.Min), Short(r.Max), Short(v))
	}
	return nil
}

// First is the first non-nil error: checks listed in the order of the
// flags, the first mistake reported.
func First(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// Short writes d as people do: 24h, 1h30m, 30s, 100ms, 0s (time.Duration's
// String gives 24h0m0s).
func Short(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// List is a comma-separated flag value (blank parts dropped). Set the
// default before binding it, so --help shows it.
type List []string

func (l *List) String() string { return strings.Join(*l, ",") }

// Set replaces the list: a flag or an environment variable gives the whole
// list, and an empty value gives an empty one.
func (l *List) Set(s string) error {
	*l = nil
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			*l = append(*l, part)
		}
	}
	return nil
}

// redacted replaces whatever may be a credential.
const redacted = "REDACTED"

// Redact returns a flag value fit to quote in a message: the user
// information of an address or URL ("user:password@host:9000",
// "https://TOKEN@host/") is replaced whole (a token is often the user
// name), and so is every query parameter's value ("?X-Amz-Signature=…").
// When in doubt it hides too much: everything before the last '@'.
func Redact(v string) string {
	prefix, rest := "", v
	if i := strings.Index(v, "://"); i >= 0 {
		prefix, rest = v[:i+3], v[i+3:]
	}
	if at := strings.LastIndexByte(rest, '@'); at >= 0 {
		rest = redacted + rest[at:]
	}
	q := strings.IndexByte(rest, '?')
	if q < 0 {
		return prefix + rest
	}
	query, frag := rest[q+1:], ""
	if h := strings.IndexByte(query, '#'); h >= 0 {
		query, frag = query[:h], query[h:]
	}
	params := strings.Split(query, "&")
	for i, p := range params {
		if k, _, ok := strings.Cut(p, "="); ok {
			params[i] = k + "=" + redacted
		}
	}
	return prefix + rest[:q+1] + strings.Join(params, "&") + frag
}

// hostName: a DNS name (labels of letters, digits, '-' and '_') or an IPv4
// address. IPv6 addresses are checked by net.ParseIP.
var hostName = regexp.MustCompile(`^[A-Za-z0-9_]([A-Za-z0-9_-]{0,62})(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,62}))*\.?$`)

// HostPort checks an address flag's value: host:port with a port of 1 to
// 65535 and a host that is a name or an IP address ([::1]:9000 for IPv6).
// A listener's address may leave the host empty (":9464": every
// interface) and take port 0 (any free port).
func HostPort(name, v string, listener bool) error {
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		return fmt.Errorf("%s: %q is not host:port", name, Redact(v))
	}
	lowest := 1
	if listener {
		lowest = 0
	}
	if n, err := strconv.Atoi(port); err != nil || n < lowest || n > 65535 {
		return fmt.Errorf("%s: %q: the port must be %d to 65535", name, Redact(v), lowest)
	}
	switch {
	case host == "" && listener:
	case host == "":
		return fmt.Errorf("%s: %q has no host", name, Redact(v))
	case net.ParseIP(host) == nil && !hostName.MatchString(host):
		return fmt.Errorf("%s: %q: %q is not a host name or an IP address", name, Redact(v), Redact(host))
	}
	return nil
}

// HTTPURL checks a base URL flag's value: http or https, a host, a port of
// 1 to 65535 if one is given, and no credentials in it (they belong in
// their own flags or environment variables, which are never printed).
func HTTPURL(name, v string) (*url.URL, error) {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%s: %q is not an http(s)://host[:port] URL", name, Redact(v))
	}
	if u.User != nil {
		return nil, fmt.Errorf("%s: %q must not hold credentials", name, Redact(v))
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("%s: %q: the port must be 1 to 65535", name, Redact(v))
		}
	}
	if h := u.Hostname(); net.ParseIP(h) == nil && !hostName.MatchString(h) {
		return nil, fmt.Errorf("%s: %q: %q is not a host name or an IP address", name, Redact(v), h)
	}
	return u, nil
}

// ReadFile reads a small file a flag names (a CA bundle, a key) after
// checking that it is a regular file: a device or a pipe would block or
// never end.
func ReadFile(name, path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: %s is %s, not a regular file", name, path, FileKind(fi.Mode()))
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return b, nil
}

// OutputFile checks that a file a flag names for writing (--cpu-profile)
// can be created: its directory exists and it is not itself a directory.
// It creates nothing.
func OutputFile(name, path string) error {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return fmt.Errorf("%s: %s is a directory", name, path)
	}
	dir := filepath.Dir(path)
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%s: the directory %s does not exist", name, dir)
	case err != nil:
		return fmt.Errorf("%s: %w", name, err)
	case !fi.IsDir():
		return fmt.Errorf("%s: %s is not a directory", name, dir)
	}
	return nil
}

// FileKind names a file's type for messages: "a named pipe (FIFO)", "a
// character device", … (fs.FileMode's String gives "Dc---------").
func FileKind(m fs.FileMode) string {
	switch t := m.Type(); {
	case t == 0:
		return "a regular file"
	case t&fs.ModeDir != 0:
		return "a directory"
	case t&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case t&fs.ModeSocket != 0:
		return "a socket"
	case t&fs.ModeCharDevice != 0:
		return "a character device"
	case t&fs.ModeDevice != 0:
		return "a block device"
	case t&fs.ModeSymlink != 0:
		return "a symbolic link"
	}
	return "not a regular file"
}

// identifier: what ClickHouse accepts unquoted as a database or cluster
// name.
var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Identifier checks a name that goes into SQL unquoted.
func Identifier(name, v string) error {
	if !identifier.MatchString(v) {
		return fmt.Errorf("%s: %q is not a plain name (letters, digits and _, not starting with a digit)", name, v)
	}
	return nil
}
