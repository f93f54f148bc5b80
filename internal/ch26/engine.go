//go:build chdb

// Package ch26 runs ClickHouse 26.x in process through chDB, so the tests
// can check that seatline's schema and queries behave on a current release
// as on the 18.16 server every other test runs.
//
// chdb-go loads libchdb.so ($CHDB_LIB_PATH) when the package is initialised
// and panics without it, so every file here carries the build tag chdb:
// `go test ./...` skips the package and `make test` runs it with the tag.
package ch26

import (
	"context"
	"fmt"
	"strings"

	"github.com/chdb-io/chdb-go/chdb"

	"github.com/seatline/seatline/internal/testenv"
	"github.com/seatline/seatline/schema"
)

// Engine is the process's chDB session (chdb-go keeps one per process).
type Engine struct {
	s *chdb.Session
}

// Open starts chDB with its data in dir.
func Open(dir string) (*Engine, error) {
	s, err := chdb.NewSession(dir)
	if err != nil {
		return nil, fmt.Errorf("chdb: %w", err)
	}
	e := &Engine{s: s}
	// The test servers run with timezone UTC: DateTime values render and
	// parse alike on both engines only in the same zone.
	if err := e.Exec("SET session_timezone = 'UTC'"); err != nil {
		s.Close()
		return nil, err
	}
	return e, nil
}

// Close ends the session.
func (e *Engine) Close() { e.s.Close() }

// Query runs sql and returns its rows in TabSeparated, the format the
// 18.16 server's HTTP interface answers in by default.
func (e *Engine) Query(sql string) (string, error) {
	r, err := e.s.Query(sql, "TabSeparated")
	if err != nil {
		return "", fmt.Errorf("chdb: %w", err)
	}
	defer r.Free()
	if err := r.Error(); err != nil {
		return "", fmt.Errorf("chdb: %w", err)
	}
	return r.String(), nil
}

// Exec runs a statement that returns no rows.
func (e *Engine) Exec(sql string) error {
	_, err := e.Query(sql)
	return err
}

// Migrate creates database db, makes it the session's current database
// (the migrations name tables without one) and applies every migration
// with the runner the store uses. It records no versions: the copy of
// schema_migrations brings them.
func (e *Engine) Migrate(ctx context.Context, db string) error {
	if err := e.Exec("CREATE DATABASE IF NOT EXISTS " + testenv.QuoteIdent(db)); err != nil {
		return err
	}
	if err := e.Exec("USE " + testenv.QuoteIdent(db)); err != nil {
		return err
	}
	if err := e.Exec(schema.MigrationsTable); err != nil {
		return err
	}
	migs, err := schema.Migrations()
	if err != nil {
		return err
	}
	for _, m := range migs {
		if err := schema.Apply(ctx, migrator{e, db}, m); err != nil {
			return err
		}
	}
	return nil
}

// migrator is the engine as schema.Apply's server.
type migrator struct {
	e  *Engine
	db string
}

func (m migrator) Exec(_ context.Context, stmt string) error { return m.e.Exec(stmt) }

func (m migrator) HasColumn(_ context.Context, table, col string) (bool, error) {
	out, err := m.e.Query(fmt.Sprintf("SELECT count() FROM system.columns WHERE database = %s AND table = %s AND name = %s",
		Quote(m.db), Quote(table), Quote(col)))
	return strings.TrimSpace(out) != "0", err
}

// Quote is s as a ClickHouse string literal.
func Quote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}
