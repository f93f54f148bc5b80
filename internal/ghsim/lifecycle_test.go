package ghsim

import (
	"errors"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// drained keeps every event drain took, per server, for verify.
var drained = map[*Server][]ev{}

func drain(t *testing.T, s *Server) []ev {
	t.Helper()
	evs := decodeEvs(t, s.Events())
	drained[s] = append(drained[s], evs...)
	return evs
}

// verify checks the truth against the server's whole stream: consistent,
// and equal to the derivation from the events alone.
func verify(t *testing.T, s *Server) {
	t.Helper()
	drain(t, s)
	evs := drained[s]
	delete(drained, s)
	compareRef(t, s, evs, checkTruth(t, s, evs))
}

func actionsOf(evs []ev) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.action())
	}
	return out
}

func wantActions(t *testing.T, evs []ev, want ...string) {
	t.Helper()
	if got := actionsOf(evs); !slices.Equal(got, want) {
		t.Fatalf("actions:\n got %v\nwant %v", got, want)
	}
}

// wantEv checks e's action, its fields beyond the common ones (exactly
// keys), and the given field values.
func wantEv(t *testing.T, e ev, action string, keys []string, vals map[string]any) {
	t.Helper()
	if e.action() != action {
		t.Fatalf("action %q, want %q", e.action(), action)
	}
	if got := e.specific(); !slices.Equal(got, keys) {
		t.Fatalf("%s fields %v, want %v", action, got, keys)
	}
	for k, v := range vals {
		var got any
		switch v.(type) {
		case int64:
			got = e.num(k)
		default:
			got = e[k]
		}
		if got != v {
			t.Fatalf("%s %s = %v, want %v", action, k, got, v)
		}
	}
}

var (
	keysOrgUser     = []string{"org", "org_id", "user", "user_id"}
	keysTeamUser    = []string{"org", "org_id", "team", "user", "user_id"}
	keysUser        = []string{"user", "user_id"}
	keysEntTeam     = []string{"enterprise_team", "enterprise_team_id"}
	keysEntTeamUser = []string{"enterprise_team", "enterprise_team_id", "user", "user_id"}
	keysOrgOwner    = []string{"org", "org_id", "owner", "owner_type", "user", "user_id"}
)

func uid(t *testing.T, s *Server, login string) int64 {
	t.Helper()
	id, ok := s.UserID(login)
	if !ok {
		t.Fatalf("no user %s", login)
	}
	return id
}

func TestMembershipEventShapes(t *testing.T) {
	s := New(lcOptions(3))
	must(t, s.AddOrg("octo", AssignSelected, PlanBusiness))
	must(t, s.AddOrg("quiet", Unconfigured, ""))
	evs := drain(t, s)
	wantActions(t, evs, "copilot.plan_changed", "copilot.cfb_seat_management_changed", "copilot.plan_changed")
	wantEv(t, evs[0], "copilot.plan_changed", []string{"old_plan", "org", "org_id", "plan"},
		map[string]any{"org": "octo", "old_plan": "", "plan": PlanBusiness})
	wantEv(t, evs[1], "copilot.cfb_seat_management_changed", []string{"new_value", "old_value", "org", "org_id", "owner", "owner_type"},
		map[string]any{"old_value": Unconfigured, "new_value": AssignSelected, "owner": "octo", "owner_type": "Organization"})

	// org.add_member, for new members only; AcceptInvitation's actor is the user.
	must(t, s.AddMember("octo", "alice"))
	must(t, s.AddMember("octo", "alice"))
	must(t, s.Invite("octo", "ivan"))
	must(t, s.AcceptInvitation("octo", "ivan"))
	evs = drain(t, s)
	wantActions(t, evs, "org.add_member", "org.add_member")
	wantEv(t, evs[0], "org.add_member", keysOrgUser, map[string]any{"org": "octo", "user": "alice",
		"user_id": uid(t, s, "alice"), "actor": "acme-corp-admin", "operation_type": "create"})
	wantEv(t, evs[1], "org.add_member", keysOrgUser, map[string]any{"user": "ivan", "actor": "ivan"})

	// AddTeam: org.add_member for a new org member, team.add_member for each new team member.
	must(t, s.AddTeam("octo", "backend", "alice", "bob"))
	evs = drain(t, s)
	wantActions(t, evs, "team.add_member", "org.add_member", "team.add_member")
	wantEv(t, evs[0], "team.add_member", keysTeamUser, map[string]any{"team": "octo/backend", "user": "alice", "org": "octo"})
	wantEv(t, evs[2], "team.add_member", keysTeamUser, map[string]any{"team": "octo/backend", "user": "bob"})

	// Joining a team that holds Copilot: team.add_member, then cfb_seat_added by the team's assigner.
	must(t, s.AssignTeams("octo", "boss", "backend"))
	drain(t, s)
	must(t, s.AddTeamMember("octo", "backend", "carol", "lead"))
	evs = drain(t, s)
	wantActions(t, evs, "org.add_member", "team.add_member", "copilot.cfb_seat_added")
	wantEv(t, evs[1], "team.add_member", keysTeamUser, map[string]any{"actor": "lead", "user": "carol"})
	wantEv(t, evs[2], "copilot.cfb_seat_added", keysOrgUser, map[string]any{"actor": "boss", "user": "carol", "org": "octo"})

	// Leaving it: team.remove_member, then (TeamUnassignEventRate 1) the unassignment.
	must(t, s.RemoveTeamMember("octo", "backend", "carol"))
	must(t, s.RemoveTeamMember("octo", "backend", "carol")) // not a member: nothing
	evs = drain(t, s)
	wantActions(t, evs, "team.remove_member", "copilot.cfb_seat_assignment_unassigned")
	wantEv(t, evs[0], "team.remove_member", keysTeamUser, map[string]any{"team": "octo/backend", "user": "carol",
		"operation_type": "remove"})
	wantEv(t, evs[1], "copilot.cfb_seat_assignment_unassigned", keysOrgUser, map[string]any{"user": "carol"})

	// org.remove_member, then the seat's unassignment (listed pending).
	must(t, s.RemoveMember("octo", "bob", "boss"))
	evs = drain(t, s)
	wantActions(t, evs, "org.remove_member", "copilot.cfb_seat_assignment_unassigned")
	wantEv(t, evs[0], "org.remove_member", keysOrgUser, map[string]any{"user": "bob", "actor": "boss", "operation_type": "remove"})
	if st, ok := s.Seat("octo", "bob"); !ok || st.PendingCancellationDate != "2026-04-01" {
		t.Fatalf("bob's seat after removal: %+v", st)
	}

	// Enterprise teams.
	slug, err := s.AddEnterpriseTeam("pilots", "zoe")
	must(t, err)
	evs = drain(t, s)
	wantActions(t, evs, "enterprise_team.add_member")
	wantEv(t, evs[0], "enterprise_team.add_member", keysEntTeamUser, map[string]any{"enterprise_team": "ent:pilots", "user": "zoe"})
	entID := evs[0].num("enterprise_team_id")
	must(t, s.AssignEnterpriseTeams("boss", slug))
	evs = drain(t, s)
	wantActions(t, evs, "enterprise_team.copilot_assignment", "copilot.cfb_seat_added")
	wantEv(t, evs[0], "enterprise_team.copilot_assignment", keysEntTeam, map[string]any{"enterprise_team": "ent:pilots",
		"enterprise_team_id": entID, "actor": "boss", "operation_type": "create"})
	wantEv(t, evs[1], "copilot.cfb_seat_added", keysUser, map[string]any{"user": "zoe"})
	must(t, s.AddEnterpriseTeamMember(slug, "yann", "lead"))
	must(t, s.RemoveEnterpriseTeamMember(slug, "yann", "boss"))
	evs = drain(t, s)
	wantActions(t, evs, "enterprise_team.add_member", "copilot.cfb_seat_added", "enterprise_team.remove_member",
		"copilot.cfb_seat_assignment_unassigned")
	wantEv(t, evs[0], "enterprise_team.add_member", keysEntTeamUser, map[string]any{"actor": "lead", "user": "yann"})
	wantEv(t, evs[1], "copilot.cfb_seat_added", keysUser, map[string]any{"actor": "boss", "user": "yann"})
	wantEv(t, evs[2], "enterprise_team.remove_member", keysEntTeamUser, map[string]any{"enterprise_team": "ent:pilots",
		"enterprise_team_id": entID, "user": "yann", "actor": "boss"})
	wantEv(t, evs[3], "copilot.cfb_seat_assignment_unassigned", keysUser, map[string]any{"user": "yann"})
	must(t, s.UnassignEnterpriseTeams("boss", slug))
	evs = drain(t, s)
	wantActions(t, evs, "enterprise_team.copilot_unassignment", "copilot.cfb_seat_assignment_unassigned")
	wantEv(t, evs[0], "enterprise_team.copilot_unassignment", keysEntTeam, map[string]any{"enterprise_team": "ent:pilots",
		"operation_type": "remove"})

	// business.remove_member: only that, then the seats' unassignments.
	must(t, s.Assign("octo", "boss", "ivan"))
	must(t, s.AssignEnterpriseTeams("boss", slug))
	must(t, s.AddEnterpriseTeamMember(slug, "ivan", ""))
	drain(t, s)
	must(t, s.RemoveFromEnterprise("ivan", "boss"))
	evs = drain(t, s)
	wantActions(t, evs, "business.remove_member", "copilot.cfb_seat_assignment_unassigned", "copilot.cfb_seat_assignment_unassigned")
	wantEv(t, evs[0], "business.remove_member", keysUser, map[string]any{"user": "ivan", "user_id": uid(t, s, "ivan"),
		"business": "acme-corp", "actor": "boss"})
	if slices.Contains(s.Members("octo"), "ivan") {
		t.Fatal("ivan still a member")
	}

	// Suspension; SCIM deprovisioning.
	s.AddUser("dave")
	must(t, s.Suspend("dave"))
	evs = drain(t, s)
	wantActions(t, evs, "user.suspend")
	wantEv(t, evs[0], "user.suspend", keysUser, map[string]any{"user": "dave", "user_id": uid(t, s, "dave")})
	must(t, s.AddMember("octo", "erin"))
	must(t, s.Assign("octo", "", "erin"))
	erinID := uid(t, s, "erin")
	drain(t, s)
	nl, err := s.Deprovision("erin")
	must(t, err)
	evs = drain(t, s)
	wantActions(t, evs, "user.suspend", "user.rename", "external_identity.deprovision")
	wantEv(t, evs[0], "user.suspend", keysUser, map[string]any{"user": "erin", "user_id": erinID})
	wantEv(t, evs[1], "user.rename", []string{"old_login", "user", "user_id"}, map[string]any{"old_login": "erin", "user": nl, "user_id": erinID})
	wantEv(t, evs[2], "external_identity.deprovision", []string{"external_identity_nameid", "user", "user_id"},
		map[string]any{"user": nl, "user_id": erinID})
	if !strings.HasPrefix(nl, "erin_") || len(nl) != len("erin_")+6 {
		t.Fatalf("obfuscated login %q", nl)
	}

	// One user's access; the plan; the whole org's access.
	must(t, s.AddMember("octo", "frank"))
	must(t, s.Assign("octo", "", "frank"))
	drain(t, s)
	must(t, s.RevokeUserAccess("octo", "frank", "boss"))
	must(t, s.RevokeUserAccess("octo", "frank", "boss")) // already: nothing
	must(t, s.ReinstateUserAccess("octo", "frank", "boss"))
	must(t, s.SetPlan("octo", PlanEnterprise))
	evs = drain(t, s)
	wantActions(t, evs, "copilot.user_access_revoked", "copilot.user_access_reinstated", "copilot.plan_changed")
	wantEv(t, evs[0], "copilot.user_access_revoked", keysOrgOwner, map[string]any{"org": "octo", "user": "frank",
		"owner": "octo", "owner_type": "Organization", "actor": "boss"})
	wantEv(t, evs[1], "copilot.user_access_reinstated", keysOrgOwner, map[string]any{"user": "frank"})
	wantEv(t, evs[2], "copilot.plan_changed", []string{"old_plan", "org", "org_id", "plan"},
		map[string]any{"old_plan": PlanBusiness, "plan": PlanEnterprise})
	if err := s.SetPlan("octo", "gold"); !errors.Is(err, ErrInvalidPlan) {
		t.Fatalf("SetPlan gold: %v", err)
	}
	must(t, s.RevokeOrgAccess("octo", "billing", "boss"))
	evs = drain(t, s)
	wantActions(t, evs, "copilot.access_revoked")
	wantEv(t, evs[0], "copilot.access_revoked", []string{"org", "org_id", "owner", "owner_type", "plan", "reason"},
		map[string]any{"org": "octo", "owner": "octo", "owner_type": "Organization", "reason": "billing", "plan": PlanEnterprise})
	if n := len(s.Seats("octo")); n != 0 {
		t.Fatalf("%d seats after the org's access was revoked", n)
	}
	if err := s.Assign("octo", "", "frank"); !errors.Is(err, ErrAccessRevoked) {
		t.Fatalf("Assign while revoked: %v", err)
	}
	must(t, s.RestoreOrgAccess("octo", "boss"))
	evs = drain(t, s)
	// The team backend (alice; bob and carol left) and the direct seats
	// (the deprovisioned erin's, frank's) come back.
	wantActions(t, evs, "copilot.cfb_seat_assignment_created", "copilot.cfb_seat_added",
		"copilot.cfb_seat_assignment_created", "copilot.cfb_seat_added", "copilot.cfb_seat_assignment_created", "copilot.cfb_seat_added")
	if evs[0].str("team") != "octo/backend" || evs[1].str("user") != "alice" || evs[2].str("user") != nl || evs[4].str("user") != "frank" {
		t.Fatalf("restore events %v", actionsOf(evs))
	}

	// DeleteUser: org.remove_member per org, enterprise_team.remove_member per enterprise team.
	must(t, s.AddEnterpriseTeamMember(slug, "frank", ""))
	drain(t, s)
	must(t, s.DeleteUser("frank"))
	evs = drain(t, s)
	wantActions(t, evs, "org.remove_member", "copilot.cfb_seat_assignment_unassigned",
		"enterprise_team.remove_member", "copilot.cfb_seat_assignment_unassigned")
	if evs[0].str("actor") != "frank" {
		t.Fatalf("deleted user's removal actor %q", evs[0].str("actor"))
	}
	verify(t, s)
}

func TestWithoutMembershipEventsTheStreamIsAsBefore(t *testing.T) {
	s := New(Options{Seed: 3})
	must(t, s.AddOrg("octo", AssignSelected, PlanBusiness))
	must(t, s.AddTeam("octo", "backend", "alice"))
	_, err := s.AddEnterpriseTeam("pilots", "zoe")
	must(t, err)
	if n := s.PendingEvents(); n != 0 {
		t.Fatalf("%d events from building", n)
	}
	must(t, s.AssignEnterpriseTeams("", "pilots"))
	must(t, s.RemoveMember("octo", "alice", ""))
	_, err = s.Deprovision("zoe")
	must(t, err)
	evs := drain(t, s)
	wantActions(t, evs, "copilot.cfb_seat_assignment_created", "copilot.cfb_seat_added")
	if evs[0].str("team") != "ent:pilots" {
		t.Fatalf("enterprise team assignment %v", evs[0])
	}
	// Deprovisioning still renames: the seat is listed under the new login.
	seats := s.AllSeats()
	if len(seats) != 1 || !strings.HasPrefix(seats[0].Login, "zoe_") {
		t.Fatalf("seats %+v", seats)
	}
}

// ---- truth scenarios ----

// evFor finds the event of action for user (or team) in evs.
func evFor(t *testing.T, evs []ev, action, who string) ev {
	t.Helper()
	for _, e := range evs {
		if e.action() == action && (e.str("user") == who || e.str("team") == who || e.str("enterprise_team") == who || who == "") {
			return e
		}
	}
	t.Fatalf("no %s for %s in %v", action, who, actionsOf(evs))
	return nil
}

// periodsOf returns the periods of login (by its id) in scope.
func periodsOf(t *testing.T, s *Server, scope, login string) []Period {
	t.Helper()
	id := uid(t, s, login)
	var out []Period
	for _, p := range s.Periods() {
		if p.Scope == scope && p.UserID == id {
			out = append(out, p)
		}
	}
	return out
}

func onePeriod(t *testing.T, s *Server, scope, login string) Period {
	t.Helper()
	ps := periodsOf(t, s, scope, login)
	if len(ps) != 1 {
		var d []string
		for _, p := range ps {
			d = append(d, fmtPeriod(p))
		}
		t.Fatalf("%s in %s: %d periods %v", login, scope, len(ps), d)
	}
	return ps[0]
}

func eqTime(t *testing.T, what string, got *time.Time, want time.Time) {
	t.Helper()
	if got == nil || !got.Equal(want) {
		t.Fatalf("%s = %v, want %v", what, got, want)
	}
}

var april1 = time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)

// lcSetup: org octo (assign_selected, business) with members alice, bob,
// carol and team backend (alice) assigned to Copilot by boss.
func lcSetup(t *testing.T, opts Options) (*Server, []ev) {
	t.Helper()
	s := New(opts)
	must(t, s.AddOrg("octo", AssignSelected, PlanBusiness))
	for _, u := range []string{"alice", "bob", "carol"} {
		must(t, s.AddMember("octo", u))
	}
	must(t, s.AddTeam("octo", "backend", "alice"))
	must(t, s.AssignTeams("octo", "boss", "backend"))
	s.Advance(time.Hour)
	return s, drain(t, s)
}

func TestTruthTeamJoinAndLeave(t *testing.T) {
	opts := lcOptions(11)
	opts.TeamUnassignEventRate = -1 // GitHub's silence
	s, setup := lcSetup(t, opts)

	// Before: alice's seat came with the team's assignment, by boss.
	a := onePeriod(t, s, "octo", "alice")
	if a.Via != ViaTeam || a.Team != "octo/backend" || a.GrantedBy != "boss" || a.Plan != PlanBusiness ||
		!a.Start.Equal(evFor(t, setup, "copilot.cfb_seat_assignment_created", "octo/backend").ts()) {
		t.Fatalf("alice %s", fmtPeriod(a))
	}

	// carol joins the Copilot team (added by lead): the seat is via the team, granted by lead.
	must(t, s.AddTeamMember("octo", "backend", "carol", "lead"))
	evs := drain(t, s)
	join := evFor(t, evs, "team.add_member", "carol")
	c := onePeriod(t, s, "octo", "carol")
	if c.Via != ViaTeam || c.Team != "octo/backend" || c.GrantedBy != "lead" || !c.Start.Equal(join.ts()) ||
		c.PendingFrom != nil || c.End != nil || c.Login != "carol" {
		t.Fatalf("carol %s", fmtPeriod(c))
	}
	if evFor(t, evs, "copilot.cfb_seat_added", "carol").str("actor") != "boss" {
		t.Fatal("cfb_seat_added not by the team's assigner")
	}

	// carol leaves it; no unassignment is written: pending to the cycle's end, orphaned "left_team".
	s.Advance(2 * 24 * time.Hour)
	must(t, s.RemoveTeamMember("octo", "backend", "carol"))
	evs = drain(t, s)
	wantActions(t, evs, "team.remove_member")
	left := evs[0].ts()
	c = onePeriod(t, s, "octo", "carol")
	eqTime(t, "pending from", c.PendingFrom, left)
	eqTime(t, "billable until", c.BillableUntil, april1)
	eqTime(t, "orphaned since", c.OrphanedSince, left)
	if c.OrphanReason != OrphanLeftTeam || c.End != nil {
		t.Fatalf("carol %s", fmtPeriod(c))
	}
	if st, _ := s.Seat("octo", "carol"); st.PendingCancellationDate != "2026-04-01" {
		t.Fatalf("carol's seat %+v", st)
	}
	if hs := s.HoldersAt(left.Add(time.Hour)); !slices.ContainsFunc(hs, func(h Holder) bool { return h.Login == "carol" }) {
		t.Fatal("carol keeps access until the cycle ends")
	}
	if os := s.Orphans(s.Now()); len(os) != 1 || os[0].Login != "carol" {
		t.Fatalf("orphans %v", os)
	}

	// The cycle ends: cancelled at 1 April.
	s.Advance(30 * 24 * time.Hour)
	c = onePeriod(t, s, "octo", "carol")
	eqTime(t, "end", c.End, april1)
	if c.EndReason != EndCancelled {
		t.Fatalf("carol %s", fmtPeriod(c))
	}
	if hs := s.HoldersAt(april1); slices.ContainsFunc(hs, func(h Holder) bool { return h.Login == "carol" }) {
		t.Fatal("carol holds a seat at the cycle start")
	}
	if os := s.Orphans(s.Now()); len(os) != 0 {
		t.Fatalf("orphans after the cycle %v", os)
	}

	// With the unassignment written (the default rate): pending, not orphaned.
	s2, _ := lcSetup(t, lcOptions(11))
	must(t, s2.AddTeamMember("octo", "backend", "carol", "lead"))
	must(t, s2.RemoveTeamMember("octo", "backend", "carol"))
	evs = drain(t, s2)
	c = onePeriod(t, s2, "octo", "carol")
	eqTime(t, "pending from", c.PendingFrom, evFor(t, evs, "team.remove_member", "carol").ts())
	if c.OrphanedSince != nil {
		t.Fatalf("carol %s", fmtPeriod(c))
	}
	verify(t, s)
}

func TestTruthTeamUnassignRateIsDeterministic(t *testing.T) {
	run := func() []string {
		opts := lcOptions(21)
		opts.TeamUnassignEventRate = 0.5
		s, _ := lcSetup(t, opts)
		for i := range 40 {
			u := "u" + string(rune('a'+i%26)) + string(rune('a'+i/26))
			must(t, s.AddTeamMember("octo", "backend", u, ""))
			must(t, s.RemoveTeamMember("octo", "backend", u))
		}
		return actionsOf(drain(t, s))
	}
	a, b := run(), run()
	if !slices.Equal(a, b) {
		t.Fatal("not deterministic")
	}
	n := 0
	for _, x := range a {
		if x == "copilot.cfb_seat_assignment_unassigned" {
			n++
		}
	}
	if n < 8 || n > 32 {
		t.Fatalf("%d of 40 unassignments written at rate 0.5", n)
	}
}

func TestTruthOrgRemoval(t *testing.T) {
	s, _ := lcSetup(t, lcOptions(12))
	must(t, s.Assign("octo", "boss", "bob"))
	evs := drain(t, s)
	start := evFor(t, evs, "copilot.cfb_seat_assignment_created", "bob").ts()
	s.Advance(10 * 24 * time.Hour)
	must(t, s.RemoveMember("octo", "bob", "hr-bot"))
	evs = drain(t, s)
	removed := evFor(t, evs, "org.remove_member", "bob").ts()
	b := onePeriod(t, s, "octo", "bob")
	if b.Via != ViaDirect || b.GrantedBy != "boss" || !b.Start.Equal(start) || b.EndReason != EndLeftOrg ||
		b.OrphanReason != OrphanLeftOrg || b.PendingFrom != nil {
		t.Fatalf("bob %s", fmtPeriod(b))
	}
	eqTime(t, "end", b.End, removed)
	eqTime(t, "billable until", b.BillableUntil, april1)
	eqTime(t, "orphaned since", b.OrphanedSince, removed)
	// The API lists the seat pending; access ended at the removal.
	if st, ok := s.Seat("octo", "bob"); !ok || st.PendingCancellationDate != "2026-04-01" {
		t.Fatalf("bob's seat %+v", st)
	}
	if hs := s.HoldersAt(removed); slices.ContainsFunc(hs, func(h Holder) bool { return h.Login == "bob" }) {
		t.Fatal("bob holds a seat after his removal")
	}
	if hs := s.HoldersAt(removed.Add(-time.Millisecond)); !slices.ContainsFunc(hs, func(h Holder) bool { return h.Login == "bob" && h.Via == ViaDirect }) {
		t.Fatal("bob held no seat before his removal")
	}
	if os := s.Orphans(s.Now()); len(os) != 1 || os[0].Login != "bob" {
		t.Fatalf("orphans %v", os)
	}
	// bob: billable from 10 March to 1 April, 22 seat-days in March; alice:
	// held since 10 March, now 20 March, 11.
	if n := s.SeatDays("octo", april1.AddDate(0, -1, 0)); n != 33 {
		t.Fatalf("March seat-days %d, want 33", n)
	}
	// The cycle ends: the seat is cancelled; the period keeps its end.
	s.Advance(15 * 24 * time.Hour)
	evs = drain(t, s)
	wantActions(t, evs, "copilot.cfb_seat_cancelled")
	if b2 := onePeriod(t, s, "octo", "bob"); !reflect.DeepEqual(b2, b) {
		t.Fatalf("after the cycle %s", fmtPeriod(b2))
	}
	if os := s.Orphans(s.Now()); len(os) != 0 {
		t.Fatalf("orphans after the cycle %v", os)
	}
	if n := s.SeatDays("octo", april1); n != 4 { // alice: 1..4 April (now 4 April 10:00); bob: none
		t.Fatalf("April seat-days %d", n)
	}
	verify(t, s)
}

func TestTruthDeprovision(t *testing.T) {
	s, _ := lcSetup(t, lcOptions(13))
	id := uid(t, s, "alice")
	nl, err := s.Deprovision("alice")
	must(t, err)
	evs := drain(t, s)
	susp := evFor(t, evs, "user.suspend", "alice").ts()
	p := onePeriod(t, s, "octo", nl)
	if p.Login != nl || p.UserID != id || p.End != nil || p.PendingFrom != nil || p.OrphanReason != OrphanDeprovisioned {
		t.Fatalf("alice after deprovisioning %s", fmtPeriod(p))
	}
	eqTime(t, "orphaned since", p.OrphanedSince, susp)
	st, ok := s.Seat("octo", nl)
	if !ok || st.PendingCancellationDate != "" || st.UserID != id {
		t.Fatalf("seat under the new login: %+v %v", st, ok)
	}
	if _, ok := s.Seat("octo", "alice"); ok {
		t.Fatal("seat still under the old login")
	}
	if !slices.Contains(s.Members("octo"), nl) {
		t.Fatal("membership not renamed")
	}
	// A plain suspension orphans too.
	must(t, s.AddTeamMember("octo", "backend", "bob", ""))
	must(t, s.Suspend("bob"))
	evs = drain(t, s)
	b := onePeriod(t, s, "octo", "bob")
	if b.OrphanReason != OrphanSuspended || b.End != nil {
		t.Fatalf("bob %s", fmtPeriod(b))
	}
	eqTime(t, "orphaned since", b.OrphanedSince, evFor(t, evs, "user.suspend", "bob").ts())
	verify(t, s)
}

func TestTruthOrgRevocation(t *testing.T) {
	s, _ := lcSetup(t, lcOptions(14))
	must(t, s.Assign("octo", "boss", "bob", "carol"))
	must(t, s.Unassign("octo", "boss", "carol")) // pending
	s.Advance(3 * 24 * time.Hour)
	drain(t, s)
	must(t, s.RevokeOrgAccess("octo", "subscription_ended", ""))
	evs := drain(t, s)
	at := evFor(t, evs, "copilot.access_revoked", "").ts()
	for _, u := range []string{"alice", "bob", "carol"} {
		p := onePeriod(t, s, "octo", u)
		if p.EndReason != EndScopeRevoked {
			t.Fatalf("%s %s", u, fmtPeriod(p))
		}
		eqTime(t, u+" end", p.End, at)
		eqTime(t, u+" billable until", p.BillableUntil, at)
	}
	if p := onePeriod(t, s, "octo", "carol"); p.PendingFrom == nil {
		t.Fatalf("carol was pending: %s", fmtPeriod(p))
	}
	if hs := s.HoldersAt(at); len(hs) != 0 {
		t.Fatalf("holders after the revocation %v", hs)
	}
	// Restored: new periods from the new grants' events.
	s.Advance(time.Hour)
	must(t, s.RestoreOrgAccess("octo", "boss"))
	evs = drain(t, s)
	for _, u := range []string{"alice", "bob"} {
		ps := periodsOf(t, s, "octo", u)
		if len(ps) != 2 || ps[1].End != nil || !ps[1].Start.After(at) {
			t.Fatalf("%s after the restoration: %v", u, ps)
		}
	}
	if ps := periodsOf(t, s, "octo", "alice"); ps[1].Via != ViaTeam ||
		!ps[1].Start.Equal(evFor(t, evs, "copilot.cfb_seat_assignment_created", "octo/backend").ts()) {
		t.Fatalf("alice %s", fmtPeriod(ps[1]))
	}
	if ps := periodsOf(t, s, "octo", "carol"); len(ps) != 1 {
		t.Fatalf("carol (unassigned before) came back: %v", ps)
	}
	verify(t, s)
}

func TestTruthRefreshAndNewPeriod(t *testing.T) {
	s, _ := lcSetup(t, lcOptions(15))
	must(t, s.Assign("octo", "boss", "bob"))
	s.Advance(24 * time.Hour)
	must(t, s.Unassign("octo", "boss", "bob"))
	s.Advance(24 * time.Hour)
	must(t, s.Assign("octo", "lead", "bob")) // refreshed: the same period
	evs := drain(t, s)
	wantActions(t, evs[len(evs)-1:], "copilot.cfb_seat_assignment_refreshed")
	b := onePeriod(t, s, "octo", "bob")
	if b.PendingFrom != nil || b.BillableUntil != nil || b.End != nil || b.GrantedBy != "boss" {
		t.Fatalf("bob after the refresh %s", fmtPeriod(b))
	}
	// Unassigned again; the cycle ends; assigned again: a new period.
	must(t, s.Unassign("octo", "boss", "bob"))
	s.Advance(25 * 24 * time.Hour)
	must(t, s.Assign("octo", "lead", "bob"))
	evs = drain(t, s)
	ps := periodsOf(t, s, "octo", "bob")
	if len(ps) != 2 {
		t.Fatalf("bob %v", ps)
	}
	eqTime(t, "first end", ps[0].End, april1)
	if ps[0].EndReason != EndCancelled || ps[1].Via != ViaDirect || ps[1].GrantedBy != "lead" ||
		!ps[1].Start.Equal(evFor(t, evs, "copilot.cfb_seat_assignment_created", "bob").ts()) {
		t.Fatalf("bob %s / %s", fmtPeriod(ps[0]), fmtPeriod(ps[1]))
	}

	// Removed from the org, back, assigned before the cycle ends: the seat is
	// refreshed (no assignment event): a new period, via "seat".
	must(t, s.RemoveMember("octo", "bob", ""))
	must(t, s.AddMember("octo", "bob"))
	must(t, s.Assign("octo", "lead", "bob"))
	evs = drain(t, s)
	ps = periodsOf(t, s, "octo", "bob")
	if len(ps) != 3 || ps[1].EndReason != EndLeftOrg || ps[2].Via != ViaSeat ||
		!ps[2].Start.Equal(evFor(t, evs, "copilot.cfb_seat_assignment_refreshed", "bob").ts()) {
		t.Fatalf("bob %v", ps)
	}
	// A team grant within a minute gives the "seat" period its via.
	must(t, s.AddTeamMember("octo", "backend", "bob", "lead"))
	if p := periodsOf(t, s, "octo", "bob")[2]; p.Via != ViaTeam || p.Team != "octo/backend" || p.GrantedBy != "lead" {
		t.Fatalf("bob %s", fmtPeriod(p))
	}
	verify(t, s)
}

func TestTruthEnterpriseTeamsCountOnce(t *testing.T) {
	s := New(lcOptions(16))
	a, err := s.AddEnterpriseTeam("pilots", "zoe")
	must(t, err)
	b, err := s.AddEnterpriseTeam("champions", "zoe")
	must(t, err)
	must(t, s.AssignEnterpriseTeams("boss", a))
	must(t, s.AssignEnterpriseTeams("lead", b))
	evs := drain(t, s)
	if n := len(s.AllSeats()); n != 2 {
		t.Fatalf("%d enterprise seat objects, want one per team", n)
	}
	z := onePeriod(t, s, "acme-corp", "zoe")
	if z.ScopeKind != ScopeEnterprise || z.Via != ViaEnterpriseTeam || z.Team != "ent:pilots" || z.GrantedBy != "boss" ||
		z.Plan != "" || !z.Start.Equal(evFor(t, evs, "enterprise_team.copilot_assignment", "ent:pilots").ts()) {
		t.Fatalf("zoe %s", fmtPeriod(z))
	}
	// Leaving one team: still held through the other.
	must(t, s.RemoveEnterpriseTeamMember(a, "zoe", ""))
	if z := onePeriod(t, s, "acme-corp", "zoe"); z.End != nil || z.PendingFrom != nil {
		t.Fatalf("zoe %s", fmtPeriod(z))
	}
	// The first team's seat is cancelled at the cycle's end without a
	// cfb_seat_cancelled: zoe still holds one.
	s.Advance(25 * 24 * time.Hour)
	for _, e := range drain(t, s) {
		if e.action() == "copilot.cfb_seat_cancelled" {
			t.Fatalf("cancelled while still held: %v", e)
		}
	}
	// Leaving the last: access ends at once.
	s.Advance(24 * time.Hour)
	must(t, s.RemoveEnterpriseTeamMember(b, "zoe", ""))
	evs = drain(t, s)
	at := evFor(t, evs, "enterprise_team.remove_member", "zoe").ts()
	z = onePeriod(t, s, "acme-corp", "zoe")
	if z.EndReason != EndLeftEnterpriseTeam || z.OrphanReason != OrphanLeftEnterpriseTeam {
		t.Fatalf("zoe %s", fmtPeriod(z))
	}
	eqTime(t, "end", z.End, at)
	eqTime(t, "billable until", z.BillableUntil, nextMonth(at))
	verify(t, s)
}

func TestTruthUserAccessAndEnterpriseRemoval(t *testing.T) {
	s, _ := lcSetup(t, lcOptions(17))
	must(t, s.Assign("octo", "boss", "alice")) // reused: direct besides the team
	must(t, s.RevokeUserAccess("octo", "alice", "sec"))
	evs := drain(t, s)
	rev := evFor(t, evs, "copilot.user_access_revoked", "alice").ts()
	p := onePeriod(t, s, "octo", "alice")
	if p.EndReason != EndAccessRevoked {
		t.Fatalf("alice %s", fmtPeriod(p))
	}
	eqTime(t, "end", p.End, rev)
	eqTime(t, "billable until", p.BillableUntil, april1)
	// No grant gives access while revoked; reinstatement starts a new
	// period with the oldest grant still active (the team's).
	s.Advance(time.Hour)
	must(t, s.Unassign("octo", "boss", "alice"))
	must(t, s.Assign("octo", "boss", "alice"))
	if ps := periodsOf(t, s, "octo", "alice"); len(ps) != 1 {
		t.Fatalf("alice while revoked %v", ps)
	}
	must(t, s.ReinstateUserAccess("octo", "alice", "sec"))
	evs = drain(t, s)
	ps := periodsOf(t, s, "octo", "alice")
	if len(ps) != 2 || ps[1].Via != ViaTeam || ps[1].GrantedBy != "boss" ||
		!ps[1].Start.Equal(evFor(t, evs, "copilot.user_access_reinstated", "alice").ts()) {
		t.Fatalf("alice after reinstatement %v", ps)
	}

	// Removed from the enterprise: every seat ends, left_enterprise.
	slug, err := s.AddEnterpriseTeam("pilots", "alice")
	must(t, err)
	must(t, s.AssignEnterpriseTeams("", slug))
	s.Advance(time.Hour)
	must(t, s.RemoveFromEnterprise("alice", ""))
	evs = drain(t, s)
	at := evFor(t, evs, "business.remove_member", "alice").ts()
	for _, sc := range []string{"octo", "acme-corp"} {
		ps := periodsOf(t, s, sc, "alice")
		q := ps[len(ps)-1]
		if q.EndReason != EndLeftEnterprise || q.OrphanReason != OrphanLeftEnterprise {
			t.Fatalf("alice in %s: %s", sc, fmtPeriod(q))
		}
		eqTime(t, "end", q.End, at)
	}
	verify(t, s)
}

func TestTruthPlanAndAllMembers(t *testing.T) {
	s := New(lcOptions(18))
	must(t, s.AddOrg("everyone", AssignAll, PlanBusiness))
	must(t, s.AddMember("everyone", "mona"))
	evs := drain(t, s)
	m := onePeriod(t, s, "everyone", "mona")
	if m.Via != ViaAllMembers || m.Plan != PlanBusiness || !m.Start.Equal(evFor(t, evs, "org.add_member", "mona").ts()) {
		t.Fatalf("mona %s", fmtPeriod(m))
	}
	must(t, s.SetPlan("everyone", PlanEnterprise))
	must(t, s.AddMember("everyone", "nico"))
	if n := onePeriod(t, s, "everyone", "nico"); n.Plan != PlanEnterprise {
		t.Fatalf("nico %s", fmtPeriod(n))
	}
	if st, _ := s.Seat("everyone", "mona"); st.PlanType != PlanEnterprise {
		t.Fatalf("mona's seat plan %s", st.PlanType)
	}
	// Switching to assign_selected keeps the seats (as direct); unassigning ends them.
	must(t, s.SetSeatManagement("everyone", "", AssignSelected))
	must(t, s.Unassign("everyone", "", "mona"))
	if p := onePeriod(t, s, "everyone", "mona"); p.PendingFrom == nil || p.Via != ViaAllMembers {
		t.Fatalf("mona %s", fmtPeriod(p))
	}
	verify(t, s)
}

// Populate without Emit: the truth leaves the populated seats out.
func TestTruthPopulateWithoutEmit(t *testing.T) {
	s := New(lcOptions(19))
	_, err := s.Populate(rand.New(rand.NewPCG(1, 1)), Population{Users: 40})
	must(t, err)
	if ps := s.Periods(); len(ps) != 0 || s.PendingEvents() != 0 {
		t.Fatalf("%d periods, %d events", len(ps), s.PendingEvents())
	}
	s2 := New(lcOptions(19))
	_, err = s2.Populate(rand.New(rand.NewPCG(1, 1)), Population{Users: 40, Emit: true})
	must(t, err)
	verify(t, s2)
	if ps := s2.Periods(); len(ps) < 20 {
		t.Fatalf("%d periods", len(ps))
	}
}
