package timeline

import (
	"context"
	"time"
	"unsafe"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Batch is what one write stores: timeline rows, membership changes and
// dead letters, and the first versions of the ids it stores first.
type Batch struct {
	Rows    []Row
	Members []Member
	Dead    []DeadLetter
	// Claims are written after the rows: a crash between the two leaves an
	// id unclaimed, and its replay claims it then.
	Claims []Document
}

// Write inserts rows and dead letters (WriteBatch without membership).
func (s *Store) Write(ctx context.Context, rows []Row, dead []DeadLetter) error {
	return s.WriteBatch(ctx, &Batch{Rows: rows, Dead: dead})
}

// WriteBatch inserts a batch. It returns only when ClickHouse has
// acknowledged all of it, so the caller may then acknowledge the source. A
// failed write may have stored part of the data; writing it again is safe
// (deduplicated by document_id and by dead-letter position).
func (s *Store) WriteBatch(ctx context.Context, b *Batch) error {
	rows, dead := b.Rows, b.Dead
	if len(b.Members) > 0 {
		members := b.Members
		if err := s.sendBlocks(ctx, memberTable.insert, len(members), func(i int) int { return len(members[i].Event.Raw) },
			func(bt driver.Batch, lo, hi int) error { return memberTable.appendTo(bt, members[lo:hi]) }); err != nil {
			return err
		}
	}
	if len(rows) > 0 {
		if err := s.sendBlocks(ctx, seatEventTable.insert, len(rows), func(i int) int { return len(rows[i].Event.Raw) },
			func(b driver.Batch, lo, hi int) error { return seatEventTable.appendTo(b, rows[lo:hi]) }); err != nil {
			return err
		}
	}
	if err := s.writeDocuments(ctx, b.Claims); err != nil {
		return err
	}
	if len(dead) > 0 {
		if err := s.sendBlocks(ctx, deadLetterTable.insert, len(dead), func(i int) int { return len(dead[i].Raw) + len(dead[i].Reason) },
			func(b driver.Batch, lo, hi int) error { return deadLetterTable.appendTo(b, dead[lo:hi]) }); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) send(ctx context.Context, query string, fill func(driver.Batch) error) error {
	b, err := s.conn.PrepareBatch(ctx, query)
	if err != nil {
		return Explain(s.cfg, err)
	}
	if err := fill(b); err != nil {
		_ = b.Abort()
		return err
	}
	return Explain(s.cfg, b.Send())
}

// insertBlockBytes bounds one block of an INSERT, counted as the rows'
// raw bytes (the largest column, and the measure of the others).
const insertBlockBytes = 1 << 20

// sendBlocks inserts n rows as one INSERT sent in blocks of about
// insertBlockBytes (size(i) is row i's share; fill appends rows [lo, hi)).
// The driver holds a block's columns, its encoding and its compressed copy
// at once: a whole 10,000-row batch in one block was ~40 MB per insert in
// flight. The server squashes the blocks of an INSERT into one part
// (min_insert_block_size_rows), so the table sees one insert as before.
func (s *Store) sendBlocks(ctx context.Context, query string, n int, size func(i int) int, fill func(b driver.Batch, lo, hi int) error) error {
	return s.send(ctx, query, func(b driver.Batch) error {
		lo, bytes := 0, 0
		for i := range n {
			if bytes += size(i); bytes < insertBlockBytes && i < n-1 {
				continue
			}
			if err := fill(b, lo, i+1); err != nil {
				return err
			}
			if i < n-1 {
				if err := b.Flush(); err != nil {
					return Explain(s.cfg, err)
				}
			}
			lo, bytes = i+1, 0
		}
		return nil
	})
}

// seatEventTable is seat_events' insert.
var seatEventTable = newTable("seat_events",
	col("document_id", func(r *Row) string { return r.Event.DocumentID }),
	col("document_id_derived", func(r *Row) uint8 { return b2u(r.Event.DocumentIDDerived) }),
	col("event_time", func(r *Row) time.Time { return r.Event.Timestamp.UTC() }),
	col("event_ms", func(r *Row) uint64 { return uint64(r.Event.Timestamp.UnixMilli()) }),
	col("created_ms", createdMs),
	col("action", func(r *Row) string { return r.Event.Action }),
	col("transition", func(r *Row) int8 { return int8(r.Event.Transition) }),
	col("business", func(r *Row) string { return r.Event.Business }),
	col("business_id", func(r *Row) uint64 { return uint64(r.Event.BusinessID) }),
	col("org", func(r *Row) string { return r.Event.Org }),
	col("org_id", func(r *Row) uint64 { return uint64(r.Event.OrgID) }),
	col("user", func(r *Row) string { return r.Event.User }),
	col("user_id", func(r *Row) uint64 { return uint64(r.Event.UserID) }),
	col("actor", func(r *Row) string { return r.Event.Actor }),
	col("actor_id", func(r *Row) uint64 { return uint64(r.Event.ActorID) }),
	col("actor_is_bot", func(r *Row) uint8 { return b2u(r.Event.ActorIsBot) }),
	col("actor_is_agent", func(r *Row) uint8 { return b2u(r.Event.ActorIsAgent) }),
	col("operation_type", func(r *Row) string { return r.Event.OperationType }),
	col("programmatic_access_type", func(r *Row) string { return r.Event.ProgrammaticAccessType }),
	col("request_id", func(r *Row) string { return r.Event.RequestID }),
	col("actor_ip", func(r *Row) string { return r.Event.ActorIP }),
	col("actor_country", func(r *Row) string { return r.Event.ActorCountry }),
	col("user_agent", func(r *Row) string { return r.Event.UserAgent }),
	col("seat_assignment", func(r *Row) string { return r.Event.SeatAssignment }),
	col("old_value", func(r *Row) string { return r.Event.OldValue }),
	col("new_value", func(r *Row) string { return r.Event.NewValue }),
	col("old_plan", func(r *Row) string { return r.Event.OldPlan }),
	col("new_plan", func(r *Row) string { return r.Event.NewPlan }),
	col("team", func(r *Row) string { return r.Event.Team }),
	col("enterprise_team", func(r *Row) string { return r.Event.EnterpriseTeam }),
	col("reason", func(r *Row) string { return r.Event.Reason }),
	col("source", func(r *Row) string { return r.Source }),
	col("source_position", func(r *Row) string { return r.SourcePosition }),
	col("ingested_at", func(r *Row) time.Time { return r.IngestedAt.UTC() }),
	col("enrichment", func(r *Row) int8 { return int8(r.Enrichment) }),
	col("enriched_at", func(r *Row) *time.Time { return utcPtr(r.EnrichedAt) }),
	col("enrichment_lag_s", (*Row).LagSeconds),
	col("enrichment_attempts", func(r *Row) uint8 { return r.Attempts }),
	col("enrichment_error", func(r *Row) string { return r.EnrichError }),
	col("seat_status", func(r *Row) int8 { return int8(r.Seat.Status) }),
	col("plan_type", func(r *Row) string { return r.Seat.PlanType }),
	col("assigning_team_slug", func(r *Row) string { return r.Seat.TeamSlug }),
	col("assigning_team_name", func(r *Row) string { return r.Seat.TeamName }),
	col("assigning_team_kind", func(r *Row) int8 { return int8(r.Seat.TeamKind) }),
	col("billable_until", func(r *Row) *time.Time { return utcPtr(r.Seat.BillableUntil) }),
	col("seat_created_at", func(r *Row) *time.Time { return utcPtr(r.Seat.CreatedAt) }),
	col("last_activity_at", func(r *Row) *time.Time { return utcPtr(r.Seat.LastActivityAt) }),
	col("last_activity_editor", func(r *Row) string { return r.Seat.LastActivityEditor }),
	col("last_authenticated_at", func(r *Row) *time.Time { return utcPtr(r.Seat.LastAuthenticatedAt) }),
	col("version", func(r *Row) uint64 { return r.Version }),
	col("raw", func(r *Row) string { return rawView(r.Event.Raw) }),
)

// deadLetterTable is ingest_errors' insert.
var deadLetterTable = newTable("ingest_errors",
	col("received_at", func(d *DeadLetter) time.Time { return d.ReceivedAt.UTC() }),
	col("source", func(d *DeadLetter) string { return d.Source }),
	col("position", func(d *DeadLetter) string { return d.Position }),
	col("reason_code", func(d *DeadLetter) string { return d.ReasonCode }),
	col("reason", func(d *DeadLetter) string { return d.Reason }),
	col("document_id", func(d *DeadLetter) string { return d.DocumentID }),
	col("raw", func(d *DeadLetter) string { return string(d.Raw) }),
	col("raw_length", func(d *DeadLetter) uint64 { return d.RawLength }),
	col("raw_sha256", func(d *DeadLetter) string { return d.RawSHA256 }),
)

// rawView is raw as a string without a copy: the column copies it, and
// nothing changes an event's Raw once parsed (a copy was a whole batch of
// raw bytes more per insert in a seat burst).
func rawView(raw []byte) string { return unsafe.String(unsafe.SliceData(raw), len(raw)) }

func createdMs(r *Row) uint64 {
	if r.Event.CreatedAt.IsZero() {
		return 0
	}
	return uint64(r.Event.CreatedAt.UnixMilli())
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

func b2u(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}
