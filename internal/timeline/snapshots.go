package timeline

import (
	"context"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// SnapshotScope is what a seat-list poll listed: an org's seats or an
// enterprise's.
type SnapshotScope int8

const (
	ScopeOrg        SnapshotScope = 1
	ScopeEnterprise SnapshotScope = 2
)

// SnapshotSeat is one seat as a seat-list poll saw it: a row of
// seat_snapshots. Detail's Status is not stored (a listed seat is held).
type SnapshotSeat struct {
	At           time.Time
	Scope        SnapshotScope
	ScopeName    string // the org or enterprise polled
	Org          string // the seat's org (an enterprise poll lists seats of several)
	User         string
	UserID       uint64
	AssigneeType string
	Detail       SeatDetail
}

// snapshotTable is seat_snapshots' insert.
var snapshotTable = newTable("seat_snapshots",
	col("snapshot_at", func(s *SnapshotSeat) time.Time { return s.At }),
	col("scope", func(s *SnapshotSeat) int8 { return int8(s.Scope) }),
	col("scope_name", func(s *SnapshotSeat) string { return s.ScopeName }),
	col("org", func(s *SnapshotSeat) string { return s.Org }),
	col("user", func(s *SnapshotSeat) string { return s.User }),
	col("user_id", func(s *SnapshotSeat) uint64 { return s.UserID }),
	col("assignee_type", func(s *SnapshotSeat) string { return s.AssigneeType }),
	col("plan_type", func(s *SnapshotSeat) string { return s.Detail.PlanType }),
	col("assigning_team_slug", func(s *SnapshotSeat) string { return s.Detail.TeamSlug }),
	col("assigning_team_name", func(s *SnapshotSeat) string { return s.Detail.TeamName }),
	col("assigning_team_kind", func(s *SnapshotSeat) int8 { return int8(s.Detail.TeamKind) }),
	col("billable_until", func(s *SnapshotSeat) *time.Time { return s.Detail.BillableUntil }),
	col("seat_created_at", func(s *SnapshotSeat) *time.Time { return s.Detail.CreatedAt }),
	col("last_activity_at", func(s *SnapshotSeat) *time.Time { return s.Detail.LastActivityAt }),
	col("last_activity_editor", func(s *SnapshotSeat) string { return s.Detail.LastActivityEditor }),
	col("last_authenticated_at", func(s *SnapshotSeat) *time.Time { return s.Detail.LastAuthenticatedAt }),
)

// WriteSnapshot inserts one poll's seats (nothing for none).
func (s *Store) WriteSnapshot(ctx context.Context, seats []SnapshotSeat) error {
	if len(seats) == 0 {
		return nil
	}
	return s.send(ctx, snapshotTable.insert, func(b driver.Batch) error { return snapshotTable.appendTo(b, seats) })
}
