// Package auditgen generates a deterministic, realistic GitHub audit-log
// stream (one JSON event per line, shaped like GitHub's streamed events) for
// tests, `make demo` and `make bench`.
//
// Most of the stream is noise (git.clone, repo.create, workflow runs, …);
// a configurable fraction is Copilot seat and policy events that follow a
// coherent per-user lifecycle (assigned → unassigned → refreshed or
// cancelled, reused, updated), plus org policy and enterprise plan changes.
// Duplicates re-emit an earlier Copilot event byte for byte (GitHub delivers
// at least once), and malformed lines (truncated, wrong types, invalid UTF-8,
// empty _document_id, timestamps in seconds) all contain "copilot." so the
// byte pre-filter lets them through and they end as dead letters.
//
// The same Config (including Seed) always yields the same bytes. Events are
// built with append/strconv, not reflection: generation runs at well over a
// million events a second on one core.
package auditgen

import (
	"encoding/base64"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/seatline/seatline/pkg/events"
)

// Config describes the stream. Zero values take the documented defaults.
type Config struct {
	Seed       int64
	Enterprise string   // business slug; default "acme-corp"
	BusinessID int64    // default 4242
	Orgs       []string // default acme-platform, acme-mobile, acme-research, acme-data
	Users      int      // distinct users; default 200

	// Fractions of all events. SeatFraction defaults to 0.02 and
	// MembershipFraction to 0.005 (set either < 0 for none);
	// DuplicateFraction and MalformedFraction default to 0.
	SeatFraction       float64 // Copilot seat/policy/plan events (KindSeat)
	MembershipFraction float64 // org/team membership changes seatline keeps as context (KindMembership)
	DuplicateFraction  float64 // earlier Copilot events re-emitted byte for byte (KindDuplicate)
	MalformedFraction  float64 // broken lines, all containing "copilot." (KindMalformed)

	Start time.Time     // @timestamp of the first event; default 2024-03-01T00:00:00Z
	Step  time.Duration // spacing of @timestamp between events; default 100ms
}

// Kind is what a generated record is.
type Kind uint8

const (
	KindSeat       Kind = iota // a Copilot seat, policy or plan event (parses and is accepted)
	KindNoise                  // a non-Copilot audit event (filtered)
	KindDuplicate              // an earlier KindSeat record re-emitted byte for byte
	KindMalformed              // a broken line containing "copilot." (a dead letter)
	KindMembership             // org.add_member, team.add_member, …: kept in membership_events
)

func (k Kind) String() string {
	switch k {
	case KindSeat:
		return "seat"
	case KindNoise:
		return "noise"
	case KindDuplicate:
		return "duplicate"
	case KindMalformed:
		return "malformed"
	case KindMembership:
		return "membership"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Record is one generated line.
type Record struct {
	Line       []byte // one JSON event, no trailing newline; owned by the caller
	Kind       Kind
	DocumentID string // _document_id; empty for malformed lines
	Action     string
	Org, User  string // empty when the event has none
}

// seat lifecycle state of one (org, user)
const (
	seatNone = iota
	seatActive
	seatPending // unassigned, billable until the cycle ends
)

type user struct {
	login   string
	id      int64
	org     int // index into orgs
	country string
	ua      int // preferred user agent
	email   string

	seat     uint8
	seen     bool
	lastSeat events.Transition
}

type org struct {
	name       string
	id         int64
	setting    int // index into seatSettings
	admin      int // index into admins
	repos      []string
	repoIDs    []int64
	teams      []string
	enablement bool
}

type admin struct {
	login   string
	id      int64
	bot     bool
	country string
	ip      string
}

// Generator produces the stream. It is not safe for concurrent use.
type Generator struct {
	cfg    Config
	rng    *rand.Rand
	users  []user
	orgs   []org
	admins []admin
	plan   int // index into plans

	n        int64 // events emitted
	docSeq   uint64
	docSeed  uint64
	startMs  int64
	stepMs   float64
	buf      []byte
	recent   []Record // ring of recent seat records for duplicates
	recentAt int
}

const recentSeats = 4096

// New returns a generator for cfg (defaults applied).
func New(cfg Config) *Generator {
	if cfg.Enterprise == "" {
		cfg.Enterprise = "acme-corp"
	}
	if cfg.BusinessID == 0 {
		cfg.BusinessID = 4242
	}
	if len(cfg.Orgs) == 0 {
		cfg.Orgs = []string{"acme-platform", "acme-mobile", "acme-research", "acme-data"}
	}
	if cfg.Users <= 0 {
		cfg.Users = 200
	}
	if cfg.SeatFraction == 0 {
		cfg.SeatFraction = 0.02
	}
	if cfg.MembershipFraction == 0 {
		cfg.MembershipFraction = 0.005
	}
	cfg.SeatFraction = max(cfg.SeatFraction, 0)
	cfg.MembershipFraction = max(cfg.MembershipFraction, 0)
	cfg.DuplicateFraction = max(cfg.DuplicateFraction, 0)
	cfg.MalformedFraction = max(cfg.MalformedFraction, 0)
	if cfg.Start.IsZero() {
		cfg.Start = time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	}
	if cfg.Step <= 0 {
		cfg.Step = 100 * time.Millisecond
	}
	g := &Generator{
		cfg:     cfg,
		rng:     rand.New(rand.NewPCG(uint64(cfg.Seed), 0x5ea71e5ea71e)),
		startMs: cfg.Start.UnixMilli(),
		stepMs:  float64(cfg.Step) / float64(time.Millisecond),
		docSeed: splitmix(uint64(cfg.Seed) ^ 0xd0c1d),
		buf:     make([]byte, 0, 2048),
	}
	g.setup()
	return g
}

// Config returns the configuration with defaults applied.
func (g *Generator) Config() Config { return g.cfg }

func (g *Generator) setup() {
	r := g.rng
	g.admins = []admin{
		{login: g.cfg.Enterprise + "-admin", bot: false},
		{login: "it-ops-" + pick(r, lastNames), bot: false},
		{login: "seat-sync[bot]", bot: true},
		{login: pick(r, firstNames) + "-" + pick(r, lastNames) + "-owner", bot: false},
	}
	for i := range g.admins {
		a := &g.admins[i]
		a.id = 100000 + r.Int64N(90000000)
		a.country = pick(r, countries)
		a.ip = randIP(r)
	}
	usedRepo := map[string]bool{}
	for i, name := range g.cfg.Orgs {
		o := org{name: name, id: 10000000 + r.Int64N(150000000), setting: r.IntN(2), admin: i % len(g.admins), enablement: true}
		for range 8 {
			rp := name + "/" + pick(r, repoWords) + "-" + pick(r, repoSuffixes)
			if usedRepo[rp] {
				continue
			}
			usedRepo[rp] = true
			o.repos = append(o.repos, rp)
			o.repoIDs = append(o.repoIDs, 300000000+r.Int64N(600000000))
		}
		// A repository whose name contains "copilot." makes some noise events
		// pre-filter false positives (they must end as ErrNotSeatEvent).
		o.repos = append(o.repos, name+"/copilot.vim-config")
		o.repoIDs = append(o.repoIDs, 300000000+r.Int64N(600000000))
		for range 3 {
			o.teams = append(o.teams, name+"/"+pick(r, teamNames))
		}
		g.orgs = append(g.orgs, o)
	}
	seen := map[string]bool{}
	for i := 0; i < g.cfg.Users; i++ {
		var login string
		switch r.IntN(4) {
		case 0:
			login = pick(r, firstNames) + "-" + pick(r, lastNames)
		case 1:
			login = pick(r, firstNames)[:1] + pick(r, lastNames)
		case 2:
			login = pick(r, firstNames) + pick(r, lastNames) + strconv.Itoa(r.IntN(100))
		default:
			login = pick(r, lastNames) + "-" + g.cfg.Enterprise[:min(4, len(g.cfg.Enterprise))]
		}
		for seen[login] {
			login += strconv.Itoa(r.IntN(10))
		}
		seen[login] = true
		g.users = append(g.users, user{
			login:   login,
			id:      1000000 + r.Int64N(150000000),
			org:     r.IntN(len(g.orgs)),
			country: pick(r, countries),
			ua:      r.IntN(len(userAgents)),
			email:   login + "@" + g.cfg.Enterprise + ".example",
		})
	}
}

// Next returns the next record. The returned Line is freshly allocated.
func (g *Generator) Next() Record {
	r := g.rng
	ts := g.startMs + int64(float64(g.n)*g.stepMs)
	g.n++
	x := r.Float64()
	mal, dup, seat, mem := g.cfg.MalformedFraction, g.cfg.DuplicateFraction, g.cfg.SeatFraction, g.cfg.MembershipFraction
	switch {
	case x >= mal+dup+seat && x < mal+dup+seat+mem:
		return g.membership(ts)
	case x < mal:
		return g.malformed(ts)
	case x < mal+dup && len(g.recent) > 0:
		old := g.recent[r.IntN(len(g.recent))]
		old.Line = append([]byte(nil), old.Line...)
		old.Kind = KindDuplicate
		return old
	case x < mal+dup+seat:
		rec := g.seat(ts)
		rec.Line = append([]byte(nil), rec.Line...) // g.buf is reused
		kept := rec
		if len(g.recent) < recentSeats {
			g.recent = append(g.recent, kept)
		} else {
			g.recent[g.recentAt] = kept
			g.recentAt = (g.recentAt + 1) % recentSeats
		}
		// The caller gets its own copy: modifying it cannot change a later
		// duplicate.
		rec.Line = append([]byte(nil), rec.Line...)
		return rec
	}
	return g.noise(ts)
}

// WriteNDJSON writes n records, one per line, to w.
func (g *Generator) WriteNDJSON(w io.Writer, n int) error {
	out := make([]byte, 0, 64<<10)
	for i := 0; i < n; i++ {
		out = append(out, g.Next().Line...)
		out = append(out, '\n')
		if len(out) > 60<<10 {
			if _, err := w.Write(out); err != nil {
				return err
			}
			out = out[:0]
		}
	}
	_, err := w.Write(out)
	return err
}

// State returns, for every (org, user) that had a seat event so far, the
// name of its last transition (events.Transition.String(): "assigned",
// "unassigned", "cancelled", …). Duplicates and malformed lines do not change it.
func (g *Generator) State() map[[2]string]string {
	out := make(map[[2]string]string)
	for i := range g.users {
		u := &g.users[i]
		if u.seen {
			out[[2]string{g.orgs[u.org].name, u.login}] = u.lastSeat.String()
		}
	}
	return out
}

// ---- event bodies ----

// ev holds the common fields of one event; appendEvent writes them in
// GitHub's (alphabetical) key order, with extra fields spliced in order.
type ev struct {
	ts      int64
	docID   []byte // nil: omit _document_id
	action  string
	actor   string
	actorID int64
	actorIP string
	bot     bool
	country string
}

func (g *Generator) newDocID() []byte {
	g.docSeq++
	a := splitmix(g.docSeed + g.docSeq*0x9e3779b97f4a7c15)
	b := splitmix(a ^ g.docSeed)
	var raw [16]byte
	for i := 0; i < 8; i++ {
		raw[i] = byte(a >> (8 * i))
		raw[8+i] = byte(b >> (8 * i))
	}
	out := make([]byte, 22)
	base64.RawURLEncoding.Encode(out, raw[:])
	return out
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// appendHead writes from '{' up to (not including) "actor_location".
func (g *Generator) appendHead(b []byte, e *ev) []byte {
	b = append(b, `{"@timestamp":`...)
	b = strconv.AppendInt(b, e.ts, 10)
	if e.docID != nil {
		b = append(b, `,"_document_id":"`...)
		b = append(b, e.docID...)
		b = append(b, '"')
	}
	b = append(b, `,"action":"`...)
	b = append(b, e.action...)
	b = append(b, `","actor":"`...)
	b = append(b, e.actor...)
	b = append(b, `","actor_id":`...)
	b = strconv.AppendInt(b, e.actorID, 10)
	b = append(b, `,"actor_ip":"`...)
	b = append(b, e.actorIP...)
	b = append(b, '"')
	if g.rng.IntN(10) < 3 { // newer events carry actor_is_agent
		b = append(b, `,"actor_is_agent":false`...)
	}
	b = append(b, `,"actor_is_bot":`...)
	b = strconv.AppendBool(b, e.bot)
	b = append(b, `,"actor_location":{"country_code":"`...)
	b = append(b, e.country...)
	b = append(b, `"},"business":"`...)
	b = append(b, g.cfg.Enterprise...)
	b = append(b, `","business_id":`...)
	b = strconv.AppendInt(b, g.cfg.BusinessID, 10)
	b = append(b, `,"created_at":`...)
	b = strconv.AppendInt(b, e.ts, 10)
	return b
}

func (g *Generator) appendHashedToken(b []byte) []byte {
	var raw [32]byte
	for i := 0; i < 32; i += 8 {
		v := g.rng.Uint64()
		for j := 0; j < 8; j++ {
			raw[i+j] = byte(v >> (8 * j))
		}
	}
	n := len(b)
	b = append(b, make([]byte, 44)...)
	base64.StdEncoding.Encode(b[n:], raw[:])
	return b
}

const hexUpper = "0123456789ABCDEF"

func (g *Generator) appendRequestID(b []byte) []byte {
	// GitHub's request ids look like C0DE:3A1F:8B2E41:9D3C77:65E1A2B0
	// (28 hex digits).
	v, w := g.rng.Uint64(), g.rng.Uint64()
	for k, n := range [...]int{4, 4, 6, 6, 8} {
		if k > 0 {
			b = append(b, ':')
		}
		for range n {
			b = append(b, hexUpper[v&15])
			v = v>>4 | (w&15)<<60
			w >>= 4
		}
	}
	return b
}

// appendRequestFields writes request_access_security_header (present on
// about half of GitHub's events, always null) and request_id.
func (g *Generator) appendRequestFields(b []byte) []byte {
	if g.rng.IntN(2) == 0 {
		b = append(b, `,"request_access_security_header":null`...)
	}
	b = append(b, `,"request_id":"`...)
	b = g.appendRequestID(b)
	return append(b, '"')
}

func (g *Generator) appendHex(b []byte, n int) []byte {
	for n > 0 {
		v := g.rng.Uint64()
		for i := 0; i < 16 && n > 0; i++ {
			b = append(b, "0123456789abcdef"[v&15])
			v >>= 4
			n--
		}
	}
	return b
}

func appendStr(b []byte, key, val string) []byte {
	b = append(b, `,"`...)
	b = append(b, key...)
	b = append(b, `":"`...)
	b = append(b, val...)
	return append(b, '"')
}

func appendInt(b []byte, key string, v int64) []byte {
	b = append(b, `,"`...)
	b = append(b, key...)
	b = append(b, `":`...)
	return strconv.AppendInt(b, v, 10)
}

func appendISO(b []byte, key string, ms int64) []byte {
	b = append(b, `,"`...)
	b = append(b, key...)
	b = append(b, `":"`...)
	b = time.UnixMilli(ms).UTC().AppendFormat(b, "2006-01-02T15:04:05Z")
	return append(b, '"')
}

// ---- seat events ----

// seatAction picks the next lifecycle action of u and advances its state.
func (g *Generator) seatAction(u *user) (action, opType string) {
	r := g.rng
	switch u.seat {
	case seatNone:
		u.seat = seatActive
		switch x := r.IntN(100); {
		case x < 50:
			return "copilot.cfb_seat_added", "create"
		case x < 85:
			return "copilot.cfb_seat_assignment_created", "create"
		default:
			return "copilot.seat_assignment_created", "create"
		}
	case seatActive:
		switch x := r.IntN(100); {
		case x < 45:
			u.seat = seatPending
			return "copilot.cfb_seat_assignment_unassigned", "remove"
		case x < 55:
			u.seat = seatPending
			return "copilot.seat_assignment_cancelled", "remove"
		case x < 85:
			return "copilot.cfb_seat_assignment_reused", "modify"
		default:
			return "copilot.seat_assignment_updated", "modify"
		}
	default: // pending
		switch x := r.IntN(100); {
		case x < 45:
			u.seat = seatActive
			return "copilot.cfb_seat_assignment_refreshed", "modify"
		case x < 95:
			u.seat = seatNone
			return "copilot.cfb_seat_cancelled", "remove"
		default:
			u.seat = seatNone
			return "copilot.cfb_seat_cancelled_by_staff", "remove"
		}
	}
}

func (g *Generator) seat(ts int64) Record {
	r := g.rng
	x := r.IntN(1000)
	switch {
	case x < 40:
		return g.policyEvent(ts)
	case x < 55:
		return g.planEvent(ts)
	}
	u := &g.users[r.IntN(len(g.users))]
	action, opType := g.seatAction(u)
	tr, _ := events.Classify(action)
	u.seen, u.lastSeat = true, tr
	o := &g.orgs[u.org]
	b := g.appendSeatUser(g.buf[:0], ts, g.newDocID(), action, opType, o, u, 0)
	g.buf = b
	return Record{Line: b, Kind: KindSeat, DocumentID: docIDOf(b), Action: action, Org: o.name, User: u.login}
}

// corruption modes for appendSeatUser (malformed lines)
const (
	okLine = iota
	badActorID
	badUTF8
	timestampSeconds
)

func (g *Generator) appendSeatUser(b []byte, ts int64, docID []byte, action, opType string, o *org, u *user, mode int) []byte {
	r := g.rng
	a := &g.admins[o.admin]
	if r.IntN(4) == 0 {
		a = &g.admins[r.IntN(len(g.admins))]
	}
	e := ev{ts: ts, docID: docID, action: action, actor: a.login, actorID: a.id, actorIP: a.ip,
		bot: a.bot, country: a.country}
	if mode == timestampSeconds {
		e.ts = ts / 1000
	}
	if a.bot {
		e.actorIP = ""
	}
	b = g.appendHead(b, &e)
	if mode == badActorID {
		// Replace the integer actor_id with a string.
		b = replaceOnce(b, `"actor_id":`+strconv.FormatInt(a.id, 10), `"actor_id":"abc"`)
	}
	b = appendStr(b, "external_identity_nameid", u.email)
	if !a.bot {
		b = append(b, `,"hashed_token":""`...)
	} else {
		b = append(b, `,"hashed_token":"`...)
		b = g.appendHashedToken(b)
		b = append(b, '"')
	}
	b = appendStr(b, "operation_type", opType)
	b = appendStr(b, "org", o.name)
	b = appendInt(b, "org_id", o.id)
	if a.bot {
		b = appendStr(b, "programmatic_access_type", "GitHub App server-to-server token")
	} else {
		b = appendStr(b, "programmatic_access_type", "")
	}
	b = g.appendRequestFields(b)
	if action == "copilot.cfb_seat_cancelled" || action == "copilot.cfb_seat_cancelled_by_staff" {
		b = appendStr(b, "seat_assignment", "user:"+u.login)
	}
	b = appendStr(b, "user", u.login)
	ua := adminAgents[int(a.id)%len(adminAgents)]
	if a.bot {
		ua = "seat-sync/1.4.2 (+https://github.com/" + g.cfg.Enterprise + "/seat-sync) octokit-core.js/5.0.2 Node.js/20.11.1"
	}
	if mode == badUTF8 {
		b = append(b, `,"user_agent":"`...)
		b = append(b, ua[:len(ua)/2]...)
		b = append(b, 0xff, 0xfe, 'x', 0xc3)
		b = append(b, ua[len(ua)/2:]...)
		b = append(b, '"')
	} else {
		b = appendStr(b, "user_agent", ua)
	}
	b = appendInt(b, "user_id", u.id)
	return append(b, '}')
}

var seatSettings = []string{"assign_selected", "assign_all", "disabled", "unconfigured"}
var plans = []string{"business", "enterprise"}

func (g *Generator) policyEvent(ts int64) Record {
	r := g.rng
	o := &g.orgs[r.IntN(len(g.orgs))]
	a := &g.admins[o.admin]
	e := ev{ts: ts, docID: g.newDocID(), actor: a.login, actorID: a.id, actorIP: a.ip, bot: a.bot,
		country: a.country}
	var oldV, newV string
	switch x := r.IntN(10); {
	case x < 7:
		e.action = "copilot.cfb_seat_management_changed"
		oldV = seatSettings[o.setting]
		o.setting = (o.setting + 1 + r.IntN(len(seatSettings)-1)) % len(seatSettings)
		newV = seatSettings[o.setting]
	case x < 9:
		e.action = "copilot.cfb_org_settings_changed"
		oldV, newV = "suggestions_matching_public_code:allow", "suggestions_matching_public_code:block"
		if r.IntN(2) == 0 {
			oldV, newV = newV, oldV
		}
	default:
		e.action = "copilot.cfb_enterprise_org_enablement_changed"
		oldV, newV = strconv.FormatBool(o.enablement), strconv.FormatBool(!o.enablement)
		o.enablement = !o.enablement
	}
	b := g.appendHead(g.buf[:0], &e)
	b = appendStr(b, "new_value", newV)
	b = appendStr(b, "old_value", oldV)
	b = appendStr(b, "operation_type", "modify")
	b = appendStr(b, "org", o.name)
	b = appendInt(b, "org_id", o.id)
	b = appendStr(b, "owner", o.name)
	b = appendStr(b, "owner_type", "Organization")
	b = g.appendRequestFields(b)
	b = appendStr(b, "user_agent", adminAgents[r.IntN(len(adminAgents))])
	b = append(b, '}')
	g.buf = b
	return Record{Line: b, Kind: KindSeat, DocumentID: docIDOf(b), Action: e.action, Org: o.name}
}

func (g *Generator) planEvent(ts int64) Record {
	r := g.rng
	a := &g.admins[0]
	e := ev{ts: ts, docID: g.newDocID(), action: "copilot.plan_changed", actor: a.login, actorID: a.id,
		actorIP: a.ip, bot: a.bot, country: a.country}
	old := plans[g.plan]
	g.plan = 1 - g.plan
	b := g.appendHead(g.buf[:0], &e)
	b = appendStr(b, "external_identity_nameid", a.login+"@"+g.cfg.Enterprise+".example")
	b = append(b, `,"hashed_token":""`...)
	b = appendStr(b, "old_plan", old)
	b = appendStr(b, "operation_type", "modify")
	b = appendStr(b, "owner", g.cfg.Enterprise)
	b = appendStr(b, "owner_type", "Business")
	b = appendStr(b, "plan", plans[g.plan])
	b = appendStr(b, "programmatic_access_type", "")
	b = g.appendRequestFields(b)
	b = appendStr(b, "user_agent", adminAgents[r.IntN(len(adminAgents))])
	b = append(b, '}')
	g.buf = b
	return Record{Line: b, Kind: KindSeat, DocumentID: docIDOf(b), Action: e.action}
}

// docIDOf extracts the _document_id just written (always at a fixed place:
// right after the timestamp).
func docIDOf(b []byte) string {
	const key = `,"_document_id":"`
	i := indexOf(b, key)
	if i < 0 {
		return ""
	}
	s := b[i+len(key):]
	return string(s[:22])
}

// ---- malformed ----

func (g *Generator) malformed(ts int64) Record {
	r := g.rng
	u := &g.users[r.IntN(len(g.users))]
	o := &g.orgs[u.org]
	action := "copilot.cfb_seat_added"
	if r.IntN(2) == 0 {
		action = "copilot.cfb_seat_assignment_unassigned"
	}
	var b []byte
	switch r.IntN(5) {
	case 0: // truncated JSON: cut somewhere after the action
		b = g.appendSeatUser(g.buf[:0], ts, g.newDocID(), action, "create", o, u, okLine)
		from := indexOf(b, action) + len(action)
		b = b[:from+r.IntN(len(b)-1-from)]
	case 1: // wrong type: "actor_id":"abc"
		b = g.appendSeatUser(g.buf[:0], ts, g.newDocID(), action, "create", o, u, badActorID)
	case 2: // invalid UTF-8 in user_agent
		b = g.appendSeatUser(g.buf[:0], ts, g.newDocID(), action, "create", o, u, badUTF8)
	case 3: // empty _document_id (an absent one is no longer an error: events.Parse derives an id)
		b = g.appendSeatUser(g.buf[:0], ts, []byte{}, action, "create", o, u, okLine)
	default: // @timestamp in seconds, not milliseconds
		b = g.appendSeatUser(g.buf[:0], ts, g.newDocID(), action, "create", o, u, timestampSeconds)
	}
	g.buf = b
	return Record{Line: append([]byte(nil), b...), Kind: KindMalformed, Action: action, Org: o.name, User: u.login}
}

// ---- noise ----

var noiseActions = []string{
	"git.clone", "git.clone", "git.clone", "git.fetch", "git.fetch", "git.push",
	"workflows.completed_workflow_run", "workflows.completed_workflow_run", "workflows.created_workflow_run",
	"pull_request.merge", "pull_request.create", "repo.create", "repo.access", "repo.download_zip",
	"org.update_member", "org.update_member", "protected_branch.policy_override",
	"integration_installation.repositories_added", "oauth_access.create",
	"personal_access_token.access_granted", "business.set_actions_retention_limit",
}

// membershipActions: the membership changes seatline keeps as context
// (events.ClassifyMembership), in realistic proportions.
var membershipActions = []string{"org.add_member", "org.add_member", "team.add_member", "team.add_member", "team.add_member",
	"team.remove_member", "org.remove_member"}

func (g *Generator) membership(ts int64) Record {
	rec := g.event(ts, membershipActions[g.rng.IntN(len(membershipActions))])
	rec.Kind = KindMembership
	rec.Line = append([]byte(nil), rec.Line...)
	return rec
}

func (g *Generator) noise(ts int64) Record {
	return g.event(ts, noiseActions[g.rng.IntN(len(noiseActions))])
}

// event writes one non-Copilot audit event of action.
func (g *Generator) event(ts int64, action string) Record {
	r := g.rng
	u := &g.users[r.IntN(len(g.users))]
	o := &g.orgs[u.org]
	ri := r.IntN(len(o.repos) - 1)
	if r.IntN(100) == 0 {
		ri = len(o.repos) - 1 // the copilot.vim-config repository
	}
	e := ev{ts: ts, docID: g.newDocID(), action: action, actor: u.login, actorID: u.id,
		actorIP: randIP(r), country: u.country}
	b := g.buf[:0]
	rec := Record{Kind: KindNoise, Action: action, Org: o.name}
	n := noise{e: &e, u: u, o: o, ri: ri, rec: &rec, ua: userAgents[u.ua]}
	switch action {
	case "git.clone", "git.fetch", "git.push":
		b = g.gitAccess(b, &n)
	case "workflows.completed_workflow_run", "workflows.created_workflow_run":
		b = g.workflowRun(b, &n, action)
	case "pull_request.merge", "pull_request.create":
		b = g.pullRequest(b, &n)
	case "repo.create", "repo.access", "repo.download_zip":
		b = g.repoAccess(b, &n, action)
	case "org.add_member", "org.update_member", "team.add_member", "team.remove_member", "org.remove_member":
		b = g.memberChange(b, &n, action)
	case "protected_branch.policy_override":
		b = g.branchOverride(b, &n)
	case "integration_installation.repositories_added", "oauth_access.create", "personal_access_token.access_granted":
		b = g.appToken(b, &n)
	default: // business.*: enterprise-level, no org
		b = g.business(b, &n)
	}
	b = g.appendRequestFields(b)
	if ua := n.ua; ua != "" {
		if len(b)+len(ua)+17 > 890 {
			ua = "GitHub CLI 2.45.0" // keep events within GitHub's usual size
		}
		b = appendStr(b, "user_agent", ua)
	}
	b = append(b, '}')
	// Pad short events to GitHub's typical size with an external identity
	// when there is none yet (it would have been sorted earlier, but key
	// order carries no meaning).
	if len(b) < 420 {
		b = b[:len(b)-1]
		b = appendStr(b, "external_identity_nameid", u.email)
		b = appendStr(b, "actor_session_id", strconv.FormatInt(1e9+r.Int64N(9e9), 10))
		b = append(b, '}')
	}
	g.buf = b
	rec.Line = append([]byte(nil), b...)
	rec.DocumentID = docIDOf(b)
	return rec
}

// noise is the noise event being written: its head, user, org and
// repository, the record it becomes, and the user agent it ends with ("":
// none).
type noise struct {
	e   *ev
	u   *user
	o   *org
	ri  int
	rec *Record
	ua  string
}

// gitAccess appends the fields of a git clone, fetch or push over HTTPS with an OAuth token.
func (g *Generator) gitAccess(b []byte, n *noise) []byte {
	r := g.rng
	n.ua = gitAgents[r.IntN(len(gitAgents))]
	b = g.appendHead(b, n.e)
	b = append(b, `,"hashed_token":"`...)
	b = g.appendHashedToken(b)
	b = append(b, '"')
	b = appendStr(b, "operation_type", "access")
	b = appendStr(b, "org", n.o.name)
	b = appendInt(b, "org_id", n.o.id)
	b = appendStr(b, "programmatic_access_type", "OAuth access token")
	b = appendStr(b, "repo", n.o.repos[n.ri])
	b = appendInt(b, "repo_id", n.o.repoIDs[n.ri])
	b = appendStr(b, "repository", n.o.repos[n.ri])
	b = append(b, `,"repository_public":false`...)
	b = appendInt(b, "token_id", 800000000+r.Int64N(100000000))
	b = append(b, `,"transport_protocol":1,"transport_protocol_name":"http"`...)
	return b
}

// workflowRun appends the fields of a workflow run by github-actions[bot].
func (g *Generator) workflowRun(b []byte, n *noise, action string) []byte {
	r := g.rng
	n.e.actor, n.e.actorID, n.e.bot, n.e.actorIP = "github-actions[bot]", 41898282, true, ""
	n.ua = ""
	b = g.appendHead(b, n.e)
	if action == "workflows.completed_workflow_run" {
		b = appendISO(b, "completed_at", n.e.ts)
		b = appendStr(b, "conclusion", pick(r, conclusions))
	}
	b = appendStr(b, "event", pick(r, triggers))
	b = appendStr(b, "head_branch", pick(r, branches))
	b = append(b, `,"head_sha":"`...)
	b = g.appendHex(b, 40)
	b = append(b, '"')
	b = appendStr(b, "name", pick(r, workflowNames))
	b = appendStr(b, "operation_type", "create")
	b = appendStr(b, "org", n.o.name)
	b = appendInt(b, "org_id", n.o.id)
	b = appendStr(b, "repo", n.o.repos[n.ri])
	b = appendInt(b, "repo_id", n.o.repoIDs[n.ri])
	b = appendInt(b, "run_number", 1+r.Int64N(5000))
	b = appendISO(b, "started_at", n.e.ts-int64(r.IntN(900000)))
	b = appendInt(b, "workflow_id", 50000000+r.Int64N(50000000))
	b = appendInt(b, "workflow_run_id", 7000000000+r.Int64N(1000000000))
	return b
}

// pullRequest appends the fields of a pull request created or merged.
func (g *Generator) pullRequest(b []byte, n *noise) []byte {
	r := g.rng
	b = g.appendHead(b, n.e)
	b = append(b, `,"hashed_token":""`...)
	b = appendStr(b, "operation_type", "modify")
	b = appendStr(b, "org", n.o.name)
	b = appendInt(b, "org_id", n.o.id)
	b = appendStr(b, "programmatic_access_type", "")
	prID := 1500000000 + r.Int64N(500000000)
	num := 1 + r.Int64N(9000)
	b = appendInt(b, "pull_request_id", prID)
	b = appendStr(b, "pull_request_title", pick(r, prTitles))
	b = append(b, `,"pull_request_url":"https://github.com/`...)
	b = append(b, n.o.repos[n.ri]...)
	b = append(b, "/pull/"...)
	b = strconv.AppendInt(b, num, 10)
	b = append(b, '"')
	b = appendStr(b, "repo", n.o.repos[n.ri])
	b = appendInt(b, "repo_id", n.o.repoIDs[n.ri])
	return b
}

// repoAccess appends the fields of a repository created, accessed or downloaded.
func (g *Generator) repoAccess(b []byte, n *noise, action string) []byte {
	b = g.appendHead(b, n.e)
	b = append(b, `,"hashed_token":""`...)
	if action == "repo.create" {
		b = appendStr(b, "operation_type", "create")
	} else {
		b = appendStr(b, "operation_type", "access")
	}
	b = appendStr(b, "org", n.o.name)
	b = appendInt(b, "org_id", n.o.id)
	b = appendStr(b, "programmatic_access_type", "")
	b = append(b, `,"public_repo":false`...)
	b = appendStr(b, "repo", n.o.repos[n.ri])
	b = appendInt(b, "repo_id", n.o.repoIDs[n.ri])
	b = appendStr(b, "visibility", "internal")
	return b
}

// memberChange appends the fields of a member added, changed or removed by the org's admin (its user agent is set here: none after it).
func (g *Generator) memberChange(b []byte, n *noise, action string) []byte {
	r := g.rng
	a := &g.admins[n.o.admin]
	n.e.actor, n.e.actorID, n.e.actorIP, n.e.country, n.e.bot = a.login, a.id, a.ip, a.country, a.bot
	if a.bot {
		n.e.actorIP = ""
	}
	n.rec.User = n.u.login
	b = g.appendHead(b, n.e)
	b = appendStr(b, "external_identity_nameid", n.u.email)
	b = append(b, `,"hashed_token":""`...)
	switch action {
	case "org.update_member":
		b = appendStr(b, "operation_type", "modify")
	case "team.remove_member", "org.remove_member":
		b = appendStr(b, "operation_type", "remove")
	default:
		b = appendStr(b, "operation_type", "create")
	}
	b = appendStr(b, "org", n.o.name)
	b = appendInt(b, "org_id", n.o.id)
	b = appendStr(b, "permission", pick(r, permissions))
	b = appendStr(b, "programmatic_access_type", "")
	if strings.HasPrefix(action, "team.") {
		b = appendStr(b, "team", n.o.teams[r.IntN(len(n.o.teams))])
	}
	b = appendStr(b, "user", n.u.login)
	n.ua = adminAgents[r.IntN(len(adminAgents))]
	b = appendStr(b, "user_agent", n.ua)
	b = appendInt(b, "user_id", n.u.id)
	n.ua = ""
	return b
}

// branchOverride appends the fields of a protected-branch override.
func (g *Generator) branchOverride(b []byte, n *noise) []byte {
	r := g.rng
	b = g.appendHead(b, n.e)
	b = append(b, `,"hashed_token":""`...)
	b = appendStr(b, "name", pick(r, branches))
	b = appendStr(b, "operation_type", "modify")
	b = appendStr(b, "org", n.o.name)
	b = appendInt(b, "org_id", n.o.id)
	b = appendStr(b, "overridden_codes", "required_status_checks")
	b = appendStr(b, "repo", n.o.repos[n.ri])
	b = appendInt(b, "repo_id", n.o.repoIDs[n.ri])
	b = appendStr(b, "reasons", `Required status check \"ci/build\" is expected`)
	return b
}

// appToken appends the fields of an app installation or token grant.
func (g *Generator) appToken(b []byte, n *noise) []byte {
	r := g.rng
	b = g.appendHead(b, n.e)
	b = append(b, `,"hashed_token":"`...)
	b = g.appendHashedToken(b)
	b = append(b, '"')
	b = appendStr(b, "integration", pick(r, integrations))
	b = appendStr(b, "operation_type", "create")
	b = appendStr(b, "org", n.o.name)
	b = appendInt(b, "org_id", n.o.id)
	b = appendStr(b, "programmatic_access_type", "GitHub App user-to-server token")
	b = appendStr(b, "repositories_added_names", n.o.repos[n.ri])
	b = appendInt(b, "token_id", 800000000+r.Int64N(100000000))
	return b
}

// business appends the fields of an enterprise-level business.* event (no org).
func (g *Generator) business(b []byte, n *noise) []byte {
	r := g.rng
	a := &g.admins[0]
	n.e.actor, n.e.actorID, n.e.actorIP, n.e.country = a.login, a.id, a.ip, a.country
	n.rec.Org = ""
	b = g.appendHead(b, n.e)
	b = append(b, `,"hashed_token":""`...)
	b = appendStr(b, "operation_type", "modify")
	b = appendStr(b, "programmatic_access_type", "")
	b = appendInt(b, "retention_limit_days", int64(30+r.IntN(60)))
	n.ua = adminAgents[r.IntN(len(adminAgents))]
	return b
}

// ---- small helpers and vocabularies ----

func pick(r *rand.Rand, s []string) string { return s[r.IntN(len(s))] }

func randIP(r *rand.Rand) string {
	v := r.Uint32()
	b := make([]byte, 0, 15)
	b = strconv.AppendUint(b, uint64(1+byte(v)%223), 10)
	for i := 1; i < 4; i++ {
		b = append(b, '.')
		b = strconv.AppendUint(b, uint64(byte(v>>(8*i))), 10)
	}
	return string(b)
}

func indexOf(b []byte, s string) int {
	for i := 0; i+len(s) <= len(b); i++ {
		if string(b[i:i+len(s)]) == s {
			return i
		}
	}
	return -1
}

func replaceOnce(b []byte, old, new string) []byte {
	i := indexOf(b, old)
	if i < 0 {
		return b
	}
	tail := append([]byte(nil), b[i+len(old):]...)
	return append(append(b[:i], new...), tail...)
}

var firstNames = []string{"maria", "james", "wei", "priya", "ahmed", "olga", "kenji", "fatima", "lucas", "chloe",
	"diego", "amara", "noah", "ingrid", "ravi", "sofia", "tom", "yuki", "omar", "lena", "arjun", "emma", "mateo", "zoe"}
var lastNames = []string{"lopez", "chen", "patel", "kowalski", "okafor", "nguyen", "schmidt", "rossi", "tanaka",
	"silva", "kim", "dubois", "ivanova", "haddad", "murphy", "jensen", "garcia", "sato", "mensah", "novak"}
var countries = []string{"US", "US", "US", "IN", "DE", "GB", "BR", "JP", "CA", "FR", "NL", "PL", "SG", "AU", "IE"}
var repoWords = []string{"payments", "checkout", "auth", "gateway", "search", "billing", "infra", "mobile-app",
	"data-pipeline", "ml-models", "web", "docs", "design-system", "inventory", "notifications", "analytics"}
var repoSuffixes = []string{"service", "api", "worker", "ui", "sdk", "terraform", "helm", "lib", "cli", "etl"}
var teamNames = []string{"backend", "frontend", "sre", "data-eng", "mobile", "security", "ml", "platform-admins"}
var conclusions = []string{"success", "success", "success", "failure", "cancelled", "skipped"}
var triggers = []string{"push", "pull_request", "schedule", "workflow_dispatch", "merge_group"}
var branches = []string{"main", "main", "develop", "release/2024.03", "feature/oauth-refresh", "fix/null-assignee", "dependabot/go_modules/golang.org/x/net-0.23.0"}
var workflowNames = []string{"CI", "Build and test", "Deploy to staging", "CodeQL", "Release", "Lint"}
var permissions = []string{"read", "write", "admin", "maintain", "triage"}
var integrations = []string{"renovate", "dependabot", "sonarcloud", "jira-cloud", "slack", "terraform-cloud", "circleci-checks"}
var prTitles = []string{
	"Bump golang.org/x/net from 0.21.0 to 0.23.0",
	"Fix race in retry handler",
	"Add pagination to seat listing",
	"Refactor billing client to use context deadlines",
	"Update CODEOWNERS for platform team",
	"feat(api): support enterprise teams",
}
var userAgents = []string{
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36 Edg/122.0.2365.66",
	"Mozilla/5.0 (X11; Linux x86_64; rv:123.0) Gecko/20100101 Firefox/123.0",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_3_1) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.3.1 Safari/605.1.15",
	"GitHub CLI 2.45.0",
	"GitHubDesktop/3.3.10 (Macintosh)",
	"octokit-rest.js/20.0.2 octokit-core.js/5.0.2 Node.js/20.11.1 (linux; x64)",
	"python-requests/2.31.0",
	"terraform-provider-github/6.0.0 (+https://registry.terraform.io/providers/integrations/github)",
}
var gitAgents = []string{
	"git/2.43.0",
	"git/2.39.3 (Apple Git-145)",
	"git/2.44.0.windows.1",
	"JGit/6.8.0.202311291450-r",
	"git/2.34.1 (Linux; x86_64) libgit2/1.7.1",
}
var adminAgents = []string{
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36 Edg/122.0.2365.66",
	"GitHub CLI 2.45.0 (gh api -X POST /orgs/{org}/copilot/billing/selected_users)",
	"octokit-rest.js/20.0.2 octokit-core.js/5.0.2 Node.js/20.11.1 (linux; x64)",
}
