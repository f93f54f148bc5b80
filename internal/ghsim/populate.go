package ghsim

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"
)

// Population describes the enterprise Populate builds. Zero values take
// the defaults.
type Population struct {
	Orgs            []string // default acme-platform, acme-mobile, acme-research, acme-data
	Users           int      // default 200
	TeamsPerOrg     int      // default 3
	EnterpriseTeams int      // default 2 (at most 6)
	// Emit keeps the audit events of building the state. By default they are
	// dropped: the populated state predates the audit stream, as a real
	// enterprise's seats predate the moment streaming was switched on (and
	// Periods leaves out the periods it started: seatline cannot know them).
	Emit bool
}

// Populated summarises what Populate built.
type Populated struct {
	Orgs            []string // in creation order
	AssignAllOrg    string   // the org on assign_all ("" with a single org)
	Users           []string // every user login
	EnterpriseTeams []string // slugs ("ent:…")
	DeletedUser     string   // a deleted user whose seat lists "assignee": null
	Seats           int      // seat objects in the enterprise seat list
}

// Editors are realistic last_activity_editor values.
var Editors = []string{
	"vscode/1.89.1/copilot/1.196.0",
	"vscode/1.90.0/copilot-chat/0.16.0",
	"JetBrains-IU/241.15989.150/copilot-intellij/1.5.7.5683",
	"JetBrains-PC/241.17011.127/copilot-intellij/1.5.8.5775",
	"neovim/0.9.5/copilot.vim/1.32.0",
	"VisualStudio/17.10.0/copilot-vs/1.187.0.0",
	"Xcode/15.4/copilot-xcode/0.19.0",
	"copilot-chat-platform",
	"GitHubMobile/1.166.0/copilot-chat",
}

var (
	firstNames = []string{"maria", "james", "wei", "priya", "ahmed", "olga", "kenji", "fatima", "lucas", "chloe",
		"diego", "amara", "noah", "ingrid", "ravi", "sofia", "tom", "yuki", "omar", "lena", "arjun", "emma", "mateo", "zoe"}
	lastNames = []string{"lopez", "chen", "patel", "kowalski", "okafor", "nguyen", "schmidt", "rossi", "tanaka",
		"silva", "kim", "dubois", "ivanova", "haddad", "murphy", "jensen", "garcia", "sato", "mensah", "novak"}
	teamNames    = []string{"backend", "frontend", "sre", "data-eng", "mobile", "security", "ml", "platform-admins"}
	entTeamNames = []string{"copilot-pilots", "platform-engineering", "ai-champions", "contractors", "staff-engineers", "new-hires"}
)

func pick[T any](r *rand.Rand, s []T) T { return s[r.IntN(len(s))] }

// Populate builds a realistic enterprise: several orgs (the last on
// assign_all, one on the enterprise plan), users with memberships in one or
// two orgs, a few pending invitations, org teams (one per assign_selected
// org assigned to Copilot), direct assignments, enterprise-team seats, seats
// backdated up to ~10 months, idle seats (last_activity_at null) and stale
// ones, some pending cancellations, and a deleted user whose seat has a null
// assignee. Choices come from rng; ids from Options.Seed.
func (s *Server) Populate(rng *rand.Rand, p Population) (Populated, error) {
	p.fillDefaults()
	s.mu.Lock()
	mark, tmark := len(s.events), len(s.truth.periods)
	s.mu.Unlock()
	b := &populator{s: s, rng: rng, p: p, admin: s.opts.Admin, members: map[string][]string{}, invited: map[string][]string{}}
	// The steps in this order: each draws from rng, so the order is what
	// makes a seed give the same enterprise.
	for _, step := range []func() error{
		b.addOrgs, b.addUsers, b.addMemberships, b.addInvitations, b.addOrgTeamsAndSeats,
		b.addEnterpriseTeams, b.backdateSeats, b.unassignSome, b.deleteOneUser,
	} {
		if err := step(); err != nil {
			return b.out, err
		}
	}
	s.mu.Lock()
	if !p.Emit && len(s.events) >= mark {
		s.events = s.events[:mark]
		s.tHide(tmark) // the seats predate the stream: no truth for them
	}
	b.out.Seats = len(s.enterpriseSeatsLocked())
	s.mu.Unlock()
	return b.out, nil
}

func (p *Population) fillDefaults() {
	if len(p.Orgs) == 0 {
		p.Orgs = []string{"acme-platform", "acme-mobile", "acme-research", "acme-data"}
	}
	if p.Users <= 0 {
		p.Users = 200
	}
	if p.TeamsPerOrg <= 0 {
		p.TeamsPerOrg = 3
	}
	if p.EnterpriseTeams <= 0 {
		p.EnterpriseTeams = 2
	}
	p.EnterpriseTeams = min(p.EnterpriseTeams, len(entTeamNames))
	p.TeamsPerOrg = min(p.TeamsPerOrg, len(teamNames))
}

// populator is one Populate call: what it has built so far.
type populator struct {
	s       *Server
	rng     *rand.Rand
	p       Population
	admin   string
	out     Populated
	members map[string][]string // org -> its members
	invited map[string][]string // org -> its pending invitations
}

// addOrgs: the last org on assign_all (with more than one), the second on
// the enterprise plan.
func (b *populator) addOrgs() error {
	for i, name := range b.p.Orgs {
		setting, plan := AssignSelected, PlanBusiness
		if i == len(b.p.Orgs)-1 && len(b.p.Orgs) > 1 {
			setting, b.out.AssignAllOrg = AssignAll, name
		}
		if i == 1 {
			plan = PlanEnterprise
		}
		if err := b.s.AddOrg(name, setting, plan); err != nil {
			return err
		}
		b.out.Orgs = append(b.out.Orgs, name)
	}
	return nil
}

// addUsers makes p.Users users with logins of the shapes people choose.
func (b *populator) addUsers() error {
	rng := b.rng
	seen := map[string]bool{}
	for len(b.out.Users) < b.p.Users {
		var login string
		switch rng.IntN(4) {
		case 0:
			login = pick(rng, firstNames) + "-" + pick(rng, lastNames)
		case 1:
			login = pick(rng, firstNames)[:1] + pick(rng, lastNames)
		case 2:
			login = pick(rng, firstNames) + pick(rng, lastNames) + strconv.Itoa(rng.IntN(100))
		default:
			login = pick(rng, lastNames) + "-" + pick(rng, firstNames) + "-dev"
		}
		for seen[login] {
			login += strconv.Itoa(rng.IntN(10))
		}
		seen[login] = true
		b.s.AddUser(login)
		b.out.Users = append(b.out.Users, login)
	}
	return nil
}

// addMemberships puts each user in one org, one in five in two.
func (b *populator) addMemberships() error {
	rng, orgs := b.rng, b.p.Orgs
	for _, u := range b.out.Users {
		o := pick(rng, orgs)
		in := []string{o}
		if rng.IntN(5) == 0 && len(orgs) > 1 {
			if o2 := pick(rng, orgs); o2 != o {
				in = append(in, o2)
			}
		}
		for _, o := range in {
			if err := note(b.members, o, u, b.s.AddMember); err != nil {
				return err
			}
		}
	}
	return nil
}

// addInvitations invites about 4% of the users to an org they are not in.
func (b *populator) addInvitations() error {
	for _, u := range b.out.Users {
		if b.rng.IntN(100) < 4 {
			o := pick(b.rng, b.p.Orgs)
			if !slices.Contains(b.members[o], u) {
				if err := note(b.invited, o, u, b.s.Invite); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// note makes login a member or invitee of org with add and notes it in byOrg.
func note(byOrg map[string][]string, org, login string, add func(org, login string) error) error {
	if err := add(org, login); err != nil {
		return err
	}
	byOrg[org] = append(byOrg[org], login)
	return nil
}

// addOrgTeamsAndSeats gives each org its teams and, on assign_selected
// orgs, seats: the first team's, then direct ones.
func (b *populator) addOrgTeamsAndSeats() error {
	for _, o := range b.p.Orgs {
		if len(b.members[o]) == 0 {
			continue
		}
		first, err := b.addOrgTeams(o)
		if err != nil {
			return err
		}
		if o == b.out.AssignAllOrg {
			continue
		}
		if err := b.s.AssignTeams(o, b.admin, first); err != nil {
			return err
		}
		if err := b.assignDirect(o); err != nil {
			return err
		}
	}
	return nil
}

// addOrgTeams adds p.TeamsPerOrg teams of 4 to 12 members to o and
// returns the first one's name.
func (b *populator) addOrgTeams(o string) (string, error) {
	rng, ms := b.rng, b.members[o]
	names := slices.Clone(teamNames)
	rng.Shuffle(len(names), func(i, j int) { names[i], names[j] = names[j], names[i] })
	for ti := 0; ti < b.p.TeamsPerOrg; ti++ {
		var tm []string
		for range 4 + rng.IntN(9) {
			if m := pick(rng, ms); !slices.Contains(tm, m) {
				tm = append(tm, m)
			}
		}
		if err := b.s.AddTeam(o, names[ti], tm...); err != nil {
			return "", err
		}
	}
	return names[0], nil
}

// assignDirect assigns seats to about 55% of o's members without one, and
// to half of its invitees, 100 a request.
func (b *populator) assignDirect(o string) error {
	var direct []string
	for _, m := range b.members[o] {
		if _, has := b.s.Seat(o, m); !has && b.rng.IntN(100) < 55 {
			direct = append(direct, m)
		}
	}
	for _, inv := range b.invited[o] {
		if b.rng.IntN(2) == 0 {
			direct = append(direct, inv)
		}
	}
	for len(direct) > 0 {
		n := min(len(direct), 100)
		if err := b.s.Assign(o, b.admin, direct[:n]...); err != nil {
			return err
		}
		direct = direct[n:]
	}
	return nil
}

// addEnterpriseTeams adds p.EnterpriseTeams enterprise teams of 6 to 15
// users, each assigned to Copilot.
func (b *populator) addEnterpriseTeams() error {
	for i := 0; i < b.p.EnterpriseTeams; i++ {
		var tm []string
		for range 6 + b.rng.IntN(10) {
			if u := pick(b.rng, b.out.Users); !slices.Contains(tm, u) {
				tm = append(tm, u)
			}
		}
		slug, err := b.s.AddEnterpriseTeam(entTeamNames[i], tm...)
		if err != nil {
			return err
		}
		if err := b.s.AssignEnterpriseTeams(b.admin, slug); err != nil {
			return err
		}
		b.out.EnterpriseTeams = append(b.out.EnterpriseTeams, slug)
	}
	return nil
}

// backdateSeats gives every seat a creation up to 300 days ago and most a
// last activity since (recent for most, none for 18%).
func (b *populator) backdateSeats() error {
	rng := b.rng
	now := b.s.Now()
	for _, st := range b.s.AllSeats() {
		created := now.Add(-time.Duration(1+rng.IntN(300)) * 24 * time.Hour).Add(-time.Duration(rng.IntN(86400)) * time.Second)
		if err := b.s.SetSeatCreated(st.Scope, st.Login, created); err != nil {
			return err
		}
		if rng.IntN(100) < 18 {
			continue // never used: last_activity_at null
		}
		span := now.Sub(created)
		if rng.IntN(100) < 70 { // most active users used it recently
			span = min(span, 7*24*time.Hour)
		}
		at := now.Add(-time.Duration(rng.Int64N(int64(span/time.Second)+1)) * time.Second)
		if err := b.s.SetActivity(st.Scope, st.Login, at, pick(rng, Editors)); err != nil {
			return err
		}
	}
	return nil
}

// unassignSome unassigns about 6% of the direct seats of the
// assign_selected orgs: they are pending cancellation.
func (b *populator) unassignSome() error {
	for _, o := range b.p.Orgs {
		if o == b.out.AssignAllOrg {
			continue
		}
		var drop []string
		for _, st := range b.s.Seats(o) {
			if st.Direct && len(st.Teams) == 0 && b.rng.IntN(100) < 6 {
				drop = append(drop, st.Login)
			}
		}
		if len(drop) > 0 {
			if err := b.s.Unassign(o, b.admin, drop...); err != nil {
				return err
			}
		}
	}
	return nil
}

// deleteOneUser deletes the first org's first seat holder with a plain
// seat: the seat lists "assignee": null.
func (b *populator) deleteOneUser() error {
	if len(b.p.Orgs) == 0 {
		return nil
	}
	for _, st := range b.s.Seats(b.p.Orgs[0]) {
		if st.PendingCancellationDate == "" && !st.PendingInvitation {
			if err := b.s.DeleteUser(st.Login); err != nil {
				return err
			}
			b.out.DeletedUser = st.Login
			return nil
		}
	}
	return nil
}

// RandomChange performs one realistic seat change chosen with rng (a direct
// assignment, an unassignment, a refresh of a pending seat, a reassignment,
// Copilot use, a team (un)assignment, a new team member, an invitation
// accepted, occasionally a seat-management change) and describes it. It is
// the demo's and benchmark's source of live audit events. Time does not move:
// call Advance between changes.
func (s *Server) RandomChange(rng *rand.Rand) string {
	return s.RandomChangeIn(rng, ChangeScope{})
}

// ChangeScope narrows RandomChangeIn; the zero value is RandomChange's
// whole enterprise.
type ChangeScope struct {
	Orgs   []string // only these orgs (their assign_selected ones); empty: every assign_selected org
	Actors []string // who makes each change, one picked per change ("": the admin); empty: the admin
	Keep   []string // logins and team slugs no change touches (a scenario's featured seats)
}

func (c ChangeScope) keeps(name string) bool { return slices.Contains(c.Keep, name) }

// RandomChangeIn is RandomChange within scope.
func (s *Server) RandomChangeIn(rng *rand.Rand, scope ChangeScope) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var sel []*org
	for _, n := range s.orgOrder {
		if s.orgs[n].setting == AssignSelected && (len(scope.Orgs) == 0 || slices.Contains(scope.Orgs, n)) {
			sel = append(sel, s.orgs[n])
		}
	}
	if len(sel) == 0 {
		return "nothing to change"
	}
	o := pick(rng, sel)
	actor := ""
	if len(scope.Actors) > 0 {
		actor = pick(rng, scope.Actors)
	}
	a := s.systemActor(actor)
	active, pending, free, toggle, members := o.changeCandidates(scope)
	x := rng.IntN(100)
	switch {
	case x < 30 && len(free) > 0:
		u := pick(rng, free)
		_, _ = s.assignUsersLocked(o.login, []string{u}, a)
		return fmt.Sprintf("assigned %s in %s", u, o.login)
	case x < 48 && len(active) > 0:
		u := pick(rng, active)
		if st := o.seats[u]; !st.direct || len(st.teams) > 0 || st.all {
			s.setActivityLocked(o, u, rng)
			return fmt.Sprintf("%s used Copilot in %s", u, o.login)
		}
		_, _ = s.unassignUsersLocked(o.login, []string{u}, a)
		return fmt.Sprintf("unassigned %s in %s", u, o.login)
	case x < 60 && len(pending) > 0:
		u := pick(rng, pending)
		if !o.members[u] && !o.invites[u] {
			break
		}
		_, _ = s.assignUsersLocked(o.login, []string{u}, a)
		return fmt.Sprintf("refreshed %s in %s", u, o.login)
	case x < 66 && len(active) > 0:
		u := pick(rng, active)
		if !o.members[u] && !o.invites[u] {
			break
		}
		_, _ = s.assignUsersLocked(o.login, []string{u}, a)
		return fmt.Sprintf("reassigned %s in %s", u, o.login)
	case x < 88 && len(active) > 0:
		u := pick(rng, active)
		s.setActivityLocked(o, u, rng)
		return fmt.Sprintf("%s used Copilot in %s", u, o.login)
	case x < 92 && len(toggle) > 0:
		t := o.teams[pick(rng, toggle)]
		if t.copilot {
			_, _ = s.unassignTeamsLocked(o.login, []string{t.slug}, a)
			return fmt.Sprintf("unassigned team %s/%s", o.login, t.slug)
		}
		_, _ = s.assignTeamsLocked(o.login, []string{t.slug}, a)
		return fmt.Sprintf("assigned team %s/%s", o.login, t.slug)
	case x < 96 && len(o.teamOrder) > 0 && len(members) > 0 && !scope.keeps(o.teamOrder[0]):
		t := o.teams[o.teamOrder[0]]
		u := pick(rng, members)
		if t.memberSet[u] {
			break
		}
		s.addTeamMemberLocked(o, t, u, a)
		return fmt.Sprintf("added %s to team %s/%s", u, o.login, t.slug)
	case x < 99 && len(o.invites) > 0:
		var inv []string
		for u := range o.invites {
			if !scope.keeps(u) {
				inv = append(inv, u)
			}
		}
		if len(inv) == 0 {
			break
		}
		slices.Sort(inv)
		u := pick(rng, inv)
		s.addMemberLocked(o, u, s.systemActor(u))
		return fmt.Sprintf("%s accepted the invitation to %s", u, o.login)
	}
	// Fallback: some Copilot use anywhere.
	if len(active) > 0 {
		u := pick(rng, active)
		s.setActivityLocked(o, u, rng)
		return fmt.Sprintf("%s used Copilot in %s", u, o.login)
	}
	if len(free) > 0 {
		u := pick(rng, free)
		_, _ = s.assignUsersLocked(o.login, []string{u}, a)
		return fmt.Sprintf("assigned %s in %s", u, o.login)
	}
	return "nothing to change"
}

// changeCandidates are what a random change in o may touch, leaving out
// what scope keeps: seat holders (active, pending cancellation), members
// without a seat, the teams it may (un)assign (all but the first, which
// Populate assigns), and the members it may add to the first team.
func (o *org) changeCandidates(scope ChangeScope) (active, pending, free, toggle, members []string) {
	for _, st := range orderedSeats(o.seats) {
		switch {
		case scope.keeps(st.login):
		case st.pending.IsZero():
			active = append(active, st.login)
		default:
			pending = append(pending, st.login)
		}
	}
	for _, m := range o.memberOrder {
		if o.seats[m] == nil && !scope.keeps(m) {
			free = append(free, m)
		}
	}
	if len(o.teamOrder) > 1 {
		for _, t := range o.teamOrder[1:] {
			if !scope.keeps(t) {
				toggle = append(toggle, t)
			}
		}
	}
	for _, m := range o.memberOrder {
		if !scope.keeps(m) {
			members = append(members, m)
		}
	}
	return active, pending, free, toggle, members
}

func (s *Server) setActivityLocked(o *org, login string, rng *rand.Rand) {
	st := o.seats[login]
	st.lastActivity = s.now.Add(-time.Duration(rng.IntN(3600)) * time.Second)
	st.editor = pick(rng, Editors)
	if st.lastActivity.After(st.lastAuth) {
		st.lastAuth = st.lastActivity
	}
}
