package lifecycle

import (
	"sort"
	"strings"
	"time"

	"github.com/seatline/seatline/pkg/events"
)

// Derive turns the events of one business (seat timeline and membership
// changes, in any order) into its seat periods, following the rules of
// this package's documentation. It sorts its input by time, then document
// id, and is otherwise a pure function: the same events give the same
// periods, whatever order they arrived in.
func Derive(evs []Event) []Period {
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
	return d.periods()
}

// grant is one reason a holder has a seat in a scope.
type grant struct {
	via  string
	team string // for team and enterprise-team grants
}

type grantInfo struct {
	actor string
	at    time.Time
	doc   string
}

// seat is a holder's seat in one scope.
type seat struct {
	scope    scopeKey
	holder   string
	grants   map[grant]grantInfo
	cur      *Period // the period in progress (held, or pending)
	done     []Period
	leftTeam bool // cur went pending because its holder left a team, with no unassignment since
}

type scopeKey struct {
	kind, name string
}

type org struct {
	name        string
	assignAll   bool
	members     map[string]bool
	teamCopilot map[string]string          // team → actor who assigned it to Copilot
	teamMembers map[string]map[string]bool // team → holders
	plan        string
}

type deriver struct {
	business  string
	seats     map[scopeKey]map[string]*seat
	orgs      map[string]*org
	entLic    map[string]string          // enterprise team → actor who granted it a licence
	entTeams  map[string]map[string]bool // enterprise team → holders
	entPlan   string
	loginID   map[string]int64 // login → user_id, from every event that has both
	names     map[string]string
	bizPlan   string
	orphaned  map[string]orphanMark // holder → deprovisioned or suspended (applies to seats started later too)
	lastEvent time.Time
}

type orphanMark struct {
	since  time.Time
	reason string
}

func newDeriver(evs []Event) *deriver {
	d := &deriver{seats: map[scopeKey]map[string]*seat{}, orgs: map[string]*org{}, entLic: map[string]string{},
		entTeams: map[string]map[string]bool{}, loginID: map[string]int64{}, names: map[string]string{},
		orphaned: map[string]orphanMark{}}
	// Holders by user_id: a login seen with an id anywhere is that id
	// everywhere (copilot.* events may omit it; a renamed login keeps it).
	for i := range evs {
		e := &evs[i]
		if d.business == "" {
			d.business = e.Business
		}
		if e.UserID > 0 {
			if e.User != "" {
				if _, ok := d.loginID[e.User]; !ok {
					d.loginID[e.User] = e.UserID
				}
			}
			if e.OldLogin != "" {
				if _, ok := d.loginID[e.OldLogin]; !ok {
					d.loginID[e.OldLogin] = e.UserID
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
		o = &org{name: name, members: map[string]bool{}, teamCopilot: map[string]string{}, teamMembers: map[string]map[string]bool{}}
		d.orgs[name] = o
	}
	return o
}

// scopeOf is where e's seat lives: its org, or the enterprise when it has none.
func (d *deriver) scopeOf(e *Event) scopeKey {
	if e.Org != "" {
		return scopeKey{ScopeOrg, e.Org}
	}
	return scopeKey{ScopeEnterprise, d.businessOf(e)}
}

func (d *deriver) businessOf(e *Event) string {
	if e.Business != "" {
		return e.Business
	}
	return d.business
}

func (d *deriver) seat(sk scopeKey, holder string) *seat {
	m := d.seats[sk]
	if m == nil {
		m = map[string]*seat{}
		d.seats[sk] = m
	}
	s := m[holder]
	if s == nil {
		s = &seat{scope: sk, holder: holder, grants: map[grant]grantInfo{}}
		m[holder] = s
	}
	return s
}

func (d *deriver) planOf(sk scopeKey) string {
	if sk.kind == ScopeOrg {
		if p := d.org(sk.name).plan; p != "" {
			return p
		}
		if d.bizPlan != "" {
			return d.bizPlan
		}
		return "business"
	}
	if d.entPlan != "" {
		return d.entPlan
	}
	return "enterprise"
}

func (d *deriver) apply(e *Event) {
	t := ms(e.Ms)
	d.lastEvent = t
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
			d.addGrant(d.seat(d.scopeOf(e), h), grant{via: ViaDirect}, e, t)
		}
	case events.TransitionReused:
		if h != "" {
			d.addGrant(d.seat(d.scopeOf(e), h), grant{via: ViaDirect}, e, t)
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
			s := d.seat(d.scopeOf(e), h)
			if s.cur != nil && s.cur.PendingFrom != nil {
				s.leftTeam = false // the change a team removal made, confirmed: not an orphan
			}
			d.removeGrants(s, t, e, func(g grant) bool { return g.via == ViaDirect || g.via == ViaSeat })
		}
	case events.TransitionCancelled, events.TransitionCancelledByStaff:
		if h == "" {
			return
		}
		s := d.seat(d.scopeOf(e), h)
		reason := EndCancelled
		if e.Transition == events.TransitionCancelledByStaff {
			reason = EndCancelledByStaff
		}
		if p := s.cur; p != nil {
			end := t
			if p.BillableUntil != nil && p.BillableUntil.Before(end) {
				end = *p.BillableUntil
			}
			d.end(s, end, reason, e.DocID, nil)
		}
		clear(s.grants)
	case events.TransitionAccessRevoked:
		if h == "" { // stored before copilot.access_revoked had a transition of its own
			d.scopeRevoked(e, t)
			return
		}
		s := d.seat(d.scopeOf(e), h)
		if s.cur != nil {
			until := nextCycle(t)
			d.end(s, t, EndAccessRevoked, e.DocID, &until)
		}
		clear(s.grants)
	case events.TransitionAccessReinstated:
		if h != "" {
			d.seatExists(d.seat(d.scopeOf(e), h), e, t)
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
		case e.OwnerType == "Business" || e.Business != "":
			d.bizPlan = plan
		}
	}
}

// seatExists: GitHub says the holder has a seat (cfb_seat_added, a refresh,
// a reinstatement). Without a grant seatline knows of, it is a "seat" grant.
func (d *deriver) seatExists(s *seat, e *Event, t time.Time) {
	if len(s.grants) == 0 {
		if g, ok := d.impliedGrant(s); ok {
			d.addGrant(s, g, e, t)
			return
		}
		d.addGrant(s, grant{via: ViaSeat}, e, t)
		return
	}
	d.hold(s, e, t, grant{}, grantInfo{}) // refresh a pending seat
}

// impliedGrant is a grant the holder has by membership though no event
// made it (a reinstatement after revocation): a Copilot team, or all members.
func (d *deriver) impliedGrant(s *seat) (grant, bool) {
	if s.scope.kind == ScopeEnterprise {
		for _, team := range sortedKeys(d.entTeams) {
			if _, licensed := d.entLic[team]; licensed && d.entTeams[team][s.holder] {
				return grant{via: ViaEnterpriseTeam, team: team}, true
			}
		}
		return grant{}, false
	}
	o := d.org(s.scope.name)
	for _, team := range sortedKeys(o.teamCopilot) {
		if o.teamMembers[team][s.holder] {
			return grant{via: ViaTeam, team: team}, true
		}
	}
	if o.assignAll && o.members[s.holder] {
		return grant{via: ViaAllMembers}, true
	}
	return grant{}, false
}

// addGrant gives s a grant: a seat starts, a pending one is refreshed.
func (d *deriver) addGrant(s *seat, g grant, e *Event, t time.Time) {
	info := grantInfo{actor: e.Actor, at: t, doc: e.DocID}
	if _, had := s.grants[g]; !had {
		s.grants[g] = info
	}
	d.hold(s, e, t, g, info)
}

// hold makes sure s is held at t, starting a period with grant g if none
// is in progress.
func (d *deriver) hold(s *seat, e *Event, t time.Time, g grant, info grantInfo) {
	if p := s.cur; p != nil {
		if p.PendingFrom != nil && p.BillableUntil != nil && !t.Before(*p.BillableUntil) {
			d.close(s) // lapsed at its billable date: a new period starts
		} else if p.End == nil {
			if p.PendingFrom != nil && g != (grant{}) || p.PendingFrom != nil && len(s.grants) > 0 {
				p.PendingFrom, p.BillableUntil = nil, nil // refreshed
				s.leftTeam = false
			}
			if p.Via == ViaSeat && g.via != "" && g.via != ViaSeat && t.Sub(p.Start) <= time.Minute {
				// The same change, its events in another order: the real grant.
				p.Via, p.Team, p.GrantedBy = g.via, g.team, info.actor
			}
			return
		}
	}
	if g == (grant{}) {
		// A refresh of nothing: GitHub says there is a seat.
		g, info = grant{via: ViaSeat}, grantInfo{actor: e.Actor, at: t, doc: e.DocID}
		s.grants[g] = info
	}
	d.start(s, g, info, t)
}

func (d *deriver) start(s *seat, g grant, info grantInfo, t time.Time) {
	n := uint32(len(s.done))
	p := &Period{Scope: s.scope.name, ScopeKind: s.scope.kind, Business: d.business, Holder: s.holder, No: n,
		Via: g.via, Team: g.team, GrantedBy: info.actor, Start: t, StartEvent: info.doc, Plan: d.planOf(s.scope)}
	if m, ok := d.orphaned[s.holder]; ok {
		since := t
		p.OrphanedSince, p.OrphanReason = &since, m.reason
	}
	s.cur = p
	s.leftTeam = false
}

// removeGrants drops the grants match selects; a seat left with none goes
// pending cancellation, billable to the next cycle.
func (d *deriver) removeGrants(s *seat, t time.Time, e *Event, match func(grant) bool) bool {
	removed := false
	for g := range s.grants {
		if match(g) {
			delete(s.grants, g)
			removed = true
		}
	}
	if !removed || len(s.grants) > 0 {
		return false
	}
	p := s.cur
	if p == nil || p.End != nil || p.PendingFrom != nil {
		return false
	}
	from, until := t, nextCycle(t)
	p.PendingFrom, p.BillableUntil = &from, &until
	return true
}

// end ends s's period at t (access): billable until billableUntil when
// given. orphan marks it orphaned from t.
func (d *deriver) end(s *seat, t time.Time, reason, doc string, billableUntil *time.Time) {
	p := s.cur
	if p == nil {
		return
	}
	if p.End == nil {
		end := t
		p.End, p.EndReason, p.EndEvent = &end, reason, doc
		if billableUntil != nil && (p.BillableUntil == nil || billableUntil.After(*p.BillableUntil)) && p.PendingFrom == nil {
			b := *billableUntil
			p.BillableUntil = &b
		}
	}
	d.close(s)
}

// close files the period in progress.
func (d *deriver) close(s *seat) {
	if s.cur == nil {
		return
	}
	if s.leftTeam && s.cur.OrphanedSince == nil && s.cur.PendingFrom != nil {
		since := *s.cur.PendingFrom
		s.cur.OrphanedSince, s.cur.OrphanReason = &since, OrphanLeftTeam
	}
	s.done = append(s.done, *s.cur)
	s.cur, s.leftTeam = nil, false
}

func (d *deriver) orphan(s *seat, t time.Time, reason string) {
	if p := s.cur; p != nil && p.OrphanedSince == nil {
		since := t
		p.OrphanedSince, p.OrphanReason = &since, reason
	}
}

// leave ends every seat of holder h in the scopes that match, at once,
// billable to the next cycle, orphaned (left the org or the enterprise).
func (d *deriver) leave(h string, t time.Time, doc, reason string, match func(scopeKey) bool) {
	for _, sk := range d.scopeKeys() {
		if !match(sk) {
			continue
		}
		s := d.seats[sk][h]
		if s == nil {
			continue
		}
		clear(s.grants)
		if s.cur == nil {
			continue
		}
		d.orphan(s, t, reason)
		until := nextCycle(t)
		if s.cur.BillableUntil != nil && s.cur.BillableUntil.After(until) {
			until = *s.cur.BillableUntil
		}
		d.end(s, t, reason, doc, &until)
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
		if _, ok := o.teamCopilot[team]; ok {
			d.addGrant(d.seat(scopeKey{ScopeOrg, e.Org}, h), grant{via: ViaTeam, team: team}, e, t)
		}
	case events.TeamMemberRemoved:
		o, team := d.org(e.Org), teamOf(e)
		delete(o.teamMembers[team], h)
		s := d.seat(scopeKey{ScopeOrg, e.Org}, h)
		if d.removeGrants(s, t, e, func(g grant) bool { return g.via == ViaTeam && g.team == team }) {
			s.leftTeam = true // orphaned unless an unassignment confirms it
		}
	case events.OrgMemberAdded:
		o := d.org(e.Org)
		o.members[h] = true
		if o.assignAll {
			d.addGrant(d.seat(scopeKey{ScopeOrg, e.Org}, h), grant{via: ViaAllMembers}, e, t)
		}
	case events.OrgMemberRemoved:
		o := d.org(e.Org)
		delete(o.members, h)
		for _, m := range o.teamMembers {
			delete(m, h)
		}
		d.leave(h, t, e.DocID, EndLeftOrg, func(sk scopeKey) bool { return sk.kind == ScopeOrg && sk.name == e.Org })
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
		d.leave(h, t, e.DocID, EndLeftEnterprise, func(scopeKey) bool { return true })
	case events.EnterpriseTeamMemberAdded:
		team := e.EnterpriseTeam
		if d.entTeams[team] == nil {
			d.entTeams[team] = map[string]bool{}
		}
		d.entTeams[team][h] = true
		if _, ok := d.entLic[team]; ok {
			d.addGrant(d.seat(scopeKey{ScopeEnterprise, d.businessOf(e)}, h), grant{via: ViaEnterpriseTeam, team: team}, e, t)
		}
	case events.EnterpriseTeamMemberRemoved:
		team := e.EnterpriseTeam
		delete(d.entTeams[team], h)
		s := d.seat(scopeKey{ScopeEnterprise, d.businessOf(e)}, h)
		g := grant{via: ViaEnterpriseTeam, team: team}
		if _, had := s.grants[g]; !had {
			return
		}
		delete(s.grants, g)
		if len(s.grants) == 0 && s.cur != nil {
			// "Users lose access when they are removed from the team."
			d.orphan(s, t, OrphanLeftEnterpriseTeam)
			until := nextCycle(t)
			d.end(s, t, EndLeftEnterpriseTeam, e.DocID, &until)
		}
	case events.Deprovisioned, events.Suspended:
		reason := OrphanDeprovisioned
		if e.Membership == events.Suspended {
			reason = OrphanSuspended
		}
		if _, ok := d.orphaned[h]; !ok {
			d.orphaned[h] = orphanMark{since: t, reason: reason}
		}
		for _, sk := range d.scopeKeys() {
			if s := d.seats[sk][h]; s != nil {
				d.orphan(s, t, reason)
			}
		}
	case events.Unsuspended:
		if m, ok := d.orphaned[h]; ok && m.reason == OrphanSuspended {
			delete(d.orphaned, h)
			for _, sk := range d.scopeKeys() {
				if s := d.seats[sk][h]; s != nil && s.cur != nil && s.cur.OrphanReason == OrphanSuspended {
					s.cur.OrphanedSince, s.cur.OrphanReason = nil, ""
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
	if on {
		if _, ok := o.teamCopilot[team]; ok {
			return
		}
		o.teamCopilot[team] = e.Actor
		for _, h := range sortedKeys(o.teamMembers[team]) {
			d.addGrant(d.seat(sk, h), grant{via: ViaTeam, team: team}, &Event{Actor: e.Actor, DocID: e.DocID}, t)
		}
		return
	}
	delete(o.teamCopilot, team)
	for _, h := range sortedKeys(d.seats[sk]) {
		d.removeGrants(d.seats[sk][h], t, e, func(g grant) bool { return g.via == ViaTeam && g.team == team })
	}
}

// licence: an enterprise team given (or relieved of) a Copilot licence.
func (d *deriver) licence(e *Event, t time.Time, on bool) {
	team := e.EnterpriseTeam
	sk := scopeKey{ScopeEnterprise, d.businessOf(e)}
	if on {
		if _, ok := d.entLic[team]; ok {
			return
		}
		d.entLic[team] = e.Actor
		for _, h := range sortedKeys(d.entTeams[team]) {
			d.addGrant(d.seat(sk, h), grant{via: ViaEnterpriseTeam, team: team}, &Event{Actor: e.Actor, DocID: e.DocID}, t)
		}
		return
	}
	delete(d.entLic, team)
	for _, h := range sortedKeys(d.seats[sk]) {
		d.removeGrants(d.seats[sk][h], t, e, func(g grant) bool { return g.via == ViaEnterpriseTeam && g.team == team })
	}
}

// seatManagement: an org's seat management setting changed.
func (d *deriver) seatManagement(e *Event, t time.Time) {
	o := d.org(e.Org)
	sk := scopeKey{ScopeOrg, e.Org}
	switch e.NewValue {
	case "assign_all":
		if o.assignAll {
			return
		}
		o.assignAll = true
		for _, h := range sortedKeys(o.members) {
			d.addGrant(d.seat(sk, h), grant{via: ViaAllMembers}, e, t)
		}
	case "assign_selected":
		if !o.assignAll {
			return
		}
		o.assignAll = false
		// GitHub keeps those seats, as direct assignments.
		for _, h := range sortedKeys(d.seats[sk]) {
			s := d.seats[sk][h]
			if info, ok := s.grants[grant{via: ViaAllMembers}]; ok {
				delete(s.grants, grant{via: ViaAllMembers})
				s.grants[grant{via: ViaDirect}] = info
			}
		}
	case "disabled", "unconfigured":
		o.assignAll = false
		clear(o.teamCopilot)
		for _, h := range sortedKeys(d.seats[sk]) {
			d.removeGrants(d.seats[sk][h], t, e, func(grant) bool { return true })
		}
	}
}

// scopeRevoked: Copilot access revoked for a whole org, or the enterprise.
func (d *deriver) scopeRevoked(e *Event, t time.Time) {
	whole := e.Org == "" || e.OwnerType == "Business"
	for _, sk := range d.scopeKeys() {
		if !whole && !(sk.kind == ScopeOrg && sk.name == e.Org) {
			continue
		}
		for _, h := range sortedKeys(d.seats[sk]) {
			s := d.seats[sk][h]
			clear(s.grants)
			if s.cur != nil {
				stop := t // the subscription ended: billing stops with access
				s.cur.BillableUntil = &stop
				d.end(s, t, EndScopeRevoked, e.DocID, nil)
			}
		}
		if sk.kind == ScopeOrg {
			clear(d.org(sk.name).teamCopilot)
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

// periods files every period in progress and returns them all, by scope,
// holder and number, with each holder's latest login.
func (d *deriver) periods() []Period {
	var out []Period
	for _, sk := range d.scopeKeys() {
		for _, h := range sortedKeys(d.seats[sk]) {
			s := d.seats[sk][h]
			d.close(s)
			for _, p := range s.done {
				p.User = d.names[h]
				if login, ok := strings.CutPrefix(h, "login:"); ok {
					p.User = login
				} else {
					p.UserID = parseID(h)
				}
				out = append(out, p)
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
