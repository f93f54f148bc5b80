-- Seat lifecycle: every documented action, the membership events that grant,
-- end or orphan seats, and the seat periods derived from both
-- (internal/lifecycle states the rules).
--
-- 18.16 has no ADD COLUMN IF NOT EXISTS: the migration runner skips an ADD
-- COLUMN whose column exists (a second worker migrating at once). It has no
-- DROP VIEW either: DROP TABLE drops a view on every release.

ALTER TABLE seat_events MODIFY COLUMN transition Enum8('other' = 0, 'assigned' = 1, 'unassigned' = 2, 'cancelled' = 3, 'refreshed' = 4, 'reused' = 5, 'updated' = 6, 'policy_changed' = 7, 'plan_changed' = 8, 'access_revoked' = 9, 'access_reinstated' = 10, 'cancelled_by_staff' = 11, 'scope_revoked' = 12, 'licence_granted' = 13, 'licence_removed' = 14);
ALTER TABLE seat_events ADD COLUMN document_id_derived UInt8 AFTER document_id;
ALTER TABLE seat_events ADD COLUMN old_plan String AFTER new_value;
ALTER TABLE seat_events ADD COLUMN new_plan String AFTER old_plan;
ALTER TABLE seat_events ADD COLUMN team String AFTER new_plan;
ALTER TABLE seat_events ADD COLUMN enterprise_team String AFTER team;

-- 18.16 fixed seat_timeline's columns when it was created: again, with the new ones.
DROP TABLE IF EXISTS seat_timeline;
CREATE VIEW IF NOT EXISTS seat_timeline AS
SELECT *
FROM seat_events FINAL;

-- The last seat change of each (org, user), as before, now also ended by a
-- revocation of the whole organization's Copilot access, or the whole
-- enterprise's (copilot.access_revoked: scope_revoked, or access_revoked
-- with no user in rows stored before it had a transition of its own), made
-- after it.
DROP TABLE IF EXISTS seat_state;
CREATE VIEW IF NOT EXISTS seat_state AS
SELECT
    org,
    user,
    user_id,
    if(greatest(org_revoked_ms, business_revoked_ms) > last_ms, 'scope_revoked', toString(last_t)) AS last_transition,
    multiIf(
        last_transition = 'scope_revoked', 'revoked',
        last_transition IN ('assigned', 'refreshed', 'reused', 'updated', 'access_reinstated'), 'active',
        last_transition = 'unassigned', 'pending_cancellation',
        last_transition IN ('cancelled', 'cancelled_by_staff'), 'cancelled',
        last_transition = 'access_revoked', 'revoked',
        'unknown') AS state,
    last_actor,
    last_change,
    first_assigned,
    changes
FROM
(
    SELECT org, business, user, user_id, last_t, last_ms, last_actor, last_change, first_assigned, changes, org_revoked_ms
    FROM
    (
        SELECT
            org,
            user,
            any(business) AS business,
            any(user_id) AS user_id,
            argMax(transition, (event_ms, document_id)) AS last_t,
            max(event_ms) AS last_ms,
            argMax(actor, (event_ms, document_id)) AS last_actor,
            max(event_time) AS last_change,
            minIf(event_time, transition = 'assigned') AS first_assigned,
            count() AS changes
        FROM seat_timeline
        WHERE user != '' AND transition NOT IN ('other', 'policy_changed', 'plan_changed', 'licence_granted', 'licence_removed')
        GROUP BY org, user
    ) AS s
    ANY LEFT JOIN
    (
        SELECT org, max(event_ms) AS org_revoked_ms
        FROM seat_timeline
        WHERE org != '' AND (transition = 'scope_revoked' OR (transition = 'access_revoked' AND user = ''))
        GROUP BY org
    ) AS o USING (org)
) AS so
ANY LEFT JOIN
(
    SELECT business, max(event_ms) AS business_revoked_ms
    FROM seat_timeline
    WHERE org = '' AND (transition = 'scope_revoked' OR (transition = 'access_revoked' AND user = ''))
    GROUP BY business
) AS b USING (business);

-- current_seats as before, but each seat detail is the latest lookup's
-- value even when that value is NULL (argMax skips NULL arguments; a tuple
-- holding one is not NULL): a seat assigned again after a pending
-- cancellation no longer shows the old billing end.
DROP TABLE IF EXISTS current_seats;
CREATE VIEW IF NOT EXISTS current_seats AS
SELECT
    org,
    user,
    user_id,
    state,
    last_transition,
    last_actor,
    last_change,
    first_assigned,
    changes,
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
        SELECT org, user, user_id, state, last_transition, last_actor,
            last_change, first_assigned, changes
        FROM seat_state
        WHERE state IN ('active', 'pending_cancellation')
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
        FROM seat_timeline
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
    FROM latest_seat_snapshot
    WHERE user != ''
    GROUP BY org, user
) AS sn USING (org, user);

-- Membership changes that grant, end or orphan seats (team, org and
-- enterprise membership, enterprise teams, SCIM deprovisioning, suspension,
-- renames): the context the seat periods are derived with, kept apart from
-- the seat timeline. Identity and deduplication as seat_events: the sorting
-- key holds only values from the event.
CREATE TABLE IF NOT EXISTS membership_events
(
    document_id String,
    document_id_derived UInt8,
    event_time DateTime,
    event_ms UInt64,
    action String,
    change Enum8('team_member_added' = 1, 'team_member_removed' = 2, 'org_member_added' = 3, 'org_member_removed' = 4, 'enterprise_member_removed' = 5, 'enterprise_team_member_added' = 6, 'enterprise_team_member_removed' = 7, 'deprovisioned' = 8, 'suspended' = 9, 'unsuspended' = 10, 'renamed' = 11),
    business String,
    org String,
    team String,
    enterprise_team String,
    user String,
    user_id UInt64,
    old_login String,
    actor String,
    actor_id UInt64,
    source String,
    source_position String,
    ingested_at DateTime,
    raw String
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(event_time)
ORDER BY (business, org, user_id, user, event_ms, document_id);

CREATE VIEW IF NOT EXISTS membership_timeline AS
SELECT *
FROM membership_events FINAL;

-- Seat periods, derived from the timeline and the membership events by
-- internal/lifecycle (cmd/enrich keeps them current; `seatctl derive`
-- rebuilds them). One row per period of a holder in a scope; a derivation
-- writes only the rows that changed, with a higher version, and a
-- tombstone (deleted = 1) for a period that no longer exists, so running
-- it twice writes nothing. Read through the periods view.
CREATE TABLE IF NOT EXISTS seat_periods
(
    scope String,
    scope_kind Enum8('org' = 1, 'enterprise' = 2),
    business String,
    holder String,
    period_no UInt32,
    user String,
    user_id UInt64,
    via Enum8('direct' = 1, 'team' = 2, 'enterprise_team' = 3, 'all_members' = 4, 'seat' = 5),
    team String,
    granted_by String,
    started_at DateTime,
    started_ms UInt64,
    start_event String,
    pending_from Nullable(DateTime),
    billable_until Nullable(DateTime),
    ended_at Nullable(DateTime),
    end_reason String,
    end_event String,
    orphaned_since Nullable(DateTime),
    orphan_reason String,
    plan String,
    deleted UInt8,
    version UInt64,
    derived_at DateTime
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (scope_kind, scope, holder, period_no);

-- The current periods. access_end: when the holder stopped having access
-- (ended_at, else the billable date of a pending seat, else never);
-- billable_end: when billing stopped (billable_until, else ended_at, else
-- never). 2100-01-01 stands for never (DateTime cannot be NULL in a tuple
-- compare on 18.16).
CREATE VIEW IF NOT EXISTS periods AS
SELECT
    scope, scope_kind, business, holder, period_no, user, user_id, via, team, granted_by,
    started_at, started_ms, start_event, pending_from, billable_until, ended_at, end_reason, end_event,
    orphaned_since, orphan_reason, plan, derived_at,
    ifNull(ended_at, ifNull(billable_until, toDateTime('2100-01-01 00:00:00', 'UTC'))) AS access_end,
    ifNull(billable_until, ifNull(ended_at, toDateTime('2100-01-01 00:00:00', 'UTC'))) AS billable_end
FROM seat_periods FINAL
WHERE deleted = 0;

-- One row per holder, scope and UTC calendar day on which the holder's seat
-- there was billable for any part of the day (a seat still open: to
-- today): a holder counts once a day however many periods overlap (a seat
-- revoked and reinstated the same month is paid once). The day takes the
-- team and plan of the latest period started by then.
CREATE VIEW IF NOT EXISTS seat_day_rows AS
SELECT
    scope, scope_kind, business, holder, day,
    argMax(user, started_ms) AS user,
    argMax(team, started_ms) AS team,
    argMax(plan, started_ms) AS plan
FROM
(
    SELECT
        scope, scope_kind, business, holder, user, team, plan, started_ms,
        arrayJoin(arrayMap(i -> addDays(first_day, i), range(toUInt64(dateDiff('day', first_day, last_day) + 1)))) AS day
    FROM
    (
        SELECT
            scope, scope_kind, business, holder, user, team, plan, started_ms,
            toDate(started_at, 'UTC') AS first_day,
            toDate(least(billable_end, now()) - 1, 'UTC') AS last_day
        FROM periods
        WHERE least(billable_end, now()) > started_at
    )
)
GROUP BY scope, scope_kind, business, holder, day;

-- Seat-days per scope, team, plan and month, the basis a finance team
-- reconciles GitHub's invoice against; the rows of a month add up to the
-- scope's seat-days. holders: distinct holders in the row.
CREATE VIEW IF NOT EXISTS seat_days AS
SELECT
    scope, scope_kind, team, plan,
    toStartOfMonth(day) AS month,
    count() AS seat_days,
    uniqExact(holder) AS holders
FROM seat_day_rows
GROUP BY scope, scope_kind, team, plan, month;

-- Orphaned periods, whenever: their holder was removed from the
-- organization or the enterprise, deprovisioned, suspended, or left the
-- granting team without an unassignment; orphaned from orphaned_since to
-- billable_end. monthly_cost_usd is the list price of the plan (Business
-- $19, Enterprise $39 a seat a month; an unknown plan is priced as
-- Business, never overstating the saving).
CREATE VIEW IF NOT EXISTS orphan_periods AS
SELECT
    scope, scope_kind, business, holder, user, user_id, via, team, granted_by, started_at,
    orphaned_since, orphan_reason, pending_from, billable_until, ended_at, end_reason, plan, billable_end,
    multiIf(plan = 'enterprise', 39, 19) AS monthly_cost_usd
FROM periods
WHERE orphaned_since IS NOT NULL;

-- Orphaned seats now: held or still billable.
CREATE VIEW IF NOT EXISTS orphaned_seats AS
SELECT *
FROM orphan_periods
WHERE billable_end > now();

-- Reconciliation also checks the seat periods held now against GitHub's
-- seat list.
ALTER TABLE seat_drift MODIFY COLUMN kind Enum8('seat_without_assignment' = 1, 'assignment_without_seat' = 2, 'seat_without_period' = 3, 'period_without_seat' = 4);
