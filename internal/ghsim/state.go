package ghsim

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

type user struct {
	login         string
	id            int64
	deleted       bool // account deleted: its seats list "assignee": null
	suspended     bool // user.suspend
	deprovisioned bool // SCIM soft deprovisioning (login obfuscated)
}

type team struct {
	org       string // "" for an enterprise team
	slug      string // enterprise teams: "ent:<name>"
	name      string
	id        int64
	members   []string
	memberSet map[string]bool
	copilot   bool   // assigned to the Copilot subscription
	grantedBy string // actor who assigned it (the actor of cfb_seat_added when a member joins)
	created   time.Time
	groupID   string           // enterprise teams: IdP group id ("" = none)
	seats     map[string]*seat // enterprise teams only: seats granted by this team
}

type org struct {
	login       string
	id          int64
	setting     string
	plan        string
	members     map[string]bool
	memberOrder []string
	invites     map[string]bool
	teams       map[string]*team
	teamOrder   []string
	seats       map[string]*seat

	revokedUsers  map[int64]bool // copilot.user_access_revoked, not reinstated
	accessRevoked *orgRestore    // copilot.access_revoked for the org, not restored
}

// orgRestore is what held Copilot in an org when its access was revoked
// (RestoreOrgAccess assigns it again).
type orgRestore struct {
	teams  []string
	direct []int64 // user ids
}

type seat struct {
	seq          uint64
	login        string
	created      time.Time
	updated      time.Time
	pending      time.Time // zero: no pending cancellation; else the day it ends (00:00 UTC)
	unassignedBy string    // actor of the unassignment (for the cfb_seat_cancelled event)
	lastActivity time.Time // zero: null
	lastAuth     time.Time // zero: null
	editor       string
	plan         string
	direct       bool     // assigned to the user directly (selected_users)
	all          bool     // granted because the org assigns all members
	teams        []string // teams that grant it, in assignment order
}

func (st *seat) hasSource() bool { return st.direct || st.all || len(st.teams) > 0 }

// scope is where a seat lives: an org, or an enterprise team.
type scope struct {
	org *org
	ent *team
}

func (sc scope) name() string {
	if sc.org != nil {
		return sc.org.login
	}
	return sc.ent.slug
}

func (sc scope) seats() map[string]*seat {
	if sc.org != nil {
		return sc.org.seats
	}
	return sc.ent.seats
}

// SeatState is the simulator's truth about one seat.
type SeatState struct {
	Scope                   string     // org login, or the enterprise team slug ("ent:…") that grants it
	Org                     string     // "" for an enterprise-team seat
	Login                   string     // assignee login (kept even when the account was deleted)
	UserID                  int64      // assignee id
	UserDeleted             bool       // the API shows "assignee": null
	PendingInvitation       bool       // the user has a pending invitation to Org
	CreatedAt               time.Time  // simulated time of the assignment
	UpdatedAt               time.Time  // last assignment change
	PendingCancellationDate string     // "YYYY-MM-DD", "" when none
	LastActivityAt          *time.Time // nil: never used
	LastActivityEditor      string
	LastAuthenticatedAt     *time.Time
	PlanType                string
	AssigningTeam           string   // slug of the team shown as assigning_team ("" = null)
	Direct                  bool     // assigned directly (selected_users)
	AllMembers              bool     // granted by the org's assign_all setting
	Teams                   []string // every team that grants it
}

// ---- builders ----

// AddOrg adds an organization with its seat_management_setting and plan_type
// ("" means business). With Options.MembershipEvents it writes
// copilot.plan_changed (old_plan "") and, unless the setting is
// unconfigured, copilot.cfb_seat_management_changed (old_value
// "unconfigured"), so that both are known from the stream.
func (s *Server) AddOrg(name, setting, plan string) error {
	if !validSetting(setting) {
		return fmt.Errorf("%w: %q", ErrInvalidSetting, setting)
	}
	if plan == "" {
		plan = PlanBusiness
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.orgs[name]; ok {
		return fmt.Errorf("%w: org %q", ErrDuplicate, name)
	}
	o := &org{
		login: name, id: 10_000_000 + s.rng.Int64N(150_000_000), setting: setting, plan: plan,
		members: map[string]bool{}, invites: map[string]bool{}, teams: map[string]*team{},
		seats: map[string]*seat{}, revokedUsers: map[int64]bool{},
	}
	s.orgs[name] = o
	s.orgOrder = append(s.orgOrder, name)
	if s.opts.MembershipEvents {
		// The org's plan and seat management are known from the stream
		// from the start.
		a := s.systemActor("")
		s.emit(evSpec{action: "copilot.plan_changed", op: "modify", org: o,
			fields: map[string]any{"old_plan": "", "plan": plan}}, a)
		if setting != Unconfigured {
			s.emit(evSpec{action: "copilot.cfb_seat_management_changed", op: "modify", org: o,
				oldValue: Unconfigured, newValue: setting, owner: true}, a)
		}
	}
	return nil
}

// AddUser adds a user account (idempotent) and returns its numeric id.
func (s *Server) AddUser(login string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.userLocked(login).id
}

func (s *Server) userLocked(login string) *user {
	if u, ok := s.users[login]; ok {
		return u
	}
	u := &user{login: login, id: 1_000_000 + s.rng.Int64N(150_000_000)}
	for s.usersByID[u.id] != nil {
		u.id = 1_000_000 + s.rng.Int64N(150_000_000)
	}
	s.users[login] = u
	s.usersByID[u.id] = u
	s.userOrder = append(s.userOrder, login)
	return u
}

// UserID returns a user's id.
func (s *Server) UserID(login string) (int64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[login]
	if !ok {
		return 0, false
	}
	return u.id, true
}

// OrgID returns an org's id.
func (s *Server) OrgID(name string) (int64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orgs[name]
	if !ok {
		return 0, false
	}
	return o.id, true
}

// EnterpriseID returns the enterprise's (business) id.
func (s *Server) EnterpriseID() int64 { return s.enterpriseID }

// AddMember makes login (created if unknown) a member of org, accepting a
// pending invitation (org.add_member, by Options.Admin, for a new member).
// In an assign_all org the new member gets a seat.
func (s *Server) AddMember(orgName, login string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orgs[orgName]
	if !ok {
		return fmt.Errorf("%w: org %q", ErrNotFound, orgName)
	}
	s.addMemberLocked(o, login, s.systemActor(""))
	return nil
}

// AcceptInvitation is AddMember for a user with a pending invitation; the
// org.add_member's actor is the user.
func (s *Server) AcceptInvitation(orgName, login string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orgs[orgName]
	if !ok {
		return fmt.Errorf("%w: org %q", ErrNotFound, orgName)
	}
	s.userLocked(login)
	s.addMemberLocked(o, login, s.systemActor(login))
	return nil
}

// addMemberLocked adds a member (org.add_member by a); in an assign_all org
// the member gets a seat, granted by that event.
func (s *Server) addMemberLocked(o *org, login string, a *actorInfo) {
	u := s.userLocked(login)
	if u.deleted {
		return
	}
	delete(o.invites, login)
	if o.members[login] {
		return
	}
	o.members[login] = true
	o.memberOrder = append(o.memberOrder, login)
	at := s.emit(evSpec{action: "org.add_member", op: "create", org: o, user: login, userID: u.id}, a)
	if o.setting == AssignAll {
		s.grantLocked(scope{org: o}, login, srcAll, "", s.systemActor(""), cause{at: at, by: a.login})
	}
}

// Invite gives login (created if unknown) a pending invitation to org. A seat
// can be assigned to an invited user; GET …/members/{user}/copilot answers
// 422 until the invitation is accepted.
func (s *Server) Invite(orgName, login string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orgs[orgName]
	if !ok {
		return fmt.Errorf("%w: org %q", ErrNotFound, orgName)
	}
	if s.userLocked(login); !o.members[login] {
		o.invites[login] = true
	}
	return nil
}

// RemoveMember removes login from org and its teams (org.remove_member; a
// pending invitation is withdrawn). Access to a seat it held there ends at
// once; the seat is listed as pending cancellation (billed for the full
// cycle, copilot.cfb_seat_assignment_unassigned) until the cycle ends.
func (s *Server) RemoveMember(orgName, login, actor string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orgs[orgName]
	if !ok {
		return fmt.Errorf("%w: org %q", ErrNotFound, orgName)
	}
	s.removeMemberLocked(o, login, s.systemActor(actor), true)
	return nil
}

// removeMemberLocked takes login out of o (with org.remove_member when
// announce: RemoveFromEnterprise announces business.remove_member instead).
func (s *Server) removeMemberLocked(o *org, login string, a *actorInfo, announce bool) {
	delete(o.invites, login)
	if o.members[login] {
		delete(o.members, login)
		o.memberOrder = slices.DeleteFunc(o.memberOrder, func(m string) bool { return m == login })
		if announce {
			uid := s.userLocked(login).id
			at := s.emit(evSpec{action: "org.remove_member", op: "remove", org: o, user: login, userID: uid}, a)
			s.tRemoved(tScope{ScopeOrg, o.login}, uid, at, EndLeftOrg, OrphanLeftOrg)
		}
	}
	for _, slug := range o.teamOrder {
		removeTeamMember(o.teams[slug], login)
	}
	s.releaseAllLocked(scope{org: o}, login, a, cause{})
}

// DeleteUser deletes a user account: it leaves every org
// (org.remove_member) and enterprise team (enterprise_team.remove_member);
// its seats are listed as pending cancellation with "assignee": null until
// the cycle ends; the per-user endpoint answers 404 for it.
func (s *Server) DeleteUser(login string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[login]
	if !ok {
		return fmt.Errorf("%w: user %q", ErrNotFound, login)
	}
	a := s.systemActor(login)
	for _, name := range s.orgOrder {
		s.removeMemberLocked(s.orgs[name], login, a, true)
	}
	for _, slug := range s.entOrder {
		s.removeEntTeamMemberLocked(s.entTeams[slug], login, a, true)
	}
	u.deleted = true
	return nil
}

func removeTeamMember(t *team, login string) {
	if t.memberSet[login] {
		delete(t.memberSet, login)
		t.members = slices.DeleteFunc(t.members, func(m string) bool { return m == login })
	}
}

// AddTeam creates org team slug if needed and adds members (who become org
// members). If the team is assigned to Copilot, new members get seats
// through it, as on GitHub.
func (s *Server) AddTeam(orgName, slug string, members ...string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orgs[orgName]
	if !ok {
		return fmt.Errorf("%w: org %q", ErrNotFound, orgName)
	}
	t, ok := o.teams[slug]
	if !ok {
		s.teamIDs += 1 + s.rng.Int64N(50)
		t = &team{org: orgName, slug: slug, name: titleCase(slug), id: s.teamIDs,
			memberSet: map[string]bool{}, created: s.now}
		o.teams[slug] = t
		o.teamOrder = append(o.teamOrder, slug)
	}
	a := s.systemActor("")
	for _, m := range members {
		s.addTeamMemberLocked(o, t, m, a)
	}
	return nil
}

// AddTeamMember adds login (created if unknown; made an org member, by the
// same actor, if needed) to existing org team slug: team.add_member by
// actor ("" = Options.Admin); if the team holds Copilot the user gets a
// seat through it (copilot.cfb_seat_added by whoever assigned the team).
func (s *Server) AddTeamMember(orgName, slug, login, actor string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orgs[orgName]
	if !ok {
		return fmt.Errorf("%w: org %q", ErrNotFound, orgName)
	}
	t, ok := o.teams[slug]
	if !ok {
		return fmt.Errorf("%w: team %q", ErrNotFound, slug)
	}
	s.addTeamMemberLocked(o, t, login, s.systemActor(actor))
	return nil
}

// addTeamMemberLocked adds login (made an org member if needed) to org team
// t: team.add_member by a, then, if t holds Copilot, the seat
// (copilot.cfb_seat_added by whoever assigned the team; the grant is a's).
func (s *Server) addTeamMemberLocked(o *org, t *team, login string, a *actorInfo) {
	s.addMemberLocked(o, login, a)
	u := s.users[login]
	if u.deleted || t.memberSet[login] {
		return
	}
	t.memberSet[login] = true
	t.members = append(t.members, login)
	at := s.emit(evSpec{action: "team.add_member", op: "create", org: o, team: o.login + "/" + t.slug,
		user: login, userID: u.id}, a)
	if t.copilot && (o.setting == AssignSelected || o.setting == AssignAll) {
		s.grantLocked(scope{org: o}, login, srcTeam, t.slug, s.systemActor(t.grantedBy), cause{at: at, by: a.login})
	}
}

// RemoveTeamMember removes login from an org team (team.remove_member; it
// stays an org member). A seat held only through that team goes pending
// cancellation: access to the cycle's end; GitHub does not promise a
// copilot.* event for it (Options.TeamUnassignEventRate).
func (s *Server) RemoveTeamMember(orgName, slug, login string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orgs[orgName]
	if !ok {
		return fmt.Errorf("%w: org %q", ErrNotFound, orgName)
	}
	t, ok := o.teams[slug]
	if !ok {
		return fmt.Errorf("%w: team %q", ErrNotFound, slug)
	}
	s.removeTeamMemberLocked(o, t, login, s.systemActor(""))
	return nil
}

func (s *Server) removeTeamMemberLocked(o *org, t *team, login string, a *actorInfo) {
	if !t.memberSet[login] {
		return
	}
	removeTeamMember(t, login)
	at := s.emit(evSpec{action: "team.remove_member", op: "remove", org: o, team: o.login + "/" + t.slug,
		user: login, userID: s.userLocked(login).id}, a)
	if st := o.seats[login]; st != nil && slices.Contains(st.teams, t.slug) {
		s.releaseLocked(scope{org: o}, login, srcTeam, t.slug, a, cause{at: at}, true)
	}
}

// EntTeamSlug returns the enterprise-team slug for name: GitHub prefixes
// enterprise team slugs with "ent:".
func EntTeamSlug(name string) string {
	if strings.HasPrefix(name, "ent:") {
		return name
	}
	return "ent:" + name
}

// AddEnterpriseTeam creates enterprise team slug (normalised to "ent:…") if
// needed and adds members (users, created if unknown). It returns the slug.
// If the team is assigned to Copilot, new members get seats through it.
func (s *Server) AddEnterpriseTeam(slug string, members ...string) (string, error) {
	slug = EntTeamSlug(slug)
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.entTeams[slug]
	if !ok {
		s.teamIDs += 1 + s.rng.Int64N(50)
		t = &team{slug: slug, name: titleCase(strings.TrimPrefix(slug, "ent:")), id: s.teamIDs,
			memberSet: map[string]bool{}, created: s.now, seats: map[string]*seat{}}
		if s.rng.IntN(2) == 0 {
			t.groupID = fmt.Sprintf("%08x-%04x-4%03x-%04x-%012x", s.rng.Uint32(), s.rng.IntN(1<<16),
				s.rng.IntN(1<<12), 0x8000|s.rng.IntN(1<<14), s.rng.Uint64()&(1<<48-1))
		}
		s.entTeams[slug] = t
		s.entOrder = append(s.entOrder, slug)
	}
	a := s.systemActor("")
	for _, m := range members {
		s.addEntTeamMemberLocked(t, m, a)
	}
	return slug, nil
}

// AddEnterpriseTeamMember adds login (created if unknown) to existing
// enterprise team slug: enterprise_team.add_member by actor ("" =
// Options.Admin); if the team holds a licence the user gets a seat.
func (s *Server) AddEnterpriseTeamMember(slug, login, actor string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.entTeams[EntTeamSlug(slug)]
	if !ok {
		return fmt.Errorf("%w: enterprise team %q", ErrNotFound, slug)
	}
	s.addEntTeamMemberLocked(t, login, s.systemActor(actor))
	return nil
}

// addEntTeamMemberLocked: enterprise_team.add_member by a, then, if the
// team holds a licence, the seat (copilot.cfb_seat_added by whoever
// assigned the licence).
func (s *Server) addEntTeamMemberLocked(t *team, login string, a *actorInfo) {
	u := s.userLocked(login)
	if u.deleted || t.memberSet[login] {
		return
	}
	t.memberSet[login] = true
	t.members = append(t.members, login)
	at := s.emit(evSpec{action: "enterprise_team.add_member", op: "create", user: login, userID: u.id,
		fields: entTeamFields(t)}, a)
	if t.copilot {
		s.grantLocked(scope{ent: t}, login, srcTeam, t.slug, s.systemActor(t.grantedBy), cause{at: at, by: a.login})
	}
}

// RemoveEnterpriseTeamMember removes login from enterprise team slug
// (enterprise_team.remove_member). If the team's licence was the seat's
// only grant, access ends at once (GitHub: users lose access when removed
// from the team); the team's seat is listed as pending cancellation until
// the cycle ends. actor "" is Options.Admin.
func (s *Server) RemoveEnterpriseTeamMember(slug, login, actor string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.entTeams[EntTeamSlug(slug)]
	if !ok {
		return fmt.Errorf("%w: enterprise team %q", ErrNotFound, slug)
	}
	s.removeEntTeamMemberLocked(t, login, s.systemActor(actor), true)
	return nil
}

func (s *Server) removeEntTeamMemberLocked(t *team, login string, a *actorInfo, announce bool) {
	if !t.memberSet[login] {
		return
	}
	removeTeamMember(t, login)
	uid := s.userLocked(login).id
	at := time.Time{}
	if announce {
		at = s.emit(evSpec{action: "enterprise_team.remove_member", op: "remove", user: login, userID: uid,
			fields: entTeamFields(t)}, a)
		if t.copilot {
			s.tEntTeamLeft(uid, t.slug, at)
		}
	}
	s.releaseAllLocked(scope{ent: t}, login, a, cause{at: at})
}

func entTeamFields(t *team) map[string]any {
	return map[string]any{"enterprise_team": t.slug, "enterprise_team_id": t.id}
}

// ---- actions (each emits the audit events GitHub would) ----

// Assign assigns seats in org directly to users (POST selected_users).
// Users must be org members or have a pending invitation. actor "" is
// Options.Admin.
func (s *Server) Assign(orgName, actor string, users ...string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err := s.assignUsersLocked(orgName, users, s.systemActor(actor))
	return err
}

// Unassign removes users' direct assignments in org (DELETE
// selected_users); a seat left with no grant goes pending cancellation.
func (s *Server) Unassign(orgName, actor string, users ...string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err := s.unassignUsersLocked(orgName, users, s.systemActor(actor))
	return err
}

// AssignTeams assigns org teams to Copilot (POST selected_teams): every
// member gets a seat with assigning_team set.
func (s *Server) AssignTeams(orgName, actor string, slugs ...string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err := s.assignTeamsLocked(orgName, slugs, s.systemActor(actor))
	return err
}

// UnassignTeams removes org teams from Copilot (DELETE selected_teams).
func (s *Server) UnassignTeams(orgName, actor string, slugs ...string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err := s.unassignTeamsLocked(orgName, slugs, s.systemActor(actor))
	return err
}

// AssignEnterpriseTeams assigns Copilot licences to enterprise teams
// (enterprise_team.copilot_assignment; without Options.MembershipEvents the
// older copilot.cfb_seat_assignment_created with team "ent:…"): every member
// gets a seat granted by the team (listed by the enterprise seat list, not
// by any org's).
func (s *Server) AssignEnterpriseTeams(actor string, slugs ...string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ts, err := s.entTeamsLocked(slugs)
	if err != nil {
		return err
	}
	a := s.systemActor(actor)
	for _, t := range ts {
		s.assignEntTeamLocked(t, a)
	}
	return nil
}

func (s *Server) assignEntTeamLocked(t *team, a *actorInfo) {
	if t.copilot {
		return
	}
	t.copilot, t.grantedBy = true, a.login
	ev := evSpec{action: "enterprise_team.copilot_assignment", op: "create", fields: entTeamFields(t)}
	if !s.opts.MembershipEvents {
		ev = evSpec{action: "copilot.cfb_seat_assignment_created", op: "create", team: t.slug}
	}
	at := s.emit(ev, a)
	for _, m := range t.members {
		s.grantLocked(scope{ent: t}, m, srcTeam, t.slug, a, cause{at: at, by: a.login})
	}
}

// UnassignEnterpriseTeams removes enterprise teams' Copilot licences
// (enterprise_team.copilot_unassignment, or the older
// copilot.cfb_seat_assignment_unassigned with team "ent:…"); their seats go
// pending cancellation.
func (s *Server) UnassignEnterpriseTeams(actor string, slugs ...string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ts, err := s.entTeamsLocked(slugs)
	if err != nil {
		return err
	}
	a := s.systemActor(actor)
	for _, t := range ts {
		s.unassignEntTeamLocked(t, a)
	}
	return nil
}

func (s *Server) unassignEntTeamLocked(t *team, a *actorInfo) {
	if !t.copilot {
		return
	}
	t.copilot = false
	ev := evSpec{action: "enterprise_team.copilot_unassignment", op: "remove", fields: entTeamFields(t)}
	if !s.opts.MembershipEvents {
		ev = evSpec{action: "copilot.cfb_seat_assignment_unassigned", op: "remove", team: t.slug}
	}
	at := s.emit(ev, a)
	for _, login := range sortedSeatLogins(t.seats) {
		s.releaseLocked(scope{ent: t}, login, srcTeam, t.slug, a, cause{at: at}, false)
	}
}

func (s *Server) entTeamsLocked(slugs []string) ([]*team, error) {
	var out []*team
	for _, sl := range slugs {
		t, ok := s.entTeams[EntTeamSlug(sl)]
		if !ok {
			return nil, fmt.Errorf("%w: enterprise team %q", ErrNotFound, sl)
		}
		out = append(out, t)
	}
	return out, nil
}

// SetSeatManagement changes org's seat_management_setting
// (copilot.cfb_seat_management_changed). Switching to assign_all gives every
// member a seat; switching from it to assign_selected keeps those seats as
// direct assignments; switching to disabled or unconfigured unassigns every
// seat (pending cancellation) and every team.
//
// While the org's Copilot access is revoked (RevokeOrgAccess) it fails with
// ErrAccessRevoked.
func (s *Server) SetSeatManagement(orgName, actor, setting string) error {
	if !validSetting(setting) {
		return fmt.Errorf("%w: %q", ErrInvalidSetting, setting)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orgs[orgName]
	if !ok {
		return fmt.Errorf("%w: org %q", ErrNotFound, orgName)
	}
	return s.setSeatManagementLocked(o, setting, s.systemActor(actor))
}

func (s *Server) setSeatManagementLocked(o *org, setting string, a *actorInfo) error {
	old := o.setting
	if old == setting {
		return nil
	}
	if o.accessRevoked != nil {
		return fmt.Errorf("%w: %s", ErrAccessRevoked, o.login)
	}
	o.setting = setting
	at := s.emit(evSpec{action: "copilot.cfb_seat_management_changed", op: "modify", org: o,
		oldValue: old, newValue: setting, owner: true}, a)
	sc := scope{org: o}
	switch setting {
	case AssignAll:
		for _, m := range o.memberOrder {
			s.grantLocked(sc, m, srcAll, "", a, cause{at: at, by: a.login})
		}
	case AssignSelected:
		for _, st := range orderedSeats(o.seats) {
			if st.all {
				st.all, st.direct = false, true
				if u := s.users[st.login]; u != nil {
					s.tGrantRename(s.tScopeOf(sc), u.id, "all", "direct")
				}
			}
		}
	default: // disabled, unconfigured
		for _, slug := range o.teamOrder {
			o.teams[slug].copilot = false
		}
		for _, login := range sortedSeatLogins(o.seats) {
			s.releaseAllLocked(sc, login, a, cause{at: at})
		}
	}
	return nil
}

// SetActivity records Copilot use by login under scope (org or enterprise
// team slug): last_activity_at, last_activity_editor, and
// last_authenticated_at (never earlier than at).
func (s *Server) SetActivity(scopeName, login string, at time.Time, editor string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sc, ok := s.scopeLocked(scopeName)
	if !ok {
		return fmt.Errorf("%w: %q", ErrNotFound, scopeName)
	}
	st, ok := sc.seats()[login]
	if !ok {
		return fmt.Errorf("%w: no seat for %q in %q", ErrNotFound, login, scopeName)
	}
	at = at.UTC().Truncate(time.Second)
	st.lastActivity = at
	st.editor = editor
	if at.After(st.lastAuth) {
		st.lastAuth = at
	}
	return nil
}

// SetSeatCreated backdates a seat's created_at (and updated_at when it is
// earlier), e.g. to build a history that predates the simulation.
func (s *Server) SetSeatCreated(scopeName, login string, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sc, ok := s.scopeLocked(scopeName)
	if !ok {
		return fmt.Errorf("%w: %q", ErrNotFound, scopeName)
	}
	st, ok := sc.seats()[login]
	if !ok {
		return fmt.Errorf("%w: no seat for %q in %q", ErrNotFound, login, scopeName)
	}
	st.created = at.UTC().Truncate(time.Second)
	if st.updated.Before(st.created) || st.updated.Equal(s.now) {
		st.updated = st.created
	}
	return nil
}

func (s *Server) scopeLocked(name string) (scope, bool) {
	if o, ok := s.orgs[name]; ok {
		return scope{org: o}, true
	}
	if t, ok := s.entTeams[name]; ok {
		return scope{ent: t}, true
	}
	return scope{}, false
}

// ---- truth ----

// Seat returns the seat login holds under scope (an org, or an enterprise
// team slug), including one pending cancellation.
func (s *Server) Seat(scopeName, login string) (SeatState, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sc, ok := s.scopeLocked(scopeName)
	if !ok {
		return SeatState{}, false
	}
	st, ok := sc.seats()[login]
	if !ok {
		return SeatState{}, false
	}
	return s.seatState(sc, st), true
}

// Seats returns every seat under scope (org or enterprise team slug) in the
// order the API lists them.
func (s *Server) Seats(scopeName string) []SeatState {
	s.mu.Lock()
	defer s.mu.Unlock()
	sc, ok := s.scopeLocked(scopeName)
	if !ok {
		return nil
	}
	var out []SeatState
	for _, st := range orderedSeats(sc.seats()) {
		out = append(out, s.seatState(sc, st))
	}
	return out
}

// AllSeats returns every seat in the enterprise in the enterprise seat
// list's order (orgs in creation order, then enterprise teams).
func (s *Server) AllSeats() []SeatState {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []SeatState
	for _, e := range s.enterpriseSeatsLocked() {
		out = append(out, s.seatState(e.sc, e.st))
	}
	return out
}

// Orgs lists the orgs in creation order.
func (s *Server) Orgs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.orgOrder)
}

// Setting returns org's seat_management_setting.
func (s *Server) Setting(orgName string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orgs[orgName]
	if !ok {
		return "", false
	}
	return o.setting, true
}

// Members lists org's members in the order they joined.
func (s *Server) Members(orgName string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o, ok := s.orgs[orgName]; ok {
		return slices.Clone(o.memberOrder)
	}
	return nil
}

// Teams lists org's team slugs in creation order.
func (s *Server) Teams(orgName string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o, ok := s.orgs[orgName]; ok {
		return slices.Clone(o.teamOrder)
	}
	return nil
}

// EnterpriseTeams lists enterprise team slugs in creation order.
func (s *Server) EnterpriseTeams() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.entOrder)
}

func (s *Server) seatState(sc scope, st *seat) SeatState {
	out := SeatState{
		Scope: sc.name(), Login: st.login, CreatedAt: st.created, UpdatedAt: st.updated,
		LastActivityEditor: st.editor, PlanType: st.plan, Direct: st.direct, AllMembers: st.all,
		Teams: slices.Clone(st.teams),
	}
	if sc.org != nil {
		out.Org = sc.org.login
		out.PendingInvitation = sc.org.invites[st.login]
	}
	if u := s.users[st.login]; u != nil {
		out.UserID, out.UserDeleted = u.id, u.deleted
	}
	if !st.pending.IsZero() {
		out.PendingCancellationDate = st.pending.Format(time.DateOnly)
	}
	if !st.lastActivity.IsZero() {
		t := st.lastActivity
		out.LastActivityAt = &t
	}
	if !st.lastAuth.IsZero() {
		t := st.lastAuth
		out.LastAuthenticatedAt = &t
	}
	if len(st.teams) > 0 {
		out.AssigningTeam = st.teams[0]
	}
	return out
}

// ---- internals (s.mu held) ----

const (
	srcDirect = iota
	srcAll
	srcTeam
)

// grantLocked adds a grant to login's seat under sc, creating the seat or
// refreshing a pending cancellation, with the seat events GitHub writes (by
// a), and records the grant in the truth as made by c (c.at zero: by the
// seat event emitted here; c.by "": a). It reports whether a seat was
// created or refreshed (counted in seats_created).
func (s *Server) grantLocked(sc scope, login string, src int, teamSlug string, a *actorInfo, c cause) bool {
	seats := sc.seats()
	st := seats[login]
	uid := s.userLocked(login).id
	ev := evSpec{user: login, userID: uid}
	if sc.org != nil {
		ev.org = sc.org
	}
	created := st == nil
	if created {
		s.seatSeq++
		plan := s.opts.EnterprisePlan
		if sc.org != nil {
			plan = sc.org.plan
		}
		st = &seat{seq: s.seatSeq, login: login, created: s.now, updated: s.now, plan: plan}
		seats[login] = st
	}
	switch src {
	case srcDirect:
		st.direct = true
	case srcAll:
		st.all = true
	case srcTeam:
		if !slices.Contains(st.teams, teamSlug) {
			st.teams = append(st.teams, teamSlug)
		}
	}
	var at time.Time // the seat event that names the grant
	changed := false
	switch {
	case created:
		if src == srcDirect {
			e := ev
			e.action, e.op = "copilot.cfb_seat_assignment_created", "create"
			at = s.emit(e, a)
		}
		ev.action, ev.op = "copilot.cfb_seat_added", "create"
		if t := s.emit(ev, a); at.IsZero() {
			at = t
		}
		changed = true
	case !st.pending.IsZero():
		st.pending, st.unassignedBy, st.updated = time.Time{}, "", s.now
		ev.action, ev.op = "copilot.cfb_seat_assignment_refreshed", "modify"
		at = s.emit(ev, a)
		if src == srcDirect && c.via == "" {
			// Only the refresh reports it: GitHub says there is a seat.
			c.via = ViaSeat
		}
		changed = true
	case src == srcDirect:
		ev.action, ev.op = "copilot.cfb_seat_assignment_reused", "modify"
		at = s.emit(ev, a)
	}
	if c.at.IsZero() {
		c.at = at
	}
	if c.by == "" {
		c.by = a.login
	}
	kind := grantKind(src, teamSlug)
	via, team := viaOf(sc, kind)
	if c.via != "" {
		via, team = c.via, ""
	}
	s.tGrantAdd(s.tScopeOf(sc), uid, tGrant{kind: kind, via: via, team: team, by: c.by, at: c.at})
	return changed
}

// releaseLocked removes one grant from login's seat; a seat left with none
// goes pending cancellation. The truth ends the grant at c.at (zero: at the
// unassignment emitted here). A direct assignment removed while another
// grant keeps the seat still gets its copilot.cfb_seat_assignment_unassigned.
// teamLeave: the holder left the granting org team (the unassignment event
// is then written with probability Options.TeamUnassignEventRate; without
// it the seat is orphaned "left_team"). It reports whether the seat went
// pending.
func (s *Server) releaseLocked(sc scope, login string, src int, teamSlug string, a *actorInfo, c cause, teamLeave bool) bool {
	st := sc.seats()[login]
	if st == nil {
		return false
	}
	had := false
	switch src {
	case srcDirect:
		had, st.direct = st.direct, false
	case srcAll:
		had, st.all = st.all, false
	case srcTeam:
		had = slices.Contains(st.teams, teamSlug)
		st.teams = slices.DeleteFunc(st.teams, func(t string) bool { return t == teamSlug })
	}
	if !had {
		return false
	}
	pended, evAt := s.maybePendLocked(sc, st, a, teamLeave)
	if src == srcDirect && !pended {
		evAt = s.emitUnassignedLocked(sc, st, a)
	}
	at := c.at
	if at.IsZero() {
		at = evAt
	}
	uid := s.userLocked(login).id
	tsc := s.tScopeOf(sc)
	if s.tGrantEnd(tsc, uid, grantKind(src, teamSlug), at) && teamLeave && evAt.IsZero() {
		s.tLeftTeam(tsc, uid, at)
	}
	return pended
}

// releaseAllLocked removes every grant of login's seat (see releaseLocked).
func (s *Server) releaseAllLocked(sc scope, login string, a *actorInfo, c cause) bool {
	st := sc.seats()[login]
	if st == nil {
		return false
	}
	var kinds []string
	if st.direct {
		kinds = append(kinds, grantKind(srcDirect, ""))
	}
	if st.all {
		kinds = append(kinds, grantKind(srcAll, ""))
	}
	for _, t := range st.teams {
		kinds = append(kinds, grantKind(srcTeam, t))
	}
	st.direct, st.all, st.teams = false, false, nil
	pended, evAt := s.maybePendLocked(sc, st, a, false)
	at := c.at
	if at.IsZero() {
		at = evAt
	}
	uid := s.userLocked(login).id
	for _, k := range kinds {
		s.tGrantEnd(s.tScopeOf(sc), uid, k, at)
	}
	return pended
}

// maybePendLocked puts a seat with no grant left in pending cancellation
// (until the next cycle start) and writes copilot.cfb_seat_assignment_unassigned
// for it, returning its timestamp (zero when, for a team leave, GitHub's
// silence was drawn: Options.TeamUnassignEventRate).
func (s *Server) maybePendLocked(sc scope, st *seat, a *actorInfo, teamLeave bool) (bool, time.Time) {
	if st.hasSource() || !st.pending.IsZero() {
		return false, time.Time{}
	}
	st.pending = s.nextCycleStart(s.now)
	st.unassignedBy = a.login
	st.updated = s.now
	if r := s.opts.TeamUnassignEventRate; teamLeave && r < 1 && (r <= 0 || s.rng.Float64() >= r) {
		return true, time.Time{}
	}
	return true, s.emitUnassignedLocked(sc, st, a)
}

func (s *Server) emitUnassignedLocked(sc scope, st *seat, a *actorInfo) time.Time {
	ev := evSpec{action: "copilot.cfb_seat_assignment_unassigned", op: "remove", user: st.login, org: sc.org}
	if u := s.users[st.login]; u != nil {
		ev.userID = u.id
	}
	at := s.emit(ev, a)
	s.tUnassignedEvent(s.tScopeOf(sc), ev.userID, at)
	return at
}

func (s *Server) orgLocked(name string) (*org, error) {
	o, ok := s.orgs[name]
	if !ok {
		return nil, fmt.Errorf("%w: org %q", ErrNotFound, name)
	}
	return o, nil
}

func checkNames(names []string) error {
	if len(names) == 0 {
		return ErrNoNames
	}
	if len(names) > 100 {
		return fmt.Errorf("%w (%d)", ErrTooManyNames, len(names))
	}
	return nil
}

func (s *Server) assignUsersLocked(orgName string, logins []string, a *actorInfo) (int, error) {
	o, err := s.orgLocked(orgName)
	if err != nil {
		return 0, err
	}
	if err := checkNames(logins); err != nil {
		return 0, err
	}
	if o.accessRevoked != nil {
		return 0, fmt.Errorf("%w: %s", ErrAccessRevoked, orgName)
	}
	if o.setting != AssignSelected {
		return 0, fmt.Errorf("%w: %s is %s", ErrSeatManagement, orgName, o.setting)
	}
	var bad []string
	for _, l := range logins {
		if u, ok := s.users[l]; !ok || u.deleted || (!o.members[l] && !o.invites[l]) {
			bad = append(bad, l)
		}
	}
	if len(bad) > 0 {
		return 0, fmt.Errorf("%w: %s", ErrNotMember, strings.Join(bad, ", "))
	}
	n := 0
	for _, l := range dedupe(logins) {
		if s.grantLocked(scope{org: o}, l, srcDirect, "", a, cause{}) {
			n++
		}
	}
	return n, nil
}

func (s *Server) unassignUsersLocked(orgName string, logins []string, a *actorInfo) (int, error) {
	o, err := s.orgLocked(orgName)
	if err != nil {
		return 0, err
	}
	if err := checkNames(logins); err != nil {
		return 0, err
	}
	if o.accessRevoked != nil {
		return 0, fmt.Errorf("%w: %s", ErrAccessRevoked, orgName)
	}
	if o.setting != AssignSelected {
		return 0, fmt.Errorf("%w: %s is %s", ErrSeatManagement, orgName, o.setting)
	}
	n := 0
	for _, l := range dedupe(logins) {
		if s.releaseLocked(scope{org: o}, l, srcDirect, "", a, cause{}, false) {
			n++
		}
	}
	return n, nil
}

func (s *Server) orgTeamsLocked(o *org, slugs []string) ([]*team, error) {
	var out []*team
	var missing []string
	for _, sl := range dedupe(slugs) {
		t, ok := o.teams[sl]
		if !ok {
			missing = append(missing, sl)
			continue
		}
		out = append(out, t)
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%w: team(s) %s in %s", ErrNotFound, strings.Join(missing, ", "), o.login)
	}
	return out, nil
}

// selectedTeamsLocked checks a selected_teams request (names, the org's
// seat-management setting, the teams) for both assignment and unassignment.
func (s *Server) selectedTeamsLocked(orgName string, slugs []string) (*org, []*team, error) {
	o, err := s.orgLocked(orgName)
	if err != nil {
		return nil, nil, err
	}
	if err := checkNames(slugs); err != nil {
		return nil, nil, err
	}
	if o.accessRevoked != nil {
		return nil, nil, fmt.Errorf("%w: %s", ErrAccessRevoked, orgName)
	}
	if o.setting != AssignSelected {
		return nil, nil, fmt.Errorf("%w: %s is %s", ErrSeatManagement, orgName, o.setting)
	}
	ts, err := s.orgTeamsLocked(o, slugs)
	if err != nil {
		return nil, nil, err
	}
	return o, ts, nil
}

func (s *Server) assignTeamsLocked(orgName string, slugs []string, a *actorInfo) (int, error) {
	o, ts, err := s.selectedTeamsLocked(orgName, slugs)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, t := range ts {
		if t.copilot {
			continue
		}
		t.copilot, t.grantedBy = true, a.login
		at := s.emit(evSpec{action: "copilot.cfb_seat_assignment_created", op: "create", org: o, team: o.login + "/" + t.slug}, a)
		for _, m := range t.members {
			if s.grantLocked(scope{org: o}, m, srcTeam, t.slug, a, cause{at: at, by: a.login}) {
				n++
			}
		}
	}
	return n, nil
}

func (s *Server) unassignTeamsLocked(orgName string, slugs []string, a *actorInfo) (int, error) {
	o, ts, err := s.selectedTeamsLocked(orgName, slugs)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, t := range ts {
		if !t.copilot {
			continue
		}
		t.copilot = false
		at := s.emit(evSpec{action: "copilot.cfb_seat_assignment_unassigned", op: "remove", org: o, team: o.login + "/" + t.slug}, a)
		for _, login := range sortedSeatLogins(o.seats) {
			if slices.Contains(o.seats[login].teams, t.slug) && s.releaseLocked(scope{org: o}, login, srcTeam, t.slug, a, cause{at: at}, false) {
				n++
			}
		}
	}
	return n, nil
}

// nextCycleStart is the start of the billing cycle after the one holding t
// (00:00 UTC on BillingCycleDay): GitHub's pending_cancellation_date.
func (s *Server) nextCycleStart(t time.Time) time.Time {
	t = t.UTC()
	c := time.Date(t.Year(), t.Month(), s.opts.BillingCycleDay, 0, 0, 0, 0, time.UTC)
	if !c.After(t) {
		c = c.AddDate(0, 1, 0)
	}
	return c
}

func (s *Server) cycleStart(t time.Time) time.Time { return s.nextCycleStart(t).AddDate(0, -1, 0) }

// advanceLocked moves the clock to `to`, cancelling seats whose pending
// date it reaches, in date order, each event at its date.
func (s *Server) advanceLocked(to time.Time) {
	type due struct {
		sc scope
		st *seat
	}
	var dues []due
	collect := func(sc scope) {
		for _, st := range sc.seats() {
			if !st.pending.IsZero() && !st.pending.After(to) {
				dues = append(dues, due{sc, st})
			}
		}
	}
	for _, n := range s.orgOrder {
		collect(scope{org: s.orgs[n]})
	}
	for _, n := range s.entOrder {
		collect(scope{ent: s.entTeams[n]})
	}
	sort.Slice(dues, func(i, j int) bool {
		if !dues[i].st.pending.Equal(dues[j].st.pending) {
			return dues[i].st.pending.Before(dues[j].st.pending)
		}
		return dues[i].st.seq < dues[j].st.seq
	})
	for _, d := range dues {
		if d.st.pending.After(s.now) {
			s.now = d.st.pending
		}
		delete(d.sc.seats(), d.st.login)
		if d.sc.ent != nil && s.entSeatHeldLocked(d.st.login) {
			// The user still holds a seat through another enterprise team:
			// GitHub counts the user once, the seat is not gone.
			continue
		}
		ev := evSpec{action: "copilot.cfb_seat_cancelled", op: "remove", user: d.st.login,
			seatAssignment: "user:" + d.st.login, org: d.sc.org}
		if u := s.users[d.st.login]; u != nil {
			ev.userID = u.id
		}
		by := d.st.unassignedBy
		s.emit(ev, s.systemActor(by))
	}
	if to.After(s.now) {
		s.now = to.UTC()
	}
	s.tAdvance(s.now)
}

// entSeatHeldLocked reports whether login holds a seat (not pending
// cancellation) through some enterprise team.
func (s *Server) entSeatHeldLocked(login string) bool {
	for _, n := range s.entOrder {
		if st := s.entTeams[n].seats[login]; st != nil && st.pending.IsZero() {
			return true
		}
	}
	return false
}

type entSeat struct {
	sc scope
	st *seat
}

func (s *Server) enterpriseSeatsLocked() []entSeat {
	var out []entSeat
	for _, n := range s.orgOrder {
		o := s.orgs[n]
		for _, st := range orderedSeats(o.seats) {
			out = append(out, entSeat{scope{org: o}, st})
		}
	}
	for _, n := range s.entOrder {
		t := s.entTeams[n]
		for _, st := range orderedSeats(t.seats) {
			out = append(out, entSeat{scope{ent: t}, st})
		}
	}
	return out
}

func orderedSeats(m map[string]*seat) []*seat {
	out := make([]*seat, 0, len(m))
	for _, st := range m {
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].seq < out[j].seq })
	return out
}

func sortedSeatLogins(m map[string]*seat) []string {
	var out []string
	for _, st := range orderedSeats(m) {
		out = append(out, st.login)
	}
	return out
}

func dedupe(in []string) []string {
	seen := make(map[string]bool, len(in))
	out := in[:0:0]
	for _, v := range in {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

func validSetting(v string) bool {
	switch v {
	case AssignAll, AssignSelected, Disabled, Unconfigured:
		return true
	}
	return false
}

func titleCase(slug string) string {
	parts := strings.FieldsFunc(slug, func(r rune) bool { return r == '-' || r == '_' })
	for i, p := range parts {
		parts[i] = strings.ToUpper(p[:1]) + p[1:]
	}
	return strings.Join(parts, " ")
}
