package lifecycle

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/seatline/seatline/pkg/events"
)

// at is a time of the scenarios: 2026-03-<day> <hh>:00 UTC.
func at(day, hour int) time.Time { return time.Date(2026, 3, day, hour, 0, 0, 0, time.UTC) }

var seq int

// ev makes an event at t; kv sets fields by name (org, user, team, …).
func ev(t time.Time, action string, kv ...string) Event {
	seq++
	e := Event{Ms: t.UnixMilli(), DocID: fmt.Sprintf("d%04d", seq), Action: action, Business: "acme-corp", Actor: "admin"}
	e.Transition, _ = events.Classify(action)
	e.Membership, _ = events.ClassifyMembership(action)
	for i := 0; i+1 < len(kv); i += 2 {
		v := kv[i+1]
		switch kv[i] {
		case "org":
			e.Org = v
		case "user":
			e.User = v
		case "id":
			fmt.Sscan(v, &e.UserID)
		case "team":
			e.Team = v
		case "ent":
			e.EnterpriseTeam = v
		case "actor":
			e.Actor = v
		case "new":
			e.NewValue = v
		case "plan":
			e.NewPlan = v
		case "old_login":
			e.OldLogin = v
		default:
			panic("ev: " + kv[i])
		}
	}
	return e
}

// summary renders periods for comparison.
func summary(ps []Period) []string {
	var out []string
	f := func(t *time.Time) string {
		if t == nil {
			return "-"
		}
		return t.Format("01-02T15")
	}
	for _, p := range ps {
		s := fmt.Sprintf("%s:%s %s#%d %s via=%s", p.ScopeKind, p.Scope, p.User, p.No, p.Start.Format("01-02T15"), p.Via)
		if p.Team != "" {
			s += " team=" + p.Team
		}
		s += " by=" + p.GrantedBy
		s += fmt.Sprintf(" pending=%s billable=%s end=%s", f(p.PendingFrom), f(p.BillableUntil), f(p.End))
		if p.EndReason != "" {
			s += " " + p.EndReason
		}
		if p.OrphanedSince != nil {
			s += " orphan=" + f(p.OrphanedSince) + ":" + p.OrphanReason
		}
		s += " plan=" + p.Plan
		out = append(out, s)
	}
	return out
}

func check(t *testing.T, evs []Event, want ...string) []Period {
	t.Helper()
	now := lastAt(evs)
	got := Derive(evs, now)
	if s := summary(got); strings.Join(s, "\n") != strings.Join(want, "\n") {
		t.Errorf("periods:\n%s\nwant:\n%s", strings.Join(s, "\n"), strings.Join(want, "\n"))
	}
	// Any order, any redelivery: the same periods.
	r := rand.New(rand.NewPCG(1, 2))
	shuffled := append(append([]Event(nil), evs...), evs...)
	r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	if again := Derive(dedupe(shuffled), now); !reflect.DeepEqual(again, got) {
		t.Errorf("shuffled and redelivered input gives other periods:\n%s", strings.Join(summary(again), "\n"))
	}
	return got
}

// lastAt is the time of the latest event: the scenarios' now.
func lastAt(evs []Event) time.Time {
	var t int64
	for _, e := range evs {
		t = max(t, e.Ms)
	}
	return ms(t)
}

// dedupe keeps one event per document id, as the timeline's FINAL does.
func dedupe(evs []Event) []Event {
	seen := map[string]bool{}
	var out []Event
	for _, e := range evs {
		if !seen[e.DocID] {
			seen[e.DocID] = true
			out = append(out, e)
		}
	}
	return out
}

func TestDirectAssignmentUnassignedThenCancelled(t *testing.T) {
	check(t, []Event{
		ev(at(1, 9), "copilot.plan_changed", "org", "acme", "plan", "business"),
		ev(at(2, 9), "copilot.cfb_seat_assignment_created", "org", "acme", "user", "mona", "id", "7", "actor", "it-ops"),
		ev(at(2, 9).Add(time.Millisecond), "copilot.cfb_seat_added", "org", "acme", "user", "mona", "id", "7", "actor", "it-ops"),
		ev(at(10, 12), "copilot.cfb_seat_assignment_unassigned", "org", "acme", "user", "mona", "id", "7"),
		ev(time.Date(2026, 4, 1, 0, 0, 0, 5_000_000, time.UTC), "copilot.cfb_seat_cancelled", "org", "acme", "user", "mona", "id", "7"),
	}, "org:acme mona#0 03-02T09 via=direct by=it-ops pending=03-10T12 billable=04-01T00 end=04-01T00 cancelled plan=business")
}

func TestTeamGrantsTakeTheRealActor(t *testing.T) {
	check(t, []Event{
		ev(at(1, 9), "team.add_member", "org", "acme", "team", "acme/devs", "user", "ann", "actor", "lead-1"),
		ev(at(2, 9), "copilot.cfb_seat_assignment_created", "org", "acme", "team", "acme/devs", "actor", "it-ops"),
		ev(at(2, 9).Add(time.Millisecond), "copilot.cfb_seat_added", "org", "acme", "user", "ann", "actor", "it-ops"),
		ev(at(3, 9), "team.add_member", "org", "acme", "team", "acme/devs", "user", "bob", "actor", "lead-2"),
		ev(at(3, 9).Add(time.Millisecond), "copilot.cfb_seat_added", "org", "acme", "user", "bob", "actor", "it-ops"),
	},
		"org:acme ann#0 03-02T09 via=team team=acme/devs by=it-ops pending=- billable=- end=- plan=",
		"org:acme bob#0 03-03T09 via=team team=acme/devs by=lead-2 pending=- billable=- end=- plan=")
}

func TestLeavingTheTeamWithAndWithoutUnassignment(t *testing.T) {
	base := []Event{
		ev(at(1, 9), "copilot.cfb_seat_assignment_created", "org", "acme", "team", "acme/devs"),
		ev(at(1, 10), "team.add_member", "org", "acme", "team", "acme/devs", "user", "ann"),
		ev(at(1, 11), "team.add_member", "org", "acme", "team", "acme/devs", "user", "bob"),
		ev(at(5, 9), "team.remove_member", "org", "acme", "team", "acme/devs", "user", "ann"),
		ev(at(5, 10), "team.remove_member", "org", "acme", "team", "acme/devs", "user", "bob"),
		// GitHub may say so for bob; it does not for ann.
		ev(at(5, 10).Add(time.Millisecond), "copilot.cfb_seat_assignment_unassigned", "org", "acme", "user", "bob"),
	}
	check(t, base,
		"org:acme ann#0 03-01T10 via=team team=acme/devs by=admin pending=03-05T09 billable=04-01T00 end=- orphan=03-05T09:left_team plan=",
		"org:acme bob#0 03-01T11 via=team team=acme/devs by=admin pending=03-05T10 billable=04-01T00 end=- plan=")
}

func TestAnotherGrantKeepsTheSeat(t *testing.T) {
	check(t, []Event{
		ev(at(1, 9), "copilot.cfb_seat_assignment_created", "org", "acme", "team", "acme/devs"),
		ev(at(1, 10), "team.add_member", "org", "acme", "team", "acme/devs", "user", "ann"),
		ev(at(2, 9), "copilot.cfb_seat_assignment_created", "org", "acme", "user", "ann"),
		ev(at(5, 9), "team.remove_member", "org", "acme", "team", "acme/devs", "user", "ann"),
	}, "org:acme ann#0 03-01T10 via=team team=acme/devs by=admin pending=- billable=- end=- plan=")
}

func TestRemovedFromTheOrg(t *testing.T) {
	check(t, []Event{
		ev(at(1, 9), "org.add_member", "org", "acme", "user", "cy", "id", "9"),
		ev(at(1, 10), "copilot.cfb_seat_assignment_created", "org", "acme", "user", "cy"),
		ev(at(20, 9), "org.remove_member", "org", "acme", "user", "cy", "id", "9", "actor", "hr-bot"),
		ev(time.Date(2026, 4, 1, 0, 0, 1, 0, time.UTC), "copilot.cfb_seat_cancelled", "org", "acme", "user", "cy"),
	}, "org:acme cy#0 03-01T10 via=direct by=admin pending=- billable=04-01T00 end=03-20T09 left_org orphan=03-20T09:left_org plan=")
}

func TestRefreshContinuesANewGrantLaterStartsAnew(t *testing.T) {
	check(t, []Event{
		ev(at(1, 9), "copilot.cfb_seat_assignment_created", "org", "acme", "user", "dee"),
		ev(at(5, 9), "copilot.cfb_seat_assignment_unassigned", "org", "acme", "user", "dee"),
		ev(at(6, 9), "copilot.cfb_seat_assignment_created", "org", "acme", "user", "dee"),
		ev(at(6, 9).Add(time.Millisecond), "copilot.cfb_seat_assignment_refreshed", "org", "acme", "user", "dee"),
		ev(at(7, 9), "copilot.cfb_seat_assignment_unassigned", "org", "acme", "user", "dee"),
		// No cancellation event: the pending date passes all the same.
		ev(time.Date(2026, 4, 3, 9, 0, 0, 0, time.UTC), "copilot.cfb_seat_assignment_created", "org", "acme", "user", "dee"),
	},
		"org:acme dee#0 03-01T09 via=direct by=admin pending=03-07T09 billable=04-01T00 end=04-01T00 cancelled plan=",
		"org:acme dee#1 04-03T09 via=direct by=admin pending=- billable=- end=- plan=")
}

func TestRevocations(t *testing.T) {
	check(t, []Event{
		ev(at(1, 9), "copilot.plan_changed", "org", "acme", "plan", "enterprise"),
		ev(at(1, 10), "copilot.cfb_seat_assignment_created", "org", "acme", "user", "eve"),
		ev(at(1, 11), "copilot.cfb_seat_assignment_created", "org", "acme", "user", "fay"),
		ev(at(2, 9), "copilot.user_access_revoked", "org", "acme", "user", "eve"),
		ev(at(3, 9), "copilot.user_access_reinstated", "org", "acme", "user", "eve"),
		ev(at(9, 9), "copilot.access_revoked", "org", "acme"),
		ev(at(9, 10), "copilot.cfb_seat_added", "org", "other", "user", "gus"),
		ev(at(12, 9), "copilot.cfb_seat_assignment_created", "org", "acme", "user", "fay"),
	},
		"org:acme eve#0 03-01T10 via=direct by=admin pending=- billable=04-01T00 end=03-02T09 access_revoked plan=enterprise",
		"org:acme eve#1 03-03T09 via=direct by=admin pending=- billable=03-09T09 end=03-09T09 scope_revoked plan=enterprise",
		"org:acme fay#0 03-01T11 via=direct by=admin pending=- billable=03-09T09 end=03-09T09 scope_revoked plan=enterprise",
		"org:acme fay#1 03-12T09 via=direct by=admin pending=- billable=- end=- plan=enterprise",
		"org:other gus#0 03-09T10 via=seat by=admin pending=- billable=- end=- plan=")
}

func TestEnterpriseTeamLicences(t *testing.T) {
	check(t, []Event{
		ev(at(1, 9), "enterprise_team.add_member", "ent", "ent:ai", "user", "hal", "id", "11"),
		ev(at(1, 10), "enterprise_team.copilot_assignment", "ent", "ent:ai", "actor", "ent-admin"),
		ev(at(1, 11), "enterprise_team.copilot_assignment", "ent", "ent:ml"),
		ev(at(2, 9), "enterprise_team.add_member", "ent", "ent:ml", "user", "hal", "id", "11"),
		ev(at(3, 9), "enterprise_team.remove_member", "ent", "ent:ai", "user", "hal", "id", "11"),
		ev(at(4, 9), "enterprise_team.remove_member", "ent", "ent:ml", "user", "hal", "id", "11"),
	}, "enterprise:acme-corp hal#0 03-01T10 via=enterprise_team team=ent:ai by=ent-admin pending=- billable=04-01T00 end=03-04T09 left_enterprise_team orphan=03-04T09:left_enterprise_team plan=")
}

func TestDeprovisionedKeepsTheSeatRenamed(t *testing.T) {
	check(t, []Event{
		ev(at(1, 9), "copilot.cfb_seat_assignment_created", "org", "acme", "user", "ivy", "id", "12"),
		ev(at(4, 9), "user.suspend", "user", "ivy", "id", "12"),
		ev(at(4, 9).Add(time.Millisecond), "user.rename", "user", "ivy_0f3a", "old_login", "ivy", "id", "12"),
		ev(at(4, 9).Add(2*time.Millisecond), "external_identity.deprovision", "user", "ivy_0f3a", "id", "12"),
	}, "org:acme ivy_0f3a#0 03-01T09 via=direct by=admin pending=- billable=- end=- orphan=03-04T09:deprovisioned plan=")
}

func TestAllMembers(t *testing.T) {
	check(t, []Event{
		ev(at(1, 9), "org.add_member", "org", "acme", "user", "jo"),
		ev(at(2, 9), "copilot.cfb_seat_management_changed", "org", "acme", "new", "assign_all", "actor", "owner"),
		ev(at(3, 9), "org.add_member", "org", "acme", "user", "kit", "actor", "hr"),
		ev(at(4, 9), "copilot.cfb_seat_management_changed", "org", "acme", "new", "assign_selected"),
		ev(at(5, 9), "copilot.cfb_seat_assignment_unassigned", "org", "acme", "user", "jo"),
		ev(at(6, 9), "copilot.cfb_seat_management_changed", "org", "acme", "new", "disabled"),
	},
		"org:acme jo#0 03-02T09 via=all_members by=owner pending=03-05T09 billable=04-01T00 end=- plan=",
		"org:acme kit#0 03-03T09 via=all_members by=hr pending=03-06T09 billable=04-01T00 end=- plan=")
}

func TestSeatWithoutKnownGrantTakesTheTeamArrivingLate(t *testing.T) {
	check(t, []Event{
		ev(at(1, 9), "copilot.cfb_seat_assignment_created", "org", "acme", "team", "acme/devs"),
		ev(at(2, 9), "copilot.cfb_seat_added", "org", "acme", "user", "lu"),
		ev(at(2, 9).Add(30*time.Second), "team.add_member", "org", "acme", "team", "acme/devs", "user", "lu", "actor", "lead"),
	}, "org:acme lu#0 03-02T09 via=team team=acme/devs by=lead pending=- billable=- end=- plan=")
}

func TestOldRowsAccessRevokedWithoutUserIsScopeWide(t *testing.T) {
	e := ev(at(3, 9), "copilot.access_revoked", "org", "acme")
	e.Transition = events.TransitionAccessRevoked // as stored before scope_revoked existed
	check(t, []Event{ev(at(1, 9), "copilot.cfb_seat_assignment_created", "org", "acme", "user", "mo"), e},
		"org:acme mo#0 03-01T09 via=direct by=admin pending=- billable=03-03T09 end=03-03T09 scope_revoked plan=")
}

func TestEnterpriseWideRevocationAndRemoval(t *testing.T) {
	check(t, []Event{
		ev(at(1, 9), "copilot.cfb_seat_assignment_created", "org", "a", "user", "nan", "id", "20"),
		ev(at(1, 9), "copilot.cfb_seat_assignment_created", "org", "b", "user", "nan", "id", "20"),
		ev(at(1, 10), "copilot.cfb_seat_assignment_created", "org", "b", "user", "ola", "id", "21"),
		ev(at(2, 9), "business.remove_member", "user", "nan", "id", "20"),
		ev(at(3, 9), "copilot.access_revoked"),
	},
		"org:a nan#0 03-01T09 via=direct by=admin pending=- billable=04-01T00 end=03-02T09 left_enterprise orphan=03-02T09:left_enterprise plan=",
		"org:b nan#0 03-01T09 via=direct by=admin pending=- billable=04-01T00 end=03-02T09 left_enterprise orphan=03-02T09:left_enterprise plan=",
		"org:b ola#0 03-01T10 via=direct by=admin pending=- billable=03-03T09 end=03-03T09 scope_revoked plan=")
}

func TestHeldOrphanedSeatDays(t *testing.T) {
	until, end := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC), at(20, 9)
	since := end
	p := Period{Start: at(10, 15), End: &end, BillableUntil: &until, OrphanedSince: &since}
	switch {
	case !p.HeldAt(at(20, 8)), p.HeldAt(at(20, 9)), p.HeldAt(at(10, 14)):
		t.Error("held: start inclusive, access end exclusive")
	case !p.OrphanedAt(at(25, 0)), p.OrphanedAt(until), p.OrphanedAt(at(19, 0)):
		t.Error("orphaned while billable after the removal")
	}
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	if d := p.SeatDays(at(1, 0), now); d != 22 { // 10th … 31st
		t.Errorf("March seat-days %d, want 22", d)
	}
	if d := p.SeatDays(time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC), now); d != 0 {
		t.Errorf("April seat-days %d, want 0: billable to 1 April 00:00 exclusive", d)
	}
	open := Period{Start: at(30, 23)}
	if d := open.SeatDays(time.Date(2026, 4, 15, 0, 0, 0, 0, time.UTC), time.Date(2026, 4, 10, 12, 0, 0, 0, time.UTC)); d != 10 {
		t.Errorf("an open seat counts to now: %d April days, want 10", d)
	}
}

func TestDiffWritesOnlyChanges(t *testing.T) {
	evs := []Event{
		ev(at(1, 9), "copilot.cfb_seat_assignment_created", "org", "acme", "user", "pat"),
		ev(at(2, 9), "copilot.cfb_seat_assignment_created", "org", "acme", "user", "quin"),
	}
	now := at(20, 0)
	first := diff(Derive(evs, now), nil, now)
	if len(first) != 2 {
		t.Fatalf("first pass writes %d rows, want 2", len(first))
	}
	var stored []Stored
	for _, r := range first {
		stored = append(stored, Stored{Period: r.Period, Version: r.Version})
	}
	if again := diff(Derive(evs, now), stored, now); len(again) != 0 {
		t.Fatalf("a second pass writes %d rows, want none", len(again))
	}
	// pat unassigned: pat's period changes; quin's does not. A vanished
	// period is a tombstone with a higher version.
	evs2 := append(evs[:1:1], ev(at(3, 9), "copilot.cfb_seat_assignment_unassigned", "org", "acme", "user", "pat"))
	rows := diff(Derive(evs2, now), stored, now)
	if len(rows) != 2 || rows[0].User != "pat" || rows[0].PendingFrom == nil || !rows[1].Deleted || rows[1].User != "quin" || rows[1].Version <= stored[1].Version {
		t.Fatalf("rows %+v", rows)
	}
}

func TestRevokedUserGetsNoSeatUntilReinstated(t *testing.T) {
	check(t, []Event{
		ev(at(1, 9), "copilot.cfb_seat_assignment_created", "org", "acme", "user", "rae", "actor", "first"),
		ev(at(2, 9), "copilot.user_access_revoked", "org", "acme", "user", "rae"),
		// Grants made while revoked start nothing; the unassignment ends one.
		ev(at(3, 9), "copilot.cfb_seat_assignment_created", "org", "acme", "team", "acme/devs", "actor", "second"),
		ev(at(3, 10), "team.add_member", "org", "acme", "team", "acme/devs", "user", "rae", "actor", "lead"),
		ev(at(4, 9), "copilot.cfb_seat_assignment_unassigned", "org", "acme", "user", "rae"),
		// Reinstated: the oldest grant still active (the team) starts a period.
		ev(at(5, 9), "copilot.user_access_reinstated", "org", "acme", "user", "rae"),
		// sid: revoked and reinstated with no grant left: no seat.
		ev(at(6, 9), "copilot.cfb_seat_assignment_created", "org", "acme", "user", "sid"),
		ev(at(7, 9), "copilot.user_access_revoked", "org", "acme", "user", "sid"),
		ev(at(8, 9), "copilot.cfb_seat_assignment_unassigned", "org", "acme", "user", "sid"),
		ev(at(9, 9), "copilot.user_access_reinstated", "org", "acme", "user", "sid"),
	},
		"org:acme rae#0 03-01T09 via=direct by=first pending=- billable=04-01T00 end=03-02T09 access_revoked plan=",
		"org:acme rae#1 03-05T09 via=team team=acme/devs by=lead pending=- billable=- end=- plan=",
		"org:acme sid#0 03-06T09 via=direct by=admin pending=- billable=04-01T00 end=03-07T09 access_revoked plan=")
}

func TestOrphans(t *testing.T) {
	check(t, []Event{
		ev(at(1, 9), "copilot.cfb_seat_assignment_created", "org", "acme", "team", "acme/devs"),
		ev(at(1, 10), "team.add_member", "org", "acme", "team", "acme/devs", "user", "tia", "id", "30"),
		ev(at(1, 11), "copilot.cfb_seat_assignment_created", "org", "acme", "user", "uma", "id", "31"),
		// tia leaves the team (no unassignment: orphaned), then is given a
		// seat directly: held again by right, not orphaned.
		ev(at(2, 9), "team.remove_member", "org", "acme", "team", "acme/devs", "user", "tia", "id", "30"),
		ev(at(3, 9), "copilot.cfb_seat_assignment_created", "org", "acme", "user", "tia", "id", "30"),
		// uma leaves the org; deprovisioned later the same month: the ended
		// seat, still billable, keeps its first reason.
		ev(at(4, 9), "org.remove_member", "org", "acme", "user", "uma", "id", "31"),
		ev(at(5, 9), "external_identity.deprovision", "user", "uma", "id", "31"),
		// tia suspended, then deprovisioned: deprovisioned names it, from the suspension.
		ev(at(6, 9), "user.suspend", "user", "tia", "id", "30"),
		ev(at(6, 10), "external_identity.deprovision", "user", "tia", "id", "30"),
	},
		"org:acme tia#0 03-01T10 via=team team=acme/devs by=admin pending=- billable=- end=- orphan=03-06T09:deprovisioned plan=",
		"org:acme uma#0 03-01T11 via=direct by=admin pending=- billable=04-01T00 end=03-04T09 left_org orphan=03-04T09:left_org plan=")
}
