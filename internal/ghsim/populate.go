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

	s.mu.Lock()
	mark, tmark := len(s.events), len(s.truth.periods)
	s.mu.Unlock()
	var out Populated
	admin := s.opts.Admin

	for i, name := range p.Orgs {
		setting, plan := AssignSelected, PlanBusiness
		if i == len(p.Orgs)-1 && len(p.Orgs) > 1 {
			setting, out.AssignAllOrg = AssignAll, name
		}
		if i == 1 {
			plan = PlanEnterprise
		}
		if err := s.AddOrg(name, setting, plan); err != nil {
			return out, err
		}
		out.Orgs = append(out.Orgs, name)
	}

	seen := map[string]bool{}
	for len(out.Users) < p.Users {
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
		s.AddUser(login)
		out.Users = append(out.Users, login)
	}

	members := map[string][]string{}
	for _, u := range out.Users {
		o := pick(rng, p.Orgs)
		orgs := []string{o}
		if rng.IntN(5) == 0 && len(p.Orgs) > 1 {
			if o2 := pick(rng, p.Orgs); o2 != o {
				orgs = append(orgs, o2)
			}
		}
		for _, o := range orgs {
			if err := s.AddMember(o, u); err != nil {
				return out, err
			}
			members[o] = append(members[o], u)
		}
	}
	invited := map[string][]string{}
	for _, u := range out.Users {
		if rng.IntN(100) < 4 {
			o := pick(rng, p.Orgs)
			if !slices.Contains(members[o], u) {
				if err := s.Invite(o, u); err != nil {
					return out, err
				}
				invited[o] = append(invited[o], u)
			}
		}
	}

	for _, o := range p.Orgs {
		ms := members[o]
		if len(ms) == 0 {
			continue
		}
		names := slices.Clone(teamNames)
		rng.Shuffle(len(names), func(i, j int) { names[i], names[j] = names[j], names[i] })
		for ti := 0; ti < p.TeamsPerOrg; ti++ {
			var tm []string
			for range 4 + rng.IntN(9) {
				if m := pick(rng, ms); !slices.Contains(tm, m) {
					tm = append(tm, m)
				}
			}
			if err := s.AddTeam(o, names[ti], tm...); err != nil {
				return out, err
			}
		}
		if o == out.AssignAllOrg {
			continue
		}
		if err := s.AssignTeams(o, admin, names[0]); err != nil {
			return out, err
		}
		var direct []string
		for _, m := range ms {
			if _, has := s.Seat(o, m); !has && rng.IntN(100) < 55 {
				direct = append(direct, m)
			}
		}
		for _, inv := range invited[o] {
			if rng.IntN(2) == 0 {
				direct = append(direct, inv)
			}
		}
		for len(direct) > 0 {
			n := min(len(direct), 100)
			if err := s.Assign(o, admin, direct[:n]...); err != nil {
				return out, err
			}
			direct = direct[n:]
		}
	}

	for i := 0; i < p.EnterpriseTeams; i++ {
		var tm []string
		for range 6 + rng.IntN(10) {
			if u := pick(rng, out.Users); !slices.Contains(tm, u) {
				tm = append(tm, u)
			}
		}
		slug, err := s.AddEnterpriseTeam(entTeamNames[i], tm...)
		if err != nil {
			return out, err
		}
		if err := s.AssignEnterpriseTeams(admin, slug); err != nil {
			return out, err
		}
		out.EnterpriseTeams = append(out.EnterpriseTeams, slug)
	}

	// History: backdate seats, then activity, then some unassignments.
	now := s.Now()
	for _, st := range s.AllSeats() {
		created := now.Add(-time.Duration(1+rng.IntN(300)) * 24 * time.Hour).Add(-time.Duration(rng.IntN(86400)) * time.Second)
		if err := s.SetSeatCreated(st.Scope, st.Login, created); err != nil {
			return out, err
		}
		if rng.IntN(100) < 18 {
			continue // never used: last_activity_at null
		}
		span := now.Sub(created)
		if rng.IntN(100) < 70 { // most active users used it recently
			span = min(span, 7*24*time.Hour)
		}
		at := now.Add(-time.Duration(rng.Int64N(int64(span/time.Second)+1)) * time.Second)
		if err := s.SetActivity(st.Scope, st.Login, at, pick(rng, Editors)); err != nil {
			return out, err
		}
	}
	for _, o := range p.Orgs {
		if o == out.AssignAllOrg {
			continue
		}
		var drop []string
		for _, st := range s.Seats(o) {
			if st.Direct && len(st.Teams) == 0 && rng.IntN(100) < 6 {
				drop = append(drop, st.Login)
			}
		}
		if len(drop) > 0 {
			if err := s.Unassign(o, admin, drop...); err != nil {
				return out, err
			}
		}
	}
	if len(p.Orgs) > 0 {
		for _, st := range s.Seats(p.Orgs[0]) {
			if st.PendingCancellationDate == "" && !st.PendingInvitation {
				if err := s.DeleteUser(st.Login); err != nil {
					return out, err
				}
				out.DeletedUser = st.Login
				break
			}
		}
	}

	s.mu.Lock()
	if !p.Emit && len(s.events) >= mark {
		s.events = s.events[:mark]
		s.tHide(tmark) // the seats predate the stream: no truth for them
	}
	out.Seats = len(s.enterpriseSeatsLocked())
	s.mu.Unlock()
	return out, nil
}

// RandomChange performs one realistic seat change chosen with rng (a direct
// assignment, an unassignment, a refresh of a pending seat, a reassignment,
// Copilot use, a team (un)assignment, a new team member, an invitation
// accepted, occasionally a seat-management change) and describes it. It is
// the demo's and benchmark's source of live audit events. Time does not move:
// call Advance between changes.
func (s *Server) RandomChange(rng *rand.Rand) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var sel []*org
	for _, n := range s.orgOrder {
		if s.orgs[n].setting == AssignSelected {
			sel = append(sel, s.orgs[n])
		}
	}
	if len(sel) == 0 {
		return "nothing to change"
	}
	o := pick(rng, sel)
	a := s.systemActor("")
	seats := orderedSeats(o.seats)
	var active, pending, free []string
	for _, st := range seats {
		if st.pending.IsZero() {
			active = append(active, st.login)
		} else {
			pending = append(pending, st.login)
		}
	}
	for _, m := range o.memberOrder {
		if o.seats[m] == nil {
			free = append(free, m)
		}
	}
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
	case x < 92 && len(o.teamOrder) > 1:
		t := o.teams[pick(rng, o.teamOrder[1:])]
		if t.copilot {
			_, _ = s.unassignTeamsLocked(o.login, []string{t.slug}, a)
			return fmt.Sprintf("unassigned team %s/%s", o.login, t.slug)
		}
		_, _ = s.assignTeamsLocked(o.login, []string{t.slug}, a)
		return fmt.Sprintf("assigned team %s/%s", o.login, t.slug)
	case x < 96 && len(o.teamOrder) > 0 && len(o.memberOrder) > 0:
		t := o.teams[o.teamOrder[0]]
		u := pick(rng, o.memberOrder)
		if t.memberSet[u] {
			break
		}
		s.addTeamMemberLocked(o, t, u, a)
		return fmt.Sprintf("added %s to team %s/%s", u, o.login, t.slug)
	case x < 99 && len(o.invites) > 0:
		var inv []string
		for u := range o.invites {
			inv = append(inv, u)
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

func (s *Server) setActivityLocked(o *org, login string, rng *rand.Rand) {
	st := o.seats[login]
	st.lastActivity = s.now.Add(-time.Duration(rng.IntN(3600)) * time.Second)
	st.editor = pick(rng, Editors)
	if st.lastActivity.After(st.lastAuth) {
		st.lastAuth = st.lastActivity
	}
}
