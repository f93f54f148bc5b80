package seatctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/seatline/seatline/internal/cli"
	"github.com/seatline/seatline/internal/timeline"
	"github.com/seatline/seatline/schema"
)

// connect opens the timeline database for reading. Unlike the workers it
// never creates a database: a mistyped --clickhouse-database is a
// configuration error naming the databases that do exist. If the schema
// lacks migrations this binary knows (the views seats and pending read),
// it applies them (idempotent, as the workers do at start-up); a user
// without DDL rights gets a warning, and a clear error where a view is
// missing.
func connect(ctx context.Context, cfg timeline.Config, warn io.Writer) (*timeline.Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, &cli.ConfigError{Err: err}
	}
	if err := checkDatabase(ctx, cfg); err != nil {
		return nil, err
	}
	store, err := timeline.Open(ctx, cfg)
	if err != nil {
		return nil, err
	}
	have, err := store.SchemaVersion(ctx)
	if err != nil {
		store.Close()
		if isException(err, 60) { // UNKNOWN_TABLE: no schema_migrations
			return nil, &cli.ConfigError{Err: fmt.Errorf("database %q on %s holds no seatline timeline (no schema_migrations table): check --clickhouse-database; ingest creates the tables",
				cfg.Database, strings.Join(cfg.Addrs, ","))}
		}
		return nil, err
	}
	if want := latestMigration(); have < want {
		if err := store.Migrate(ctx); err != nil {
			fmt.Fprintf(warn, "seatctl: warning: the timeline schema is at migration %d, this seatctl expects %d, and applying the rest failed: %v\n"+
				"  (run ingest or enrich of this release once, or use a ClickHouse user that may CREATE VIEW)\n", have, want, err)
		}
	}
	return store, nil
}

// checkDatabase fails with a configuration error if cfg.Database does not
// exist. A server that does not let this user read system.databases is
// given the benefit of the doubt.
func checkDatabase(ctx context.Context, cfg timeline.Config) error {
	probe := cfg
	probe.Database = "system"
	s, err := timeline.Open(ctx, probe)
	if err != nil {
		return err
	}
	defer s.Close()
	rows, err := s.Conn().Query(ctx, "SELECT name FROM system.databases ORDER BY name")
	if err != nil {
		return nil
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil
		}
		if n == cfg.Database {
			return nil
		}
		if n != "system" && !strings.HasPrefix(n, "INFORMATION_SCHEMA") && !strings.HasPrefix(n, "information_schema") {
			names = append(names, n)
		}
	}
	if rows.Err() != nil {
		return nil
	}
	return &cli.ConfigError{Err: fmt.Errorf("clickhouse-database: there is no database %q on %s (it has: %s)",
		cfg.Database, strings.Join(cfg.Addrs, ","), strings.Join(names, ", "))}
}

func latestMigration() int {
	migs, err := schema.Migrations()
	if err != nil || len(migs) == 0 {
		return 0
	}
	return migs[len(migs)-1].Version
}

func isException(err error, code int32) bool {
	var ex *clickhouse.Exception
	return errors.As(err, &ex) && ex.Code == code
}

// queryError explains a failed query; a missing view (an old schema) says
// what to do.
func queryError(store *timeline.Store, view string, err error) error {
	if isException(err, 60) && view != "" {
		return fmt.Errorf("the view %s does not exist in database %q: run ingest or enrich of this release once (they apply schema migrations), or let seatctl's ClickHouse user CREATE VIEW", view, store.Config().Database)
	}
	return timeline.Explain(store.Config(), err)
}

// where collects SQL conditions with their bound values. Column names and
// operators come from code only; values are always bound with "?".
type where struct {
	conds []string
	args  []any
}

func (w *where) add(cond string, args ...any) {
	w.conds = append(w.conds, cond)
	w.args = append(w.args, args...)
}

// in adds "expr IN (?, ?, …)" for the values, if any.
func (w *where) in(expr string, vals []string) {
	if len(vals) == 0 {
		return
	}
	w.conds = append(w.conds, expr+" IN ("+placeholders(len(vals))+")")
	for _, v := range vals {
		w.args = append(w.args, v)
	}
}

// anyIn adds "(a IN (…) OR b IN (…))" for the values, if any.
func (w *where) anyIn(exprs []string, vals []string) {
	if len(vals) == 0 {
		return
	}
	var parts []string
	for _, e := range exprs {
		parts = append(parts, e+" IN ("+placeholders(len(vals))+")")
		for _, v := range vals {
			w.args = append(w.args, v)
		}
	}
	w.conds = append(w.conds, "("+strings.Join(parts, " OR ")+")")
}

func (w *where) sql() string {
	if len(w.conds) == 0 {
		return ""
	}
	return "\nWHERE " + strings.Join(w.conds, "\n  AND ")
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}
