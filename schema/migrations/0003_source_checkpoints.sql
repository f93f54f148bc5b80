-- Where the S3 and local-file sources are: one row per object (an S3 key or
-- a file's absolute path) per source, written when ClickHouse has
-- acknowledged the rows of the lines before it (internal/s3src).
--
-- source: "s3:<bucket>/<prefix>" or "file:local". key: the object key or
-- path. etag and size identify the object's content (S3 ETag; for files
-- size and modification time): a checkpoint applies only to the same etag,
-- so an overwritten object is read again from line 1 (the timeline stays
-- clean through _document_id). lines: the last line (or JSON-array element)
-- whose rows are stored. state: in_progress (resume after `lines`), done
-- (every line stored), error (a corrupt object: the lines before the damage
-- are stored, the damage is a dead letter; detail says where).
--
-- Each write is a new row with a higher version; ReplacingMergeTree keeps
-- the newest per (source, key). Readers take argMax(…, version) per key, so
-- they never depend on merges having run. Runs on 18.16 and current
-- releases (no TTL, CODEC or LowCardinality).
CREATE TABLE IF NOT EXISTS source_checkpoints
(
    source String,
    key String,
    etag String,
    size UInt64,
    lines UInt64,
    state Enum8('in_progress' = 1, 'done' = 2, 'error' = 3),
    detail String,
    updated_at DateTime,
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (source, key);
