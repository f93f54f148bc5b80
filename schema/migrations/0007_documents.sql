-- The first stored version of every _document_id, for the ingest
-- pipeline's identity check (internal/ingest/identity.go): before a batch
-- is written, its ids are looked up here; a copy of a known id that says
-- something else (another user, org, time, action: corruption or forgery,
-- GitHub's ids being unique) becomes a dead letter instead of a second
-- timeline row or a silent replacement of the first. The pipeline writes
-- a row here for each id it stores first; redeliveries of the same
-- content are not written again.
--
-- Keyed by a hash of the id, in small granules: a batch's lookup reads the
-- granules its ids fall in, one column, not the whole table. content_hash
-- is events.Event.ContentHash; 0 for the rows stored before this
-- migration, which the check compares by the columns kept here instead.
-- Ids derived from the raw bytes (no _document_id on the wire) name their
-- content already and are not kept.
CREATE TABLE IF NOT EXISTS documents
(
    id_hash UInt64 DEFAULT cityHash64(document_id),
    document_id String,
    content_hash UInt64,
    action String,
    event_ms UInt64,
    business String,
    org String,
    user String,
    actor String,
    team String,
    enterprise_team String,
    source String,
    source_position String
)
ENGINE = ReplacingMergeTree
ORDER BY id_hash
SETTINGS index_granularity = 256;

INSERT INTO documents (document_id, content_hash, action, event_ms, business, org, user, actor, team, enterprise_team, source, source_position)
SELECT document_id, 0, action, event_ms, business, org, user, actor, team, enterprise_team, source, source_position
FROM seat_events
WHERE document_id_derived = 0;

INSERT INTO documents (document_id, content_hash, action, event_ms, business, org, user, actor, team, enterprise_team, source, source_position)
SELECT document_id, 0, action, event_ms, business, org, user, actor, team, enterprise_team, source, source_position
FROM membership_events
WHERE document_id_derived = 0;
