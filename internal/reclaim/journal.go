package reclaim

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/seatline/seatline/internal/timeline"
)

// Outcomes of a seat action in the journal (reclaim_actions.outcome; the
// migration says what each means).
const (
	OutSending     = "sending"
	OutDone        = "done"
	OutPending     = "pending_cancellation"
	OutGone        = "gone"
	OutNotEnded    = "not_ended"
	OutSkipped     = "skipped"
	OutFailed      = "failed"
	OutRateLimited = "rate_limited"
	OutUnknown     = "unknown"
)

// Final outcomes need nothing more of apply for this plan.
func Final(outcome string) bool {
	switch outcome {
	case OutPending, OutGone, OutNotEnded, OutSkipped:
		return true
	}
	return false
}

// Reclaimed outcomes: the seat is on its way out (or gone).
func Reclaimed(outcome string) bool {
	return outcome == OutDone || outcome == OutPending || outcome == OutGone
}

// Record is one row of reclaim_actions.
type Record struct {
	Plan          string // plan SHA-256
	PlanGenerated time.Time
	ScopeKind     string
	Scope, User   string
	UserID        int64
	Action, Team  string
	Outcome       string
	Reason        string
	Batch         int
	BatchSize     int
	RequestID     string
	RequestedAt   time.Time
	RecordedMS    int64
	HTTPStatus    int
	SeatsCanceled int
	PendingDate   *time.Time // the day billing stops, as GitHub returned it
	PlanType      string
	PriceCents    int64
}

// Key of the record's seat action.
func (r *Record) Key() Key { return Key{Scope: r.Scope, User: r.User, Action: r.Action, Team: r.Team} }

// Journal is the reclaim_actions table.
type Journal struct {
	conn driver.Conn

	mu   sync.Mutex
	last int64 // recorded_ms of the last row written: strictly increasing
}

// NewJournal writes to and reads from conn's reclaim_actions.
func NewJournal(conn driver.Conn) *Journal { return &Journal{conn: conn} }

// actionsTable is reclaim_actions' insert.
var actionsTable = timeline.NewTable("reclaim_actions",
	timeline.Col("plan_sha256", func(r *Record) string { return r.Plan }),
	timeline.Col("plan_generated_at", func(r *Record) time.Time { return r.PlanGenerated.UTC() }),
	timeline.Col("scope_kind", func(r *Record) string { return r.ScopeKind }),
	timeline.Col("scope", func(r *Record) string { return r.Scope }),
	timeline.Col("user", func(r *Record) string { return r.User }),
	timeline.Col("user_id", func(r *Record) uint64 { return uint64(max(r.UserID, 0)) }),
	timeline.Col("action", func(r *Record) string { return r.Action }),
	timeline.Col("team", func(r *Record) string { return r.Team }),
	timeline.Col("outcome", func(r *Record) string { return r.Outcome }),
	timeline.Col("reason", func(r *Record) string { return r.Reason }),
	timeline.Col("batch", func(r *Record) uint32 { return uint32(r.Batch) }),
	timeline.Col("batch_size", func(r *Record) uint32 { return uint32(r.BatchSize) }),
	timeline.Col("request_id", func(r *Record) string { return r.RequestID }),
	timeline.Col("requested_at", func(r *Record) time.Time { return r.RequestedAt.UTC() }),
	timeline.Col("recorded_ms", func(r *Record) uint64 { return uint64(r.RecordedMS) }),
	timeline.Col("http_status", func(r *Record) uint16 { return uint16(r.HTTPStatus) }),
	timeline.Col("seats_cancelled", func(r *Record) uint32 { return uint32(r.SeatsCanceled) }),
	timeline.Col("pending_cancellation_date", func(r *Record) *time.Time {
		if r.PendingDate == nil {
			return nil
		}
		d := r.PendingDate.UTC().Truncate(24 * time.Hour)
		return &d
	}),
	timeline.Col("plan_type", func(r *Record) string { return r.PlanType }),
	timeline.Col("monthly_price_cents", func(r *Record) uint32 { return uint32(r.PriceCents) }),
)

// Write appends records (acknowledged by ClickHouse when it returns: in
// cluster mode, by every shard). Each gets a recorded_ms later than any
// before it from this Journal.
func (j *Journal) Write(ctx context.Context, recs ...Record) error {
	if len(recs) == 0 {
		return nil
	}
	j.mu.Lock()
	ms := max(time.Now().UnixMilli(), j.last+1)
	for i := range recs {
		if recs[i].RecordedMS == 0 {
			recs[i].RecordedMS = ms
		}
	}
	j.last = ms
	j.mu.Unlock()
	return actionsTable.Insert(ctx, j.conn, recs)
}

// State is each seat action's latest record for plan (view reclaim_state).
func (j *Journal) State(ctx context.Context, plan string) (map[Key]Record, error) {
	rows, err := j.conn.Query(ctx, `SELECT toString(scope_kind), scope, user, user_id, toString(action), team, toString(outcome), reason,
		requested_at, http_status, seats_cancelled, request_id, pending_cancellation_date, plan_type, monthly_price_cents, last_recorded_ms
	FROM reclaim_state WHERE plan_sha256 = ?`, plan)
	if err != nil {
		return nil, fmt.Errorf("reclaim_state: %w", err)
	}
	defer rows.Close()
	out := map[Key]Record{}
	for rows.Next() {
		r := Record{Plan: plan}
		var uid, ms uint64
		var status uint16
		var seats, price uint32
		if err := rows.Scan(&r.ScopeKind, &r.Scope, &r.User, &uid, &r.Action, &r.Team, &r.Outcome, &r.Reason,
			&r.RequestedAt, &status, &seats, &r.RequestID, &r.PendingDate, &r.PlanType, &price, &ms); err != nil {
			return nil, err
		}
		r.UserID, r.HTTPStatus, r.SeatsCanceled, r.PriceCents, r.RecordedMS = int64(uid), int(status), int(seats), int64(price), int64(ms)
		j.mu.Lock()
		j.last = max(j.last, r.RecordedMS)
		j.mu.Unlock()
		out[r.Key()] = r
	}
	return out, rows.Err()
}
