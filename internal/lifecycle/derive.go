package lifecycle

import (
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/seatline/seatline/pkg/events"
)

// Derive turns the events of one business (seat timeline and membership
// changes, in any order) into its seat periods as of now, following the
// rules of this package's documentation. It sorts its input by time, then
// document id, and is otherwise a pure function: the same events and now
// give the same periods, whatever order the events arrived in. now only
// settles seats pending cancellation whose billable date has passed.
func Derive(evs []Event, now time.Time) []Period {
	evs = append([]Event(nil), evs...)
	sort.SliceStable(evs, func(i, j int) bool {
		if evs[i].Ms != evs[j].Ms {
			return evs[i].Ms < evs[j].Ms
		}
		return evs[i].DocID < evs[j].DocID
	})
	d := newDeriver(evs)
	for i := range evs {
		d.apply(&evs[i])
	}
	return d.periods(now)
}

// grant is one reason a holder has a seat in a scope.
type grant struct {
	via  string
	team string // for team and enterprise-team grants
}

// made is a grant as the event that made it tells it: how (label, which
// stays when the grant changes kind, as all-members seats kept as direct
// assignments do), by whom, in which event.
type made struct {
	grant
	label grant
	actor string
	doc   string
}

func newGrant(g grant, e *Event) made { return made{g, g, e.Actor, e.DocID} }

// seat is a holder's seats in one scope, over time.
type seat struct {
	scope   scopeKey
	holder  string
	grants  []made // active, in the order they were made
	revoked bool   // copilot.user_access_revoked, not reinstated
	periods []*Period
	// leftTeam is the period orphaned because its holder left a team: a
	// copilot.* unassignment for the user, or a new grant, clears it.
	leftTeam *Period
}

// cur is the holder's latest period, held, pending or ended (nil: none yet).
func (s *seat) cur() *Period {
	if len(s.periods) == 0 {
		return nil
	}
	return s.periods[len(s.periods)-1]
}

func open(p *Period) bool { return p != nil && p.End == nil }

func (s *seat) has(g grant) bool {
	return slices.ContainsFunc(s.grants, func(m made) bool { return m.grant == g })
}

type scopeKey struct {
	kind, name string
}

type org struct {
	assignAll   bool
	members     map[string]bool
	teamCopilot map[string]bool            // teams holding Copilot ("org/slug")
	teamMembers map[string]map[string]bool // team → holders
	plan        string
}

type deriver struct {
	business string
	seats    map[scopeKey]map[string]*seat
	orgs     map[string]*org
	entLic   map[string]bool            // enterprise teams holding a licence
	entTeams map[string]map[string]bool // enterprise team → holders
	loginID  map[string]int64           // login → user_id, from every event that has both
	names    map[string]string
	bizPlan  string
}

func newDeriver(evs []Event) *deriver {
	d := &deriver{seats: map[scopeKey]map[string]*seat{}, orgs: map[string]*org{}, entLic: map[string]bool{},
		entTeams: map[string]map[string]bool{}, loginID: map[string]int64{}, names: map[string]string{}}
	// Holders by user_id: a login seen with an id anywhere is that id
	// everywhere (copilot.* events may omit it; a renamed login keeps it).
	for i := range evs {
		e := &evs[i]
		if d.business == "" {
			d.business = e.Business
		}
		if e.UserID > 0 {
			for _, login := range []string{e.User, e.OldLogin} {
				if _, ok := d.loginID[login]; login != "" && !ok {
					d.loginID[login] = e.UserID
				}
			}
		}
	}
	return d
}

func ms(v int64) time.Time { return time.UnixMilli(v).UTC() }

// holder returns the key and records the login of e's user ("" when none).
func (d *deriver) holder(e *Event) string {
	if e.User == "" && e.UserID == 0 {
		return ""
	}
	id := e.UserID
	if id == 0 {
		id = d.loginID[e.User]
	}
	k := holderKey(id, e.User)
	if e.User != "" {
		d.names[k] = e.User
	}
	return k
}

func (d *deriver) org(name string) *org {
	o := d.orgs[name]
	if o == nil {
		o = &org{members: map[string]bool{}, teamCopilot: map[string]bool{}, teamMembers: map[string]map[string]bool{}}
		d.orgs[name] = o
	}
	return o
}

// scopeOf is where e's seat lives: its org, or the enterprise when it has none.
func (d *deriver) scopeOf(e *Event) scopeKey {
	if e.Org != "" {
		return scopeKey{ScopeOrg, e.Org}
	}
	return d.enterprise(e)
}

func (d *deriver) enterprise(e *Event) scopeKey {
	if e.Business != "" {
		return scopeKey{ScopeEnterprise, e.Business}
	}
	return scopeKey{ScopeEnterprise, d.business}
}

func (d *deriver) seat(sk scopeKey, holder string) *seat {
	m := d.seats[sk]
	if m == nil {
		m = map[string]*seat{}
		d.seats[sk] = m
	}
	s := m[holder]
	if s == nil {
		s = &seat{scope: sk, holder: holder}
		m[holder] = s
	}
	return s
}

// seatIf is holder's seat in sk, nil when the holder never had a grant or
// a period there.
func (d *deriver) seatIf(sk scopeKey, holder string) *seat { return d.seats[sk][holder] }

// planOf is the plan a period starting now in sk runs on: the org's plan,
// else the enterprise's, else "" (no event named it).
func (d *deriver) planOf(sk scopeKey) string {
	if sk.kind == ScopeOrg {
		if p := d.org(sk.name).plan; p != "" {
			return p
		}
	}
	return d.bizPlan
}

func (d *deriver) apply(e *Event) {
	t := ms(e.Ms)
	if e.Membership != events.MembershipNone {
		d.membership(e, t)
		return
	}
	h := d.holder(e)
	switch e.Transition {
	case events.TransitionAssigned:
		switch {
		case strings.HasPrefix(e.Team, "ent:"): // an enterprise team, told the old way
			d.licence(&Event{EnterpriseTeam: e.Team, Business: e.Business, Actor: e.Actor, DocID: e.DocID}, t, true)
		case e.Team != "":
			d.teamCopilot(e, t, true)
		case h == "":
		case e.Action == "copilot.cfb_seat_added":
			d.seatExists(d.seat(d.scopeOf(e), h), e, t)
		default:
			d.addGrant(d.seat(d.scopeOf(e), h), newGrant(grant{via: ViaDirect}, e), t)
		}
	case events.TransitionReused:
		if h != "" {
			d.addGrant(d.seat(d.scopeOf(e), h), newGrant(grant{via: ViaDirect}, e), t)
		}
	case events.TransitionRefreshed:
		if h != "" {
			d.seatExists(d.seat(d.scopeOf(e), h), e, t)
		}
	case events.TransitionUnassigned:
		switch {
		case strings.HasPrefix(e.Team, "ent:"):
			d.licence(&Event{EnterpriseTeam: e.Team, Business: e.Business, Actor: e.Actor, DocID: e.DocID}, t, false)
		case e.Team != "":
			d.teamCopilot(e, t, false)
		case h != "":
			d.unassigned(e, h, t)
		}
	case events.TransitionCancelled, events.TransitionCancelledByStaff:
		if h != "" {
			d.cancelled(e, h, t)
		}
	case events.TransitionAccessRevoked:
		if h == "" { // stored before copilot.access_revoked had a transition of its own
			d.scopeRevoked(e, t)
			return
		}
		d.accessRevoked(e, h, t)
	case events.TransitionAccessReinstated:
		if h != "" {
			d.accessReinstated(e, h, t)
		}
	case events.TransitionScopeRevoked:
		d.scopeRevoked(e, t)
	case events.TransitionLicenceGranted, events.TransitionLicenceRemoved:
		d.licence(e, t, e.Transition == events.TransitionLicenceGranted)
	case events.TransitionPolicyChanged:
		if e.Action == "copilot.cfb_seat_management_changed" && e.Org != "" {
			d.seatManagement(e, t)
		}
	case events.TransitionPlanChanged:
		d.planChanged(e)
	}
}

// unassigned ends h's direct grants of e's scope.
func (d *deriver) unassigned(e *Event, h string, t time.Time) {
	s := d.seatIf(d.scopeOf(e), h)
	if s == nil {
		return
	}
	settle(s, t)
	if p := s.cur(); open(p) && s.leftTeam == p {
		// The change a team removal made, confirmed: not an orphan.
		p.OrphanedSince, p.OrphanReason, s.leftTeam = nil, "", nil
	}
	d.endGrants(s, t, func(g grant) bool { return g.via == ViaDirect || g.via == ViaSeat })
}

// cancelled ends h's open period at t, or at its billable date if that
// came first.
func (d *deriver) cancelled(e *Event, h string, t time.Time) {
	s := d.seatIf(d.scopeOf(e), h)
	if s == nil {
		return
	}
	settle(s, t)
	if p := s.cur(); open(p) {
		reason := EndCancelled
		if e.Transition == events.TransitionCancelledByStaff {
			reason = EndCancelledByStaff
		}
		end := t
		if p.BillableUntil != nil && p.BillableUntil.Before(end) {
			end = *p.BillableUntil
		}
		p.End, p.EndReason, p.EndEvent = &end, reason, e.DocID
	}
}

// accessRevoked ends h's access at t; the seat stays billable to the next
// cycle unless a date is known.
func (d *deriver) accessRevoked(e *Event, h string, t time.Time) {
	s := d.seat(d.scopeOf(e), h)
	s.revoked = true
	settle(s, t)
	if p := s.cur(); open(p) {
		end := t
		p.End, p.EndReason, p.EndEvent = &end, EndAccessRevoked, e.DocID
		if p.BillableUntil == nil {
			until := nextCycle(t)
			p.BillableUntil = &until
		}
	}
}

// accessReinstated opens a new period for h if a grant is still active.
func (d *deriver) accessReinstated(e *Event, h string, t time.Time) {
	s := d.seat(d.scopeOf(e), h)
	s.revoked = false
	settle(s, t)
	if len(s.grants) > 0 && !open(s.cur()) {
		// The oldest grant still active gives the new period its via.
		m := s.grants[0]
		m.doc = e.DocID
		d.start(s, m, t)
	}
}

// planChanged records an org's or the enterprise's new plan.
func (d *deriver) planChanged(e *Event) {
	plan := e.NewPlan
	if plan == "" {
		plan = e.NewValue
	}
	if e.Action != "copilot.plan_changed" || plan == "" {
		return // a scheduled downgrade changes nothing yet
	}
	switch {
	case e.Org != "":
		d.org(e.Org).plan = plan
	case e.Business != "":
		d.bizPlan = plan
	}
}

// settle ends a pending period whose billable date is not after t: the
// seat lapsed then, cancelled, whether or not GitHub's event said so.
func settle(s *seat, t time.Time) {
	p := s.cur()
	if open(p) && p.PendingFrom != nil && !t.Before(*p.BillableUntil) {
		end := *p.BillableUntil
		p.End, p.EndReason = &end, EndCancelled
	}
}

// seatExists: GitHub says the holder has a seat (cfb_seat_added, a
// refresh). Without a grant seatline knows of, it is a "seat" grant.
func (d *deriver) seatExists(s *seat, e *Event, t time.Time) {
	if len(s.grants) == 0 {
		d.addGrant(s, newGrant(grant{via: ViaSeat}, e), t)
	}
}

// seatViaWindow: a period started by a "seat" grant takes the via of a
// team or all-members grant arriving this soon after (the same change,
// its events written in another order).
const seatViaWindow = time.Minute

// addGrant gives s a grant made at t: a seat starts, or a pending one is
// refreshed (the same period goes on). A revoked holder gets no seat.
func (d *deriver) addGrant(s *seat, m made, t time.Time) {
	if !s.has(m.grant) {
		s.grants = append(s.grants, m)
	}
	settle(s, t)
	p := s.cur()
	switch {
	case s.revoked:
	case open(p):
		p.PendingFrom, p.BillableUntil = nil, nil
		if s.leftTeam == p {
			p.OrphanedSince, p.OrphanReason, s.leftTeam = nil, "", nil // held again by right
		}
		if p.Via == ViaSeat && (m.label.via == ViaTeam || m.label.via == ViaAllMembers) && t.Sub(p.Start) <= seatViaWindow {
			p.Via, p.Team, p.GrantedBy = m.label.via, m.label.team, m.actor
		}
	default:
		d.start(s, m, t)
	}
}

func (d *deriver) start(s *seat, m made, t time.Time) {
	s.periods = append(s.periods, &Period{Scope: s.scope.name, ScopeKind: s.scope.kind, Business: d.business,
		Holder: s.holder, No: uint32(len(s.periods)), Via: m.label.via, Team: m.label.team, GrantedBy: m.actor, Start: t,
		StartEvent: m.doc, Plan: d.planOf(s.scope)})
}

// endGrants ends the grants match selects; a held seat left with none
// goes pending cancellation, billable to the next cycle. It reports whether
// it did.
func (d *deriver) endGrants(s *seat, t time.Time, match func(grant) bool) bool {
	n := len(s.grants)
	s.grants = slices.DeleteFunc(s.grants, func(m made) bool { return match(m.grant) })
	if len(s.grants) == n {
		return false
	}
	settle(s, t)
	p := s.cur()
	if len(s.grants) > 0 || s.revoked || !open(p) || p.PendingFrom != nil {
		return false
	}
	from, until := t, nextCycle(t)
	p.PendingFrom, p.BillableUntil = &from, &until
	return true
}

// removed: the holder left the scope (the org, the enterprise, or the
// enterprise team of an enterprise seat). Access ends at once, billable to
// the next cycle, the grants are gone, and every period of the holder there
// still billable is orphaned.
func (d *deriver) removed(s *seat, t time.Time, doc, reason, orphan string) {
	if s == nil {
		return
	}
	s.grants = nil
	settle(s, t)
	if p := s.cur(); open(p) {
		end := t
		p.End, p.EndReason, p.EndEvent = &end, reason, doc
		if p.BillableUntil == nil {
			until := nextCycle(t)
			p.BillableUntil = &until
		}
	}
	for _, p := range s.periods {
		d.orphan(s, p, t, orphan)
	}
}

// orphan marks p orphaned at t when it is still billable then. A period
// keeps its first reason, except that deprovisioning (which suspends first)
// names it better than the suspension.
func (d *deriver) orphan(s *seat, p *Period, t time.Time, reason string) {
	if p == nil || t.Before(p.Start) || !t.Before(p.BillableEnd()) {
		return
	}
	switch {
	case p.OrphanedSince == nil:
		since := t
		p.OrphanedSince, p.OrphanReason = &since, reason
		if reason == OrphanLeftTeam {
			s.leftTeam = p
		}
	case reason == OrphanDeprovisioned && p.OrphanReason == OrphanSuspended:
		p.OrphanReason = reason
	}
}

func (d *deriver) membership(e *Event, t time.Time) {
	h := d.holder(e)
	if h == "" {
		return
	}
	switch e.Membership {
	case events.TeamMemberAdded:
		o, team := d.org(e.Org), teamOf(e)
		if o.teamMembers[team] == nil {
			o.teamMembers[team] = map[string]bool{}
		}
		o.teamMembers[team][h] = true
		if o.teamCopilot[team] {
			d.addGrant(d.seat(scopeKey{ScopeOrg, e.Org}, h), newGrant(grant{ViaTeam, team}, e), t)
		}
	case events.TeamMemberRemoved:
		o, team := d.org(e.Org), teamOf(e)
		delete(o.teamMembers[team], h)
		if s := d.seatIf(scopeKey{ScopeOrg, e.Org}, h); s != nil {
			if d.endGrants(s, t, func(g grant) bool { return g == grant{ViaTeam, team} }) {
				d.orphan(s, s.cur(), t, OrphanLeftTeam) // unless an unassignment confirms it
			}
		}
	case events.OrgMemberAdded:
		o := d.org(e.Org)
		o.members[h] = true
		if o.assignAll {
			d.addGrant(d.seat(scopeKey{ScopeOrg, e.Org}, h), newGrant(grant{via: ViaAllMembers}, e), t)
		}
	case events.OrgMemberRemoved:
		o := d.org(e.Org)
		delete(o.members, h)
		for _, m := range o.teamMembers {
			delete(m, h)
		}
		d.removed(d.seatIf(scopeKey{ScopeOrg, e.Org}, h), t, e.DocID, EndLeftOrg, OrphanLeftOrg)
	case events.EnterpriseMemberRemoved:
		for _, o := range d.orgs {
			delete(o.members, h)
			for _, m := range o.teamMembers {
				delete(m, h)
			}
		}
		for _, m := range d.entTeams {
			delete(m, h)
		}
		for _, sk := range d.scopeKeys() {
			d.removed(d.seatIf(sk, h), t, e.DocID, EndLeftEnterprise, OrphanLeftEnterprise)
		}
	case events.EnterpriseTeamMemberAdded:
		team := e.EnterpriseTeam
		if d.entTeams[team] == nil {
			d.entTeams[team] = map[string]bool{}
		}
		d.entTeams[team][h] = true
		if d.entLic[team] {
			d.addGrant(d.seat(d.enterprise(e), h), newGrant(grant{ViaEnterpriseTeam, team}, e), t)
		}
	case events.EnterpriseTeamMemberRemoved:
		team := e.EnterpriseTeam
		delete(d.entTeams[team], h)
		s, g := d.seatIf(d.enterprise(e), h), grant{ViaEnterpriseTeam, team}
		if s == nil || !s.has(g) {
			return
		}
		if len(s.grants) > 1 {
			s.grants = slices.DeleteFunc(s.grants, func(m made) bool { return m.grant == g })
			return
		}
		// "Users lose access when they are removed from the team."
		d.removed(s, t, e.DocID, EndLeftEnterpriseTeam, OrphanLeftEnterpriseTeam)
	case events.Deprovisioned, events.Suspended:
		reason := OrphanDeprovisioned
		if e.Membership == events.Suspended {
			reason = OrphanSuspended
		}
		for _, sk := range d.scopeKeys() {
			if s := d.seatIf(sk, h); s != nil {
				settle(s, t)
				for _, p := range s.periods {
					d.orphan(s, p, t, reason)
				}
			}
		}
	case events.Unsuspended:
		// Back: a held seat orphaned by the suspension alone is not orphaned.
		for _, sk := range d.scopeKeys() {
			if s := d.seatIf(sk, h); s != nil {
				settle(s, t)
				if p := s.cur(); open(p) && p.OrphanReason == OrphanSuspended {
					p.OrphanedSince, p.OrphanReason = nil, ""
				}
			}
		}
	case events.Renamed:
		// d.holder recorded the new login; the seat keeps its holder.
	}
}

// teamOf is a team event's "org/slug".
func teamOf(e *Event) string {
	if e.Team == "" || strings.Contains(e.Team, "/") {
		return e.Team
	}
	return e.Org + "/" + e.Team
}

// teamCopilot: an org team assigned to (or removed from) Copilot.
func (d *deriver) teamCopilot(e *Event, t time.Time, on bool) {
	org := e.Org
	if org == "" {
		org, _, _ = strings.Cut(e.Team, "/")
	}
	o := d.org(org)
	team := teamOf(&Event{Team: e.Team, Org: org})
	sk := scopeKey{ScopeOrg, org}
	g := grant{ViaTeam, team}
	if on {
		o.teamCopilot[team] = true
		for _, h := range sortedKeys(o.teamMembers[team]) {
			d.addGrant(d.seat(sk, h), newGrant(g, e), t)
		}
		return
	}
	delete(o.teamCopilot, team)
	for _, h := range sortedKeys(d.seats[sk]) {
		d.endGrants(d.seats[sk][h], t, func(x grant) bool { return x == g })
	}
}

// licence: an enterprise team given (or relieved of) a Copilot licence.
func (d *deriver) licence(e *Event, t time.Time, on bool) {
	team := e.EnterpriseTeam
	sk := d.enterprise(e)
	g := grant{ViaEnterpriseTeam, team}
	if on {
		d.entLic[team] = true
		for _, h := range sortedKeys(d.entTeams[team]) {
			d.addGrant(d.seat(sk, h), newGrant(g, e), t)
		}
		return
	}
	delete(d.entLic, team)
	for _, h := range sortedKeys(d.seats[sk]) {
		d.endGrants(d.seats[sk][h], t, func(x grant) bool { return x == g })
	}
}

// seatManagement: an org's seat management setting changed.
func (d *deriver) seatManagement(e *Event, t time.Time) {
	o := d.org(e.Org)
	sk := scopeKey{ScopeOrg, e.Org}
	was := o.assignAll
	o.assignAll = e.NewValue == "assign_all"
	switch e.NewValue {
	case "assign_all":
		for _, h := range sortedKeys(o.members) {
			d.addGrant(d.seat(sk, h), newGrant(grant{via: ViaAllMembers}, e), t)
		}
	case "assign_selected":
		if !was {
			return
		}
		// GitHub keeps those seats, as direct assignments.
		for _, h := range sortedKeys(d.seats[sk]) {
			s := d.seats[sk][h]
			i := slices.IndexFunc(s.grants, func(m made) bool { return m.via == ViaAllMembers })
			switch {
			case i < 0:
			case s.has(grant{via: ViaDirect}):
				s.grants = slices.Delete(s.grants, i, i+1)
			default:
				s.grants[i].grant = grant{via: ViaDirect}
			}
		}
	case "disabled", "unconfigured":
		clear(o.teamCopilot)
		for _, h := range sortedKeys(d.seats[sk]) {
			d.endGrants(d.seats[sk][h], t, func(grant) bool { return true })
		}
	}
}

// scopeRevoked: Copilot access revoked for a whole org, or the enterprise.
// Every open seat there ends and billing stops with it (the subscription
// ended); the grants are forgotten.
func (d *deriver) scopeRevoked(e *Event, t time.Time) {
	whole := e.Org == "" // the enterprise's (owner_type Business) names no org
	for _, sk := range d.scopeKeys() {
		if !whole && sk != (scopeKey{ScopeOrg, e.Org}) {
			continue
		}
		for _, h := range sortedKeys(d.seats[sk]) {
			s := d.seats[sk][h]
			s.grants = nil
			settle(s, t)
			if p := s.cur(); open(p) {
				end := t
				p.End, p.EndReason, p.EndEvent, p.BillableUntil = &end, EndScopeRevoked, e.DocID, &end
			}
		}
	}
	if whole {
		clear(d.entLic)
		for _, o := range d.orgs {
			clear(o.teamCopilot)
		}
	} else {
		clear(d.org(e.Org).teamCopilot)
	}
}

func (d *deriver) scopeKeys() []scopeKey {
	out := make([]scopeKey, 0, len(d.seats))
	for sk := range d.seats {
		out = append(out, sk)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].kind != out[j].kind {
			return out[i].kind < out[j].kind
		}
		return out[i].name < out[j].name
	})
	return out
}

// periods settles every seat at now and returns all periods, by scope,
// holder and number, with each holder's latest login.
func (d *deriver) periods(now time.Time) []Period {
	var out []Period
	for _, sk := range d.scopeKeys() {
		for _, h := range sortedKeys(d.seats[sk]) {
			s := d.seats[sk][h]
			settle(s, now)
			for _, p := range s.periods {
				q := *p
				q.User = d.names[h]
				if login, ok := strings.CutPrefix(h, "login:"); ok {
					q.User = login
				} else {
					q.UserID = parseID(h)
				}
				out = append(out, q)
			}
		}
	}
	return out
}

func parseID(s string) int64 {
	var n int64
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0
		}
		n = n*10 + int64(c-'0')
	}
	return n
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
