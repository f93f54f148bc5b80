package ghsim

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"time"
)

// lifecycleActors are the people (besides Options.Admin) who make changes
// in RandomLifecycleChange.
var lifecycleActors = []string{"it-ops-okafor", "eng-manager-chen", "platform-lead-silva"}

// RandomLifecycleChange performs one membership or lifecycle change chosen
// with rng and describes it: direct assignments and unassignments, team
// assignments, team members joining and leaving (existing and new users),
// org members joining and leaving, enterprise-team members and licences,
// occasionally a seat-management switch, a user's access revoked or
// reinstated, an org-wide revocation and its restoration, SCIM
// deprovisioning, suspension, a plan change or a removal from the
// enterprise, and time passing (minutes to days, so that cycles end and
// pending seats are cancelled). With a population from Populate it drives
// the simulator through months of seat lifecycle; the truth (Periods)
// follows. Users whose access is revoked in an org are left alone there
// (only reinstated, or removed) and suspended or deprovisioned users get
// no new grants: the rules leave those cases least defined.
func (s *Server) RandomLifecycleChange(rng *rand.Rand) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	type action struct {
		weight int
		do     func() (string, bool)
	}
	acts := []action{
		{240, func() (string, bool) { return s.rlAdvance(rng), true }},
		{70, func() (string, bool) { return s.rlAssign(rng) }},
		{50, func() (string, bool) { return s.rlUnassign(rng) }},
		{40, func() (string, bool) { return s.rlTeamToggle(rng) }},
		{80, func() (string, bool) { return s.rlTeamJoin(rng) }},
		{70, func() (string, bool) { return s.rlTeamLeave(rng) }},
		{50, func() (string, bool) { return s.rlOrgJoin(rng) }},
		{40, func() (string, bool) { return s.rlOrgLeave(rng) }},
		{40, func() (string, bool) { return s.rlEntJoin(rng) }},
		{30, func() (string, bool) { return s.rlEntLeave(rng) }},
		{15, func() (string, bool) { return s.rlEntToggle(rng) }},
		{8, func() (string, bool) { return s.rlSeatManagement(rng) }},
		{20, func() (string, bool) { return s.rlRevokeUser(rng) }},
		{30, func() (string, bool) { return s.rlReinstateUser(rng) }},
		{4, func() (string, bool) { return s.rlRevokeOrg(rng) }},
		{30, func() (string, bool) { return s.rlRestoreOrg(rng) }},
		{12, func() (string, bool) { return s.rlDeprovision(rng) }},
		{8, func() (string, bool) { return s.rlSuspend(rng) }},
		{8, func() (string, bool) { return s.rlPlan(rng) }},
		{8, func() (string, bool) { return s.rlLeaveEnterprise(rng) }},
	}
	total := 0
	for _, a := range acts {
		total += a.weight
	}
	for range 20 {
		x := rng.IntN(total)
		for _, a := range acts {
			if x -= a.weight; x < 0 {
				if d, ok := a.do(); ok {
					return d
				}
				break
			}
		}
	}
	return s.rlAdvance(rng)
}

func (s *Server) rlActor(rng *rand.Rand) *actorInfo {
	if rng.IntN(3) == 0 {
		return s.systemActor("")
	}
	return s.systemActor(pick(rng, lifecycleActors))
}

func (s *Server) rlAdvance(rng *rand.Rand) string {
	var d time.Duration
	switch x := rng.IntN(100); {
	case x < 60:
		d = time.Duration(1+rng.IntN(600)) * time.Minute
	case x < 85:
		d = time.Duration(1+rng.IntN(48)) * time.Hour
	default:
		d = time.Duration(1+rng.IntN(10)) * 24 * time.Hour
	}
	d += time.Duration(rng.IntN(60)) * time.Second
	s.advanceLocked(s.now.Add(d))
	return fmt.Sprintf("time passed: %s (now %s)", d, s.now.Format(time.RFC3339))
}

// rlOrgs are the orgs whose Copilot access is not revoked (with setting
// in settings, when given).
func (s *Server) rlOrgs(settings ...string) []*org {
	var out []*org
	for _, n := range s.orgOrder {
		o := s.orgs[n]
		if o.accessRevoked == nil && (len(settings) == 0 || slices.Contains(settings, o.setting)) {
			out = append(out, o)
		}
	}
	return out
}

// rlGrantable: login may be given a new grant in o (nil: anywhere).
func (s *Server) rlGrantable(o *org, login string) bool {
	u := s.users[login]
	if u == nil || u.deleted || u.suspended || u.deprovisioned {
		return false
	}
	return o == nil || !o.revokedUsers[u.id]
}

// rlTouchable: login's membership in o may change (not revoked there).
func (s *Server) rlTouchable(o *org, login string) bool {
	u := s.users[login]
	return u != nil && !u.deleted && (o == nil || !o.revokedUsers[u.id])
}

func (s *Server) rlNewUser(rng *rand.Rand) string {
	for {
		login := fmt.Sprintf("%s-%s-%d", pick(rng, firstNames), pick(rng, lastNames), 100+rng.IntN(900))
		if s.users[login] == nil {
			s.userLocked(login)
			return login
		}
	}
}

func (s *Server) rlAssign(rng *rand.Rand) (string, bool) {
	orgs := s.rlOrgs(AssignSelected)
	if len(orgs) == 0 {
		return "", false
	}
	o := pick(rng, orgs)
	var cand []string
	for _, m := range o.memberOrder {
		if s.rlGrantable(o, m) {
			cand = append(cand, m)
		}
	}
	for _, m := range sortedKeys(o.invites) {
		if s.rlGrantable(o, m) {
			cand = append(cand, m)
		}
	}
	if len(cand) == 0 {
		return "", false
	}
	u := pick(rng, cand)
	a := s.rlActor(rng)
	if _, err := s.assignUsersLocked(o.login, []string{u}, a); err != nil {
		return "", false
	}
	return fmt.Sprintf("%s assigned a seat to %s in %s", a.login, u, o.login), true
}

func (s *Server) rlUnassign(rng *rand.Rand) (string, bool) {
	orgs := s.rlOrgs(AssignSelected)
	if len(orgs) == 0 {
		return "", false
	}
	o := pick(rng, orgs)
	var cand []string
	for _, st := range orderedSeats(o.seats) {
		if st.direct && s.rlTouchable(o, st.login) {
			cand = append(cand, st.login)
		}
	}
	if len(cand) == 0 {
		return "", false
	}
	u := pick(rng, cand)
	a := s.rlActor(rng)
	if _, err := s.unassignUsersLocked(o.login, []string{u}, a); err != nil {
		return "", false
	}
	return fmt.Sprintf("%s unassigned %s in %s", a.login, u, o.login), true
}

func (s *Server) rlTeamToggle(rng *rand.Rand) (string, bool) {
	orgs := s.rlOrgs(AssignSelected)
	if len(orgs) == 0 {
		return "", false
	}
	o := pick(rng, orgs)
	if len(o.teamOrder) == 0 {
		return "", false
	}
	t := o.teams[pick(rng, o.teamOrder)]
	a := s.rlActor(rng)
	if t.copilot {
		if _, err := s.unassignTeamsLocked(o.login, []string{t.slug}, a); err != nil {
			return "", false
		}
		return fmt.Sprintf("%s removed team %s/%s from Copilot", a.login, o.login, t.slug), true
	}
	if _, err := s.assignTeamsLocked(o.login, []string{t.slug}, a); err != nil {
		return "", false
	}
	return fmt.Sprintf("%s assigned team %s/%s to Copilot", a.login, o.login, t.slug), true
}

func (s *Server) rlTeamJoin(rng *rand.Rand) (string, bool) {
	orgs := s.rlOrgs()
	if len(orgs) == 0 {
		return "", false
	}
	o := pick(rng, orgs)
	if len(o.teamOrder) == 0 {
		return "", false
	}
	t := o.teams[pick(rng, o.teamOrder)]
	var u string
	switch x := rng.IntN(100); {
	case x < 70:
		var cand []string
		for _, m := range o.memberOrder {
			if !t.memberSet[m] && s.rlGrantable(o, m) {
				cand = append(cand, m)
			}
		}
		if len(cand) == 0 {
			return "", false
		}
		u = pick(rng, cand)
	case x < 85:
		var cand []string
		for _, l := range s.userOrder {
			if !o.members[l] && s.rlGrantable(o, l) {
				cand = append(cand, l)
			}
		}
		if len(cand) == 0 {
			return "", false
		}
		u = pick(rng, cand)
	default:
		u = s.rlNewUser(rng)
	}
	a := s.rlActor(rng)
	s.addTeamMemberLocked(o, t, u, a)
	return fmt.Sprintf("%s added %s to team %s/%s (Copilot: %v)", a.login, u, o.login, t.slug, t.copilot), true
}

func (s *Server) rlTeamLeave(rng *rand.Rand) (string, bool) {
	orgs := s.rlOrgs()
	if len(orgs) == 0 {
		return "", false
	}
	o := pick(rng, orgs)
	if len(o.teamOrder) == 0 {
		return "", false
	}
	// Prefer teams holding Copilot: that is where leaving matters.
	slugs := o.teamOrder
	var cop []string
	for _, sl := range slugs {
		if o.teams[sl].copilot {
			cop = append(cop, sl)
		}
	}
	if len(cop) > 0 && rng.IntN(3) > 0 {
		slugs = cop
	}
	t := o.teams[pick(rng, slugs)]
	var cand []string
	for _, m := range t.members {
		if s.rlTouchable(o, m) {
			cand = append(cand, m)
		}
	}
	if len(cand) == 0 {
		return "", false
	}
	u := pick(rng, cand)
	a := s.rlActor(rng)
	s.removeTeamMemberLocked(o, t, u, a)
	return fmt.Sprintf("%s removed %s from team %s/%s", a.login, u, o.login, t.slug), true
}

func (s *Server) rlOrgJoin(rng *rand.Rand) (string, bool) {
	orgs := s.rlOrgs()
	if len(orgs) == 0 {
		return "", false
	}
	o := pick(rng, orgs)
	if inv := sortedKeys(o.invites); len(inv) > 0 && rng.IntN(3) == 0 {
		u := pick(rng, inv)
		if !s.rlGrantable(o, u) {
			return "", false
		}
		s.addMemberLocked(o, u, s.systemActor(u))
		return fmt.Sprintf("%s accepted the invitation to %s", u, o.login), true
	}
	var u string
	if rng.IntN(2) == 0 {
		var cand []string
		for _, l := range s.userOrder {
			if !o.members[l] && s.rlGrantable(o, l) {
				cand = append(cand, l)
			}
		}
		if len(cand) == 0 {
			return "", false
		}
		u = pick(rng, cand)
	} else {
		u = s.rlNewUser(rng)
	}
	if rng.IntN(5) == 0 {
		o.invites[u] = true // invited first: can be assigned, joins later
		return fmt.Sprintf("%s was invited to %s", u, o.login), true
	}
	a := s.rlActor(rng)
	s.addMemberLocked(o, u, a)
	return fmt.Sprintf("%s added %s to %s (%s)", a.login, u, o.login, o.setting), true
}

func (s *Server) rlOrgLeave(rng *rand.Rand) (string, bool) {
	orgs := s.rlOrgs()
	if len(orgs) == 0 {
		return "", false
	}
	o := pick(rng, orgs)
	if len(o.memberOrder) == 0 {
		return "", false
	}
	u := pick(rng, o.memberOrder)
	a := s.rlActor(rng)
	s.removeMemberLocked(o, u, a, true)
	return fmt.Sprintf("%s removed %s from %s", a.login, u, o.login), true
}

func (s *Server) rlEntTeam(rng *rand.Rand) *team {
	if len(s.entOrder) == 0 {
		return nil
	}
	return s.entTeams[pick(rng, s.entOrder)]
}

func (s *Server) rlEntJoin(rng *rand.Rand) (string, bool) {
	t := s.rlEntTeam(rng)
	if t == nil {
		return "", false
	}
	var u string
	if rng.IntN(4) == 0 {
		u = s.rlNewUser(rng)
	} else {
		var cand []string
		for _, l := range s.userOrder {
			if !t.memberSet[l] && s.rlGrantable(nil, l) {
				cand = append(cand, l)
			}
		}
		if len(cand) == 0 {
			return "", false
		}
		u = pick(rng, cand)
	}
	a := s.rlActor(rng)
	s.addEntTeamMemberLocked(t, u, a)
	return fmt.Sprintf("%s added %s to enterprise team %s (licence: %v)", a.login, u, t.slug, t.copilot), true
}

func (s *Server) rlEntLeave(rng *rand.Rand) (string, bool) {
	t := s.rlEntTeam(rng)
	if t == nil || len(t.members) == 0 {
		return "", false
	}
	u := pick(rng, t.members)
	a := s.rlActor(rng)
	s.removeEntTeamMemberLocked(t, u, a, true)
	return fmt.Sprintf("%s removed %s from enterprise team %s", a.login, u, t.slug), true
}

func (s *Server) rlEntToggle(rng *rand.Rand) (string, bool) {
	t := s.rlEntTeam(rng)
	if t == nil {
		return "", false
	}
	a := s.rlActor(rng)
	if t.copilot {
		s.unassignEntTeamLocked(t, a)
		return fmt.Sprintf("%s removed the Copilot licence of enterprise team %s", a.login, t.slug), true
	}
	s.assignEntTeamLocked(t, a)
	return fmt.Sprintf("%s assigned a Copilot licence to enterprise team %s", a.login, t.slug), true
}

func (s *Server) rlSeatManagement(rng *rand.Rand) (string, bool) {
	orgs := s.rlOrgs()
	if len(orgs) == 0 {
		return "", false
	}
	o := pick(rng, orgs)
	var to string
	switch o.setting {
	case AssignSelected:
		to = AssignAll
		if rng.IntN(4) == 0 {
			to = Disabled
		}
	case AssignAll:
		to = AssignSelected
	default:
		to = AssignSelected
	}
	a := s.rlActor(rng)
	old := o.setting
	if err := s.setSeatManagementLocked(o, to, a); err != nil {
		return "", false
	}
	return fmt.Sprintf("%s switched %s's seat management from %s to %s", a.login, o.login, old, to), true
}

func (s *Server) rlRevokeUser(rng *rand.Rand) (string, bool) {
	orgs := s.rlOrgs()
	if len(orgs) == 0 {
		return "", false
	}
	o := pick(rng, orgs)
	var cand []string
	for _, st := range orderedSeats(o.seats) {
		if u := s.users[st.login]; u != nil && !u.deleted && !o.revokedUsers[u.id] && st.pending.IsZero() {
			cand = append(cand, st.login)
		}
	}
	if len(cand) == 0 {
		return "", false
	}
	u := s.users[pick(rng, cand)]
	a := s.rlActor(rng)
	s.revokeUserLocked(o, u, a)
	return fmt.Sprintf("%s revoked %s's Copilot access in %s", a.login, u.login, o.login), true
}

func (s *Server) rlReinstateUser(rng *rand.Rand) (string, bool) {
	type rev struct {
		o *org
		u *user
	}
	var cand []rev
	for _, n := range s.orgOrder {
		o := s.orgs[n]
		ids := make([]int64, 0, len(o.revokedUsers))
		for id := range o.revokedUsers {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		for _, id := range ids {
			if u := s.usersByID[id]; u != nil {
				cand = append(cand, rev{o, u})
			}
		}
	}
	if len(cand) == 0 {
		return "", false
	}
	r := pick(rng, cand)
	a := s.rlActor(rng)
	s.reinstateUserLocked(r.o, r.u, a)
	return fmt.Sprintf("%s reinstated %s's Copilot access in %s", a.login, r.u.login, r.o.login), true
}

func (s *Server) rlRevokeOrg(rng *rand.Rand) (string, bool) {
	orgs := s.rlOrgs()
	if len(orgs) == 0 {
		return "", false
	}
	o := pick(rng, orgs)
	reason := pick(rng, []string{"billing", "subscription_ended", "spammy"})
	s.revokeOrgLocked(o, reason, s.systemActor(""))
	return fmt.Sprintf("Copilot access revoked for all of %s (%s)", o.login, reason), true
}

func (s *Server) rlRestoreOrg(rng *rand.Rand) (string, bool) {
	var cand []*org
	for _, n := range s.orgOrder {
		if s.orgs[n].accessRevoked != nil {
			cand = append(cand, s.orgs[n])
		}
	}
	if len(cand) == 0 {
		return "", false
	}
	o := pick(rng, cand)
	a := s.rlActor(rng)
	s.restoreOrgLocked(o, a)
	return fmt.Sprintf("%s restored Copilot for %s (%d seats)", a.login, o.login, len(o.seats)), true
}

// rlLiveUsers are the users that are not deleted, deprovisioned or
// suspended.
func (s *Server) rlLiveUsers() []*user {
	var out []*user
	for _, l := range s.userOrder {
		if u := s.users[l]; u != nil && !u.deleted && !u.deprovisioned && !u.suspended {
			out = append(out, u)
		}
	}
	return out
}

// rlSeated prefers users holding a seat somewhere (that is where identity
// changes matter).
func (s *Server) rlSeated(rng *rand.Rand) *user {
	users := s.rlLiveUsers()
	if len(users) == 0 {
		return nil
	}
	if rng.IntN(4) > 0 {
		var seated []*user
		for _, u := range users {
			for _, h := range s.truth.order {
				if h.key.uid == u.id && h.cur().open() {
					seated = append(seated, u)
					break
				}
			}
		}
		if len(seated) > 0 {
			return pick(rng, seated)
		}
	}
	return pick(rng, users)
}

func (s *Server) rlDeprovision(rng *rand.Rand) (string, bool) {
	u := s.rlSeated(rng)
	if u == nil {
		return "", false
	}
	old := u.login
	s.deprovisionLocked(u, s.systemActor(""))
	return fmt.Sprintf("%s was deprovisioned through SCIM (now %s)", old, u.login), true
}

func (s *Server) rlSuspend(rng *rand.Rand) (string, bool) {
	u := s.rlSeated(rng)
	if u == nil {
		return "", false
	}
	s.suspendLocked(u, s.rlActor(rng))
	return fmt.Sprintf("%s was suspended", u.login), true
}

func (s *Server) rlLeaveEnterprise(rng *rand.Rand) (string, bool) {
	u := s.rlSeated(rng)
	if u == nil {
		return "", false
	}
	a := s.rlActor(rng)
	s.removeFromEnterpriseLocked(u, a)
	return fmt.Sprintf("%s removed %s from the enterprise", a.login, u.login), true
}

func (s *Server) rlPlan(rng *rand.Rand) (string, bool) {
	orgs := s.rlOrgs()
	if len(orgs) == 0 {
		return "", false
	}
	o := pick(rng, orgs)
	to := PlanEnterprise
	if o.plan == PlanEnterprise {
		to = PlanBusiness
	}
	s.setPlanLocked(o, to, s.rlActor(rng))
	return fmt.Sprintf("%s's plan changed to %s", o.login, to), true
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
