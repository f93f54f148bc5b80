package seatctl

import (
	"context"
	"slices"
	"time"

	"github.com/seatline/seatline/internal/reclaim"
	"github.com/seatline/seatline/internal/timeline"
)

// ReclaimScope is the part of the timeline a reclamation plan covers: orgs,
// and an enterprise (its enterprise-team licences, which have no org, and,
// with no orgs, every org of it). Empty: every org in the timeline
// (enterprise-team licences need the enterprise's name to be checked).
type ReclaimScope struct {
	Orgs       []string
	Enterprise string
}

// seats restricts a read of seats by (org, user): idle_seats.
func (s ReclaimScope) seats(w *where) {
	switch {
	case len(s.Orgs) > 0 && s.Enterprise != "":
		// Placeholders bind in the order of the text: the list, then the enterprise.
		orgs := w.list(s.Orgs)
		w.conds = append(w.conds, "(org IN "+orgs+" OR (org = '' AND user IN (SELECT user FROM seat_facts WHERE org = '' AND business = "+w.arg(s.Enterprise)+")))")
	case len(s.Orgs) > 0:
		w.in("org", s.Orgs)
	case s.Enterprise != "":
		w.add("(org, user) IN (SELECT org, user FROM seat_facts WHERE business = ?)", s.Enterprise)
	default:
		w.add("org != ''")
	}
}

// periods restricts a read of seat periods by scope: orphan_periods.
func (s ReclaimScope) periods(w *where) {
	switch {
	case len(s.Orgs) > 0 && s.Enterprise != "":
		orgs := w.list(s.Orgs)
		w.conds = append(w.conds, "((scope_kind = 'org' AND scope IN "+orgs+") OR (scope_kind = 'enterprise' AND scope = "+w.arg(s.Enterprise)+"))")
	case len(s.Orgs) > 0:
		w.add("scope_kind = 'org'")
		w.in("scope", s.Orgs)
	case s.Enterprise != "":
		w.add("business = ?", s.Enterprise)
	default:
		w.add("scope_kind = 'org'")
	}
}

// ReclaimIdleQuery lists the active seats idle by the rules (view
// idle_seats): no Copilot activity for IdleDays, or none at all
// NeverUsedDays after the seat was created, and older than the grace
// period. It is not run when both rules are off.
func ReclaimIdleQuery(s ReclaimScope, r reclaim.Rules, form Binding) Stmt {
	w := newWhere(form)
	switch {
	case r.IdleDays > 0 && r.NeverUsedDays > 0:
		w.add("((never_used = 0 AND idle_days >= ?) OR (never_used = 1 AND idle_days >= ?))", r.IdleDays, r.NeverUsedDays)
	case r.IdleDays > 0:
		w.add("never_used = 0 AND idle_days >= ?", r.IdleDays)
	default:
		w.add("never_used = 1 AND idle_days >= ?", r.NeverUsedDays)
	}
	if r.GraceDays > 0 {
		w.add("dateDiff('day', ifNull(seat_created_at, if(first_assigned > toDateTime(0), first_assigned, last_change)), now()) >= ?", r.GraceDays)
	}
	s.seats(w)
	return w.stmt(`SELECT org, user, user_id, never_used, idle_days, last_activity_at, last_activity_editor, assigning_team_slug,
    plan_type, seat_created_at, detail_source, detail_at
FROM idle_seats` + w.clause() + "\nORDER BY org, user")
}

// ReclaimOrphansQuery lists the seats orphaned now (view orphaned_seats:
// held or still billable though the holder left).
func ReclaimOrphansQuery(s ReclaimScope, form Binding) Stmt {
	w := newWhere(form)
	s.periods(w)
	return w.stmt(`SELECT toString(scope_kind), scope, user, user_id, orphaned_since, orphan_reason, team, plan
FROM orphaned_seats` + w.clause() + "\nORDER BY scope, user, orphaned_since")
}

// StillOrphanedQuery lists which of users hold a seat orphaned now.
func StillOrphanedQuery(users []string, form Binding) Stmt {
	w := newWhere(form)
	w.in("user", users)
	return w.stmt("SELECT DISTINCT scope, user FROM orphaned_seats" + w.clause())
}

// reclaimCandidates reads the candidates of a plan from the timeline: idle
// and never-used seats, then orphaned seats (a seat both is one candidate
// with both reasons). enterprise names the scope of seats without an org.
func reclaimCandidates(ctx context.Context, store *timeline.Store, s ReclaimScope, r reclaim.Rules) ([]reclaim.Candidate, error) {
	var out []reclaim.Candidate
	index := map[[2]string]int{}
	add := func(c reclaim.Candidate, why string) *reclaim.Candidate {
		k := [2]string{c.Scope, c.User}
		if i, ok := index[k]; ok {
			out[i].Why = append(out[i].Why, why)
			return &out[i]
		}
		c.Why = []string{why}
		index[k] = len(out)
		out = append(out, c)
		return &out[len(out)-1]
	}
	form := bindingFor(store)
	if r.IdleDays > 0 || r.NeverUsedDays > 0 {
		q := ReclaimIdleQuery(s, r, form)
		rows, err := store.Conn().Query(ctx, q.SQL, q.Args()...)
		if err != nil {
			return nil, queryError(store, "idle_seats", err)
		}
		for rows.Next() {
			var org, user, editor, team, plan, src string
			var uid uint64
			var never uint8
			var idleDays int64
			var activity, created *time.Time
			var detailAt time.Time
			if err := rows.Scan(&org, &user, &uid, &never, &idleDays, &activity, &editor, &team, &plan, &created, &src, &detailAt); err != nil {
				rows.Close()
				return nil, err
			}
			c := reclaim.Candidate{ScopeKind: reclaim.KindOrg, Scope: org, User: user, UserID: int64(uid), PlanType: plan,
				Timeline: reclaim.TimelineEvidence{LastActivityAt: activity, LastActivityEditor: editor, IdleDays: int(idleDays),
					SeatCreatedAt: created, AssigningTeam: team, Source: src, ReadAt: &detailAt}}
			if org == "" {
				c.ScopeKind, c.Scope = reclaim.KindEnterprise, s.Enterprise
			}
			why := reclaim.WhyIdle
			if never == 1 {
				why = reclaim.WhyNeverUsed
			}
			add(c, why)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, queryError(store, "idle_seats", err)
		}
	}
	if r.Orphaned {
		q := ReclaimOrphansQuery(s, form)
		rows, err := store.Conn().Query(ctx, q.SQL, q.Args()...)
		if err != nil {
			return nil, queryError(store, "orphaned_seats", err)
		}
		for rows.Next() {
			var kind, scope, user, reason, team, plan string
			var uid uint64
			var since time.Time
			if err := rows.Scan(&kind, &scope, &user, &uid, &since, &reason, &team, &plan); err != nil {
				rows.Close()
				return nil, err
			}
			if i, ok := index[[2]string{scope, user}]; ok && slices.Contains(out[i].Why, reclaim.WhyOrphaned) {
				continue // an earlier orphaned period of the same seat
			}
			c := add(reclaim.Candidate{ScopeKind: kind, Scope: scope, User: user, UserID: int64(uid), PlanType: plan,
				Timeline: reclaim.TimelineEvidence{AssigningTeam: team, Source: "seat_periods"}}, reclaim.WhyOrphaned)
			s := since
			c.Timeline.OrphanReason, c.Timeline.OrphanedSince = reason, &s
			if c.PlanType == "" {
				c.PlanType = plan
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, queryError(store, "orphaned_seats", err)
		}
	}
	return out, nil
}

// stillOrphaned answers the apply's re-check: which orphaned candidates the
// timeline still shows orphaned.
func stillOrphaned(store *timeline.Store) func(context.Context, []*reclaim.Candidate) (map[reclaim.Key]bool, error) {
	return func(ctx context.Context, cs []*reclaim.Candidate) (map[reclaim.Key]bool, error) {
		users := make([]string, len(cs))
		for i, c := range cs {
			users[i] = c.User
		}
		q := StillOrphanedQuery(users, bindingFor(store))
		rows, err := store.Conn().Query(ctx, q.SQL, q.Args()...)
		if err != nil {
			return nil, queryError(store, "orphaned_seats", err)
		}
		defer rows.Close()
		held := map[[2]string]bool{}
		for rows.Next() {
			var scope, user string
			if err := rows.Scan(&scope, &user); err != nil {
				return nil, err
			}
			held[[2]string{scope, user}] = true
		}
		if err := rows.Err(); err != nil {
			return nil, queryError(store, "orphaned_seats", err)
		}
		out := map[reclaim.Key]bool{}
		for _, c := range cs {
			out[c.Key()] = held[[2]string{c.Scope, c.User}]
		}
		return out, nil
	}
}

// ReclaimStateQuery lists the seat actions of plan (every plan when "")
// with their latest journal state (view reclaim_state), newest plan first.
func ReclaimStateQuery(plan string, form Binding) Stmt {
	w := newWhere(form)
	if plan != "" {
		w.add("plan_sha256 = ?", plan)
	}
	return w.stmt(`SELECT plan_sha256, plan_generated_at, toString(scope_kind), scope, user, toString(action), team, toString(outcome),
    reason, requested_at, http_status, request_id, pending_cancellation_date, plan_type, monthly_price_cents
FROM reclaim_state` + w.clause() + "\nORDER BY plan_generated_at DESC, plan_sha256, scope, user, action")
}

// ReclaimSeatEventsQuery lists, per seat, the times (ms) of its
// unassignment and cancellation events since since (view seat_history):
// what confirms a reclaimed seat.
func ReclaimSeatEventsQuery(orgs, users []string, since time.Time, form Binding) Stmt {
	w := newWhere(form)
	w.in("org", orgs)
	w.in("user", users)
	w.add("event_ms >= ?", uint64(max(since.UnixMilli(), 0)))
	w.add("transition IN ('unassigned', 'cancelled', 'cancelled_by_staff')")
	return w.stmt(`SELECT org, user, toString(transition), groupArray(event_ms)
FROM seat_history FINAL` + w.clause() + "\nGROUP BY org, user, transition")
}

// ReclaimTeamEventsQuery lists, per user and team, the times (ms) the user
// left an org team or enterprise team since since (view
// membership_timeline): what confirms a team removal.
func ReclaimTeamEventsQuery(users []string, since time.Time, form Binding) Stmt {
	w := newWhere(form)
	w.in("user", users)
	w.add("event_time >= ?", since)
	w.add("change IN ('team_member_removed', 'enterprise_team_member_removed')")
	return w.stmt(`SELECT org, if(enterprise_team != '', enterprise_team, team) AS t, user, groupArray(event_ms)
FROM membership_timeline` + w.clause() + "\nGROUP BY org, t, user")
}
