// Package events is the GitHub audit-log event model: decoding one streamed
// event, validating it, and classifying its action into a seat-lifecycle
// Transition. It knows both the API brief's action names
// (copilot.seat_assignment_*, business.*_seats) and GitHub's published ones
// (copilot.cfb_seat_*, policy and plan events).
package events

import "time"

// Event is one decoded GitHub audit-log event. Only the fields seatline
// uses are typed; everything else (including fields GitHub adds later)
// survives in Raw, which is the event exactly as received.
type Event struct {
	DocumentID        string    // _document_id: GitHub's identity for the event, the dedup key
	DocumentIDDerived bool      // no _document_id on the wire (older exports): DocumentID is "derived:" + a hash of Raw (see Parse)
	Timestamp         time.Time // @timestamp (Unix ms on the wire), else created_at (older exports); UTC
	CreatedAt         time.Time // created_at (Unix ms on the wire), UTC; zero when absent

	Action     string     // e.g. copilot.cfb_seat_added
	Transition Transition // Action classified

	Actor        string
	ActorID      int64
	ActorIsBot   bool
	ActorIsAgent bool
	User         string
	UserID       int64
	Org          string
	OrgID        int64
	Business     string
	BusinessID   int64
	Owner        string
	OwnerType    string

	OperationType          string // create|modify|remove|…
	ActorIP                string // may be empty
	ActorCountry           string // actor_location.country_code
	UserAgent              string
	HashedToken            string
	TokenID                int64
	ProgrammaticAccessType string
	RequestID              string
	ExternalIdentityNameID string

	// Action-specific details. Old/New carry the before/after of a change:
	// old_value/new_value of a policy change, old_plan/plan of a plan change.
	SeatAssignment string // seat_assignment on copilot.cfb_seat_cancelled*
	OldValue       string
	NewValue       string
	Plan           string
	Reason         string // copilot.access_revoked

	Raw []byte // the event's bytes as received (trimmed of surrounding whitespace)
}
