package main

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/seatline/seatline/internal/ghsim"
)

// The GitHub side: a simulated enterprise and its seat changes.

// featured is a seat whose timeline the demo prints.
type featured struct {
	org, user string // org "": a seat granted by an enterprise team
	title     string
}

// scenario is what was done in the simulator.
type scenario struct {
	sim                             *ghsim.Server
	pop                             ghsim.Populated
	start, cycleEnd, nextCycle, end time.Time
	events                          [][]byte
	changes                         int
	featured                        []featured
}

// Featured users: new accounts, so that no team built by Populate grants
// them anything and the random changes leave them alone.
const (
	u1      = "ines-moreau"    // direct seat: cancelled at a cycle end, re-assigned, now pending cancellation
	u2      = "kofi-asante"    // new hire: seat through an org team, never used (idle)
	u3      = "hana-kobayashi" // seat through an enterprise team, in use
	u4      = "tomas-novak"    // joins the org team (a lead adds them: the real actor), leaves it: seat lost, orphaned
	u5      = "rosa-jimenez"   // direct seat, then the user's Copilot access is revoked
	u6      = "dmitri-volkov"  // direct seat, then removed from the org: orphaned, billed to the cycle's end
	lead    = "lena-team-lead" // adds u4 to the org team
	entTeam = "ai-champions"   // enterprise team made by the demo
	orgTeam = "ai-pilots"      // org team (in acme-mobile) made by the demo
)

var (
	champions = []string{u3, "pablo-ruiz", "aisha-bello", "mei-lin-wu"}
	actors    = []string{"", "", "it-ops-okafor", "amara-silva-owner"} // "": the enterprise admin
)

// startSimulator builds the enterprise and drives five weeks of seat
// changes, ending a few minutes before now (so lookup lag is real time),
// with a billing-cycle end (the 1st: Copilot bills by calendar month, UTC)
// at least 6 days ago. The stream carries the membership changes too.
func (d *demo) startSimulator() error {
	end := time.Now().UTC().Add(-5 * time.Minute).Truncate(time.Second)
	c := end.AddDate(0, 0, -6)
	cycleEnd := time.Date(c.Year(), c.Month(), 1, 0, 0, 0, 0, time.UTC)
	sc := &scenario{cycleEnd: cycleEnd, nextCycle: cycleEnd.AddDate(0, 1, 0), end: end,
		start: cycleEnd.AddDate(0, 0, -24).Add(9 * time.Hour)}
	sim := ghsim.New(ghsim.Options{Enterprise: enterprise, Tokens: []string{ghToken}, Seed: 7,
		Start: sc.start, MembershipEvents: true, TeamUnassignEventRate: -1}) // GitHub promises no event when a member leaves a team
	if err := sim.Start(); err != nil {
		return err
	}
	sc.sim = sim
	d.sc = sc
	d.cleanup.Add(sim.Close)
	if err := sc.drive(); err != nil {
		return fmt.Errorf("simulator: %w", err)
	}
	step("GitHub API simulator on %s: enterprise %s, %d orgs (%s assigns all members), %d users to start, %d enterprise teams",
		sim.URL(), enterprise, len(orgs), sc.pop.AssignAllOrg, len(sc.pop.Users), len(sc.pop.EnterpriseTeams))
	step("drove %d seat changes %s → %s (billing cycle ended %s): %s audit events",
		sc.changes, sc.start.Format(time.DateOnly), sc.end.Format(time.DateOnly), sc.cycleEnd.Format(time.DateOnly), num(len(sc.events)))
	return nil
}

type action struct {
	at time.Time
	fn func() error
}

func (sc *scenario) drive() error {
	rng := rand.New(rand.NewPCG(7, 7))
	var err error
	if sc.pop, err = sc.sim.Populate(rng, ghsim.Population{Orgs: orgs, Users: 60, Emit: true}); err != nil {
		return err
	}
	for _, m := range [][2]string{{orgs[0], u1}, {orgs[1], u4}, {orgs[0], u5}, {orgs[0], u6}} {
		if err := sc.sim.AddMember(m[0], m[1]); err != nil {
			return err
		}
	}
	var p plan
	sc.featuredChanges(&p)
	sc.backgroundChanges(&p, rng)
	return sc.play(p)
}

// plan is the scenario's changes, each at its time.
type plan []action

func (p *plan) add(at time.Time, fn func() error) { *p = append(*p, action{at, fn}) }

// featuredChanges plans the changes of the featured seats and of the
// lifecycle section's seats.
func (sc *scenario) featuredChanges(p *plan) {
	sim := sc.sim
	platform, mobile := orgs[0], orgs[1]
	ent := ghsim.EntTeamSlug(entTeam)
	editor := func(i int) string { return ghsim.Editors[i%len(ghsim.Editors)] }
	used := func(scope, login string, ago time.Duration, i int) func() error {
		return func() error { return sim.SetActivity(scope, login, sim.Now().Add(-ago), editor(i)) }
	}
	day := 24 * time.Hour
	S, B, E := sc.start, sc.cycleEnd, sc.end
	// late(f): a time in the last few days before E, within E's calendar
	// month, so that what happens then is still pending (or billable) now.
	recent := time.Date(E.Year(), E.Month(), 1, 0, 0, 0, 0, time.UTC)
	if r := E.Add(-4 * day); r.After(recent) {
		recent = r
	}
	late := func(f float64) time.Time {
		return recent.Add(time.Duration(f * float64(E.Sub(recent)))).Truncate(time.Second)
	}
	add := p.add

	// u1: direct seat, used, unassigned; cancelled at the cycle end (B);
	// assigned again, used, unassigned yesterday: pending cancellation.
	add(S.Add(day+time.Hour), func() error { return sim.Assign(platform, "it-ops-okafor", u1) })
	add(S.Add(2*day+6*time.Hour), used(platform, u1, 40*time.Minute, 0))
	add(S.Add(4*day+2*time.Hour), func() error { return sim.Unassign(platform, "amara-silva-owner", u1) })
	add(B.Add(day+10*time.Hour), func() error { return sim.Assign(platform, "", u1) })
	add(B.Add(2*day+14*time.Hour), used(platform, u1, 15*time.Minute, 2))
	add(E.Add(-day-3*time.Hour), used(platform, u1, 5*time.Minute, 3))
	add(late(0.9), func() error { return sim.Unassign(platform, "amara-silva-owner", u1) })

	// u3 and other new accounts: an enterprise team assigned to Copilot,
	// unassigned a week later by mistake, re-assigned the next day.
	add(S.Add(5*day), func() error {
		if _, err := sim.AddEnterpriseTeam(entTeam, champions...); err != nil {
			return err
		}
		return sim.AssignEnterpriseTeams("", ent)
	})
	add(S.Add(6*day+3*time.Hour), used(ent, u3, time.Hour, 1))
	add(S.Add(6*day+5*time.Hour), used(ent, champions[1], 2*time.Hour, 4))
	add(S.Add(12*day+7*time.Hour), func() error { return sim.UnassignEnterpriseTeams("amara-silva-owner", ent) })
	add(S.Add(13*day+1*time.Hour), func() error { return sim.AssignEnterpriseTeams("it-ops-okafor", ent) })
	add(E.Add(-3*time.Hour), used(ent, u3, 20*time.Minute, 1))

	// u2: a new hire in acme-mobile, given a seat through a new org team,
	// then directly as well; never used.
	add(B.Add(2*day+9*time.Hour), func() error {
		ms := sim.Members(mobile)
		if err := sim.AddTeam(mobile, orgTeam, u2, ms[0], ms[len(ms)/2]); err != nil {
			return err
		}
		return sim.AssignTeams(mobile, "", orgTeam)
	})
	add(B.Add(3*day+11*time.Hour), func() error { return sim.Assign(mobile, "it-ops-okafor", u2) })

	// The seat lifecycle: u4 added to the team by its lead (the seat's real
	// grantor), removed from it three days before the end with no Copilot
	// event (GitHub does not promise one) in the last days: pending,
	// orphaned. u5's access revoked; u6 removed from the org; acme-research's
	// Copilot revoked org-wide (billing).
	add(B.Add(4*day+10*time.Hour), func() error { return sim.AddTeamMember(mobile, orgTeam, u4, lead) })
	add(late(0.7), func() error { return sim.RemoveTeamMember(mobile, orgTeam, u4) })
	add(S.Add(3*day+2*time.Hour), func() error { return sim.Assign(platform, "it-ops-okafor", u5) })
	add(B.Add(5*day+9*time.Hour), func() error { return sim.RevokeUserAccess(platform, u5, "security-lead") })
	add(S.Add(2*day+4*time.Hour), func() error { return sim.Assign(platform, "", u6) })
	add(late(0.75), func() error { return sim.RemoveMember(platform, u6, "hr-offboarding") })
	add(late(0.8), func() error { return sim.RevokeOrgAccess(orgs[2], "billing", "") })
}

// backgroundChanges plans random changes to the other seats of the two
// assign_selected orgs, before and after the cycle end.
func (sc *scenario) backgroundChanges(p *plan, rng *rand.Rand) {
	sim := sc.sim
	platform, mobile := orgs[0], orgs[1]
	S, B, E := sc.start, sc.cycleEnd, sc.end
	scope := ghsim.ChangeScope{Orgs: []string{platform, mobile}, Actors: actors, Keep: []string{u1, u2, u3, u4, u5, u6, orgTeam}}
	background := func(r *rand.Rand) func() error {
		return func() error { sim.RandomChangeIn(r, scope); return nil }
	}
	spread := func(from, to time.Time, n int) {
		span := to.Sub(from)
		for i := range n {
			at := from.Add(span * time.Duration(i) / time.Duration(n)).Add(time.Duration(rng.Int64N(int64(span / time.Duration(n)))))
			p.add(at.Truncate(time.Second), background(rng))
		}
	}
	spread(S.Add(2*time.Hour), B.Add(-6*time.Hour), 110)
	spread(B.Add(6*time.Hour), E.Add(-time.Hour), 50)
}

// play makes the planned changes in time order, moving the simulator's
// clock to each, then to the end.
func (sc *scenario) play(p plan) error {
	sim := sc.sim
	sort.SliceStable(p, func(i, j int) bool { return p[i].at.Before(p[j].at) })
	for _, a := range p {
		if d := a.at.Sub(sim.Now()); d > 0 {
			sim.Advance(d) // past B: pending seats are cancelled, each at B
		}
		if err := a.fn(); err != nil {
			return err
		}
	}
	sc.changes = len(p)
	if d := sc.end.Sub(sim.Now()); d > 0 {
		sim.Advance(d)
	}
	sc.events = sim.Events()
	sc.featured = []featured{
		{orgs[0], u1, "direct seat cancelled at a cycle end, assigned again, now pending cancellation"},
		{orgs[1], u2, "a new hire's seat through org team " + orgTeam + ": idle, never used"},
		{"", u3, "seat through enterprise team " + ghsim.EntTeamSlug(entTeam) + " (an enterprise-level seat: no org)"},
	}
	return nil
}
