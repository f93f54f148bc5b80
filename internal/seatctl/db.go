package seatctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

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
				"  (run ingest or enrich of this release once, or use a ClickHouse user that may CREATE VIEW)\n", have, want, Visible(err.Error()))
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

// Binding says how a query carries its bound values. One builder (binder,
// where) renders both forms from the one query text each query has.
type Binding int

const (
	// ClientBinding: "?" placeholders; clickhouse-go escapes each value and
	// splices it into the SQL text before sending. Every server takes it,
	// and 18.16 has nothing else.
	ClientBinding Binding = iota
	// ServerParams: "{p0:Type}" placeholders; clickhouse-go sends the values
	// beside the SQL and the server parses each as its declared type, so no
	// value is ever part of the SQL text. ClickHouse 22.8 and later
	// (timeline.ServerVersion.HasServerParams).
	ServerParams
)

// bindingFor picks the best form the store's server takes.
func bindingFor(store *timeline.Store) Binding {
	if store.Server().HasServerParams() {
		return ServerParams
	}
	return ClientBinding
}

// Stmt is a query as built: its SQL and the bound values in placeholder
// order (value i is the i-th "?", or {p<i>:Type}).
type Stmt struct {
	SQL     string
	Values  []any
	Binding Binding
}

// Args is what follows the SQL in clickhouse-go's Query: the values, or
// for ServerParams the values named p0, p1, …, which clickhouse-go sends
// as server-side parameters (it does so for named arguments when the SQL
// has {name:Type} placeholders and the server's revision allows it).
func (s Stmt) Args() []any {
	if s.Binding == ClientBinding {
		return s.Values
	}
	args := make([]any, len(s.Values))
	for i, v := range s.Values {
		args[i] = clickhouse.Named(paramName(i), v)
	}
	return args
}

func paramName(i int) string { return "p" + strconv.Itoa(i) }

// binder collects bound values and writes their placeholders.
type binder struct {
	form Binding
	vals []any
}

// arg binds v and returns its placeholder. Times are bound to the second:
// client-side binding has always sent them so, and a DateTime parameter
// refuses a fraction.
func (b *binder) arg(v any) string {
	if t, ok := v.(time.Time); ok {
		v = t.UTC().Truncate(time.Second)
	}
	i := len(b.vals)
	b.vals = append(b.vals, v)
	if b.form == ClientBinding {
		return "?"
	}
	return "{" + paramName(i) + ":" + paramType(v) + "}"
}

// paramType is the ClickHouse type a Go value is sent as. Only the types
// seatctl binds are here: another is a programming error, caught by the
// unit test that renders every query.
func paramType(v any) string {
	switch v.(type) {
	case string:
		return "String"
	case int, int64:
		return "Int64"
	case uint64:
		return "UInt64"
	case time.Time:
		return "DateTime"
	case []string:
		return "Array(String)"
	}
	panic(fmt.Sprintf("seatctl: no query parameter type for %T", v))
}

// bind replaces each "?" of text (SQL from code, never a value) with the
// placeholder of the next value.
func (b *binder) bind(text string, vals ...any) string {
	if n := strings.Count(text, "?"); n != len(vals) {
		panic(fmt.Sprintf("seatctl: %d placeholders, %d values in %q", n, len(vals), text))
	}
	var out strings.Builder
	for _, v := range vals {
		i := strings.IndexByte(text, '?')
		out.WriteString(text[:i])
		out.WriteString(b.arg(v))
		text = text[i+1:]
	}
	out.WriteString(text)
	return out.String()
}

// list is the right side of "expr IN …" for vals: "(?, ?, …)" one value
// each, or one Array(String) parameter.
func (b *binder) list(vals []string) string {
	if b.form == ServerParams {
		return b.arg(append([]string(nil), vals...))
	}
	ph := make([]string, len(vals))
	for i, v := range vals {
		ph[i] = b.arg(v)
	}
	return "(" + strings.Join(ph, ", ") + ")"
}

// stmt is the finished query.
func (b *binder) stmt(sql string) Stmt {
	return Stmt{SQL: sql, Values: b.vals, Binding: b.form}
}

// where collects SQL conditions with their bound values. Column names and
// operators come from code only; values are always bound.
type where struct {
	binder
	conds []string
}

func newWhere(form Binding) *where { return &where{binder: binder{form: form}} }

// add adds a condition; each "?" in cond binds the next of vals.
func (w *where) add(cond string, vals ...any) {
	w.conds = append(w.conds, w.bind(cond, vals...))
}

// in adds "expr IN (…)" for the values, if any.
func (w *where) in(expr string, vals []string) {
	if len(vals) == 0 {
		return
	}
	w.conds = append(w.conds, expr+" IN "+w.list(vals))
}

// anyIn adds "(a IN (…) OR b IN (…))" for the values, if any.
func (w *where) anyIn(exprs []string, vals []string) {
	if len(vals) == 0 {
		return
	}
	var parts []string
	for _, e := range exprs {
		parts = append(parts, e+" IN "+w.list(vals))
	}
	w.conds = append(w.conds, "("+strings.Join(parts, " OR ")+")")
}

// clause is "\nWHERE …", or "" without conditions.
func (w *where) clause() string {
	if len(w.conds) == 0 {
		return ""
	}
	return "\nWHERE " + strings.Join(w.conds, "\n  AND ")
}
