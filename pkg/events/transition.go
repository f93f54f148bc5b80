package events

import "strings"

// Transition is what an audit action means for a seat's lifecycle. The
// numeric values are stored in ClickHouse (Enum8 in schema/): never renumber.
type Transition uint8

const (
	TransitionOther            Transition = 0  // an unknown copilot.* action: kept, never dropped
	TransitionAssigned         Transition = 1  // a user (or team) got a seat
	TransitionUnassigned       Transition = 2  // unassigned: pending cancellation, billable to the cycle's end
	TransitionCancelled        Transition = 3  // the seat is gone
	TransitionRefreshed        Transition = 4  // a seat pending cancellation was assigned again
	TransitionReused           Transition = 5  // a user who already had a seat was assigned again
	TransitionUpdated          Transition = 6  // the assignment changed
	TransitionPolicyChanged    Transition = 7  // who may hold seats changed (seat management, enablement, settings)
	TransitionPlanChanged      Transition = 8  // Copilot plan changed or a downgrade was scheduled
	TransitionAccessRevoked    Transition = 9  // Copilot access revoked
	TransitionAccessReinstated Transition = 10 // Copilot access reinstated
	TransitionCancelledByStaff Transition = 11 // GitHub staff cancelled the seat
	TransitionScopeRevoked     Transition = 12 // Copilot access revoked for a whole organization or enterprise
	TransitionLicenceGranted   Transition = 13 // a Copilot licence granted to an enterprise team
	TransitionLicenceRemoved   Transition = 14 // a Copilot licence removed from an enterprise team
)

var transitionNames = [...]string{
	TransitionOther:            "other",
	TransitionAssigned:         "assigned",
	TransitionUnassigned:       "unassigned",
	TransitionCancelled:        "cancelled",
	TransitionRefreshed:        "refreshed",
	TransitionReused:           "reused",
	TransitionUpdated:          "updated",
	TransitionPolicyChanged:    "policy_changed",
	TransitionPlanChanged:      "plan_changed",
	TransitionAccessRevoked:    "access_revoked",
	TransitionAccessReinstated: "access_reinstated",
	TransitionCancelledByStaff: "cancelled_by_staff",
	TransitionScopeRevoked:     "scope_revoked",
	TransitionLicenceGranted:   "licence_granted",
	TransitionLicenceRemoved:   "licence_removed",
}

func (t Transition) String() string {
	if int(t) < len(transitionNames) {
		return transitionNames[t]
	}
	return "other"
}

// Transitions lists every transition in numeric order (for schema checks and docs).
func Transitions() []Transition {
	out := make([]Transition, len(transitionNames))
	for i := range out {
		out[i] = Transition(i)
	}
	return out
}

// ParseTransition is the inverse of String.
func ParseTransition(s string) (Transition, bool) {
	for i, n := range transitionNames {
		if n == s {
			return Transition(i), true
		}
	}
	return TransitionOther, false
}

// SeatChange reports whether the transition changes one seat holder's state
// (as opposed to an org/enterprise policy, plan or scope-wide change).
func (t Transition) SeatChange() bool {
	switch t {
	case TransitionAssigned, TransitionUnassigned, TransitionCancelled, TransitionRefreshed,
		TransitionReused, TransitionUpdated, TransitionCancelledByStaff,
		TransitionAccessRevoked, TransitionAccessReinstated:
		return true
	}
	return false
}

// actions maps every known seat/policy action to its transition. Both the
// API brief's names and GitHub's published audit-event names are here: the
// brief's copilot.seat_assignment_cancelled is an unassignment (the seat is
// billable until the cycle ends), as is business.remove_seats.
var actions = map[string]Transition{
	// The API brief's names.
	"copilot.seat_assignment_created":   TransitionAssigned,
	"copilot.seat_assignment_cancelled": TransitionUnassigned,
	"copilot.seat_assignment_updated":   TransitionUpdated,
	"business.add_seats":                TransitionAssigned,
	"business.remove_seats":             TransitionUnassigned,

	// GitHub's published names.
	"copilot.cfb_seat_added":                        TransitionAssigned,
	"copilot.cfb_seat_assignment_created":           TransitionAssigned,
	"copilot.cfb_seat_assignment_refreshed":         TransitionRefreshed,
	"copilot.cfb_seat_assignment_reused":            TransitionReused,
	"copilot.cfb_seat_assignment_unassigned":        TransitionUnassigned,
	"copilot.cfb_seat_cancelled":                    TransitionCancelled,
	"copilot.cfb_seat_cancelled_by_staff":           TransitionCancelledByStaff,
	"copilot.cfb_seat_management_changed":           TransitionPolicyChanged,
	"copilot.cfb_enterprise_org_enablement_changed": TransitionPolicyChanged,
	"copilot.enterprise_enablement_changed":         TransitionPolicyChanged,
	"copilot.cfb_org_settings_changed":              TransitionPolicyChanged,
	"copilot.cfb_enterprise_settings_changed":       TransitionPolicyChanged,
	"copilot.plan_changed":                          TransitionPlanChanged,
	"copilot.plan_downgrade_scheduled":              TransitionPlanChanged,
	"copilot.access_revoked":                        TransitionScopeRevoked, // the whole org or enterprise, not one user
	"copilot.user_access_revoked":                   TransitionAccessRevoked,
	"copilot.user_access_reinstated":                TransitionAccessReinstated,
	"copilot.content_exclusion_changed":             TransitionPolicyChanged,

	// Enterprise-team licences: not copilot.* actions.
	"enterprise_team.copilot_assignment":   TransitionLicenceGranted,
	"enterprise_team.copilot_unassignment": TransitionLicenceRemoved,
}

// Classify maps an action to its transition. ok is false for actions that
// are not Copilot seat or policy events at all (they are filtered out); an
// unknown copilot.* action is ok with TransitionOther.
func Classify(action string) (t Transition, ok bool) {
	if t, ok := actions[action]; ok {
		return t, true
	}
	if strings.HasPrefix(action, "copilot.") {
		return TransitionOther, true
	}
	return TransitionOther, false
}

// KnownActions returns every action Classify knows by name.
func KnownActions() []string {
	out := make([]string, 0, len(actions))
	for a := range actions {
		out = append(out, a)
	}
	return out
}

// Membership is a change of membership that can grant, end or orphan a
// seat: these events go to membership_events, not the seat timeline. The
// numeric values are stored in ClickHouse (Enum8 in schema/): never
// renumber.
type Membership uint8

const (
	MembershipNone              Membership = 0
	TeamMemberAdded             Membership = 1  // team.add_member
	TeamMemberRemoved           Membership = 2  // team.remove_member
	OrgMemberAdded              Membership = 3  // org.add_member
	OrgMemberRemoved            Membership = 4  // org.remove_member
	EnterpriseMemberRemoved     Membership = 5  // business.remove_member
	EnterpriseTeamMemberAdded   Membership = 6  // enterprise_team.add_member
	EnterpriseTeamMemberRemoved Membership = 7  // enterprise_team.remove_member
	Deprovisioned               Membership = 8  // external_identity.deprovision (SCIM, EMU)
	Suspended                   Membership = 9  // user.suspend
	Unsuspended                 Membership = 10 // user.unsuspend
	Renamed                     Membership = 11 // user.rename (old_login → user)
)

var membershipNames = [...]string{
	MembershipNone:              "none",
	TeamMemberAdded:             "team_member_added",
	TeamMemberRemoved:           "team_member_removed",
	OrgMemberAdded:              "org_member_added",
	OrgMemberRemoved:            "org_member_removed",
	EnterpriseMemberRemoved:     "enterprise_member_removed",
	EnterpriseTeamMemberAdded:   "enterprise_team_member_added",
	EnterpriseTeamMemberRemoved: "enterprise_team_member_removed",
	Deprovisioned:               "deprovisioned",
	Suspended:                   "suspended",
	Unsuspended:                 "unsuspended",
	Renamed:                     "renamed",
}

func (m Membership) String() string {
	if int(m) < len(membershipNames) {
		return membershipNames[m]
	}
	return "none"
}

// Memberships lists every membership change in numeric order, none first.
func Memberships() []Membership {
	out := make([]Membership, len(membershipNames))
	for i := range out {
		out[i] = Membership(i)
	}
	return out
}

// memberships maps the membership actions seatline admits. Everything
// else outside copilot.* is filtered out.
var memberships = map[string]Membership{
	"team.add_member":               TeamMemberAdded,
	"team.remove_member":            TeamMemberRemoved,
	"org.add_member":                OrgMemberAdded,
	"org.remove_member":             OrgMemberRemoved,
	"business.remove_member":        EnterpriseMemberRemoved,
	"enterprise_team.add_member":    EnterpriseTeamMemberAdded,
	"enterprise_team.remove_member": EnterpriseTeamMemberRemoved,
	"external_identity.deprovision": Deprovisioned,
	"user.suspend":                  Suspended,
	"user.unsuspend":                Unsuspended,
	"user.rename":                   Renamed,
}

// ClassifyMembership maps a membership action; ok is false for any other.
func ClassifyMembership(action string) (Membership, bool) {
	m, ok := memberships[action]
	return m, ok
}

// Admitted reports whether an action is kept at all: a seat, policy or
// plan event (Classify) or a membership change.
func Admitted(action string) bool {
	if _, ok := Classify(action); ok {
		return true
	}
	_, ok := memberships[action]
	return ok
}

// MembershipActions returns every membership action by name.
func MembershipActions() []string {
	out := make([]string, 0, len(memberships))
	for a := range memberships {
		out = append(out, a)
	}
	return out
}
