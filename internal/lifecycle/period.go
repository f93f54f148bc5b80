package lifecycle

import (
	"strconv"
	"time"

	"github.com/seatline/seatline/pkg/events"
)

// Event is what the derivation reads of a seat-timeline or membership
// event.
type Event struct {
	Ms         int64 // @timestamp, Unix ms
	DocID      string
	Action     string
	Transition events.Transition // seat, policy and plan events
	Membership events.Membership // membership changes

	Business, Org  string
	Team           string // "org/slug"
	EnterpriseTeam string // "ent:slug"
	User           string
	UserID         int64
	OldLogin       string
	Actor          string
	OldValue       string
	NewValue       string
	NewPlan        string
}

// Scope kinds.
const (
	ScopeOrg        = "org"
	ScopeEnterprise = "enterprise"
)

// Via: how a period's seat was granted.
const (
	ViaDirect         = "direct"
	ViaTeam           = "team"
	ViaEnterpriseTeam = "enterprise_team"
	ViaAllMembers     = "all_members"
	ViaSeat           = "seat" // GitHub said there is a seat; its grant predates the stream
)

// Period is one continuous holding of a seat by a holder in a scope.
type Period struct {
	Scope     string // org login, or the business for enterprise-team seats
	ScopeKind string // ScopeOrg or ScopeEnterprise
	Business  string
	Holder    string // user_id, or "login:<login>" when no event carried an id
	No        uint32 // the period's number in the holder's history in the scope, from 0
	User      string // the holder's latest login
	UserID    int64

	Via        string
	Team       string
	GrantedBy  string
	Start      time.Time
	StartEvent string // document id

	PendingFrom   *time.Time
	BillableUntil *time.Time
	End           *time.Time
	EndReason     string
	EndEvent      string

	OrphanedSince *time.Time
	OrphanReason  string
	Plan          string
}

// End reasons.
const (
	EndCancelled          = "cancelled"
	EndCancelledByStaff   = "cancelled_by_staff"
	EndLeftOrg            = "left_org"
	EndLeftEnterprise     = "left_enterprise"
	EndLeftEnterpriseTeam = "left_enterprise_team"
	EndAccessRevoked      = "access_revoked"
	EndScopeRevoked       = "scope_revoked"
)

// Orphan reasons.
const (
	OrphanLeftOrg            = "left_org"
	OrphanLeftEnterprise     = "left_enterprise"
	OrphanLeftTeam           = "left_team"
	OrphanLeftEnterpriseTeam = "left_enterprise_team"
	OrphanDeprovisioned      = "deprovisioned"
	OrphanSuspended          = "suspended"
)

// never stands for an open end.
var never = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)

// AccessEnd is when the holder stopped having access: End, else the
// billable date of a pending seat, else never (2100-01-01).
func (p *Period) AccessEnd() time.Time {
	switch {
	case p.End != nil:
		return *p.End
	case p.BillableUntil != nil:
		return *p.BillableUntil
	}
	return never
}

// BillableEnd is when billing stopped: BillableUntil, else End, else never.
func (p *Period) BillableEnd() time.Time {
	switch {
	case p.BillableUntil != nil:
		return *p.BillableUntil
	case p.End != nil:
		return *p.End
	}
	return never
}

// HeldAt reports whether the holder had the seat at t.
func (p *Period) HeldAt(t time.Time) bool {
	return !t.Before(p.Start) && t.Before(p.AccessEnd())
}

// OrphanedAt reports whether the seat was orphaned and still held or
// billable at t.
func (p *Period) OrphanedAt(t time.Time) bool {
	return p.OrphanedSince != nil && !t.Before(*p.OrphanedSince) && t.Before(p.BillableEnd())
}

// SeatDays counts the UTC calendar days of month (any day of it) on which
// the seat was billable for any part of the day, up to now.
func (p *Period) SeatDays(month, now time.Time) int {
	from := time.Date(month.Year(), month.Month(), 1, 0, 0, 0, 0, time.UTC)
	to := from.AddDate(0, 1, 0)
	start, end := p.Start, p.BillableEnd()
	if now.Before(end) {
		end = now
	}
	if !end.After(start) {
		return 0
	}
	first := day(start)
	last := day(end.Add(-time.Second)) // end is exclusive: a seat billable to 00:00 does not touch that day
	if first.Before(from) {
		first = from
	}
	if !last.Before(to) {
		last = to.AddDate(0, 0, -1)
	}
	if last.Before(first) {
		return 0
	}
	return int(last.Sub(first).Hours()/24) + 1
}

func day(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// nextCycle is the first day of the billing cycle after the one holding
// t: the calendar month, UTC (GitHub: "Copilot uses UTC for your billing
// cycle"; pending_cancellation_date is the first day of the next cycle).
func nextCycle(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month()+1, 1, 0, 0, 0, 0, time.UTC)
}

// holderKey names a holder: its user_id, or its login when no event gave one.
func holderKey(id int64, login string) string {
	if id > 0 {
		return strconv.FormatInt(id, 10)
	}
	return "login:" + login
}
