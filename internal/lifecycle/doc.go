// Package lifecycle derives seat periods from the timeline: for each holder
// and scope, the intervals during which a Copilot seat was held, how, who
// granted it, when it went pending cancellation, until when it was
// billable, when and why it ended, and whether it is orphaned. The
// derivation is a pure function of the events (seat events and membership
// events, ordered by time, then document id): deterministic, so running it
// twice, or after late or redelivered events, gives the same periods.
//
// These rules are the single statement of what seatline believes about a
// seat's life. Where GitHub's documentation is explicit they follow it
// (github-facts.md); where it is silent, the choice is written here and in
// the README ("Seat lifecycle").
//
// # Scopes and holders
//
// A seat lives in a scope: an organization (seats assigned directly, through
// an org team, or to all members), or the enterprise (licences granted to an
// enterprise team). A holder is a user_id when the events carry one (a
// renamed or SCIM-obfuscated login keeps its seat), else the login.
//
// # Grants
//
// A seat is held while at least one grant is active:
//
//   - direct: copilot.cfb_seat_assignment_created (user),
//     copilot.seat_assignment_created, business.add_seats,
//     copilot.cfb_seat_assignment_reused; removed by
//     copilot.cfb_seat_assignment_unassigned (user),
//     copilot.seat_assignment_cancelled, business.remove_seats.
//   - team T: T holds Copilot (copilot.cfb_seat_assignment_created with
//     team "org/slug"; ended by copilot.cfb_seat_assignment_unassigned with
//     that team) and the user is a member of T (team.add_member /
//     team.remove_member, or org.remove_member). Its actor is the
//     team.add_member's actor when the user joined a team that already had
//     Copilot, else the actor who assigned the team.
//   - enterprise team E: E holds a licence (enterprise_team.copilot_assignment /
//     copilot_unassignment) and the user is a member
//     (enterprise_team.add_member / remove_member).
//   - all members: the org's seat management is assign_all
//     (copilot.cfb_seat_management_changed, new_value or current_value) and
//     the user is an org member (org.add_member). Switching from assign_all
//     to assign_selected keeps those seats as direct assignments; switching
//     to disabled or unconfigured ends every grant in the org.
//   - seat: copilot.cfb_seat_added or copilot.cfb_seat_assignment_refreshed
//     for a user with no grant seatline knows of (its team membership
//     predates the stream): GitHub says there is a seat, so there is. It
//     ends as direct does.
//
// A period's via, team and granted_by are those of the grant that started
// it (an all-members grant kept as a direct assignment keeps its via). A
// seat started by a "seat" grant takes the via of a team or all-members
// grant that arrives within a minute (the same change, its events written
// in another order). A period's plan is its org's plan when it started
// (copilot.plan_changed), else the enterprise's, else empty: no event named
// it.
//
// # How a seat ends
//
//   - The last grant ends (unassigned, team unassigned, left the team): the
//     seat is pending cancellation from then; the holder keeps access and it
//     is billable until the first day of the next billing cycle (the
//     calendar month, UTC). A new grant before then refreshes the same
//     period; after then it starts a new one. The seat ends at that date
//     (cancelled), whether or not copilot.cfb_seat_cancelled says so.
//   - Removed from the organization (org.remove_member) or the enterprise
//     (business.remove_member), or from the enterprise team of an enterprise
//     seat: access ends at once, the seat is billable until the first day of
//     the next cycle (GitHub bills the full cycle).
//   - copilot.user_access_revoked: access ends at once, billable until the
//     first day of the next cycle. The holder's grants stay (and may change)
//     but start no seat until copilot.user_access_reinstated, which starts
//     a new period with the via, team and granted_by of the oldest grant
//     still active; with none left, no seat.
//   - copilot.access_revoked (no user: the whole organization, or the
//     enterprise when it names no org, as owner_type Business does):
//     every open seat in the scope ends at once and billing stops with it
//     (the subscription ended);
//     every grant in the scope is forgotten, so seats come back only through
//     new grants.
//   - copilot.cfb_seat_cancelled, copilot.cfb_seat_cancelled_by_staff: the
//     seat is gone at that moment (for a pending seat: at its billable
//     date, whichever is first); a grant made later starts a new period.
//
// A copilot.* event that reports a change the membership events already
// made (the unassignment after a team removal) changes nothing: one change
// is never counted twice.
//
// # Orphaned seats
//
// A seat is orphaned from the moment its holder is removed from the
// organization or the enterprise (or the enterprise team of an enterprise
// seat), deprovisioned (external_identity.deprovision), or suspended
// (user.suspend; SCIM deprovisioning does not cancel a seat): every period
// of the holder in the scopes concerned that is still held or billable then
// is marked, ended ones too (they are paid for to the end of the cycle). A
// period keeps its first reason, except that "deprovisioned" replaces
// "suspended" (deprovisioning suspends first), from the suspension's time;
// user.unsuspend clears a held seat's "suspended".
//
// A seat that went pending because its holder left the granting team is
// orphaned "left_team" at once; a copilot.cfb_seat_assignment_unassigned
// for the user (GitHub confirming a deliberate removal) or a new grant
// while the period is open clears it. An orphaned seat counts while it is
// held or billable.
//
// # Times
//
// Held at instant t: started_at ≤ t < access end, where the access end is
// ended_at, else billable_until (a pending seat), else never. Billable: from
// started_at to billable_until, else ended_at, else now. A seat-day is a UTC
// calendar day on which the seat was billable for any part of the day.
package lifecycle
