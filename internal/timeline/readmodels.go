package timeline

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/seatline/seatline/schema"
)

// fillSettings bound a read model's fill: it aggregates the whole timeline
// in one GROUP BY, which spills to disk past 1 GiB rather than failing on
// the server's memory limit.
var fillSettings = clickhouse.Settings{"max_bytes_before_external_group_by": 1 << 30}

// RebuildReadModels empties every read model and fills it again from the
// timeline with its materialized views' own SELECTs (schema.ReadModels).
// Ingest may keep writing meanwhile: the views fold its rows in, and the
// fill's copy of them folds away. Reads see partly filled models until it
// returns. progress, if set, hears of each model as it is done.
func (s *Store) RebuildReadModels(ctx context.Context, progress func(target string, rows uint64, took time.Duration)) error {
	models, err := schema.ReadModels()
	if err != nil {
		return err
	}
	for _, target := range schema.ReadModelTargets(models) {
		t0 := time.Now()
		truncate := "TRUNCATE TABLE " + target
		if s.cfg.Cluster != "" {
			truncate = fmt.Sprintf("TRUNCATE TABLE %s.%s_local ON CLUSTER %s", s.cfg.Database, target, s.cfg.Cluster)
		}
		if err := s.conn.Exec(ctx, truncate); err != nil {
			return Explain(s.cfg, fmt.Errorf("rebuild %s: %w", target, err))
		}
		for _, r := range models {
			if r.Target != target {
				continue
			}
			if err := s.conn.Exec(clickhouse.Context(ctx, clickhouse.WithSettings(fillSettings)), r.Fill()); err != nil {
				return Explain(s.cfg, fmt.Errorf("rebuild %s from %s (view %s): %w", target, r.Source, r.View, err))
			}
		}
		if progress != nil {
			var n uint64
			if err := s.conn.QueryRow(ctx, "SELECT count() FROM "+target).Scan(&n); err != nil {
				return Explain(s.cfg, err)
			}
			progress(target, n, time.Since(t0))
		}
	}
	return nil
}

// ReadModelDiff is a read model whose content differs from a rebuild of it
// from the timeline: rows after merging, and a fingerprint of their values.
type ReadModelDiff struct {
	Target            string
	Rows, RebuiltRows uint64
	Examples          []string // a few rows only one side has: "model: …" or "rebuild: …"
}

func (d ReadModelDiff) String() string {
	s := fmt.Sprintf("%s: %d rows, a rebuild from the timeline %d, and their values differ", d.Target, d.Rows, d.RebuiltRows)
	for _, e := range d.Examples {
		s += "\n  " + e
	}
	return s
}

// CheckReadModels rebuilds every read model into a scratch copy
// (<target>_check, dropped afterwards) and compares the two, each
// finalized and merged (FINAL): it reports the models the incremental path
// got wrong, and changes none. Single server only: on a cluster the
// scratch copies would need their own Distributed tables.
func (s *Store) CheckReadModels(ctx context.Context) ([]ReadModelDiff, error) {
	if s.cfg.Cluster != "" {
		return nil, fmt.Errorf("checking read models runs on a single server; on a cluster, run seatctl rebuild")
	}
	models, err := schema.ReadModels()
	if err != nil {
		return nil, err
	}
	var diffs []ReadModelDiff
	for _, target := range schema.ReadModelTargets(models) {
		check := target + "_check"
		if err := s.conn.Exec(ctx, "DROP TABLE IF EXISTS "+check); err != nil {
			return nil, Explain(s.cfg, err)
		}
		if err := s.conn.Exec(ctx, "CREATE TABLE "+check+" AS "+target); err != nil {
			return nil, Explain(s.cfg, err)
		}
		d, err := s.checkOne(ctx, models, target, check)
		if dropErr := s.conn.Exec(context.WithoutCancel(ctx), "DROP TABLE IF EXISTS "+check); err == nil && dropErr != nil {
			err = Explain(s.cfg, dropErr)
		}
		if err != nil {
			return nil, err
		}
		if d != nil {
			diffs = append(diffs, *d)
		}
	}
	return diffs, nil
}

func (s *Store) checkOne(ctx context.Context, models []schema.ReadModel, target, check string) (*ReadModelDiff, error) {
	for _, r := range models {
		if r.Target != target {
			continue
		}
		fill := "INSERT INTO " + check + strings.TrimPrefix(r.Fill(), "INSERT INTO "+target)
		if err := s.conn.Exec(clickhouse.Context(ctx, clickhouse.WithSettings(fillSettings)), fill); err != nil {
			return nil, Explain(s.cfg, fmt.Errorf("check %s: fill from %s: %w", target, r.Source, err))
		}
	}
	// A model of copies keeps one delivered copy of each event, and two
	// copies of one version differ only in where they were read: which one
	// survives depends on insertion order, which a rebuild cannot replay
	// (seat_events keeps its own survivor). So where a copy came from is
	// left out of the comparison; everything else must be equal.
	var skip map[string]bool
	for _, r := range models {
		if r.Target == target && r.Copies {
			skip = deliveryColumns
		}
	}
	text, err := s.rowText(ctx, target, skip)
	if err != nil {
		return nil, err
	}
	var have, want struct {
		rows uint64
		sum  uint64
	}
	q := "SELECT count(), sum(cityHash64(" + text + ")) FROM %s FINAL"
	if err := s.conn.QueryRow(ctx, fmt.Sprintf(q, target)).Scan(&have.rows, &have.sum); err != nil {
		return nil, Explain(s.cfg, err)
	}
	if err := s.conn.QueryRow(ctx, fmt.Sprintf(q, check)).Scan(&want.rows, &want.sum); err != nil {
		return nil, Explain(s.cfg, err)
	}
	if have == want {
		return nil, nil
	}
	d := &ReadModelDiff{Target: target, Rows: have.rows, RebuiltRows: want.rows}
	// A few rows one side has and the other lacks, to show what differs.
	rows, err := s.conn.Query(ctx, fmt.Sprintf(`SELECT any(side), row FROM (
		SELECT 'model' AS side, %[1]s AS row FROM %[2]s FINAL
		UNION ALL
		SELECT 'rebuild' AS side, %[1]s AS row FROM %[3]s FINAL)
		GROUP BY row HAVING count() = 1 ORDER BY row LIMIT 6`, text, target, check))
	if err != nil {
		return nil, Explain(s.cfg, err)
	}
	defer rows.Close()
	for rows.Next() {
		var side, row string
		if err := rows.Scan(&side, &row); err != nil {
			return nil, err
		}
		if len(row) > 400 {
			row = row[:400] + "…"
		}
		d.Examples = append(d.Examples, side+": "+row)
	}
	return d, Explain(s.cfg, rows.Err())
}

// deliveryColumns say where a copy of an event was read, not what it says.
var deliveryColumns = map[string]bool{"source": true, "source_position": true}

// rowText renders one row of table as text: every column, aggregate
// states finalized (two states of one value may differ in bytes), NULL as
// \N, tab-separated.
func (s *Store) rowText(ctx context.Context, table string, skip map[string]bool) (string, error) {
	rows, err := s.conn.Query(ctx, "SELECT name, type FROM system.columns WHERE database = ? AND table = ? ORDER BY name", s.cfg.Database, table)
	if err != nil {
		return "", Explain(s.cfg, err)
	}
	defer rows.Close()
	var parts []string
	for rows.Next() {
		var name, typ string
		if err := rows.Scan(&name, &typ); err != nil {
			return "", err
		}
		if skip[name] {
			continue
		}
		v := "`" + name + "`"
		if strings.HasPrefix(typ, "AggregateFunction(") {
			v = "finalizeAggregation(" + v + ")"
		}
		parts = append(parts, "ifNull(toString("+v+"), '\\\\N')")
	}
	if err := rows.Err(); err != nil {
		return "", Explain(s.cfg, err)
	}
	if len(parts) == 0 {
		return "", fmt.Errorf("read model %s has no columns in database %s: is the schema migrated?", table, s.cfg.Database)
	}
	return "arrayStringConcat([" + strings.Join(parts, ", ") + "], '\\t')", nil
}
