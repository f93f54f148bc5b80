package timeline

import (
	"context"
	"crypto/tls"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/seatline/seatline/internal/flagval"
	"github.com/seatline/seatline/schema"
)

// Store is a connection pool to the timeline database.
type Store struct {
	conn   driver.Conn // reports every call to health
	cfg    Config
	server ServerVersion
	health *Health
}

// Option changes how Open sets up a Store.
type Option func(*Store)

// WithHealth makes the Store report the outcome of every ClickHouse call
// (its own and those made through Conn) to h. Without it, a Store keeps a
// Health of its own (see Store.Health).
func WithHealth(h *Health) Option { return func(s *Store) { s.health = h } }

// Open connects (creating the database if it does not exist) and checks the
// server answers. It does not apply migrations: call Migrate. Fields left
// zero take Defaults()'s values (for callers that build a Config in code;
// the binaries' flags start from Defaults() and are validated as given).
func Open(ctx context.Context, cfg Config, opts ...Option) (*Store, error) {
	cfg = cfg.orDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	conn, err := dial(cfg, cfg.Database)
	if err != nil {
		return nil, err
	}
	err = conn.Ping(ctx)
	if isUnknownDatabase(err) {
		conn.Close()
		if err := createDatabase(ctx, cfg); err != nil {
			return nil, err
		}
		if conn, err = dial(cfg, cfg.Database); err != nil {
			return nil, err
		}
		err = conn.Ping(ctx)
	}
	if err != nil {
		conn.Close()
		return nil, Explain(cfg, err)
	}
	// Once per Store: what the queries may use (server-side parameters)
	// depends on it, and asking per query would cost a pool acquire.
	v, err := conn.ServerVersion()
	if err != nil {
		conn.Close()
		return nil, Explain(cfg, err)
	}
	server := ServerVersion{Name: v.Name, Major: v.Version.Major, Minor: v.Version.Minor, Patch: v.Version.Patch, Revision: v.Revision}
	s := &Store{cfg: cfg, server: server}
	for _, o := range opts {
		o(s)
	}
	if s.health == nil {
		s.health = NewHealth()
	}
	// Reported from here on: a failure before is Open's error.
	s.conn = &healthConn{Conn: conn, cfg: cfg, h: s.health}
	return s, nil
}

// Health is what the Store's calls say about ClickHouse.
func (s *Store) Health() *Health { return s.health }

// onCluster is " ON CLUSTER <name>" in cluster mode.
func (c *Config) onCluster() string {
	if c.Cluster == "" {
		return ""
	}
	return " ON CLUSTER " + c.Cluster
}

// createDatabase creates cfg.Database from a connection to "default".
func createDatabase(ctx context.Context, cfg Config) error {
	boot, err := dial(cfg, "default")
	if err != nil {
		return err
	}
	defer boot.Close()
	return Explain(cfg, boot.Exec(ctx, "CREATE DATABASE IF NOT EXISTS "+cfg.Database+cfg.onCluster()))
}

func dial(cfg Config, database string) (driver.Conn, error) {
	opt := &clickhouse.Options{
		Addr:        cfg.Addrs,
		Auth:        clickhouse.Auth{Database: database, Username: cfg.Username, Password: cfg.Password},
		DialTimeout: cfg.DialTimeout,
		ReadTimeout: cfg.ReadTimeout,
		Compression: &clickhouse.Compression{Method: clickhouse.CompressionLZ4},
		ClientInfo:  clickhouse.ClientInfo{Products: []struct{ Name, Version string }{{Name: "seatline", Version: "1"}}},
	}
	if cfg.Cluster != "" {
		opt.Settings = clickhouse.Settings{"insert_distributed_sync": 1}
	}
	if cfg.TLS {
		tc := &tls.Config{InsecureSkipVerify: cfg.TLSInsecure} //nolint:gosec // only by explicit flag
		if cfg.TLSCAFile != "" {
			pool, err := cfg.caPool()
			if err != nil {
				return nil, err
			}
			tc.RootCAs = pool
		}
		opt.TLS = tc
	}
	conn, err := clickhouse.Open(opt)
	if err != nil {
		return nil, Explain(cfg, err)
	}
	return conn, nil
}

func isUnknownDatabase(err error) bool {
	var ex *clickhouse.Exception
	return errors.As(err, &ex) && ex.Code == 81
}

// Explain turns a driver error into one that says what happened and what to
// do. It never includes the password.
func Explain(cfg Config, err error) error {
	if err == nil {
		return nil
	}
	addr := flagval.Redact(strings.Join(cfg.Addrs, ","))
	var ex *clickhouse.Exception
	switch {
	case errors.As(err, &ex) && (ex.Code == 516 || ex.Code == 192 || ex.Code == 193):
		return fmt.Errorf("ClickHouse at %s refused user %q: %w; check --clickhouse-user and --clickhouse-password", addr, cfg.Username, ex)
	case errors.As(err, &ex) && ex.Code == 170 && cfg.Cluster != "":
		return fmt.Errorf("ClickHouse at %s: %w; --clickhouse-cluster must name a cluster in the servers' remote_servers (SELECT DISTINCT cluster FROM system.clusters)", addr, err)
	case errors.As(err, &ex) && cfg.Cluster != "" && (strings.Contains(ex.Message, "ZooKeeper") || strings.Contains(ex.Message, "distributed_ddl") || strings.Contains(ex.Message, "macro")):
		return fmt.Errorf("ClickHouse at %s: %w; cluster mode needs ZooKeeper (or Keeper), distributed_ddl and the {shard} and {replica} macros in every server's config", addr, err)
	case errors.As(err, &ex):
		return fmt.Errorf("ClickHouse at %s: %w", addr, err)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	default:
		return &UnavailableError{Addr: addr, Err: err}
	}
}

// UnavailableError means ClickHouse could not be reached or dropped the
// connection: retrying later can help.
type UnavailableError struct {
	Addr string
	Err  error
}

func (e *UnavailableError) Error() string {
	return fmt.Sprintf("cannot reach ClickHouse at %s: %v; is clickhouse-server running?", e.Addr, e.Err)
}
func (e *UnavailableError) Unwrap() error { return e.Err }

// IsClickHouseError reports whether err is ClickHouse's: it could not be
// reached (UnavailableError) or answered with an exception.
func IsClickHouseError(err error) bool {
	var ex *clickhouse.Exception
	return errors.As(err, new(*UnavailableError)) || errors.As(err, &ex)
}

// Close releases the connections.
func (s *Store) Close() error { return s.conn.Close() }

// Conn exposes the driver connection for queries (views, reports, tests).
func (s *Store) Conn() driver.Conn { return s.conn }

// Config returns the validated configuration (for messages; never log Password).
func (s *Store) Config() Config { return s.cfg }

// Ping checks that the server answers.
func (s *Store) Ping(ctx context.Context) error { return Explain(s.cfg, s.conn.Ping(ctx)) }

// migrationTable is schema_migrations' insert: a migration, recorded once
// applied.
var migrationTable = newTable("schema_migrations",
	col("version", func(m *schema.Migration) uint32 { return uint32(m.Version) }),
	col("name", func(m *schema.Migration) string { return m.Name }),
	col("applied_at", func(*schema.Migration) time.Time { return time.Now().UTC() }),
)

// Migrate applies every migration not yet recorded in schema_migrations.
// Each statement is idempotent (IF NOT EXISTS), so two workers starting at
// once are safe: both may apply a migration, neither fails.
func (s *Store) Migrate(ctx context.Context) error {
	if err := s.checkMode(ctx); err != nil {
		return err
	}
	if err := s.exec(ctx, schema.MigrationsTable); err != nil {
		return Explain(s.cfg, fmt.Errorf("create schema_migrations: %w", err))
	}
	applied := map[uint32]bool{}
	rows, err := s.conn.Query(ctx, "SELECT version FROM schema_migrations")
	if err != nil {
		return Explain(s.cfg, err)
	}
	for rows.Next() {
		var v uint32
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return err
		}
		applied[v] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return Explain(s.cfg, err)
	}
	migs, err := schema.Migrations()
	if err != nil {
		return err
	}
	for _, m := range migs {
		if applied[uint32(m.Version)] {
			continue
		}
		if err := s.migrate(ctx, m); err != nil {
			return err
		}
		// A batch, not INSERT … VALUES through Exec: 18.16 waits for a data
		// block that the driver does not send for the latter.
		applied := []schema.Migration{m}
		if err := s.send(ctx, migrationTable.insert, func(b driver.Batch) error { return migrationTable.appendTo(b, applied) }); err != nil {
			return err
		}
	}
	return nil
}

// migrate applies one migration. Several workers may start at once and
// apply it together: every statement is idempotent (IF [NOT] EXISTS; an
// ADD COLUMN is skipped when the column exists), but one worker's DROP of a
// view being redefined can pull it from under another's CREATE of a view
// that reads it. So a failed migration is run again from its first
// statement a few times, a moment later, before it counts as failed; and
// it is not run at all once another worker recorded it or a later one
// (migrations are applied in order, so a later one means this one is done,
// and running it again would make views a later migration redefined).
func (s *Store) migrate(ctx context.Context, m schema.Migration) error {
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Duration(attempt) * 200 * time.Millisecond):
			}
		}
		if v, verr := s.SchemaVersion(ctx); verr == nil && v >= m.Version {
			return nil
		}
		if err = s.migrateOnce(ctx, m); err == nil {
			return nil
		}
	}
	return err
}

func (s *Store) migrateOnce(ctx context.Context, m schema.Migration) error {
	return Explain(s.cfg, schema.Apply(ctx, migrator{s}, m))
}

// migrator is the store as schema.Apply's server.
type migrator struct{ s *Store }

func (m migrator) Exec(ctx context.Context, stmt string) error { return m.s.exec(ctx, stmt) }
func (m migrator) HasColumn(ctx context.Context, table, col string) (bool, error) {
	return m.s.hasColumn(ctx, table, col)
}

// checkMode refuses a database whose schema was made in the other mode: a
// single-server schema under --clickhouse-cluster would never be
// distributed, and a cluster schema without it would insert asynchronously
// (acknowledged before the shards have the rows).
func (s *Store) checkMode(ctx context.Context) error {
	var engine string
	err := s.conn.QueryRow(ctx, "SELECT engine FROM system.tables WHERE database = ? AND name = 'schema_migrations'", s.cfg.Database).Scan(&engine)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil // a new database
	case err != nil:
		return Explain(s.cfg, err)
	case s.cfg.Cluster == "" && engine == "Distributed":
		return fmt.Errorf("clickhouse-cluster: database %s holds a cluster schema (Distributed tables); set --clickhouse-cluster to its cluster's name", s.cfg.Database)
	case s.cfg.Cluster != "" && engine != "Distributed":
		return fmt.Errorf("clickhouse-cluster: database %s holds a single-server schema (%s tables), so --clickhouse-cluster %s cannot apply; use a new database for the cluster or drop the flag", s.cfg.Database, engine, s.cfg.Cluster)
	}
	return nil
}

// exec runs one schema statement, or its cluster variant in cluster mode.
func (s *Store) exec(ctx context.Context, stmt string) error {
	if strings.HasPrefix(stmt, "INSERT INTO ") { // a read model's fill
		ctx = clickhouse.Context(ctx, clickhouse.WithSettings(fillSettings))
	}
	if s.cfg.Cluster == "" {
		return s.conn.Exec(ctx, stmt)
	}
	stmts, err := schema.ForCluster(stmt, s.cfg.Cluster, s.cfg.Database)
	if err != nil {
		return err
	}
	for _, st := range stmts {
		if err := s.conn.Exec(ctx, st); err != nil {
			return err
		}
	}
	return nil
}

// hasColumn reports whether table (its _local table on a cluster) has col.
func (s *Store) hasColumn(ctx context.Context, table, col string) (bool, error) {
	if s.cfg.Cluster != "" {
		table += "_local"
	}
	var n uint64
	err := s.conn.QueryRow(ctx, "SELECT count() FROM system.columns WHERE database = ? AND table = ? AND name = ?",
		s.cfg.Database, table, col).Scan(&n)
	return n > 0, err
}

// SchemaVersion is the highest applied migration.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v uint32
	if err := s.conn.QueryRow(ctx, "SELECT max(version) FROM schema_migrations").Scan(&v); err != nil {
		return 0, Explain(s.cfg, err)
	}
	return int(v), nil
}
