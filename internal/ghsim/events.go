package ghsim

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"hash/fnv"
	"strconv"
	"strings"
	"time"
)

// actorInfo is who performed a change, as the audit event records it.
type actorInfo struct {
	login       string
	id          int64
	bot         bool
	ip          string
	country     string
	userAgent   string
	requestID   string
	hashedToken string
	progType    string // programmatic_access_type
}

// evSpec is one audit event to emit.
type evSpec struct {
	action, op     string // action, operation_type
	org            *org   // nil: enterprise-level (enterprise-team seats)
	user           string
	userID         int64
	team           string // team assignments: "org/slug" or "ent:slug"
	seatAssignment string // copilot.cfb_seat_cancelled
	oldValue       string
	newValue       string
	owner          bool           // add owner/owner_type (policy events)
	fields         map[string]any // further action-specific fields (old_login, plan, enterprise_team, …)
}

const browserUA = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"

// systemActor is the actor of a change made through the Go API: login (""
// = Options.Admin) in a browser, from a documentation-range address.
// Needs s.mu.
func (s *Server) systemActor(login string) *actorInfo {
	if login == "" {
		login = s.opts.Admin
	}
	h := fnv.New64a()
	h.Write([]byte(login))
	sum := h.Sum64()
	a := &actorInfo{
		login:     login,
		id:        2_000_000 + int64(sum%90_000_000),
		ip:        "203.0.113." + strconv.Itoa(int(1+sum%250)),
		country:   []string{"US", "US", "DE", "IN", "GB", "JP", "BR", "CA"}[sum>>32%8],
		userAgent: browserUA,
		requestID: s.requestID(s.rng.Uint64(), s.rng.Uint64()),
	}
	if u, ok := s.users[login]; ok {
		a.id = u.id
	}
	return a
}

// requestID formats a GitHub request id (e.g. C0DE:3A1F:8B2E41:9D3C77:65E1A2B0).
func (s *Server) requestID(v, w uint64) string {
	const hex = "0123456789ABCDEF"
	b := make([]byte, 0, 32)
	for k, n := range [...]int{4, 4, 6, 6, 8} {
		if k > 0 {
			b = append(b, ':')
		}
		for range n {
			b = append(b, hex[v&15])
			v = v>>4 | (w&15)<<60
			w >>= 4
		}
	}
	return string(b)
}

func (s *Server) newDocID() string {
	s.docSeq++
	a := splitmix(s.docSeed + s.docSeq*0x9e3779b97f4a7c15)
	b := splitmix(a ^ s.docSeed)
	var raw [16]byte
	for i := 0; i < 8; i++ {
		raw[i] = byte(a >> (8 * i))
		raw[8+i] = byte(b >> (8 * i))
	}
	return base64.RawURLEncoding.EncodeToString(raw[:])
}

// emit appends one streamed audit event (GitHub's shape: flat JSON object,
// keys in alphabetical order, timestamps in Unix ms) and returns its
// @timestamp: the simulated clock, or 1 ms after the previous event's when
// that is not later. Without Options.MembershipEvents an action outside
// copilot.* is not emitted (the stream stays as it was before the simulator
// knew membership events); its would-be timestamp is returned. Needs s.mu.
func (s *Server) emit(e evSpec, a *actorInfo) time.Time {
	ts := s.now.UnixMilli()
	if ts <= s.lastTS {
		ts = s.lastTS + 1
	}
	if !s.opts.MembershipEvents && !strings.HasPrefix(e.action, "copilot.") {
		return time.UnixMilli(ts).UTC()
	}
	s.lastTS = ts
	m := map[string]any{
		"@timestamp":                     ts,
		"created_at":                     ts,
		"_document_id":                   s.newDocID(),
		"action":                         e.action,
		"actor":                          a.login,
		"actor_id":                       a.id,
		"actor_ip":                       a.ip,
		"actor_is_bot":                   a.bot,
		"actor_location":                 map[string]string{"country_code": a.country},
		"business":                       s.opts.Enterprise,
		"business_id":                    s.enterpriseID,
		"hashed_token":                   a.hashedToken,
		"operation_type":                 e.op,
		"programmatic_access_type":       a.progType,
		"request_access_security_header": nil,
		"request_id":                     a.requestID,
		"user_agent":                     a.userAgent,
	}
	if e.org != nil {
		m["org"] = e.org.login
		m["org_id"] = e.org.id
	}
	if e.user != "" {
		m["user"] = e.user
		m["user_id"] = e.userID
	}
	if e.team != "" {
		m["team"] = e.team
	}
	if e.seatAssignment != "" {
		m["seat_assignment"] = e.seatAssignment
	}
	if e.oldValue != "" || e.newValue != "" {
		m["old_value"] = e.oldValue
		m["new_value"] = e.newValue
	}
	if e.owner {
		if e.org != nil {
			m["owner"], m["owner_type"] = e.org.login, "Organization"
		} else {
			m["owner"], m["owner_type"] = s.opts.Enterprise, "Business"
		}
	}
	for k, v := range e.fields {
		m[k] = v
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		panic("ghsim: encoding an audit event: " + err.Error())
	}
	s.events = append(s.events, bytes.TrimRight(buf.Bytes(), "\n"))
	return time.UnixMilli(ts).UTC()
}
