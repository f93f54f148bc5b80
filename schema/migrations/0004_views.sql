-- Views for the people who use the timeline: seatctl, the Grafana
-- dashboards in deploy/grafana and any SIEM query the same definitions.
--
-- Every view lists its columns: ClickHouse 18.16 fixes a view's columns
-- when it is created, so SELECT * over a table that later gains columns
-- would silently hide them. 18.16 has no parameterised views and joins one
-- table per SELECT, hence the nesting; no toStartOfInterval either, so the
-- dashboards do their own bucketing. Everything here runs on 18.16 and on
-- current releases (ANY LEFT JOIN … USING, aliased join subqueries).

-- Current seats: seat_state (the last seat change of each org/user) joined
-- with the freshest seat detail GitHub gave for it, from either
--   * the latest enrichment lookup of one of the user's timeline rows
--     (e_*: argMax over the lookup time), or
--   * the latest seat-list poll (s_*: latest_seat_snapshot),
-- whichever is newer (detail_source, detail_at). last_activity_at is the
-- later of the two: it only reflects Copilot activity (IDE, chat, CLI),
-- NULL meaning never used or telemetry off. Cancelled and revoked seats are
-- not current; state is active or pending_cancellation.
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
    if(isNull(s_last_activity_at), e_last_activity_at,
        if(isNull(e_last_activity_at), s_last_activity_at,
            if(assumeNotNull(s_last_activity_at) >= assumeNotNull(e_last_activity_at), s_last_activity_at, e_last_activity_at))) AS last_activity_at,
    if(isNull(s_last_activity_at), e_last_activity_editor,
        if(isNull(e_last_activity_at), s_last_activity_editor,
            if(assumeNotNull(s_last_activity_at) >= assumeNotNull(e_last_activity_at), s_last_activity_editor, e_last_activity_editor))) AS last_activity_editor,
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
            argMax(billable_until, (ifNull(enriched_at, toDateTime(0)), event_ms)) AS e_billable_until,
            argMax(seat_created_at, (ifNull(enriched_at, toDateTime(0)), event_ms)) AS e_seat_created_at,
            argMax(last_activity_at, (ifNull(enriched_at, toDateTime(0)), event_ms)) AS e_last_activity_at,
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
        argMax(billable_until, snapshot_at) AS s_billable_until,
        argMax(seat_created_at, snapshot_at) AS s_seat_created_at,
        argMax(last_activity_at, snapshot_at) AS s_last_activity_at,
        argMax(last_activity_editor, snapshot_at) AS s_last_activity_editor
    FROM latest_seat_snapshot
    WHERE user != ''
    GROUP BY org, user
) AS sn USING (org, user);

-- Idle seats: every active seat whose activity is known (it has seat
-- detail), with how long it has been idle. Views take no parameters, so the
-- window is a filter on idle_days, the same in seatctl and Grafana:
--   SELECT … FROM idle_seats WHERE never_used = 1 OR idle_days >= 30
-- never_used: GitHub reports no Copilot activity at all (last_activity_at
-- NULL). idle_days counts from the last activity, or for a never-used seat
-- from when the seat was created (or first assigned). Seats pending
-- cancellation are already on their way out and are not listed.
CREATE VIEW IF NOT EXISTS idle_seats AS
SELECT
    org,
    user,
    user_id,
    plan_type,
    assigning_team_slug,
    first_assigned,
    last_change,
    last_actor,
    seat_created_at,
    last_activity_at,
    last_activity_editor,
    detail_source,
    detail_at,
    isNull(last_activity_at) AS never_used,
    dateDiff('day',
        ifNull(last_activity_at, ifNull(seat_created_at, if(first_assigned > toDateTime(0), first_assigned, last_change))),
        now()) AS idle_days
FROM current_seats
WHERE state = 'active' AND detail_source != '';

-- Seats pending cancellation: unassigned, still billed until billable_until
-- (GitHub's pending_cancellation_date: the end of the billing cycle). NULL
-- billable_until means the seat has not been looked up since it was
-- unassigned (run cmd/enrich).
CREATE VIEW IF NOT EXISTS pending_cancellations AS
SELECT
    org,
    user,
    user_id,
    last_change AS unassigned_at,
    last_actor AS unassigned_by,
    billable_until,
    plan_type,
    assigning_team_slug,
    detail_source,
    detail_at
FROM current_seats
WHERE state = 'pending_cancellation';

-- Seat changes per UTC day and org: assignments (assigned, refreshed: a
-- seat pending cancellation assigned again), removals (unassigned: billing
-- stops at the cycle's end; cancelled: the seat is gone), access revoked and
-- reinstated. Policy and plan changes are not seat changes.
CREATE VIEW IF NOT EXISTS daily_seat_changes AS
SELECT
    toDate(event_time, 'UTC') AS day,
    org,
    countIf(transition = 'assigned') AS assigned,
    countIf(transition = 'refreshed') AS refreshed,
    countIf(transition = 'unassigned') AS unassigned,
    countIf(transition IN ('cancelled', 'cancelled_by_staff')) AS cancelled,
    countIf(transition = 'access_revoked') AS access_revoked,
    countIf(transition = 'access_reinstated') AS access_reinstated,
    count() AS changes
FROM seat_timeline
WHERE user != '' AND transition NOT IN ('other', 'policy_changed', 'plan_changed')
GROUP BY day, org;
