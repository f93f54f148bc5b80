package ghsim

import (
	"slices"
	"sort"
	"strings"
	"time"
)

// The ground truth of seat periods: what seatline's lifecycle derivation
// (internal/lifecycle, doc.go) must produce from the audit events the
// simulator emitted. It is kept beside the simulator's state, from the
// simulator's own changes (never by reading the events back), and follows
// the same rules; every time in it is the @timestamp of the audit event that
// caused it, as emitted, or a billing-cycle boundary (00:00 UTC on the 1st:
// the rules assume the calendar month whatever Options.BillingCycleDay).
//
// Where the rules leave room, the truth chooses (and README / the report
// say so):
//   - A grant is active whatever the user's access: a user whose access is
//     revoked (copilot.user_access_revoked) keeps the grants, gets no new
//     period until copilot.user_access_reinstated, and that one starts with
//     the via, team and granted_by of the oldest grant still active (none
//     active: no period).
//   - An orphaning event (removal, deprovisioning, suspension) marks every
//     period of the holder in the affected scope(s) that is held or
//     billable at that instant; a period keeps the first reason, except that
//     "deprovisioned" replaces "suspended" (SCIM deprovisioning suspends
//     first), keeping the first time. "left_team" is cleared by a later
//     copilot.cfb_seat_assignment_unassigned for the user in that scope, or
//     a new grant, while the period is open.
//   - copilot.access_revoked ends the open periods of the org (billable
//     until that instant); periods that had already ended keep their
//     billable date.

// Period is one continuous holding of a Copilot seat by one holder in one
// scope (the ground truth; see Server.Periods).
type Period struct {
	Scope         string     // org login, or the enterprise slug (Options.Enterprise) for enterprise-team seats
	ScopeKind     string     // "org" or "enterprise"
	UserID        int64      // the holder
	Login         string     // the holder's latest login (after renames)
	Via           string     // "direct", "team", "enterprise_team", "all_members", "seat"
	Team          string     // "org/slug" or "ent:slug" for team grants, else ""
	GrantedBy     string     // actor login of the event that created the starting grant
	Start         time.Time  // the @timestamp of the event that started it
	PendingFrom   *time.Time // pending cancellation since (nil when not pending at the end of the period)
	BillableUntil *time.Time // first day of the next cycle for pending seats and removals; End for an org-wide revocation; nil otherwise
	End           *time.Time // access ended (nil while held or pending)
	EndReason     string     // "cancelled", "cancelled_by_staff", "left_org", "left_enterprise", "left_enterprise_team", "access_revoked", "scope_revoked", "" while open
	OrphanedSince *time.Time
	OrphanReason  string // "left_org", "left_enterprise", "left_team", "left_enterprise_team", "deprovisioned", "suspended"
	Plan          string // the scope's plan when the period started ("" for the enterprise: no event names it)
}

// Holder is who held a seat at an instant (Server.HoldersAt).
type Holder struct {
	Scope     string
	ScopeKind string
	UserID    int64
	Login     string
	Via       string
	Team      string
}

// Via values.
const (
	ViaDirect         = "direct"
	ViaTeam           = "team"
	ViaEnterpriseTeam = "enterprise_team"
	ViaAllMembers     = "all_members"
	ViaSeat           = "seat"
)

// End and orphan reasons.
const (
	EndCancelled          = "cancelled"
	EndCancelledByStaff   = "cancelled_by_staff"
	EndLeftOrg            = "left_org"
	EndLeftEnterprise     = "left_enterprise"
	EndLeftEnterpriseTeam = "left_enterprise_team"
	EndAccessRevoked      = "access_revoked"
	EndScopeRevoked       = "scope_revoked"

	OrphanLeftOrg            = "left_org"
	OrphanLeftEnterprise     = "left_enterprise"
	OrphanLeftTeam           = "left_team"
	OrphanLeftEnterpriseTeam = "left_enterprise_team"
	OrphanDeprovisioned      = "deprovisioned"
	OrphanSuspended          = "suspended"
)

// Scope kinds.
const (
	ScopeOrg        = "org"
	ScopeEnterprise = "enterprise"
)

type tScope struct{ kind, name string }

type tKey struct {
	sc  tScope
	uid int64
}

// tGrant is one active grant as the truth knows it: kind names the grant
// ("direct", "all", "team:<slug>", "ent:<slug>"), via/team/by/at describe
// the event that created it.
type tGrant struct {
	kind, via, team, by string
	at                  time.Time
}

type tPeriod struct {
	Period
	hidden   bool // predates the stream (Populate without Emit)
	leftTeam bool // orphaned "left_team": a later unassignment clears it
}

type tHolder struct {
	key     tKey
	grants  []tGrant // in the order they were made
	revoked bool     // copilot.user_access_revoked, not reinstated
	periods []*tPeriod
}

func (h *tHolder) cur() *tPeriod {
	if len(h.periods) == 0 {
		return nil
	}
	return h.periods[len(h.periods)-1]
}

type truth struct {
	holders map[tKey]*tHolder
	order   []*tHolder
	periods []*tPeriod
}

// cause is what made (or ended) a grant, for the truth.
type cause struct {
	at  time.Time // the event that made (or ended) the grant; zero: the seat event emitted for it
	by  string    // its actor ("" = the seat event's)
	via string    // overrides the grant's via ("seat": GitHub said there is a seat, no grant named)
}

func nextMonth(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month()+1, 1, 0, 0, 0, 0, time.UTC)
}

func tp(t time.Time) *time.Time { return &t }

func (s *Server) tScopeOf(sc scope) tScope {
	if sc.org != nil {
		return tScope{ScopeOrg, sc.org.login}
	}
	return tScope{ScopeEnterprise, s.opts.Enterprise}
}

func (s *Server) tHolder(sc tScope, uid int64) *tHolder {
	if s.truth.holders == nil {
		s.truth.holders = map[tKey]*tHolder{}
	}
	k := tKey{sc, uid}
	h := s.truth.holders[k]
	if h == nil {
		h = &tHolder{key: k}
		s.truth.holders[k] = h
		s.truth.order = append(s.truth.order, h)
	}
	return h
}

func (s *Server) tHolderIf(sc tScope, uid int64) *tHolder { return s.truth.holders[tKey{sc, uid}] }

// settle ends a pending period whose billable date is not after at.
func settle(p *tPeriod, at time.Time) {
	if p != nil && p.End == nil && p.PendingFrom != nil && !at.Before(*p.BillableUntil) {
		p.End, p.EndReason = tp(*p.BillableUntil), EndCancelled
	}
}

func (p *tPeriod) open() bool { return p != nil && p.End == nil }

// billableEnd is when billing for p stops (nil: not yet known, still held).
func (p *tPeriod) billableEnd() *time.Time {
	if p.BillableUntil != nil {
		return p.BillableUntil
	}
	return p.End
}

func (p *tPeriod) billableAt(at time.Time) bool {
	if at.Before(p.Start) {
		return false
	}
	e := p.billableEnd()
	return e == nil || at.Before(*e)
}

func (s *Server) tStart(h *tHolder, g tGrant, at time.Time) {
	p := &tPeriod{Period: Period{
		Scope: h.key.sc.name, ScopeKind: h.key.sc.kind, UserID: h.key.uid,
		Via: g.via, Team: g.team, GrantedBy: g.by, Start: at,
	}}
	if h.key.sc.kind == ScopeOrg {
		if o := s.orgs[h.key.sc.name]; o != nil {
			p.Plan = o.plan
		}
	}
	h.periods = append(h.periods, p)
	s.truth.periods = append(s.truth.periods, p)
}

// tGrantAdd records a grant (made at g.at) and starts or refreshes the
// holder's period.
func (s *Server) tGrantAdd(sc tScope, uid int64, g tGrant) {
	h := s.tHolder(sc, uid)
	if !slices.ContainsFunc(h.grants, func(x tGrant) bool { return x.kind == g.kind }) {
		h.grants = append(h.grants, g)
	}
	p := h.cur()
	settle(p, g.at)
	switch {
	case h.revoked:
	case p.open():
		// A refresh continues the period, held again by right: not orphaned.
		p.PendingFrom, p.BillableUntil = nil, nil
		if p.leftTeam {
			p.OrphanedSince, p.OrphanReason, p.leftTeam = nil, "", false
		}
		if p.Via == ViaSeat && (g.via == ViaTeam || g.via == ViaAllMembers) && g.at.Sub(p.Start) <= seatViaWindow {
			// The same change, its events in another order: the period
			// started by a bare seat event takes the grant's via.
			p.Via, p.Team, p.GrantedBy = g.via, g.team, g.by
		}
	default:
		s.tStart(h, g, g.at)
	}
}

// seatViaWindow: a period started by a "seat" grant takes the via of a team
// or all-members grant that arrives within this long after its start.
const seatViaWindow = time.Minute

// tGrantEnd ends one grant at `at`; the last one puts an open period in
// pending cancellation (billable to the next cycle). It reports whether it
// did.
func (s *Server) tGrantEnd(sc tScope, uid int64, kind string, at time.Time) bool {
	h := s.tHolderIf(sc, uid)
	if h == nil {
		return false
	}
	i := slices.IndexFunc(h.grants, func(x tGrant) bool { return x.kind == kind })
	if i < 0 {
		return false
	}
	h.grants = slices.Delete(h.grants, i, i+1)
	p := h.cur()
	settle(p, at)
	if len(h.grants) > 0 || h.revoked || !p.open() || p.PendingFrom != nil {
		return false
	}
	p.PendingFrom, p.BillableUntil = tp(at), tp(nextMonth(at))
	return true
}

// tGrantRename changes a grant's kind, keeping its labels (assign_all →
// assign_selected keeps all-members seats as direct assignments).
func (s *Server) tGrantRename(sc tScope, uid int64, from, to string) {
	h := s.tHolderIf(sc, uid)
	if h == nil {
		return
	}
	i := slices.IndexFunc(h.grants, func(x tGrant) bool { return x.kind == from })
	switch {
	case i < 0:
	case slices.ContainsFunc(h.grants, func(x tGrant) bool { return x.kind == to }):
		h.grants = slices.Delete(h.grants, i, i+1)
	default:
		h.grants[i].kind = to
	}
}

// tRemoved: the holder was removed from the scope (org, enterprise, or the
// enterprise team of an enterprise seat): access ends at once, billable to
// the next cycle, the grants are gone, and the holder's billable periods
// there are orphaned.
func (s *Server) tRemoved(sc tScope, uid int64, at time.Time, reason, orphan string) {
	h := s.tHolderIf(sc, uid)
	if h == nil {
		return
	}
	h.grants = nil
	p := h.cur()
	settle(p, at)
	if p.open() {
		p.End, p.EndReason = tp(at), reason
		if p.BillableUntil == nil {
			p.BillableUntil = tp(nextMonth(at))
		}
	}
	for _, q := range h.periods {
		orphanPeriod(q, at, orphan)
	}
}

// tEntTeamLeft: the holder left enterprise team slug ("ent:…"); when that team's
// licence was the last grant of the enterprise seat, access ends at once.
func (s *Server) tEntTeamLeft(uid int64, slug string, at time.Time) {
	sc := tScope{ScopeEnterprise, s.opts.Enterprise}
	h := s.tHolderIf(sc, uid)
	if h == nil {
		return
	}
	i := slices.IndexFunc(h.grants, func(x tGrant) bool { return x.kind == slug })
	if i < 0 {
		return
	}
	if len(h.grants) > 1 {
		h.grants = slices.Delete(h.grants, i, i+1)
		return
	}
	// The last grant: removed from the enterprise team of the seat.
	s.tRemoved(sc, uid, at, EndLeftEnterpriseTeam, OrphanLeftEnterpriseTeam)
}

func orphanPeriod(p *tPeriod, at time.Time, reason string) {
	if p == nil || !p.billableAt(at) {
		return
	}
	switch {
	case p.OrphanedSince == nil:
		p.OrphanedSince, p.OrphanReason, p.leftTeam = tp(at), reason, reason == OrphanLeftTeam
	case reason == OrphanDeprovisioned && p.OrphanReason == OrphanSuspended:
		p.OrphanReason = OrphanDeprovisioned
	}
}

// tOrphanUser: the user was suspended or deprovisioned; every period of
// theirs held or billable now is orphaned.
func (s *Server) tOrphanUser(uid int64, at time.Time, reason string) {
	for _, h := range s.truth.order {
		if h.key.uid != uid {
			continue
		}
		settle(h.cur(), at)
		for _, p := range h.periods {
			orphanPeriod(p, at, reason)
		}
	}
}

// tLeftTeam: the seat went pending because its holder left an org team and
// no unassignment for the user was emitted: orphaned "left_team".
func (s *Server) tLeftTeam(sc tScope, uid int64, at time.Time) {
	if h := s.tHolderIf(sc, uid); h != nil {
		orphanPeriod(h.cur(), at, OrphanLeftTeam)
	}
}

// tUnassignedEvent: a copilot.cfb_seat_assignment_unassigned for the user
// was emitted: it clears a "left_team" orphan of the open period.
func (s *Server) tUnassignedEvent(sc tScope, uid int64, at time.Time) {
	h := s.tHolderIf(sc, uid)
	if h == nil {
		return
	}
	p := h.cur()
	settle(p, at)
	if p.open() && p.leftTeam {
		p.OrphanedSince, p.OrphanReason, p.leftTeam = nil, "", false
	}
}

func (s *Server) tRevokeUser(sc tScope, uid int64, at time.Time) {
	h := s.tHolder(sc, uid)
	h.revoked = true
	p := h.cur()
	settle(p, at)
	if p.open() {
		p.End, p.EndReason = tp(at), EndAccessRevoked
		if p.BillableUntil == nil {
			p.BillableUntil = tp(nextMonth(at))
		}
	}
}

func (s *Server) tReinstateUser(sc tScope, uid int64, at time.Time) {
	h := s.tHolder(sc, uid)
	h.revoked = false
	p := h.cur()
	settle(p, at)
	if len(h.grants) > 0 && !p.open() {
		s.tStart(h, h.grants[0], at)
	}
}

// tScopeRevoked: copilot.access_revoked for the scope: every open period
// ends and stops being billable; every grant is forgotten.
func (s *Server) tScopeRevoked(sc tScope, at time.Time) {
	for _, h := range s.truth.order {
		if h.key.sc != sc {
			continue
		}
		h.grants = nil
		p := h.cur()
		settle(p, at)
		if p.open() {
			p.End, p.EndReason, p.BillableUntil = tp(at), EndScopeRevoked, tp(at)
		}
	}
}

// tAdvance ends the pending periods whose billable date the clock reached.
func (s *Server) tAdvance(to time.Time) {
	for _, h := range s.truth.order {
		settle(h.cur(), to)
	}
}

// tHide hides the periods from index `from` on (they predate the stream).
func (s *Server) tHide(from int) {
	for _, p := range s.truth.periods[from:] {
		p.hidden = true
	}
}

// ---- exported views ----

// Periods returns the ground truth of seat periods, sorted by scope, holder
// (user id) and start: for each holder and scope, every continuous holding
// of a seat, as seatline's lifecycle rules (internal/lifecycle) derive it
// from the audit events this simulator emitted. It is meant for a stream
// with Options.MembershipEvents; periods that predate the stream (Populate
// without Emit) are left out.
func (s *Server) Periods() []Period {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.periodsLocked()
}

func (s *Server) periodsLocked() []Period {
	var out []Period
	for _, p := range s.truth.periods {
		if p.hidden {
			continue
		}
		q := p.Period
		for _, f := range []**time.Time{&q.PendingFrom, &q.BillableUntil, &q.End, &q.OrphanedSince} {
			if *f != nil {
				*f = tp(**f)
			}
		}
		if u := s.usersByID[q.UserID]; u != nil {
			q.Login = u.login
		}
		out = append(out, q)
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Scope != b.Scope {
			return a.Scope < b.Scope
		}
		if a.UserID != b.UserID {
			return a.UserID < b.UserID
		}
		return a.Start.Before(b.Start)
	})
	return out
}

// HeldAt reports whether p's seat was held at t: Start ≤ t < End, else <
// BillableUntil (pending), else open.
func (p Period) HeldAt(t time.Time) bool {
	if t.Before(p.Start) {
		return false
	}
	switch {
	case p.End != nil:
		return t.Before(*p.End)
	case p.BillableUntil != nil:
		return t.Before(*p.BillableUntil)
	}
	return true
}

// BillableAt reports whether p's seat was billable at t: from Start to
// BillableUntil, else End, else open.
func (p Period) BillableAt(t time.Time) bool {
	if t.Before(p.Start) {
		return false
	}
	switch {
	case p.BillableUntil != nil:
		return t.Before(*p.BillableUntil)
	case p.End != nil:
		return t.Before(*p.End)
	}
	return true
}

// HoldersAt returns who held a seat at t, per the truth (sorted by scope,
// user id).
func (s *Server) HoldersAt(t time.Time) []Holder {
	var out []Holder
	for _, p := range s.Periods() {
		if p.HeldAt(t) {
			out = append(out, Holder{Scope: p.Scope, ScopeKind: p.ScopeKind, UserID: p.UserID,
				Login: p.Login, Via: p.Via, Team: p.Team})
		}
	}
	return out
}

// Orphans returns the periods orphaned at now and still held or billable
// then.
func (s *Server) Orphans(now time.Time) []Period {
	var out []Period
	for _, p := range s.Periods() {
		if p.OrphanedSince != nil && !p.OrphanedSince.After(now) && p.BillableAt(now) {
			out = append(out, p)
		}
	}
	return out
}

// SeatDays counts, for scope (an org login or the enterprise slug), the UTC
// calendar days of month's month on which each holder's seat was billable
// for any part of the day (from Start to BillableUntil, else End, else the
// simulated now), summed over holders; a holder counts once per day
// whatever the number of periods that day.
func (s *Server) SeatDays(scopeName string, month time.Time) int {
	s.mu.Lock()
	now := s.now
	ps := s.periodsLocked()
	s.mu.Unlock()
	month = month.UTC()
	from := time.Date(month.Year(), month.Month(), 1, 0, 0, 0, 0, time.UTC)
	to := nextMonth(from)
	days := map[int64]map[int]bool{}
	for _, p := range ps {
		if p.Scope != scopeName {
			continue
		}
		end := now
		if e := p.BillableUntil; e != nil {
			end = *e
		} else if p.End != nil {
			end = *p.End
		}
		if !p.Start.Before(end) {
			continue
		}
		d := p.Start.UTC().Truncate(24 * time.Hour)
		if d.Before(from) {
			d = from
		}
		for ; d.Before(end) && d.Before(to); d = d.Add(24 * time.Hour) {
			if days[p.UserID] == nil {
				days[p.UserID] = map[int]bool{}
			}
			days[p.UserID][d.Day()] = true
		}
	}
	n := 0
	for _, ds := range days {
		n += len(ds)
	}
	return n
}

// viaOf is the via and team label of a grant kind in scope sc.
func viaOf(sc scope, kind string) (via, team string) {
	switch {
	case kind == "direct":
		return ViaDirect, ""
	case kind == "all":
		return ViaAllMembers, ""
	case strings.HasPrefix(kind, "ent:"):
		return ViaEnterpriseTeam, kind
	default: // "team:<slug>"
		return ViaTeam, sc.org.login + "/" + strings.TrimPrefix(kind, "team:")
	}
}

// grantKind is the truth's name of a simulator grant.
func grantKind(src int, teamSlug string) string {
	switch src {
	case srcDirect:
		return "direct"
	case srcAll:
		return "all"
	}
	if strings.HasPrefix(teamSlug, "ent:") {
		return teamSlug
	}
	return "team:" + teamSlug
}
