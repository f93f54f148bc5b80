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
	Transition Transition // Action classified (a membership change is TransitionOther)
	Membership Membership // a membership change (team.add_member, …); MembershipNone for seat and policy events

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

	// Action-specific details. OldValue/NewValue carry the before/after of
	// any change, whichever names GitHub used (old_value/new_value,
	// previous_value/current_value, the plans below); OldPlan/NewPlan the
	// plans of copilot.plan_changed (old_plan/plan) and
	// copilot.plan_downgrade_scheduled (current_plan/scheduled_plan).
	SeatAssignment string // seat_assignment on copilot.cfb_seat_cancelled*
	OldValue       string
	NewValue       string
	OldPlan        string
	NewPlan        string
	Plan           string
	Reason         string // copilot.access_revoked

	Team           string // team ("org/slug"): team.* events, team seat assignments
	EnterpriseTeam string // enterprise_team: enterprise-team licences and membership
	OldLogin       string // old_login: user.rename (a SCIM-obfuscated login keeps its user_id)

	Raw []byte // the event's bytes as received (trimmed of surrounding whitespace)
}
