package timeline

import (
	"context"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/seatline/seatline/internal/lifecycle"
	"github.com/seatline/seatline/pkg/events"
)

// ChangedBusinesses lists the businesses (enterprises) with seat or
// membership events ingested at or after since (every one when since is
// zero), and those with a seat pending cancellation whose billable date is
// not after now: the ones whose seat periods may have changed.
func (s *Store) ChangedBusinesses(ctx context.Context, since, now time.Time) ([]string, error) {
	q := `SELECT DISTINCT business FROM (
		SELECT business FROM seat_events WHERE ingested_at >= ?
		UNION ALL
		SELECT business FROM membership_events WHERE ingested_at >= ?
		UNION ALL
		SELECT business FROM seat_periods FINAL
		WHERE deleted = 0 AND isNull(ended_at) AND isNotNull(pending_from) AND billable_until <= ?)
		ORDER BY business`
	rows, err := s.conn.Query(ctx, q, since.UTC(), since.UTC(), now.UTC())
	if err != nil {
		return nil, Explain(s.cfg, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var b string
		if err := rows.Scan(&b); err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

// LifecycleEvents reads what the seat-period derivation needs of one
// business: its seat timeline and its membership changes, each event once.
func (s *Store) LifecycleEvents(ctx context.Context, business string) ([]lifecycle.Event, error) {
	var out []lifecycle.Event
	rows, err := s.conn.Query(ctx, `SELECT event_ms, document_id, action, toInt8(transition), org, team, enterprise_team,
			user, user_id, actor, old_value, new_value, new_plan
		FROM seat_timeline WHERE business = ? AND transition != 'other'`, business)
	if err != nil {
		return nil, Explain(s.cfg, err)
	}
	for rows.Next() {
		e := lifecycle.Event{Business: business}
		var tr int8
		var ms, uid uint64
		if err := rows.Scan(&ms, &e.DocID, &e.Action, &tr, &e.Org, &e.Team, &e.EnterpriseTeam,
			&e.User, &uid, &e.Actor, &e.OldValue, &e.NewValue, &e.NewPlan); err != nil {
			rows.Close()
			return nil, err
		}
		e.Ms, e.UserID, e.Transition = int64(ms), int64(uid), events.Transition(tr)
		out = append(out, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, Explain(s.cfg, err)
	}
	rows, err = s.conn.Query(ctx, `SELECT event_ms, document_id, action, toInt8(change), org, team, enterprise_team,
			user, user_id, old_login, actor
		FROM membership_timeline WHERE business = ?`, business)
	if err != nil {
		return nil, Explain(s.cfg, err)
	}
	defer rows.Close()
	for rows.Next() {
		e := lifecycle.Event{Business: business}
		var ch int8
		var ms, uid uint64
		if err := rows.Scan(&ms, &e.DocID, &e.Action, &ch, &e.Org, &e.Team, &e.EnterpriseTeam,
			&e.User, &uid, &e.OldLogin, &e.Actor); err != nil {
			return nil, err
		}
		e.Ms, e.UserID, e.Membership = int64(ms), int64(uid), events.Membership(ch)
		out = append(out, e)
	}
	return out, rows.Err()
}

// periodTable is seat_periods' insert: each column beside how a
// lifecycle.Row (a period, or a tombstone for one that no longer exists)
// fills it.
var periodTable = newTable("seat_periods",
	col("scope", func(r *lifecycle.Row) string { return r.Scope }),
	col("scope_kind", func(r *lifecycle.Row) int8 { return scopeKind(r.ScopeKind) }),
	col("business", func(r *lifecycle.Row) string { return r.Business }),
	col("holder", func(r *lifecycle.Row) string { return r.Holder }),
	col("period_no", func(r *lifecycle.Row) uint32 { return r.No }),
	col("user", func(r *lifecycle.Row) string { return r.User }),
	col("user_id", func(r *lifecycle.Row) uint64 { return uint64(r.UserID) }),
	col("via", func(r *lifecycle.Row) int8 { return viaCode(r.Via) }),
	col("team", func(r *lifecycle.Row) string { return r.Team }),
	col("granted_by", func(r *lifecycle.Row) string { return r.GrantedBy }),
	col("started_at", func(r *lifecycle.Row) time.Time { return r.Start.UTC() }),
	col("started_ms", func(r *lifecycle.Row) uint64 { return uint64(r.Start.UnixMilli()) }),
	col("start_event", func(r *lifecycle.Row) string { return r.StartEvent }),
	col("pending_from", func(r *lifecycle.Row) *time.Time { return utcPtr(r.PendingFrom) }),
	col("billable_until", func(r *lifecycle.Row) *time.Time { return utcPtr(r.BillableUntil) }),
	col("ended_at", func(r *lifecycle.Row) *time.Time { return utcPtr(r.End) }),
	col("end_reason", func(r *lifecycle.Row) string { return r.EndReason }),
	col("end_event", func(r *lifecycle.Row) string { return r.EndEvent }),
	col("orphaned_since", func(r *lifecycle.Row) *time.Time { return utcPtr(r.OrphanedSince) }),
	col("orphan_reason", func(r *lifecycle.Row) string { return r.OrphanReason }),
	col("plan", func(r *lifecycle.Row) string { return r.Plan }),
	col("deleted", func(r *lifecycle.Row) uint8 { return b2u(r.Deleted) }),
	col("version", func(r *lifecycle.Row) uint64 { return r.Version }),
	col("derived_at", func(r *lifecycle.Row) time.Time { return r.DerivedAt.UTC() }),
)

// WritePeriods inserts period rows.
func (s *Store) WritePeriods(ctx context.Context, rows []lifecycle.Row) error {
	if len(rows) == 0 {
		return nil
	}
	return s.send(ctx, periodTable.insert, func(b driver.Batch) error { return periodTable.appendTo(b, rows) })
}

// StoredPeriods reads the current periods of a business (deleted ones
// excluded), with their versions.
func (s *Store) StoredPeriods(ctx context.Context, business string) ([]lifecycle.Stored, error) {
	rows, err := s.conn.Query(ctx, `SELECT scope, toString(scope_kind), holder, period_no, user, user_id, toString(via), team,
			granted_by, started_at, started_ms, start_event, pending_from, billable_until, ended_at, end_reason, end_event,
			orphaned_since, orphan_reason, plan, version
		FROM seat_periods FINAL WHERE business = ? AND deleted = 0`, business)
	if err != nil {
		return nil, Explain(s.cfg, err)
	}
	defer rows.Close()
	var out []lifecycle.Stored
	for rows.Next() {
		var p lifecycle.Stored
		var uid, ms uint64
		var started time.Time
		if err := rows.Scan(&p.Scope, &p.ScopeKind, &p.Holder, &p.No, &p.User, &uid, &p.Via, &p.Team,
			&p.GrantedBy, &started, &ms, &p.StartEvent, &p.PendingFrom, &p.BillableUntil, &p.End, &p.EndReason, &p.EndEvent,
			&p.OrphanedSince, &p.OrphanReason, &p.Plan, &p.Version); err != nil {
			return nil, err
		}
		p.Business, p.UserID, p.Start = business, int64(uid), time.UnixMilli(int64(ms)).UTC()
		for _, t := range []**time.Time{&p.PendingFrom, &p.BillableUntil, &p.End, &p.OrphanedSince} {
			if *t != nil {
				u := (*t).UTC()
				*t = &u
			}
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

func scopeKind(k string) int8 {
	if k == lifecycle.ScopeEnterprise {
		return 2
	}
	return 1
}

func viaCode(v string) int8 {
	switch v {
	case lifecycle.ViaDirect:
		return 1
	case lifecycle.ViaTeam:
		return 2
	case lifecycle.ViaEnterpriseTeam:
		return 3
	case lifecycle.ViaAllMembers:
		return 4
	}
	return 5 // seat
}
