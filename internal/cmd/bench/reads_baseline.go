package main

// Baselines of the reads part: each read question asked directly of
// seat_events FINAL (and seat_snapshots FINAL), with the logic of the views
// in schema/migrations/0004_views.sql and 0005_lifecycle.sql (seat_state,
// current_seats, idle_seats, pending_cancellations, latest_seat_snapshot)
// written out instead of read through seat_timeline and the views. The
// views may change (read models); these stay what the question costs
// without them. Each returns the columns the seatctl query builder asks for,
// in its order.

import (
	"strings"

	"github.com/seatline/seatline/schema"
)

// baseHistory: seatctl history --org ? --user ?.
const baseHistory = `SELECT event_ms, document_id, transition, action, org, user, actor,
    assigning_team_slug, assigning_team_name, plan_type, billable_until, last_activity_at,
    enrichment, source, source_position
FROM seat_events FINAL
WHERE org = ? AND user = ?
ORDER BY event_ms, document_id`

// baseSeatState is migration 5's seat_state, read from the migrations,
// over seat_events FINAL instead of the seat_timeline view.
var baseSeatState = mustBaseline(schema.ViewAsOf("seat_state", 5))

func mustBaseline(body string, err error) string {
	if err != nil {
		panic(err) // the embedded migrations lack a view the bench names
	}
	return strings.ReplaceAll(body, "FROM seat_timeline", "FROM seat_events FINAL")
}

// baseSummary: seatctl seats --summary (by org). Grouping by org needs
// no seat detail, so the detail joins of current_seats (which keep one row
// per seat) are left out.
var baseSummary = `SELECT org AS grp,
    countIf(state = 'active') AS active,
    countIf(state = 'pending_cancellation') AS pending,
    count() AS seats
FROM
(
` + baseSeatState + `
)
WHERE state IN ('active', 'pending_cancellation')
GROUP BY grp
ORDER BY grp`

// baseCurrent is 0005's current_seats over seat_events FINAL and
// seat_snapshots FINAL, for seats in state (a SQL list).
func baseCurrent(states string) string {
	return `SELECT
    org, user, user_id, state, last_transition, last_actor, last_change, first_assigned, changes,
    multiIf(s_at > toDateTime(0) AND s_at >= e_at, 'snapshot', e_at > toDateTime(0), 'enrichment', '') AS detail_source,
    if(detail_source = 'snapshot', s_at, e_at) AS detail_at,
    if(detail_source = 'snapshot', s_plan_type, e_plan_type) AS plan_type,
    if(detail_source = 'snapshot', s_team_slug, e_team_slug) AS assigning_team_slug,
    if(detail_source = 'snapshot', s_team_name, e_team_name) AS assigning_team_name,
    if(detail_source = 'snapshot', s_billable_until, e_billable_until) AS billable_until,
    if(detail_source = 'snapshot', s_seat_created_at, e_seat_created_at) AS seat_created_at,
    if(detail_source = 'snapshot', s_last_activity_at, e_last_activity_at) AS last_activity_at,
    if(detail_source = 'snapshot', s_last_activity_editor, e_last_activity_editor) AS last_activity_editor,
    e_seat_status AS api_status
FROM
(
    SELECT
        org, user, user_id, state, last_transition, last_actor, last_change, first_assigned, changes,
        e_at, e_seat_status, e_plan_type, e_team_slug, e_team_name, e_billable_until,
        e_seat_created_at, e_last_activity_at, e_last_activity_editor
    FROM
    (
        SELECT org, user, user_id, state, last_transition, last_actor, last_change, first_assigned, changes
        FROM
        (
` + baseSeatState + `
        )
        WHERE state IN (` + states + `)
    ) AS st
    ANY LEFT JOIN
    (
        SELECT
            org,
            user,
            max(ifNull(enriched_at, toDateTime(0))) AS e_at,
            toString(argMax(seat_status, (ifNull(enriched_at, toDateTime(0)), event_ms))) AS e_seat_status,
            argMax(plan_type, (ifNull(enriched_at, toDateTime(0)), event_ms)) AS e_plan_type,
            argMax(assigning_team_slug, (ifNull(enriched_at, toDateTime(0)), event_ms)) AS e_team_slug,
            argMax(assigning_team_name, (ifNull(enriched_at, toDateTime(0)), event_ms)) AS e_team_name,
            tupleElement(argMax(tuple(billable_until), (ifNull(enriched_at, toDateTime(0)), event_ms)), 1) AS e_billable_until,
            tupleElement(argMax(tuple(seat_created_at), (ifNull(enriched_at, toDateTime(0)), event_ms)), 1) AS e_seat_created_at,
            tupleElement(argMax(tuple(last_activity_at), (ifNull(enriched_at, toDateTime(0)), event_ms)), 1) AS e_last_activity_at,
            argMax(last_activity_editor, (ifNull(enriched_at, toDateTime(0)), event_ms)) AS e_last_activity_editor
        FROM seat_events FINAL
        WHERE user != '' AND enrichment = 'enriched'
        GROUP BY org, user
    ) AS en USING (org, user)
) AS se
ANY LEFT JOIN
(
    SELECT
        org,
        user,
        max(snapshot_at) AS s_at,
        argMax(plan_type, snapshot_at) AS s_plan_type,
        argMax(assigning_team_slug, snapshot_at) AS s_team_slug,
        argMax(assigning_team_name, snapshot_at) AS s_team_name,
        tupleElement(argMax(tuple(billable_until), snapshot_at), 1) AS s_billable_until,
        tupleElement(argMax(tuple(seat_created_at), snapshot_at), 1) AS s_seat_created_at,
        tupleElement(argMax(tuple(last_activity_at), snapshot_at), 1) AS s_last_activity_at,
        argMax(last_activity_editor, snapshot_at) AS s_last_activity_editor
    FROM seat_snapshots FINAL
    WHERE user != '' AND (scope, scope_name, snapshot_at) IN
    (
        SELECT scope, scope_name, max(snapshot_at)
        FROM seat_snapshots
        GROUP BY scope, scope_name
    )
    GROUP BY org, user
) AS sn USING (org, user)`
}

// baseIdle: seatctl seats --idle ?d (0004's idle_seats).
var baseIdle = `SELECT org, user, never_used, idle_days, last_activity_at, last_activity_editor,
    assigning_team_slug, plan_type, first_assigned, seat_created_at, last_actor, detail_source, detail_at
FROM
(
    SELECT org, user, plan_type, assigning_team_slug, first_assigned, last_change, last_actor, seat_created_at,
        last_activity_at, last_activity_editor, detail_source, detail_at,
        isNull(last_activity_at) AS never_used,
        dateDiff('day',
            ifNull(last_activity_at, ifNull(seat_created_at, if(first_assigned > toDateTime(0), first_assigned, last_change))),
            now()) AS idle_days
    FROM
    (
` + indent(baseCurrent("'active'"), "        ") + `
    )
    WHERE detail_source != ''
)
WHERE (never_used = 1 OR idle_days >= ?)
ORDER BY never_used DESC, idle_days DESC, org, user`

// basePending: seatctl pending (0004's pending_cancellations).
var basePending = `SELECT org, user, last_change AS unassigned_at, last_actor AS unassigned_by, billable_until, plan_type,
    assigning_team_slug, detail_source, detail_at
FROM
(
` + indent(baseCurrent("'pending_cancellation'"), "    ") + `
)
ORDER BY billable_until, org, user`

func indent(s, pre string) string {
	return pre + strings.ReplaceAll(s, "\n", "\n"+pre)
}
