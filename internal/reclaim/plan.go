// Package reclaim is seat reclamation: a plan (read-only: which seats, why,
// what would end each one, checked against GitHub now, and what it saves),
// approved by the SHA-256 of the plan file's bytes, applied (a re-check of
// every seat just before acting, DELETE requests of at most 100 within the
// rate-limit budget, every request and outcome journaled in ClickHouse's
// reclaim_actions before and after it goes out, so a rerun after a crash or
// a rate limit sends exactly the rest), and confirmed by the audit events
// that reach the timeline. seatctl reclaim wires it to the command line
// and reads the timeline.
package reclaim

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Format names the plan file format; a change to its meaning gets a new number.
const Format = "seatline-reclaim-plan/1"

// Scope kinds: a seat lives in an organization, or (licences of enterprise
// teams) in the enterprise.
const (
	KindOrg        = "org"
	KindEnterprise = "enterprise"
)

// Why a seat is a candidate.
const (
	WhyIdle      = "idle"       // no Copilot activity for the rule's days
	WhyNeverUsed = "never_used" // no Copilot activity at all, the rule's days after the seat was created
	WhyOrphaned  = "orphaned"   // its holder left the org, enterprise or team, or was deprovisioned or suspended
)

// Actions: what would end the seat, or why nothing will.
const (
	// ActUnassign: DELETE /orgs/{org}/copilot/billing/selected_users.
	ActUnassign = "unassign_user"
	// ActLeaveTeam: the seat comes from org team Team: remove the user from
	// it (--include-team-seats).
	ActLeaveTeam = "remove_team_member"
	// ActLeaveEnterpriseTeam: the seat comes from enterprise team Team.
	ActLeaveEnterpriseTeam = "remove_enterprise_team_member"
	// ActBlocked: nothing this tool may send ends it (Reason says what
	// would: an org policy, a team seat without --include-team-seats).
	ActBlocked = "blocked"
	// ActAlreadyPending: already pending cancellation (GitHub's date in
	// the evidence): nothing to do.
	ActAlreadyPending = "already_pending"
	// ActNone: not a seat to reclaim now (no seat any more, used since the
	// timeline last heard, inside the grace period).
	ActNone = "none"
	// ActExcluded: excluded by --exclude-user/-team/-org/-file.
	ActExcluded = "excluded"
	// ActUnchecked: GitHub could not be asked (Reason): plan again.
	ActUnchecked = "unchecked"
)

// Acts reports whether apply sends a request for action a.
func Acts(a string) bool {
	return a == ActUnassign || a == ActLeaveTeam || a == ActLeaveEnterpriseTeam
}

// Plan is a plan file (see README, "Seat reclamation" for the format).
type Plan struct {
	Format      string    `json:"format"`
	Generator   string    `json:"generator"`
	GeneratedAt time.Time `json:"generated_at"`
	// Where the facts came from: the ClickHouse database and GitHub API.
	Database string `json:"database"`
	GitHub   string `json:"github_api"`
	Scope    Scope  `json:"scope"`
	Rules    Rules  `json:"rules"`
	// PricesCents: list price per seat and month by plan type, in cents.
	PricesCents map[string]int64 `json:"prices_cents"`
	// SavingFrom: the first billing cycle without the reclaimed seats
	// (unassigned seats are billed to the end of the current one).
	SavingFrom string `json:"saving_from"`
	// Policies: each org's seat_management_setting when planned; apply
	// refuses an org whose policy changed since.
	Policies   []Policy    `json:"policies"`
	Candidates []Candidate `json:"candidates"`
	Totals     Totals      `json:"totals"`
}

// Scope limits a plan: organizations and an enterprise (its enterprise-team
// seats and, with no Orgs, every org of it). Empty: everything the
// timeline has.
type Scope struct {
	Orgs       []string `json:"orgs"`
	Enterprise string   `json:"enterprise"`
}

// Rules of a plan. A rule of 0 days is off.
type Rules struct {
	IdleDays      int  `json:"idle_days"`
	NeverUsedDays int  `json:"never_used_days"`
	Orphaned      bool `json:"orphaned"`
	// GraceDays: seats created (or first assigned) this recently are not
	// idle or never-used candidates.
	GraceDays        int      `json:"grace_days"`
	IncludeTeamSeats bool     `json:"include_team_seats"`
	ExcludeUsers     []string `json:"exclude_users"`
	ExcludeTeams     []string `json:"exclude_teams"`
	ExcludeOrgs      []string `json:"exclude_orgs"`
	// ExcludeFile: the file the exclusions above were read from, and its SHA-256.
	ExcludeFile       string `json:"exclude_file,omitempty"`
	ExcludeFileSHA256 string `json:"exclude_file_sha256,omitempty"`
}

// Policy is an org's seat management setting when planned.
type Policy struct {
	Org     string `json:"org"`
	Setting string `json:"seat_management_setting"`
}

// Candidate is one seat of the plan.
type Candidate struct {
	ScopeKind string   `json:"scope_kind"` // org | enterprise
	Scope     string   `json:"scope"`      // the org, or the enterprise
	User      string   `json:"user"`
	UserID    int64    `json:"user_id"`
	Why       []string `json:"why"`
	// Timeline is what seatline's timeline said; GitHub what a live lookup
	// said when the plan was made (nil: not looked up).
	Timeline TimelineEvidence `json:"timeline"`
	GitHub   *GitHubEvidence  `json:"github"`
	Action   string           `json:"action"`
	Team     string           `json:"team,omitempty"` // the team to leave (or, blocked, that grants the seat)
	Reason   string           `json:"reason"`
	PlanType string           `json:"plan_type"`
	// MonthlySavingCents: the seat's list price when Action acts, else 0.
	MonthlySavingCents int64 `json:"monthly_saving_cents"`
}

// Key identifies a candidate's action in the journal.
func (c *Candidate) Key() Key {
	return Key{Scope: c.Scope, User: c.User, Action: c.Action, Team: c.Team}
}

// Key identifies one planned seat action.
type Key struct{ Scope, User, Action, Team string }

// TimelineEvidence is what the timeline held about a candidate.
type TimelineEvidence struct {
	LastActivityAt     *time.Time `json:"last_activity_at"` // null: never used (or telemetry off)
	LastActivityEditor string     `json:"last_activity_editor,omitempty"`
	IdleDays           int        `json:"idle_days"`
	SeatCreatedAt      *time.Time `json:"seat_created_at"`
	AssigningTeam      string     `json:"assigning_team,omitempty"`
	// Source of the activity fact (snapshot: a seat-list poll; enrichment:
	// a seat lookup for an event) and when GitHub gave it.
	Source string     `json:"source"`
	ReadAt *time.Time `json:"read_at"`
	// Orphaned seats: why and since when (the seat periods).
	OrphanReason  string     `json:"orphan_reason,omitempty"`
	OrphanedSince *time.Time `json:"orphaned_since,omitempty"`
}

// GitHubEvidence is a live seat lookup's answer.
type GitHubEvidence struct {
	Status                  string     `json:"status"` // active | pending_cancellation | absent | policy_blocked | unknown
	LastActivityAt          *time.Time `json:"last_activity_at"`
	LastActivityEditor      string     `json:"last_activity_editor,omitempty"`
	CreatedAt               *time.Time `json:"created_at"`
	PlanType                string     `json:"plan_type,omitempty"`
	AssigningTeam           string     `json:"assigning_team,omitempty"`
	AssigningTeamKind       string     `json:"assigning_team_kind,omitempty"` // org | enterprise
	PendingCancellationDate string     `json:"pending_cancellation_date,omitempty"`
	Message                 string     `json:"message,omitempty"` // GitHub's 422 message, or why it could not be asked
	CheckedAt               time.Time  `json:"checked_at"`
}

// Totals of a plan: all, and per scope.
type Totals struct {
	ScopeTotal
	ByScope []ScopeTotal `json:"by_scope"`
}

// ScopeTotal counts the candidates of one scope (or all) by what happens
// to them, and the monthly saving of the acting ones.
type ScopeTotal struct {
	ScopeKind          string `json:"scope_kind,omitempty"`
	Scope              string `json:"scope,omitempty"`
	Candidates         int    `json:"candidates"`
	Actions            int    `json:"actions"`
	Blocked            int    `json:"blocked"`
	AlreadyPending     int    `json:"already_pending"`
	Other              int    `json:"other"` // none, excluded, unchecked
	MonthlySavingCents int64  `json:"monthly_saving_cents"`
}

func (t *ScopeTotal) add(c *Candidate) {
	t.Candidates++
	switch {
	case Acts(c.Action):
		t.Actions++
		t.MonthlySavingCents += c.MonthlySavingCents
	case c.Action == ActBlocked:
		t.Blocked++
	case c.Action == ActAlreadyPending:
		t.AlreadyPending++
	default:
		t.Other++
	}
}

// Finish orders the candidates (scope, user), computes the totals and
// normalises times (UTC, whole seconds) so the file is stable.
func (p *Plan) Finish() {
	sort.SliceStable(p.Candidates, func(i, j int) bool {
		a, b := &p.Candidates[i], &p.Candidates[j]
		if a.ScopeKind != b.ScopeKind {
			return a.ScopeKind > b.ScopeKind // orgs first
		}
		if a.Scope != b.Scope {
			return a.Scope < b.Scope
		}
		return a.User < b.User
	})
	sort.Slice(p.Policies, func(i, j int) bool { return p.Policies[i].Org < p.Policies[j].Org })
	p.GeneratedAt = p.GeneratedAt.UTC().Truncate(time.Second)
	p.Totals = Totals{}
	by := map[[2]string]*ScopeTotal{}
	var order [][2]string
	for i := range p.Candidates {
		c := &p.Candidates[i]
		for _, t := range []**time.Time{&c.Timeline.LastActivityAt, &c.Timeline.SeatCreatedAt, &c.Timeline.ReadAt,
			&c.Timeline.OrphanedSince} {
			*t = norm(*t)
		}
		if g := c.GitHub; g != nil {
			g.LastActivityAt, g.CreatedAt = norm(g.LastActivityAt), norm(g.CreatedAt)
			g.CheckedAt = g.CheckedAt.UTC().Truncate(time.Second)
		}
		if c.Why == nil {
			c.Why = []string{}
		}
		k := [2]string{c.ScopeKind, c.Scope}
		st := by[k]
		if st == nil {
			st = &ScopeTotal{ScopeKind: c.ScopeKind, Scope: c.Scope}
			by[k] = st
			order = append(order, k)
		}
		st.add(c)
		p.Totals.add(c)
	}
	for _, k := range order {
		p.Totals.ByScope = append(p.Totals.ByScope, *by[k])
	}
	if p.Totals.ByScope == nil {
		p.Totals.ByScope = []ScopeTotal{}
	}
	if p.Candidates == nil {
		p.Candidates = []Candidate{}
	}
	if p.Policies == nil {
		p.Policies = []Policy{}
	}
	for _, l := range []*[]string{&p.Scope.Orgs, &p.Rules.ExcludeUsers, &p.Rules.ExcludeTeams, &p.Rules.ExcludeOrgs} {
		if *l == nil {
			*l = []string{}
		}
	}
}

func norm(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC().Truncate(time.Second)
	return &u
}

// Encode is the plan file's bytes: indented JSON, fields in a fixed order,
// a final newline. The plan's hash is the SHA-256 of exactly these bytes.
func (p *Plan) Encode() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(p); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Sum is the hex SHA-256 of b.
func Sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// Write writes the plan to path (through a temporary file and a rename, so
// a reader never sees half a plan) and returns its SHA-256.
func (p *Plan) Write(path string) (string, error) {
	b, err := p.Encode()
	if err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".reclaim-plan-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return "", err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", err
	}
	return Sum(b), nil
}

// ErrRefused: apply will not act on this plan (nothing was sent).
var ErrRefused = errors.New("refused")

// Load reads a plan file and checks it against the approved hash and the
// maximum age: the SHA-256 of the file's bytes must equal approve (64 hex
// digits, any case), and the plan must be younger than maxAge at now.
// Refusals wrap ErrRefused.
func Load(path, approve string, maxAge time.Duration, now time.Time) (*Plan, string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, "", err
	}
	sum := Sum(b)
	approve = strings.ToLower(strings.TrimSpace(approve))
	if len(approve) != 64 || strings.Trim(approve, "0123456789abcdef") != "" {
		return nil, sum, fmt.Errorf("%w: --approve %q is not a SHA-256 (64 hex digits, as plan printed it)", ErrRefused, approve)
	}
	if approve != sum {
		return nil, sum, fmt.Errorf("%w: %s has SHA-256 %s, not the approved %s: the file changed since it was approved (or another plan was approved); nothing was sent",
			ErrRefused, path, sum, approve)
	}
	p, err := Decode(b)
	if err != nil {
		return nil, sum, fmt.Errorf("%w: %s: %v", ErrRefused, path, err)
	}
	if age := now.Sub(p.GeneratedAt); maxAge > 0 && age > maxAge {
		return nil, sum, fmt.Errorf("%w: the plan was made %s ago (%s), more than --max-plan-age %s: seats change, plan again; nothing was sent",
			ErrRefused, age.Round(time.Minute), p.GeneratedAt.Format(time.RFC3339), maxAge)
	}
	return p, sum, nil
}

// Decode parses a plan file, refusing another format or unknown fields.
func Decode(b []byte) (*Plan, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var p Plan
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("not a reclaim plan: %v", err)
	}
	if p.Format != Format {
		return nil, fmt.Errorf("format %q, this seatctl reads %s", p.Format, Format)
	}
	for _, c := range p.Candidates {
		if c.ScopeKind != KindOrg && c.ScopeKind != KindEnterprise {
			return nil, fmt.Errorf("candidate %s/%s: scope_kind %q", c.Scope, c.User, c.ScopeKind)
		}
		if Acts(c.Action) && (c.Action == ActUnassign) == (c.Team != "") {
			return nil, fmt.Errorf("candidate %s/%s: action %s with team %q", c.Scope, c.User, c.Action, c.Team)
		}
	}
	return &p, nil
}

// NextCycle is the first day of the billing cycle after the one holding t:
// GitHub's Copilot cycle is the calendar month in UTC, and an unassigned
// seat is billed until then (its pending_cancellation_date).
func NextCycle(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month()+1, 1, 0, 0, 0, 0, time.UTC)
}
