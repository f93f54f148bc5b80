package timeline

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// CheckpointState is where an object stands in source_checkpoints.
type CheckpointState string

const (
	// CheckpointInProgress: the rows of lines 1..Lines are stored; resume after Lines.
	CheckpointInProgress CheckpointState = "in_progress"
	// CheckpointDone: every line of the object is stored.
	CheckpointDone CheckpointState = "done"
	// CheckpointError: the object is damaged (truncated or corrupt gzip);
	// the lines before the damage are stored and the damage is a dead letter.
	CheckpointError CheckpointState = "error"
)

// Checkpoint is one object's position (a row of source_checkpoints).
type Checkpoint struct {
	Source    string // "s3:bucket/prefix", "file:local"
	Key       string // object key or absolute path
	ETag      string // the content the position applies to
	Size      uint64
	Lines     uint64 // last line (or JSON-array element) whose rows are stored
	State     CheckpointState
	Detail    string // for CheckpointError: what is wrong and where
	UpdatedAt time.Time
}

// Finished reports whether the checkpoint needs no more reading for etag.
func (c Checkpoint) Finished(etag string) bool {
	return c.ETag == etag && (c.State == CheckpointDone || c.State == CheckpointError)
}

// checkpointVersion hands out strictly increasing versions (Unix
// nanoseconds, bumped when the clock repeats or steps back), so the newest
// write of a key always wins in ReplacingMergeTree and argMax.
var checkpointVersion struct {
	sync.Mutex
	last uint64
}

func nextCheckpointVersion(now time.Time) uint64 {
	checkpointVersion.Lock()
	defer checkpointVersion.Unlock()
	v := uint64(now.UnixNano())
	if v <= checkpointVersion.last {
		v = checkpointVersion.last + 1
	}
	checkpointVersion.last = v
	return v
}

// checkpointRow is a Checkpoint as written: its defaults filled in and
// its version.
type checkpointRow struct {
	Checkpoint
	version uint64
}

// checkpointTable is source_checkpoints' insert.
var checkpointTable = newTable("source_checkpoints",
	col("source", func(c *checkpointRow) string { return c.Source }),
	col("key", func(c *checkpointRow) string { return c.Key }),
	col("etag", func(c *checkpointRow) string { return c.ETag }),
	col("size", func(c *checkpointRow) uint64 { return c.Size }),
	col("lines", func(c *checkpointRow) uint64 { return c.Lines }),
	col("state", func(c *checkpointRow) string { return string(c.State) }),
	col("detail", func(c *checkpointRow) string { return c.Detail }),
	col("updated_at", func(c *checkpointRow) time.Time { return c.UpdatedAt.UTC() }),
	col("version", func(c *checkpointRow) uint64 { return c.version }),
)

// WriteCheckpoints stores cps (one insert). It returns once ClickHouse has
// acknowledged them. UpdatedAt is set to now when zero.
func (s *Store) WriteCheckpoints(ctx context.Context, cps []Checkpoint) error {
	if len(cps) == 0 {
		return nil
	}
	now := time.Now().UTC()
	rows := make([]checkpointRow, len(cps))
	for i, c := range cps {
		if c.UpdatedAt.IsZero() {
			c.UpdatedAt = now
		}
		if c.State == "" {
			c.State = CheckpointInProgress
		}
		rows[i] = checkpointRow{Checkpoint: c, version: nextCheckpointVersion(now)}
	}
	return s.send(ctx, checkpointTable.insert, func(b driver.Batch) error { return checkpointTable.appendTo(b, rows) })
}

// Checkpoints returns the newest checkpoint of every key of source in
// [fromKey, toKey] (both inclusive; an empty toKey means no upper bound).
func (s *Store) Checkpoints(ctx context.Context, source, fromKey, toKey string) (map[string]Checkpoint, error) {
	q := `SELECT key, argMax(etag, version), argMax(size, version), argMax(lines, version),
		toString(argMax(state, version)), argMax(detail, version), max(updated_at)
		FROM source_checkpoints
		WHERE source = ? AND key >= ?`
	args := []any{source, fromKey}
	if toKey != "" {
		q += " AND key <= ?"
		args = append(args, toKey)
	}
	q += " GROUP BY key"
	rows, err := s.conn.Query(ctx, q, args...)
	if err != nil {
		return nil, Explain(s.cfg, fmt.Errorf("reading source_checkpoints: %w", err))
	}
	defer rows.Close()
	out := map[string]Checkpoint{}
	for rows.Next() {
		c := Checkpoint{Source: source}
		var state string
		if err := rows.Scan(&c.Key, &c.ETag, &c.Size, &c.Lines, &state, &c.Detail, &c.UpdatedAt); err != nil {
			return nil, fmt.Errorf("reading source_checkpoints: %w", err)
		}
		c.State = CheckpointState(state)
		out[c.Key] = c
	}
	if err := rows.Err(); err != nil {
		return nil, Explain(s.cfg, fmt.Errorf("reading source_checkpoints: %w", err))
	}
	return out, nil
}
