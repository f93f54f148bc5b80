-- Seat reclamation (seatctl reclaim apply): every change request sent to
-- GitHub and its outcome, one row per seat it names, appended as it
-- happens and never updated, so the journal is also the audit trail:
--   sending               written before the request goes out (the intent);
--   done                  GitHub answered 2xx (http_status, seats_cancelled,
--                         request_id: the audit events it causes carry it);
--   pending_cancellation  a seat lookup after the request shows the seat
--                         pending cancellation (pending_cancellation_date:
--                         the day billing stops, as GitHub returned it);
--   gone                  a lookup shows no seat any more;
--   not_ended             the request was answered, the seat is still
--                         active (another grant keeps it);
--   skipped               not sent: the re-check just before found the seat
--                         no longer a candidate, or GitHub's policy refuses
--                         it (reason); final for the plan;
--   failed                GitHub refused (reason: what to fix), rate_limited
--                         not sent within --github-max-wait, unknown sent
--                         without an answer: a rerun of the same plan checks
--                         these seats again and sends only what did not change.
-- A seat's state is its latest row (reclaim_state). recorded_ms orders a
-- seat's rows (strictly increasing within a run). monthly_price_cents is
-- the plan's list price of the seat, the saving once it is reclaimed.
CREATE TABLE IF NOT EXISTS reclaim_actions
(
    plan_sha256 String,
    plan_generated_at DateTime,
    scope_kind Enum8('org' = 1, 'enterprise' = 2),
    scope String,
    user String,
    user_id UInt64,
    action Enum8('unassign_user' = 1, 'remove_team_member' = 2, 'remove_enterprise_team_member' = 3),
    team String,
    outcome Enum8('sending' = 1, 'done' = 2, 'pending_cancellation' = 3, 'gone' = 4, 'not_ended' = 5, 'skipped' = 6, 'failed' = 7, 'rate_limited' = 8, 'unknown' = 9),
    reason String,
    batch UInt32,
    batch_size UInt32,
    request_id String,
    requested_at DateTime,
    recorded_ms UInt64,
    http_status UInt16,
    seats_cancelled UInt32,
    pending_cancellation_date Nullable(Date),
    plan_type String,
    monthly_price_cents UInt32
)
ENGINE = MergeTree
ORDER BY (plan_sha256, scope, user, action, recorded_ms);

-- Each planned seat action's latest state: the journal's last row for it.
-- pending_cancellation_date is the latest GitHub returned (argMax skips
-- NULL). Reclaimed seats: outcome done, pending_cancellation or gone.
CREATE VIEW IF NOT EXISTS reclaim_state AS
SELECT
    plan_sha256,
    scope_kind,
    scope,
    user,
    action,
    team,
    argMax(outcome, recorded_ms) AS outcome,
    argMax(reason, recorded_ms) AS reason,
    argMax(requested_at, recorded_ms) AS requested_at,
    argMax(http_status, recorded_ms) AS http_status,
    argMax(seats_cancelled, recorded_ms) AS seats_cancelled,
    argMax(request_id, recorded_ms) AS request_id,
    argMax(pending_cancellation_date, recorded_ms) AS pending_cancellation_date,
    max(user_id) AS user_id,
    max(plan_generated_at) AS plan_generated_at,
    any(plan_type) AS plan_type,
    max(monthly_price_cents) AS monthly_price_cents,
    max(recorded_ms) AS last_recorded_ms
FROM reclaim_actions
GROUP BY plan_sha256, scope_kind, scope, user, action, team;
