package timeline

import (
	"time"

	"github.com/seatline/seatline/pkg/events"
)

// Member is one membership_events row: a membership change (team, org,
// enterprise, deprovisioning, suspension, rename) and where it came from.
type Member struct {
	Event          events.Event
	Source         string
	SourcePosition string
	IngestedAt     time.Time
}

// memberTable is membership_events' insert.
var memberTable = newTable("membership_events",
	col("document_id", func(m *Member) string { return m.Event.DocumentID }),
	col("document_id_derived", func(m *Member) uint8 { return b2u(m.Event.DocumentIDDerived) }),
	col("event_time", func(m *Member) time.Time { return m.Event.Timestamp.UTC() }),
	col("event_ms", func(m *Member) uint64 { return uint64(m.Event.Timestamp.UnixMilli()) }),
	col("action", func(m *Member) string { return m.Event.Action }),
	col("change", func(m *Member) int8 { return int8(m.Event.Membership) }),
	col("business", func(m *Member) string { return m.Event.Business }),
	col("org", func(m *Member) string { return m.Event.Org }),
	col("team", func(m *Member) string { return m.Event.Team }),
	col("enterprise_team", func(m *Member) string { return m.Event.EnterpriseTeam }),
	col("user", func(m *Member) string { return m.Event.User }),
	col("user_id", func(m *Member) uint64 { return uint64(m.Event.UserID) }),
	col("old_login", func(m *Member) string { return m.Event.OldLogin }),
	col("actor", func(m *Member) string { return m.Event.Actor }),
	col("actor_id", func(m *Member) uint64 { return uint64(m.Event.ActorID) }),
	col("source", func(m *Member) string { return m.Source }),
	col("source_position", func(m *Member) string { return m.SourcePosition }),
	col("ingested_at", func(m *Member) time.Time { return m.IngestedAt.UTC() }),
	col("raw", func(m *Member) string { return rawView(m.Event.Raw) }),
)
