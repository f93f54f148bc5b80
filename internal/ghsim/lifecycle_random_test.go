package ghsim

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"
)

// lcOptions: a stream complete for the lifecycle.
func lcOptions(seed int64) Options {
	return Options{Seed: seed, Start: time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC), MembershipEvents: true}
}

func isCycleStart(t time.Time) bool {
	t = t.UTC()
	return t.Day() == 1 && t.Hour() == 0 && t.Minute() == 0 && t.Second() == 0 && t.Nanosecond() == 0
}

func fmtPeriod(p Period) string {
	f := func(t *time.Time) string {
		if t == nil {
			return "-"
		}
		return t.Format("01-02T15:04:05.000")
	}
	return fmt.Sprintf("%s/%d(%s) via=%s team=%q by=%s start=%s pend=%s bill=%s end=%s(%s) orph=%s(%s) plan=%s",
		p.Scope, p.UserID, p.Login, p.Via, p.Team, p.GrantedBy, f(&p.Start), f(p.PendingFrom), f(p.BillableUntil),
		f(p.End), p.EndReason, f(p.OrphanedSince), p.OrphanReason, p.Plan)
}

// checkTruth checks the truth's internal consistency against the emitted
// events evs (the whole stream), and that a derivation from the events
// alone (refDerive) gives the same periods.
func checkTruth(t *testing.T, s *Server, evs []ev) []Period {
	t.Helper()
	ps := s.Periods()
	evAt := map[time.Time][]ev{}
	var last time.Time
	for i, e := range evs {
		if !e.ts().After(last) {
			t.Fatalf("event %d: @timestamp %v not after %v", i, e.ts(), last)
		}
		last = e.ts()
		evAt[e.ts()] = append(evAt[e.ts()], e)
	}
	isEventTime := func(at time.Time) bool { return len(evAt[at]) > 0 }
	type hk struct {
		scope string
		uid   int64
	}
	var prev *Period
	for i := range ps {
		p := ps[i]
		desc := fmtPeriod(p)
		if p.Via == "" || p.ScopeKind == "" || p.Scope == "" || p.UserID == 0 || p.Login == "" || p.GrantedBy == "" {
			t.Fatalf("incomplete period %s", desc)
		}
		if (p.Via == ViaTeam || p.Via == ViaEnterpriseTeam) != (p.Team != "") {
			t.Fatalf("via and team disagree: %s", desc)
		}
		if p.ScopeKind == ScopeEnterprise && (p.Scope != s.opts.Enterprise || p.Via != ViaEnterpriseTeam) {
			t.Fatalf("enterprise period %s", desc)
		}
		// Times: ordered, each an event's timestamp or a cycle start.
		for _, tm := range []*time.Time{&p.Start, p.PendingFrom, p.End, p.OrphanedSince} {
			if tm != nil && !isEventTime(*tm) && !isCycleStart(*tm) {
				t.Fatalf("time %v is no event's: %s", *tm, desc)
			}
		}
		if p.PendingFrom != nil && (p.PendingFrom.Before(p.Start) || p.BillableUntil == nil ||
			!p.BillableUntil.Equal(nextMonth(*p.PendingFrom)) && p.EndReason != EndScopeRevoked) {
			t.Fatalf("pending: %s", desc)
		}
		if (p.End == nil) != (p.EndReason == "") {
			t.Fatalf("end and reason: %s", desc)
		}
		if p.End != nil {
			if p.End.Before(p.Start) || (p.PendingFrom != nil && p.End.Before(*p.PendingFrom)) {
				t.Fatalf("end before start or pending: %s", desc)
			}
			switch p.EndReason {
			case EndCancelled:
				if p.PendingFrom == nil || !p.End.Equal(*p.BillableUntil) {
					t.Fatalf("cancelled: %s", desc)
				}
			case EndScopeRevoked:
				if !p.BillableUntil.Equal(*p.End) {
					t.Fatalf("scope revoked: %s", desc)
				}
			default:
				if p.BillableUntil == nil || !p.BillableUntil.Equal(nextMonth(*p.End)) && p.PendingFrom == nil {
					t.Fatalf("ended, billable: %s", desc)
				}
			}
		} else if p.BillableUntil != nil && p.PendingFrom == nil {
			t.Fatalf("billable date without pending or end: %s", desc)
		}
		if (p.OrphanedSince == nil) != (p.OrphanReason == "") {
			t.Fatalf("orphan and reason: %s", desc)
		}
		if p.OrphanedSince != nil && (p.OrphanedSince.Before(p.Start) || !p.BillableAt(*p.OrphanedSince)) {
			t.Fatalf("orphaned outside the period: %s", desc)
		}
		// Start: an event for that user, team or org.
		ok := false
		for _, e := range evAt[p.Start] {
			switch {
			case e.num("user_id") == p.UserID:
				ok = true
			case p.Team != "" && (e.str("team") == p.Team || e.str("enterprise_team") == p.Team):
				ok = true
			case p.Via == ViaAllMembers && e.action() == "copilot.cfb_seat_management_changed" && e.str("org") == p.Scope:
				ok = true
			}
		}
		if !ok {
			t.Fatalf("no event for the user or team at the start: %s (%v)", desc, evAt[p.Start])
		}
		// No overlap per holder and scope.
		if prev != nil && prev.Scope == p.Scope && prev.UserID == p.UserID {
			end := prev.End
			if end == nil {
				end = prev.BillableUntil
			}
			if end == nil || end.After(p.Start) {
				t.Fatalf("overlap:\n%s\n%s", fmtPeriod(*prev), desc)
			}
		}
		prev = &ps[i]
	}

	// The simulator's seats agree with the truth.
	s.mu.Lock()
	defer s.mu.Unlock()
	open := map[hk]*Period{}
	for i := range ps {
		if ps[i].End == nil {
			open[hk{ps[i].Scope, ps[i].UserID}] = &ps[i]
		}
	}
	for _, n := range s.orgOrder {
		o := s.orgs[n]
		for _, st := range o.seats {
			u := s.users[st.login]
			p := open[hk{n, u.id}]
			switch {
			case st.pending.IsZero() && !o.revokedUsers[u.id]:
				if p == nil || p.PendingFrom != nil {
					t.Fatalf("seat %s/%s active, truth %v", n, st.login, p)
				}
			case !st.pending.IsZero() && p != nil:
				if p.PendingFrom == nil || !p.BillableUntil.Equal(st.pending) {
					t.Fatalf("seat %s/%s pending to %v, truth %s", n, st.login, st.pending, fmtPeriod(*p))
				}
			}
		}
	}
	entHeld := map[int64]bool{}
	entListed := map[int64]bool{}
	for _, sl := range s.entOrder {
		for _, st := range s.entTeams[sl].seats {
			id := s.users[st.login].id
			entListed[id] = true
			if st.pending.IsZero() {
				entHeld[id] = true
			}
		}
	}
	for k, p := range open {
		if p.ScopeKind == ScopeEnterprise {
			if entHeld[k.uid] != (p.PendingFrom == nil) || !entListed[k.uid] {
				t.Fatalf("enterprise seats of %d (held %v) vs truth %s", k.uid, entHeld[k.uid], fmtPeriod(*p))
			}
			continue
		}
		st := s.orgs[k.scope].seats[s.usersByID[k.uid].login]
		if st == nil || st.pending.IsZero() != (p.PendingFrom == nil) {
			t.Fatalf("truth %s, seat %+v", fmtPeriod(*p), st)
		}
	}
	for id := range entHeld {
		if p := open[hk{s.opts.Enterprise, id}]; p == nil || p.PendingFrom != nil {
			t.Fatalf("enterprise seat of %d held, truth %v", id, p)
		}
	}
	return ps
}

// compareRef checks the truth against a derivation from the events alone.
func compareRef(t *testing.T, s *Server, evs []ev, ps []Period) {
	t.Helper()
	ref := refDerive(evs, s.opts.Enterprise, s.Now())
	if reflect.DeepEqual(ref, ps) {
		return
	}
	n := max(len(ref), len(ps))
	shown := 0
	for i := 0; i < n && shown < 8; i++ {
		var a, b string
		if i < len(ps) {
			a = fmtPeriod(ps[i])
		}
		if i < len(ref) {
			b = fmtPeriod(ref[i])
		}
		if a != b {
			t.Errorf("period %d:\ntruth %s\nref   %s", i, a, b)
			shown++
		}
	}
	t.Fatalf("truth (%d periods) and the derivation from the events (%d) differ", len(ps), len(ref))
}

func TestRandomLifecycleTruth(t *testing.T) {
	for _, seed := range []int64{1, 7, 42} {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			opts := lcOptions(seed)
			opts.TeamUnassignEventRate = 0.6
			s := New(opts)
			if _, err := s.Populate(rand.New(rand.NewPCG(uint64(seed), 9)), Population{Users: 120, Emit: true}); err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(uint64(seed), 10))
			var all []ev
			kinds := map[string]int{}
			for i := range 600 {
				d := s.RandomLifecycleChange(rng)
				if d == "" {
					t.Fatal("empty description")
				}
				kinds[strings.Fields(d)[0]]++
				if i%100 == 99 {
					all = append(all, decodeEvs(t, s.Events())...)
					ps := checkTruth(t, s, all)
					compareRef(t, s, all, ps)
				}
			}
			all = append(all, decodeEvs(t, s.Events())...)
			ps := checkTruth(t, s, all)
			compareRef(t, s, all, ps)

			// The run covers the lifecycle.
			months := s.Now().Sub(opts.Start).Hours() / 24 / 30
			vias, ends, orphans := map[string]int{}, map[string]int{}, map[string]int{}
			for _, p := range ps {
				vias[p.Via]++
				ends[p.EndReason]++
				orphans[p.OrphanReason]++
			}
			actions := map[string]int{}
			for _, e := range all {
				actions[e.action()]++
			}
			t.Logf("%.1f months, %d events, %d periods; via %v; ends %v; orphans %v", months, len(all), len(ps), vias, ends, orphans)
			if months < 2 {
				t.Fatalf("only %.1f months passed", months)
			}
			for _, v := range []string{ViaDirect, ViaTeam, ViaEnterpriseTeam, ViaAllMembers} {
				if vias[v] == 0 {
					t.Errorf("no period via %s", v)
				}
			}
			for _, r := range []string{EndCancelled, EndLeftOrg, EndLeftEnterpriseTeam, EndAccessRevoked} {
				if ends[r] == 0 {
					t.Errorf("no period ended %s", r)
				}
			}
			for _, r := range []string{OrphanLeftOrg, OrphanLeftTeam, OrphanDeprovisioned} {
				if orphans[r] == 0 {
					t.Errorf("no period orphaned %s", r)
				}
			}
			for _, a := range []string{"team.add_member", "team.remove_member", "org.add_member", "org.remove_member",
				"enterprise_team.add_member", "enterprise_team.remove_member", "user.suspend", "user.rename",
				"external_identity.deprovision", "copilot.user_access_revoked", "copilot.user_access_reinstated",
				"copilot.cfb_seat_cancelled", "copilot.cfb_seat_assignment_refreshed", "copilot.plan_changed"} {
				if actions[a] == 0 {
					t.Errorf("no %s in %v", a, actions)
				}
			}
		})
	}
}

func TestRandomLifecycleDeterministic(t *testing.T) {
	run := func() ([][]byte, []Period) {
		s := New(lcOptions(5))
		if _, err := s.Populate(rand.New(rand.NewPCG(5, 5)), Population{Users: 60, Emit: true}); err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(5, 6))
		for range 200 {
			s.RandomLifecycleChange(rng)
		}
		return s.Events(), s.Periods()
	}
	e1, p1 := run()
	e2, p2 := run()
	if !reflect.DeepEqual(e1, e2) || !reflect.DeepEqual(p1, p2) {
		t.Fatal("RandomLifecycleChange is not deterministic")
	}
}
