package lifecycle_test

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/seatline/seatline/internal/ghsim"
	"github.com/seatline/seatline/internal/lifecycle"
	"github.com/seatline/seatline/pkg/events"
)

// lifecycleEvents parses audit events as ingestion does and keeps what the
// derivation reads (the columns timeline.LifecycleEvents selects).
func lifecycleEvents(t *testing.T, raw [][]byte) []lifecycle.Event {
	t.Helper()
	out := make([]lifecycle.Event, 0, len(raw))
	for _, b := range raw {
		e, err := events.Parse(b)
		if err != nil {
			t.Fatalf("parsing %s: %v", b, err)
		}
		out = append(out, lifecycle.Event{Ms: e.Timestamp.UnixMilli(), DocID: e.DocumentID, Action: e.Action,
			Transition: e.Transition, Membership: e.Membership, Business: e.Business, Org: e.Org, Team: e.Team,
			EnterpriseTeam: e.EnterpriseTeam, User: e.User, UserID: e.UserID, OldLogin: e.OldLogin, Actor: e.Actor,
			OldValue: e.OldValue, NewValue: e.NewValue, NewPlan: e.NewPlan})
	}
	return out
}

// asTruth is p as the simulator's ground truth states it.
func asTruth(p lifecycle.Period) ghsim.Period {
	return ghsim.Period{Scope: p.Scope, ScopeKind: p.ScopeKind, UserID: p.UserID, Login: p.User, Via: p.Via,
		Team: p.Team, GrantedBy: p.GrantedBy, Start: p.Start, PendingFrom: p.PendingFrom,
		BillableUntil: p.BillableUntil, End: p.End, EndReason: p.EndReason, OrphanedSince: p.OrphanedSince,
		OrphanReason: p.OrphanReason, Plan: p.Plan}
}

func fmtTruth(p ghsim.Period) string {
	f := func(t *time.Time) string {
		if t == nil {
			return "-"
		}
		return t.UTC().Format("2006-01-02T15:04:05.000")
	}
	return fmt.Sprintf("%s:%s/%d(%s) via=%s team=%q by=%s start=%s pend=%s bill=%s end=%s(%s) orph=%s(%s) plan=%q",
		p.ScopeKind, p.Scope, p.UserID, p.Login, p.Via, p.Team, p.GrantedBy, f(&p.Start), f(p.PendingFrom),
		f(p.BillableUntil), f(p.End), p.EndReason, f(p.OrphanedSince), p.OrphanReason, p.Plan)
}

func sortTruth(ps []ghsim.Period) {
	sort.SliceStable(ps, func(i, j int) bool {
		a, b := ps[i], ps[j]
		if a.Scope != b.Scope {
			return a.Scope < b.Scope
		}
		if a.UserID != b.UserID {
			return a.UserID < b.UserID
		}
		return a.Start.Before(b.Start)
	})
}

// compareWithTruth derives periods from evs (shuffled: the derivation must
// not depend on arrival order) and compares them with the simulator's
// ground truth, line by line.
func compareWithTruth(t *testing.T, s *ghsim.Server, evs []lifecycle.Event, rng *rand.Rand) []lifecycle.Period {
	t.Helper()
	shuffled := append([]lifecycle.Event(nil), evs...)
	rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	derived := lifecycle.Derive(shuffled, s.Now())
	var got []ghsim.Period
	for _, p := range derived {
		got = append(got, asTruth(p))
	}
	sortTruth(got)
	want := s.Periods()
	bad := 0
	for i := 0; i < max(len(got), len(want)) && bad < 8; i++ {
		var a, b string
		if i < len(got) {
			a = fmtTruth(got[i])
		}
		if i < len(want) {
			b = fmtTruth(want[i])
		}
		if a != b {
			t.Errorf("period %d:\nderived %s\ntruth   %s", i, a, b)
			bad++
		}
	}
	if bad > 0 {
		t.Fatalf("derived %d periods, the truth has %d", len(got), len(want))
	}
	return derived
}

// TestDeriveEqualsSimulatorTruth: months of random seat-lifecycle changes
// (assignments, teams, memberships, enterprise teams, revocations,
// deprovisioning, plans, time passing), derived from the audit stream the
// simulator wrote, equal the simulator's own ground truth, period for
// period, at several points of the run.
func TestDeriveEqualsSimulatorTruth(t *testing.T) {
	for _, seed := range []int64{1, 2, 7, 42, 2026, 31337} {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			s := ghsim.New(ghsim.Options{Seed: seed, Start: time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC),
				MembershipEvents: true, TeamUnassignEventRate: float64(seed%3) / 2})
			if _, err := s.Populate(rand.New(rand.NewPCG(uint64(seed), 9)), ghsim.Population{Users: 120, Emit: true}); err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(uint64(seed), 10))
			shuffle := rand.New(rand.NewPCG(uint64(seed), 11))
			var all []lifecycle.Event
			var derived []lifecycle.Period
			for i := range 1000 {
				s.RandomLifecycleChange(rng)
				if i%250 == 249 {
					all = append(all, lifecycleEvents(t, s.Events())...)
					derived = compareWithTruth(t, s, all, shuffle)
				}
			}
			ends, orphans := map[string]int{}, map[string]int{}
			for _, p := range derived {
				ends[p.EndReason]++
				orphans[p.OrphanReason]++
			}
			t.Logf("%d events, %d periods; ends %v; orphans %v", len(all), len(derived), ends, orphans)
		})
	}
}
