package ghsim

import (
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
)

// Membership and lifecycle changes beyond seat assignment, each with the
// audit events GitHub writes for it (membership events need
// Options.MembershipEvents) and its consequence for seats as GitHub
// documents it (github-facts.md) and seatline's rules state it
// (internal/lifecycle).

// RemoveFromEnterprise removes login from the enterprise
// (business.remove_member): the user leaves every org and enterprise team.
// Access to every seat ends at once; the seats are listed as pending
// cancellation (billed for the full cycle) until the cycle ends. Only
// business.remove_member is written for the membership (no
// org.remove_member per org), then the seats' unassignments. actor "" is
// Options.Admin.
func (s *Server) RemoveFromEnterprise(login, actor string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[login]
	if !ok {
		return fmt.Errorf("%w: user %q", ErrNotFound, login)
	}
	s.removeFromEnterpriseLocked(u, s.systemActor(actor))
	return nil
}

func (s *Server) removeFromEnterpriseLocked(u *user, a *actorInfo) {
	at := s.emit(evSpec{action: "business.remove_member", op: "remove", user: u.login, userID: u.id}, a)
	for _, h := range s.truth.order {
		if h.key.uid == u.id {
			s.tRemoved(h.key.sc, u.id, at, EndLeftEnterprise, OrphanLeftEnterprise)
		}
	}
	for _, name := range s.orgOrder {
		s.removeMemberLocked(s.orgs[name], u.login, a, false)
	}
	for _, slug := range s.entOrder {
		s.removeEntTeamMemberLocked(s.entTeams[slug], u.login, a, false)
	}
}

// Suspend suspends login's account (user.suspend). Its seats are not
// cancelled; they are orphaned.
func (s *Server) Suspend(login string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[login]
	if !ok {
		return fmt.Errorf("%w: user %q", ErrNotFound, login)
	}
	s.suspendLocked(u, s.systemActor(""))
	return nil
}

func (s *Server) suspendLocked(u *user, a *actorInfo) {
	at := s.emit(evSpec{action: "user.suspend", op: "modify", user: u.login, userID: u.id}, a)
	u.suspended = true
	s.tOrphanUser(u.id, at, OrphanSuspended)
}

// Deprovision soft-deprovisions login through SCIM (Enterprise Managed
// Users): the account is suspended (user.suspend), its login obfuscated
// (user.rename with old_login; the same user_id) and the external identity
// deprovisioned (external_identity.deprovision). It keeps its memberships
// and its seats under the new login (deprovisioning does not cancel a seat);
// the seats are orphaned. It returns the new login.
func (s *Server) Deprovision(login string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[login]
	if !ok || u.deleted {
		return "", fmt.Errorf("%w: user %q", ErrNotFound, login)
	}
	return s.deprovisionLocked(u, s.systemActor("")), nil
}

func (s *Server) deprovisionLocked(u *user, a *actorInfo) string {
	old := u.login
	s.suspendLocked(u, a)
	s.renameLocked(u, s.obfuscatedLogin(u))
	s.emit(evSpec{action: "user.rename", op: "modify", user: u.login, userID: u.id,
		fields: map[string]any{"old_login": old}}, a)
	at := s.emit(evSpec{action: "external_identity.deprovision", op: "remove", user: u.login, userID: u.id,
		fields: map[string]any{"external_identity_nameid": old + "@" + s.opts.Enterprise + ".example.com"}}, a)
	u.deprovisioned = true
	s.tOrphanUser(u.id, at, OrphanDeprovisioned)
	return u.login
}

// obfuscatedLogin is the login SCIM soft deprovisioning gives u: the old
// one, "_" and a short hash.
func (s *Server) obfuscatedLogin(u *user) string {
	h := fnv.New64a()
	h.Write([]byte(u.login + "/" + strconv.FormatInt(u.id, 10)))
	sum := h.Sum64()
	name := fmt.Sprintf("%s_%06x", u.login, sum&0xffffff)
	for s.users[name] != nil {
		sum = splitmix(sum)
		name = fmt.Sprintf("%s_%06x", u.login, sum&0xffffff)
	}
	return name
}

// renameLocked gives u a new login everywhere (memberships, invitations,
// seats); the user id stays.
func (s *Server) renameLocked(u *user, to string) {
	from := u.login
	delete(s.users, from)
	s.users[to] = u
	u.login = to
	ren := func(v string) string {
		if v == from {
			return to
		}
		return v
	}
	for i := range s.userOrder {
		s.userOrder[i] = ren(s.userOrder[i])
	}
	renTeam := func(t *team) {
		if t.memberSet[from] {
			delete(t.memberSet, from)
			t.memberSet[to] = true
		}
		for i := range t.members {
			t.members[i] = ren(t.members[i])
		}
		t.grantedBy = ren(t.grantedBy)
	}
	renSeats := func(m map[string]*seat) {
		for _, st := range m {
			st.unassignedBy = ren(st.unassignedBy)
		}
		if st, ok := m[from]; ok {
			delete(m, from)
			st.login = to
			m[to] = st
		}
	}
	for _, name := range s.orgOrder {
		o := s.orgs[name]
		if o.members[from] {
			delete(o.members, from)
			o.members[to] = true
		}
		for i := range o.memberOrder {
			o.memberOrder[i] = ren(o.memberOrder[i])
		}
		if o.invites[from] {
			delete(o.invites, from)
			o.invites[to] = true
		}
		for _, slug := range o.teamOrder {
			renTeam(o.teams[slug])
		}
		renSeats(o.seats)
	}
	for _, slug := range s.entOrder {
		t := s.entTeams[slug]
		renTeam(t)
		renSeats(t.seats)
	}
}

// RevokeUserAccess revokes login's Copilot access in org
// (copilot.user_access_revoked, owner the org): access ends at once, the
// seat is billable until the next cycle starts. The user's grants stay (the
// API still lists the seat); no access comes back until
// ReinstateUserAccess. actor "" is Options.Admin.
func (s *Server) RevokeUserAccess(orgName, login, actor string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, err := s.orgLocked(orgName)
	if err != nil {
		return err
	}
	u, ok := s.users[login]
	if !ok {
		return fmt.Errorf("%w: user %q", ErrNotFound, login)
	}
	s.revokeUserLocked(o, u, s.systemActor(actor))
	return nil
}

func (s *Server) revokeUserLocked(o *org, u *user, a *actorInfo) {
	if o.revokedUsers[u.id] {
		return
	}
	o.revokedUsers[u.id] = true
	at := s.emit(evSpec{action: "copilot.user_access_revoked", op: "remove", org: o, user: u.login, userID: u.id, owner: true}, a)
	s.tRevokeUser(tScope{ScopeOrg, o.login}, u.id, at)
}

// ReinstateUserAccess reinstates login's Copilot access in org
// (copilot.user_access_reinstated): a new period starts if a grant remains.
func (s *Server) ReinstateUserAccess(orgName, login, actor string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, err := s.orgLocked(orgName)
	if err != nil {
		return err
	}
	u, ok := s.users[login]
	if !ok {
		return fmt.Errorf("%w: user %q", ErrNotFound, login)
	}
	s.reinstateUserLocked(o, u, s.systemActor(actor))
	return nil
}

func (s *Server) reinstateUserLocked(o *org, u *user, a *actorInfo) {
	if !o.revokedUsers[u.id] {
		return
	}
	delete(o.revokedUsers, u.id)
	at := s.emit(evSpec{action: "copilot.user_access_reinstated", op: "modify", org: o, user: u.login, userID: u.id, owner: true}, a)
	s.tReinstateUser(tScope{ScopeOrg, o.login}, u.id, at)
}

// RevokeOrgAccess revokes Copilot for the whole org (copilot.access_revoked
// with reason, default "billing", and the org's plan; no user): every seat
// of the org ends at once and billing stops (the seats disappear from the
// API); every grant is forgotten: teams lose Copilot, direct assignments
// are gone, an assign_all org keeps its setting. Until RestoreOrgAccess,
// seat and team assignments and seat-management changes fail with
// ErrAccessRevoked (a member joining an assign_all org still gets a seat:
// org.add_member there is a grant). actor "" is Options.Admin.
func (s *Server) RevokeOrgAccess(orgName, reason, actor string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, err := s.orgLocked(orgName)
	if err != nil {
		return err
	}
	s.revokeOrgLocked(o, reason, s.systemActor(actor))
	return nil
}

func (s *Server) revokeOrgLocked(o *org, reason string, a *actorInfo) {
	if o.accessRevoked != nil {
		return
	}
	if reason == "" {
		reason = "billing"
	}
	rest := &orgRestore{}
	for _, slug := range o.teamOrder {
		if t := o.teams[slug]; t.copilot {
			rest.teams = append(rest.teams, slug)
			t.copilot = false
		}
	}
	for _, st := range orderedSeats(o.seats) {
		if u := s.users[st.login]; st.direct && u != nil {
			rest.direct = append(rest.direct, u.id)
		}
	}
	at := s.emit(evSpec{action: "copilot.access_revoked", op: "remove", org: o, owner: true,
		fields: map[string]any{"reason": reason, "plan": o.plan}}, a)
	o.seats = map[string]*seat{}
	o.accessRevoked = rest
	s.tScopeRevoked(tScope{ScopeOrg, o.login}, at)
}

// RestoreOrgAccess ends an org-wide revocation. Seats come back only
// through new grants, with their ordinary events: in an assign_selected org
// the teams that held Copilot and the users assigned directly (still
// members or invited) are assigned again (copilot.cfb_seat_assignment_created,
// copilot.cfb_seat_added); in an assign_all org every member without a seat
// gets one (copilot.cfb_seat_added alone: seatline sees a "seat" grant).
// actor "" is Options.Admin.
func (s *Server) RestoreOrgAccess(orgName, actor string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, err := s.orgLocked(orgName)
	if err != nil {
		return err
	}
	s.restoreOrgLocked(o, s.systemActor(actor))
	return nil
}

func (s *Server) restoreOrgLocked(o *org, a *actorInfo) {
	rest := o.accessRevoked
	if rest == nil {
		return
	}
	o.accessRevoked = nil
	switch o.setting {
	case AssignSelected:
		var teams []string
		for _, slug := range rest.teams {
			if o.teams[slug] != nil {
				teams = append(teams, slug)
			}
		}
		if len(teams) > 0 {
			_, _ = s.assignTeamsLocked(o.login, teams, a)
		}
		var direct []string
		for _, id := range rest.direct {
			if u := s.usersByID[id]; u != nil && !u.deleted && (o.members[u.login] || o.invites[u.login]) {
				direct = append(direct, u.login)
			}
		}
		for len(direct) > 0 {
			n := min(len(direct), 100)
			_, _ = s.assignUsersLocked(o.login, direct[:n], a)
			direct = direct[n:]
		}
	case AssignAll:
		for _, m := range slices.Clone(o.memberOrder) {
			if o.seats[m] == nil && !s.users[m].deleted {
				s.grantLocked(scope{org: o}, m, srcAll, "", a, cause{via: ViaSeat})
			}
		}
	}
}

// OrgAccessRevoked reports whether org's Copilot access is revoked
// (RevokeOrgAccess without RestoreOrgAccess).
func (s *Server) OrgAccessRevoked(orgName string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.orgs[orgName]
	return o != nil && o.accessRevoked != nil
}

// SetPlan changes org's Copilot plan (copilot.plan_changed with old_plan
// and plan); its seats' plan_type follows.
func (s *Server) SetPlan(orgName, plan string) error {
	if plan != PlanBusiness && plan != PlanEnterprise {
		return fmt.Errorf("%w: %q", ErrInvalidPlan, plan)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o, err := s.orgLocked(orgName)
	if err != nil {
		return err
	}
	s.setPlanLocked(o, plan, s.systemActor(""))
	return nil
}

func (s *Server) setPlanLocked(o *org, plan string, a *actorInfo) {
	if o.plan == plan {
		return
	}
	old := o.plan
	o.plan = plan
	s.emit(evSpec{action: "copilot.plan_changed", op: "modify", org: o,
		fields: map[string]any{"old_plan": old, "plan": plan}}, a)
	for _, st := range o.seats {
		st.plan = plan
	}
}
