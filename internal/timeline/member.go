package timeline

import (
	"fmt"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

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

// memberColumns is membership_events' insert: each column's name beside
// how a Member fills it, so the two cannot drift apart.
var memberColumns = []column[Member]{
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
}

var insertMembers = "INSERT INTO membership_events (" + columnNames(memberColumns) + ")"

func appendMembers(b driver.Batch, members []Member) error {
	for i, c := range memberColumns {
		if err := b.Column(i).Append(c.fill(members)); err != nil {
			return fmt.Errorf("membership_events column %s: %w", c.name, err)
		}
	}
	return nil
}

// column is one column of an insert: its name and the typed slice it gets
// from a batch of T (appended column by column: one slice per column, not
// one boxed value per cell).
type column[T any] struct {
	name string
	fill func([]T) any
}

func col[T, V any](name string, get func(*T) V) column[T] {
	return column[T]{name: name, fill: func(rows []T) any {
		out := make([]V, len(rows))
		for i := range rows {
			out[i] = get(&rows[i])
		}
		return out
	}}
}

func columnNames[T any](cols []column[T]) string {
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.name
	}
	return strings.Join(names, ", ")
}
