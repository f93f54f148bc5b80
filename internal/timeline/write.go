package timeline

import (
	"context"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

const insertRows = `INSERT INTO seat_events (document_id, event_time, event_ms, created_ms, action, transition,
	business, business_id, org, org_id, user, user_id, actor, actor_id, actor_is_bot, actor_is_agent,
	operation_type, programmatic_access_type, request_id, actor_ip, actor_country, user_agent,
	seat_assignment, old_value, new_value, reason, source, source_position, ingested_at,
	enrichment, enriched_at, enrichment_lag_s, enrichment_attempts, enrichment_error,
	seat_status, plan_type, assigning_team_slug, assigning_team_name, assigning_team_kind,
	billable_until, seat_created_at, last_activity_at, last_activity_editor, last_authenticated_at,
	version, raw)`

const insertDeadLetters = `INSERT INTO ingest_errors (received_at, source, position, reason_code, reason,
	document_id, raw, raw_length, raw_sha256)`

// Write inserts rows and dead letters. It returns only when ClickHouse has
// acknowledged both, so the caller may then acknowledge the source. A
// failed Write may have stored part of the data; writing it again is safe
// (deduplicated by document_id and by dead-letter position).
func (s *Store) Write(ctx context.Context, rows []Row, dead []DeadLetter) error {
	if len(rows) > 0 {
		if err := s.send(ctx, insertRows, func(b driver.Batch) error {
			for i := range rows {
				if err := appendRow(b, &rows[i]); err != nil {
					return fmt.Errorf("seat_events row %s: %w", rows[i].Event.DocumentID, err)
				}
			}
			return nil
		}); err != nil {
			return err
		}
	}
	if len(dead) > 0 {
		if err := s.send(ctx, insertDeadLetters, func(b driver.Batch) error {
			for i := range dead {
				d := &dead[i]
				if err := b.Append(d.ReceivedAt.UTC(), d.Source, d.Position, d.ReasonCode, d.Reason,
					d.DocumentID, string(d.Raw), d.RawLength, d.RawSHA256); err != nil {
					return fmt.Errorf("ingest_errors row %s: %w", d.Position, err)
				}
			}
			return nil
		}); err != nil {
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

func appendRow(b driver.Batch, r *Row) error {
	ev := &r.Event
	return b.Append(
		ev.DocumentID, ev.Timestamp.UTC(), uint64(ev.Timestamp.UnixMilli()), createdMs(r), ev.Action, int8(ev.Transition),
		ev.Business, uint64(ev.BusinessID), ev.Org, uint64(ev.OrgID), ev.User, uint64(ev.UserID),
		ev.Actor, uint64(ev.ActorID), b2u(ev.ActorIsBot), b2u(ev.ActorIsAgent),
		ev.OperationType, ev.ProgrammaticAccessType, ev.RequestID, ev.ActorIP, ev.ActorCountry, ev.UserAgent,
		ev.SeatAssignment, ev.OldValue, ev.NewValue, ev.Reason, r.Source, r.SourcePosition, r.IngestedAt.UTC(),
		int8(r.Enrichment), utcPtr(r.EnrichedAt), r.LagSeconds(), r.Attempts, r.EnrichError,
		int8(r.Seat.Status), r.Seat.PlanType, r.Seat.TeamSlug, r.Seat.TeamName, int8(r.Seat.TeamKind),
		utcPtr(r.Seat.BillableUntil), utcPtr(r.Seat.CreatedAt), utcPtr(r.Seat.LastActivityAt), r.Seat.LastActivityEditor, utcPtr(r.Seat.LastAuthenticatedAt),
		r.Version, string(ev.Raw),
	)
}

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
