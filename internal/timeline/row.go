// Package timeline writes and reads the seat-lifecycle timeline in
// ClickHouse: timeline rows, dead letters, and the schema migrations that
// create their tables.
package timeline

import (
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/seatline/seatline/pkg/events"
)

// Enrichment is the state of a row's seat-detail lookup. Values match the
// Enum8 in schema/migrations/0001_timeline.sql.
type Enrichment int8

const (
	EnrichmentPending       Enrichment = 1 // a seat change not yet looked up on GitHub
	EnrichmentEnriched      Enrichment = 2
	EnrichmentFailed        Enrichment = 3
	EnrichmentNotApplicable Enrichment = 4 // policy and plan events: no seat to look up
)

func (e Enrichment) String() string {
	switch e {
	case EnrichmentPending:
		return "pending"
	case EnrichmentEnriched:
		return "enriched"
	case EnrichmentFailed:
		return "failed"
	case EnrichmentNotApplicable:
		return "not_applicable"
	}
	return "pending"
}

// Row is one seat_events row: an audit event plus where it came from and,
// once enriched, what GitHub's API said about the seat.
type Row struct {
	Event          events.Event
	Source         string // kafka | s3 | file
	SourcePosition string // topic/partition/offset[#record], key#line, …
	IngestedAt     time.Time
	Enrichment     Enrichment
	EnrichedAt     *time.Time
	Attempts       uint8  // enrichment lookups tried so far
	EnrichError    string // why the last lookup failed
	Seat           SeatDetail
	Version        uint64 // 0 for ingest; enrichment writes a higher one
}

// SeatStatus is the seat's state when it was looked up. Values match the
// Enum8 in schema/migrations/0001_timeline.sql.
type SeatStatus int8

const (
	SeatUnknown             SeatStatus = 0
	SeatActive              SeatStatus = 1
	SeatPendingCancellation SeatStatus = 2
	SeatAbsent              SeatStatus = 3 // 404: no seat in that org
	SeatPolicyBlocked       SeatStatus = 4 // 422: all-members policy, Copilot disabled, pending invitation
)

func (s SeatStatus) String() string {
	return [...]string{"unknown", "active", "pending_cancellation", "absent", "policy_blocked"}[min(int(s), 4)]
}

// TeamKind says where an assigning team lives.
type TeamKind int8

const (
	TeamNone       TeamKind = 0
	TeamOrg        TeamKind = 1
	TeamEnterprise TeamKind = 2
)

// SeatDetail is a seat as the REST API described it.
type SeatDetail struct {
	Status              SeatStatus
	PlanType            string
	TeamSlug, TeamName  string
	TeamKind            TeamKind
	BillableUntil       *time.Time // pending_cancellation_date: billable until this day
	CreatedAt           *time.Time
	LastActivityAt      *time.Time // nil: never used, or telemetry off
	LastActivityEditor  string
	LastAuthenticatedAt *time.Time
}

// LagSeconds is how long after the event the seat was looked up.
func (r *Row) LagSeconds() int64 {
	if r.EnrichedAt == nil {
		return 0
	}
	return int64(r.EnrichedAt.Sub(r.Event.Timestamp) / time.Second)
}

// NewRow makes the ingest-time row for an event.
func NewRow(ev events.Event, source, position string, now time.Time) Row {
	state := EnrichmentPending
	if !ev.Transition.SeatChange() || ev.User == "" {
		state = EnrichmentNotApplicable
	}
	return Row{Event: ev, Source: source, SourcePosition: position, IngestedAt: now, Enrichment: state}
}

// MaxDeadLetterRaw caps the bytes of a dead letter kept in ClickHouse; the
// original's length and SHA-256 are always kept.
const MaxDeadLetterRaw = 64 << 10

// DeadLetter is input that could not become a timeline row.
type DeadLetter struct {
	ReceivedAt time.Time
	Source     string
	Position   string
	ReasonCode string // stable code, e.g. events.ReasonWrongType
	Reason     string // human detail
	DocumentID string // when it could be read
	Raw        []byte // capped to MaxDeadLetterRaw
	RawLength  uint64
	RawSHA256  string
}

// NewDeadLetter records raw, the whole original (copying at most
// MaxDeadLetterRaw bytes of it).
func NewDeadLetter(source, position, code, reason string, raw []byte, now time.Time) DeadLetter {
	return DeadLetterOf(source, position, code, reason, raw, int64(len(raw)), sha256.Sum256(raw), now)
}

// DeadLetterOf records a dead letter whose original was described while it
// streamed past: its length, its SHA-256, and kept, its first bytes.
func DeadLetterOf(source, position, code, reason string, kept []byte, length int64, sum [32]byte, now time.Time) DeadLetter {
	if len(kept) > MaxDeadLetterRaw {
		kept = kept[:MaxDeadLetterRaw]
	}
	return DeadLetter{
		ReceivedAt: now, Source: source, Position: position,
		ReasonCode: code, Reason: reason,
		Raw: append([]byte(nil), kept...), RawLength: uint64(length), RawSHA256: hex.EncodeToString(sum[:]),
	}
}
