-- The seat-lifecycle timeline: one row per audit event.
--
-- Identity: _document_id. GitHub delivers at-least-once and Kafka redelivers
-- after a rebalance, so the same event may be inserted more than once. The
-- sorting key holds only values taken from the event itself (never from the
-- delivery), so every copy of an event has the same key and
-- ReplacingMergeTree keeps one: the row with the highest `version`.
-- Ingest writes version 0; enrichment writes a superseding row with a
-- higher version (the enrichment time in ms), so a late redelivery of the
-- raw event never hides an enriched row. Merges are eventual: read through
-- the seat_timeline view (FINAL) to see each event exactly once.
--
-- ORDER BY (org, user, event_time): one user's history in an org, and an
-- org's changes in a time range, both read a contiguous range.
-- 18.16 has no DateTime64: event_time is seconds, event_ms keeps the exact
-- @timestamp in Unix milliseconds.
CREATE TABLE IF NOT EXISTS seat_events
(
    document_id String,
    event_time DateTime,
    event_ms UInt64,
    created_ms UInt64,
    action String,
    transition Enum8('other' = 0, 'assigned' = 1, 'unassigned' = 2, 'cancelled' = 3, 'refreshed' = 4, 'reused' = 5, 'updated' = 6, 'policy_changed' = 7, 'plan_changed' = 8, 'access_revoked' = 9, 'access_reinstated' = 10, 'cancelled_by_staff' = 11),
    business String,
    business_id UInt64,
    org String,
    org_id UInt64,
    user String,
    user_id UInt64,
    actor String,
    actor_id UInt64,
    actor_is_bot UInt8,
    actor_is_agent UInt8,
    operation_type String,
    programmatic_access_type String,
    request_id String,
    actor_ip String,
    actor_country String,
    user_agent String,
    seat_assignment String,
    old_value String,
    new_value String,
    reason String,
    source String,
    source_position String,
    ingested_at DateTime,
    enrichment Enum8('pending' = 1, 'enriched' = 2, 'failed' = 3, 'not_applicable' = 4),
    enriched_at Nullable(DateTime),
    -- The seat as GitHub's REST API described it at enriched_at. A lookup
    -- long after the event describes the seat *now*, not then: enrichment_lag_s
    -- (enriched_at - event time) makes that visible.
    enrichment_lag_s Int64,
    enrichment_attempts UInt8,
    enrichment_error String,
    seat_status Enum8('unknown' = 0, 'active' = 1, 'pending_cancellation' = 2, 'absent' = 3, 'policy_blocked' = 4),
    plan_type String,
    assigning_team_slug String,
    assigning_team_name String,
    assigning_team_kind Enum8('none' = 0, 'org' = 1, 'enterprise' = 2),
    billable_until Nullable(Date),
    seat_created_at Nullable(DateTime),
    last_activity_at Nullable(DateTime),
    last_activity_editor String,
    last_authenticated_at Nullable(DateTime),
    version UInt64,
    raw String
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(event_time)
ORDER BY (org, user, event_time, document_id);

-- Dead letters: input that could not become a timeline row, with where it
-- came from and why. raw holds at most the first 64 KiB; raw_length and
-- raw_sha256 describe the whole original. A redelivered bad message has the
-- same (source, position), so ReplacingMergeTree keeps one copy.
CREATE TABLE IF NOT EXISTS ingest_errors
(
    received_at DateTime,
    source String,
    position String,
    reason_code String,
    reason String,
    document_id String,
    raw String,
    raw_length UInt64,
    raw_sha256 String
)
ENGINE = ReplacingMergeTree
ORDER BY (source, position);

-- The timeline with duplicates removed: every read should go through it.
CREATE VIEW IF NOT EXISTS seat_timeline AS
SELECT *
FROM seat_events FINAL;

CREATE VIEW IF NOT EXISTS dead_letters AS
SELECT *
FROM ingest_errors FINAL;

-- Current state of each (org, user) seat, from the last seat change in the
-- timeline. Policy and plan events (no user) are not seat changes.
-- The tuple (event_ms, document_id) orders events that share a millisecond
-- deterministically.
CREATE VIEW IF NOT EXISTS seat_state AS
SELECT
    org,
    user,
    any(user_id) AS user_id,
    argMax(transition, (event_ms, document_id)) AS last_transition,
    multiIf(
        last_transition IN ('assigned', 'refreshed', 'reused', 'updated', 'access_reinstated'), 'active',
        last_transition = 'unassigned', 'pending_cancellation',
        last_transition IN ('cancelled', 'cancelled_by_staff'), 'cancelled',
        last_transition = 'access_revoked', 'revoked',
        'unknown') AS state,
    argMax(actor, (event_ms, document_id)) AS last_actor,
    max(event_time) AS last_change,
    minIf(event_time, transition = 'assigned') AS first_assigned,
    count() AS changes
FROM seat_timeline
WHERE user != '' AND transition NOT IN ('other', 'policy_changed', 'plan_changed')
GROUP BY org, user;
