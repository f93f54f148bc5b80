-- Point-in-time seat lists polled from GitHub by cmd/enrich: the basis for
-- "who held a seat on date X" and idle-seat audits. One row per seat per
-- poll. The enterprise seat list has one seat per granting org or
-- enterprise team, so the team is part of the key.
CREATE TABLE IF NOT EXISTS seat_snapshots
(
    snapshot_at DateTime,
    scope Enum8('org' = 1, 'enterprise' = 2),
    scope_name String,
    org String,
    user String,
    user_id UInt64,
    assignee_type String,
    plan_type String,
    assigning_team_slug String,
    assigning_team_name String,
    assigning_team_kind Enum8('none' = 0, 'org' = 1, 'enterprise' = 2),
    billable_until Nullable(Date),
    seat_created_at Nullable(DateTime),
    last_activity_at Nullable(DateTime),
    last_activity_editor String,
    last_authenticated_at Nullable(DateTime)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(snapshot_at)
ORDER BY (scope, scope_name, org, user, assigning_team_slug, snapshot_at);

-- Reconciliation findings: a seat in the API with no assignment in the
-- timeline, or a timeline seat the API no longer has.
CREATE TABLE IF NOT EXISTS seat_drift
(
    detected_at DateTime,
    org String,
    user String,
    kind Enum8('seat_without_assignment' = 1, 'assignment_without_seat' = 2),
    timeline_state String,
    api_state String,
    detail String
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(detected_at)
ORDER BY (org, user, kind, detected_at);

-- The latest snapshot of each seat: the newest poll per scope. GLOBAL IN
-- is plain IN on one server; on a cluster (schema.ForCluster) it computes
-- the newest polls once, over every shard, instead of per shard.
CREATE VIEW IF NOT EXISTS latest_seat_snapshot AS
SELECT *
FROM seat_snapshots FINAL
WHERE (scope, scope_name, snapshot_at) GLOBAL IN
(
    SELECT scope, scope_name, max(snapshot_at)
    FROM seat_snapshots
    GROUP BY scope, scope_name
);
