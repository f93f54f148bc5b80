-- Read models: what seatctl, cmd/enrich and the dashboards read, kept
-- current by materialized views as rows arrive, so that no read
-- aggregates the whole timeline. seat_events stays the record of truth.
-- Each model is filled by its materialized views only: when this
-- migration creates a view, the runner also runs the view's SELECT over
-- the rows already stored (INSERT INTO target SELECT …), and
-- `seatctl rebuild` empties the targets and does the same (schema.ReadModels).
--
-- Why the models stay exact without coordination: a model row is either a
-- copy of one event row (seat_history, deduplicated like seat_events) or
-- aggregate states whose merge is idempotent and order-free (max, min,
-- argMax). A redelivered event, an enrichment's superseding
-- row, a batch replayed after kill -9, a fill running while ingest
-- writes, all fold into the same answer; in cluster mode every model is
-- sharded like seat_events, so one seat's rows meet on one shard.
-- count() and sum() would count a redelivery twice, so none is used.
--
-- Reads finalize states per row (FINAL, finalizeAggregation), never GROUP
-- BY every seat: that takes seconds at millions of seats on 18.16. For the
-- same reason argMax orders by one UInt64 (18.16 compares tuple keys and
-- stores tuple values through a slow generic path, and mishandles a
-- Nullable inside a tuple state): nullable details travel as plain values,
-- 1970-01-01 standing for NULL, and the views turn them back into NULL.

-- One user's seat history in an org: seat_events' rows without the raw
-- event, unpartitioned and with small granules, so `history --org --user`
-- reads a few granules instead of one per monthly partition. Its rows
-- collapse as seat_events' do: of two deliveries of one version (read at
-- two offsets) the later inserted stays, which may be a different copy
-- than seat_events keeps when two inserts overlap; both are places the
-- event was truly read. It is filled from seat_events FINAL
-- (schema.ReadModel.Fill).
CREATE TABLE IF NOT EXISTS seat_history
(
    document_id String,
    event_time DateTime,
    event_ms UInt64,
    transition Enum8('other' = 0, 'assigned' = 1, 'unassigned' = 2, 'cancelled' = 3, 'refreshed' = 4, 'reused' = 5, 'updated' = 6, 'policy_changed' = 7, 'plan_changed' = 8, 'access_revoked' = 9, 'access_reinstated' = 10, 'cancelled_by_staff' = 11, 'scope_revoked' = 12, 'licence_granted' = 13, 'licence_removed' = 14),
    action String,
    business String,
    org String,
    user String,
    actor String,
    assigning_team_slug String,
    assigning_team_name String,
    plan_type String,
    billable_until Nullable(Date),
    last_activity_at Nullable(DateTime),
    enrichment Enum8('pending' = 1, 'enriched' = 2, 'failed' = 3, 'not_applicable' = 4),
    source String,
    source_position String,
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (org, user, event_ms, document_id)
SETTINGS index_granularity = 1024;

CREATE MATERIALIZED VIEW IF NOT EXISTS seat_history_mv TO seat_history AS
SELECT document_id, event_time, event_ms, transition, action, business, org, user, actor,
    assigning_team_slug, assigning_team_name, plan_type, billable_until, last_activity_at,
    enrichment, source, source_position, version
FROM seat_events;

-- Each (org, user) seat as aggregate states, one row after merges:
--   last_*, first_assigned: its seat changes (every transition but other,
--     policy, plan and licence events); the last is the one with the
--     greatest event_ms, two in one millisecond ordered by a 22-bit hash
--     of their document ids (an order of the events alone, so a rebuild
--     agrees with the incremental states);
--   e_*: the latest enrichment lookup of one of its rows (api_status);
--   d_*: the freshest description GitHub gave of the seat, from an
--     enrichment lookup of one of its rows (d_source 1) or a seat-list
--     poll (2; a number: an empty state has no Enum value), ordered by
--     its time in seconds (a poll wins a tie, as before), then by the
--     event's time or a hash of the poll row's team. Rows that still tie
--     were looked up together and carry the same detail. Unlike the views
--     before, a seat the newest poll of its scope no longer lists keeps its
--     last known detail (detail_at says how old; reconcile reports the
--     drift) rather than falling back to an older lookup.
CREATE TABLE IF NOT EXISTS seat_current
(
    org String,
    user String,
    business AggregateFunction(max, String),
    user_id AggregateFunction(max, UInt64),
    last_ms AggregateFunction(maxIf, UInt64, UInt8),
    last_transition AggregateFunction(argMaxIf, Enum8('other' = 0, 'assigned' = 1, 'unassigned' = 2, 'cancelled' = 3, 'refreshed' = 4, 'reused' = 5, 'updated' = 6, 'policy_changed' = 7, 'plan_changed' = 8, 'access_revoked' = 9, 'access_reinstated' = 10, 'cancelled_by_staff' = 11, 'scope_revoked' = 12, 'licence_granted' = 13, 'licence_removed' = 14), UInt64, UInt8),
    last_actor AggregateFunction(argMaxIf, String, UInt64, UInt8),
    first_assigned AggregateFunction(minIf, DateTime, UInt8),
    e_at AggregateFunction(maxIf, DateTime, UInt8),
    e_status AggregateFunction(argMaxIf, Enum8('unknown' = 0, 'active' = 1, 'pending_cancellation' = 2, 'absent' = 3, 'policy_blocked' = 4), UInt64, UInt8),
    d_at AggregateFunction(maxIf, DateTime, UInt8),
    d_source AggregateFunction(argMaxIf, UInt8, UInt64, UInt8),
    d_plan_type AggregateFunction(argMaxIf, String, UInt64, UInt8),
    d_team_slug AggregateFunction(argMaxIf, String, UInt64, UInt8),
    d_team_name AggregateFunction(argMaxIf, String, UInt64, UInt8),
    d_billable_until AggregateFunction(argMaxIf, Date, UInt64, UInt8),
    d_seat_created_at AggregateFunction(argMaxIf, DateTime, UInt64, UInt8),
    d_last_activity_at AggregateFunction(argMaxIf, DateTime, UInt64, UInt8),
    d_last_activity_editor AggregateFunction(argMaxIf, String, UInt64, UInt8)
)
ENGINE = AggregatingMergeTree
ORDER BY (org, user);

-- 18.16 runs a materialized view's SELECT on each inserted block only
-- when it reads the table directly (no subquery), and only when it yields
-- every column of its target, each of the target's exact type (no String
-- to Enum conversion): so the expressions are written out, enums are
-- CAST, and each view gives the states it does not feed as empty ones (-If
-- over false, or a value no real one sorts below).
CREATE MATERIALIZED VIEW IF NOT EXISTS seat_current_events_mv TO seat_current AS
SELECT
    org,
    user,
    maxState(business) AS business,
    maxState(user_id) AS user_id,
    maxIfState(event_ms, transition NOT IN ('other', 'policy_changed', 'plan_changed', 'licence_granted', 'licence_removed')) AS last_ms,
    argMaxIfState(transition, event_ms * 4194304 + cityHash64(document_id) % 4194304, transition NOT IN ('other', 'policy_changed', 'plan_changed', 'licence_granted', 'licence_removed')) AS last_transition,
    argMaxIfState(actor, event_ms * 4194304 + cityHash64(document_id) % 4194304, transition NOT IN ('other', 'policy_changed', 'plan_changed', 'licence_granted', 'licence_removed')) AS last_actor,
    minIfState(event_time, transition NOT IN ('other', 'policy_changed', 'plan_changed', 'licence_granted', 'licence_removed') AND transition = 'assigned') AS first_assigned,
    maxIfState(ifNull(enriched_at, toDateTime(0)), enrichment = 'enriched') AS e_at,
    argMaxIfState(seat_status, toUInt64(toUInt32(ifNull(enriched_at, toDateTime(0)))) * 4294967296 + toUInt32(event_time) % 2147483648, enrichment = 'enriched') AS e_status,
    maxIfState(ifNull(enriched_at, toDateTime(0)), enrichment = 'enriched') AS d_at,
    argMaxIfState(toUInt8(1), toUInt64(toUInt32(ifNull(enriched_at, toDateTime(0)))) * 4294967296 + toUInt32(event_time) % 2147483648, enrichment = 'enriched') AS d_source,
    argMaxIfState(plan_type, toUInt64(toUInt32(ifNull(enriched_at, toDateTime(0)))) * 4294967296 + toUInt32(event_time) % 2147483648, enrichment = 'enriched') AS d_plan_type,
    argMaxIfState(assigning_team_slug, toUInt64(toUInt32(ifNull(enriched_at, toDateTime(0)))) * 4294967296 + toUInt32(event_time) % 2147483648, enrichment = 'enriched') AS d_team_slug,
    argMaxIfState(assigning_team_name, toUInt64(toUInt32(ifNull(enriched_at, toDateTime(0)))) * 4294967296 + toUInt32(event_time) % 2147483648, enrichment = 'enriched') AS d_team_name,
    argMaxIfState(ifNull(billable_until, toDate(0)), toUInt64(toUInt32(ifNull(enriched_at, toDateTime(0)))) * 4294967296 + toUInt32(event_time) % 2147483648, enrichment = 'enriched') AS d_billable_until,
    argMaxIfState(ifNull(seat_created_at, toDateTime(0)), toUInt64(toUInt32(ifNull(enriched_at, toDateTime(0)))) * 4294967296 + toUInt32(event_time) % 2147483648, enrichment = 'enriched') AS d_seat_created_at,
    argMaxIfState(ifNull(last_activity_at, toDateTime(0)), toUInt64(toUInt32(ifNull(enriched_at, toDateTime(0)))) * 4294967296 + toUInt32(event_time) % 2147483648, enrichment = 'enriched') AS d_last_activity_at,
    argMaxIfState(last_activity_editor, toUInt64(toUInt32(ifNull(enriched_at, toDateTime(0)))) * 4294967296 + toUInt32(event_time) % 2147483648, enrichment = 'enriched') AS d_last_activity_editor
FROM seat_events
WHERE user != ''
GROUP BY org, user;

CREATE MATERIALIZED VIEW IF NOT EXISTS seat_current_snapshots_mv TO seat_current AS
SELECT
    org,
    user,
    maxState('') AS business,
    maxState(toUInt64(0)) AS user_id,
    maxIfState(toUInt64(0), 0) AS last_ms,
    argMaxIfState(CAST('other' AS Enum8('other' = 0, 'assigned' = 1, 'unassigned' = 2, 'cancelled' = 3, 'refreshed' = 4, 'reused' = 5, 'updated' = 6, 'policy_changed' = 7, 'plan_changed' = 8, 'access_revoked' = 9, 'access_reinstated' = 10, 'cancelled_by_staff' = 11, 'scope_revoked' = 12, 'licence_granted' = 13, 'licence_removed' = 14)), toUInt64(0), 0) AS last_transition,
    argMaxIfState('', toUInt64(0), 0) AS last_actor,
    minIfState(toDateTime(0), 0) AS first_assigned,
    maxIfState(toDateTime(0), 0) AS e_at,
    argMaxIfState(CAST('unknown' AS Enum8('unknown' = 0, 'active' = 1, 'pending_cancellation' = 2, 'absent' = 3, 'policy_blocked' = 4)), toUInt64(0), 0) AS e_status,
    maxIfState(snapshot_at, 1) AS d_at,
    argMaxIfState(toUInt8(2), toUInt64(toUInt32(snapshot_at)) * 4294967296 + 2147483648 + cityHash64(assigning_team_slug) % 2147483648, 1) AS d_source,
    argMaxIfState(plan_type, toUInt64(toUInt32(snapshot_at)) * 4294967296 + 2147483648 + cityHash64(assigning_team_slug) % 2147483648, 1) AS d_plan_type,
    argMaxIfState(assigning_team_slug, toUInt64(toUInt32(snapshot_at)) * 4294967296 + 2147483648 + cityHash64(assigning_team_slug) % 2147483648, 1) AS d_team_slug,
    argMaxIfState(assigning_team_name, toUInt64(toUInt32(snapshot_at)) * 4294967296 + 2147483648 + cityHash64(assigning_team_slug) % 2147483648, 1) AS d_team_name,
    argMaxIfState(ifNull(billable_until, toDate(0)), toUInt64(toUInt32(snapshot_at)) * 4294967296 + 2147483648 + cityHash64(assigning_team_slug) % 2147483648, 1) AS d_billable_until,
    argMaxIfState(ifNull(seat_created_at, toDateTime(0)), toUInt64(toUInt32(snapshot_at)) * 4294967296 + 2147483648 + cityHash64(assigning_team_slug) % 2147483648, 1) AS d_seat_created_at,
    argMaxIfState(ifNull(last_activity_at, toDateTime(0)), toUInt64(toUInt32(snapshot_at)) * 4294967296 + 2147483648 + cityHash64(assigning_team_slug) % 2147483648, 1) AS d_last_activity_at,
    argMaxIfState(last_activity_editor, toUInt64(toUInt32(snapshot_at)) * 4294967296 + 2147483648 + cityHash64(assigning_team_slug) % 2147483648, 1) AS d_last_activity_editor
FROM seat_snapshots
WHERE user != ''
GROUP BY org, user;

-- The last revocation of each organization's and each enterprise's
-- Copilot access (copilot.access_revoked for the whole scope). A handful
-- of rows: seat_facts looks them up per seat without a join.
CREATE TABLE IF NOT EXISTS scope_revocations
(
    scope_kind Enum8('org' = 1, 'business' = 2),
    scope String,
    revoked_ms AggregateFunction(max, UInt64)
)
ENGINE = AggregatingMergeTree
ORDER BY (scope_kind, scope);

CREATE MATERIALIZED VIEW IF NOT EXISTS scope_revocations_mv TO scope_revocations AS
SELECT
    CAST(if(org != '', 'org', 'business') AS Enum8('org' = 1, 'business' = 2)) AS scope_kind,
    if(org != '', org, business) AS scope,
    maxState(event_ms) AS revoked_ms
FROM seat_events
WHERE transition = 'scope_revoked' OR (transition = 'access_revoked' AND user = '')
GROUP BY scope_kind, scope;

-- Every seat of seat_current, finalized: its last seat change, made
-- 'scope_revoked' when its org's or enterprise's access was revoked after
-- it (seat_state's rule since migration 5), and its details. Revocations
-- are few: read once per query into arrays (scalar subqueries) and looked
-- up per seat, far cheaper than a join over every seat on 18.16.
CREATE VIEW IF NOT EXISTS seat_facts AS
WITH
    (SELECT (arrayConcat([''], groupArray(scope)), arrayConcat([toUInt64(0)], groupArray(ms)))
        FROM (SELECT scope, maxMerge(revoked_ms) AS ms FROM scope_revocations WHERE scope_kind = 'org' GROUP BY scope)) AS org_revoked,
    (SELECT (arrayConcat([''], groupArray(scope)), arrayConcat([toUInt64(0)], groupArray(ms)))
        FROM (SELECT scope, maxMerge(revoked_ms) AS ms FROM scope_revocations WHERE scope_kind = 'business' GROUP BY scope)) AS business_revoked
SELECT
    org,
    user,
    business,
    user_id,
    last_ms,
    if(greatest(transform(org, tupleElement(org_revoked, 1), tupleElement(org_revoked, 2), toUInt64(0)),
            transform(business, tupleElement(business_revoked, 1), tupleElement(business_revoked, 2), toUInt64(0))) > last_ms,
        'scope_revoked', toString(f_last_transition)) AS last_transition,
    multiIf(
        last_transition = 'scope_revoked', 'revoked',
        last_transition IN ('assigned', 'refreshed', 'reused', 'updated', 'access_reinstated'), 'active',
        last_transition = 'unassigned', 'pending_cancellation',
        last_transition IN ('cancelled', 'cancelled_by_staff'), 'cancelled',
        last_transition = 'access_revoked', 'revoked',
        'unknown') AS state,
    finalizeAggregation(last_actor) AS last_actor,
    toDateTime(intDiv(last_ms, 1000)) AS last_change,
    finalizeAggregation(first_assigned) AS first_assigned,
    f_d_at AS detail_at,
    multiIf(detail_at = toDateTime(0), '', finalizeAggregation(d_source) = 2, 'snapshot', 'enrichment') AS detail_source,
    finalizeAggregation(d_plan_type) AS plan_type,
    finalizeAggregation(d_team_slug) AS assigning_team_slug,
    finalizeAggregation(d_team_name) AS assigning_team_name,
    nullIf(finalizeAggregation(d_billable_until), toDate(0)) AS billable_until,
    nullIf(finalizeAggregation(d_seat_created_at), toDateTime(0)) AS seat_created_at,
    nullIf(finalizeAggregation(d_last_activity_at), toDateTime(0)) AS last_activity_at,
    finalizeAggregation(d_last_activity_editor) AS last_activity_editor,
    if(finalizeAggregation(e_at) > toDateTime(0), toString(finalizeAggregation(e_status)), '') AS api_status
FROM
(
    SELECT
        org,
        user,
        finalizeAggregation(business) AS business,
        finalizeAggregation(user_id) AS user_id,
        finalizeAggregation(last_ms) AS last_ms,
        finalizeAggregation(last_transition) AS f_last_transition,
        finalizeAggregation(d_at) AS f_d_at,
        last_actor, first_assigned, e_at, e_status, d_source, d_plan_type, d_team_slug, d_team_name,
        d_billable_until, d_seat_created_at, d_last_activity_at, d_last_activity_editor
    FROM seat_current FINAL
);

-- seat_state and current_seats as before, now read from the models. They
-- no longer count a seat's changes (an exact count would keep every event
-- id per seat; history has them).
DROP TABLE IF EXISTS seat_state;
CREATE VIEW IF NOT EXISTS seat_state AS
SELECT org, user, user_id, last_transition, state, last_actor, last_change, first_assigned
FROM seat_facts
WHERE last_ms > 0;

DROP TABLE IF EXISTS current_seats;
CREATE VIEW IF NOT EXISTS current_seats AS
SELECT
    org, user, user_id, state, last_transition, last_actor, last_change, first_assigned,
    detail_source, detail_at, plan_type, assigning_team_slug, assigning_team_name, billable_until,
    seat_created_at, last_activity_at, last_activity_editor, api_status
FROM seat_facts
WHERE last_ms > 0 AND state IN ('active', 'pending_cancellation');
