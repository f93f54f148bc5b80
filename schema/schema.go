// Package schema holds seatline's ClickHouse DDL as numbered migrations,
// embedded in every binary and applied idempotently at start-up (see
// internal/timeline.Store.Migrate).
//
// Every statement runs on ClickHouse 18.16 (the oldest server tested) and on
// current releases: no DateTime64, Map, CODEC, TTL or skipping indexes, and
// enums instead of LowCardinality so no experimental setting is needed.
//
// The same migrations create the cluster variant (--clickhouse-cluster):
// ForCluster turns each table into a ReplicatedReplacingMergeTree behind a
// Distributed table of the same name, created ON CLUSTER.
package schema

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

//go:embed migrations/*.sql
var files embed.FS

// Migration is one numbered DDL file, split into statements.
type Migration struct {
	Version    int
	Name       string
	Statements []string
}

// Migrations returns every migration in version order.
func Migrations() ([]Migration, error) {
	entries, err := fs.ReadDir(files, "migrations")
	if err != nil {
		return nil, err
	}
	var out []Migration
	for _, e := range entries {
		name := e.Name()
		num, rest, ok := strings.Cut(name, "_")
		if !ok {
			return nil, fmt.Errorf("schema: migration file %q is not named NNNN_name.sql", name)
		}
		v, err := strconv.Atoi(num)
		if err != nil {
			return nil, fmt.Errorf("schema: migration file %q is not named NNNN_name.sql", name)
		}
		body, err := files.ReadFile("migrations/" + name)
		if err != nil {
			return nil, err
		}
		out = append(out, Migration{Version: v, Name: strings.TrimSuffix(rest, ".sql"), Statements: Split(string(body))})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	for i := 1; i < len(out); i++ {
		if out[i].Version == out[i-1].Version {
			return nil, fmt.Errorf("schema: two migrations numbered %d", out[i].Version)
		}
	}
	return out, nil
}

// Split cuts a DDL file into statements at semicolons that end a line, and
// drops "--" comment lines (ClickHouse's native protocol takes one
// statement per query).
func Split(sql string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(sql, "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "--") || trimmed == "" {
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
		if strings.HasSuffix(trimmed, ";") {
			stmt := strings.TrimSpace(cur.String())
			out = append(out, strings.TrimSuffix(stmt, ";"))
			cur.Reset()
		}
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		out = append(out, s)
	}
	return out
}

// MigrationsTable records the applied migrations (version, name, applied_at).
const MigrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations
		(version UInt32, name String, applied_at DateTime)
		ENGINE = ReplacingMergeTree ORDER BY version`

// Server is what Apply needs of a ClickHouse: run one statement, and say
// whether a table already has a column.
type Server interface {
	Exec(ctx context.Context, stmt string) error
	HasColumn(ctx context.Context, table, column string) (bool, error)
}

// Apply runs m's statements on srv once, in order. Every statement is
// idempotent (IF [NOT] EXISTS), and an ADD COLUMN is skipped when the column
// exists: several workers may migrate at once, and 18.16 has no ADD COLUMN
// IF NOT EXISTS.
func Apply(ctx context.Context, srv Server, m Migration) error {
	for i, stmt := range m.Statements {
		table, col, adds := AddedColumn(stmt)
		if adds {
			exists, err := srv.HasColumn(ctx, table, col)
			if err != nil {
				return err
			}
			if exists {
				continue // added by another worker migrating at the same time
			}
		}
		if err := srv.Exec(ctx, stmt); err != nil {
			if adds {
				if exists, _ := srv.HasColumn(ctx, table, col); exists {
					continue // another worker added it between the check and this statement
				}
			}
			return fmt.Errorf("migration %04d_%s statement %d: %w", m.Version, m.Name, i+1, err)
		}
		// A new read model starts with what is already stored. A second
		// worker migrating at once fills it again: every model folds
		// duplicates away (see migration 0006).
		model, ok, err := readModelOf(stmt)
		if err != nil {
			return err
		}
		if ok {
			if err := srv.Exec(ctx, model.Fill()); err != nil {
				return fmt.Errorf("migration %04d_%s statement %d: filling %s from %s: %w", m.Version, m.Name, i+1, model.Target, model.Source, err)
			}
		}
	}
	return nil
}

// ShardingKeys is the Distributed sharding key of every table in cluster
// mode (see ForCluster). Rows that ReplacingMergeTree must collapse share
// their whole ORDER BY key, so a key made of a prefix of it sends them to
// the same shard: a redelivered event, an enrichment's superseding row
// version and the original all meet there, and FINAL, which runs on each
// shard, still shows one row per event.
var ShardingKeys = map[string]string{
	"schema_migrations":  "version",
	"seat_events":        "cityHash64(org, user)",
	"ingest_errors":      "cityHash64(source, position)",
	"seat_snapshots":     "cityHash64(org, user)",
	"seat_drift":         "cityHash64(org, user)",
	"source_checkpoints": "cityHash64(source, key)",
	"membership_events":  "cityHash64(business, org, user_id, user)",
	"seat_periods":       "cityHash64(scope_kind, scope, holder)",
	"documents":          "cityHash64(document_id)",
	"reclaim_actions":    "cityHash64(plan_sha256, scope, user)",
	// Read models: one seat's rows where its events are; the small
	// aggregates by what they group on (reads merge them across shards).
	"seat_history":      "cityHash64(org, user)",
	"seat_current":      "cityHash64(org, user)",
	"scope_revocations": "cityHash64(scope)",
}

var (
	createTable = regexp.MustCompile(`(?s)^CREATE TABLE IF NOT EXISTS (\w+)\s*(\(.*\))\s*ENGINE\s*=\s*(\w+)(?:\(([^)]*)\))?(.*)$`)
	createView  = regexp.MustCompile(`(?s)^CREATE VIEW IF NOT EXISTS (\w+)\s+AS\s+(.*)$`)
	alterTable  = regexp.MustCompile(`(?s)^ALTER TABLE (\w+)\s+(.*)$`)
	dropTable   = regexp.MustCompile(`^DROP TABLE IF EXISTS (\w+)$`)
	addColumn   = regexp.MustCompile(`^ALTER TABLE (\w+) ADD COLUMN (\w+) `)
)

// AddedColumn reports the table and column of an ALTER TABLE … ADD COLUMN
// statement: the migration runner skips it when the column exists (18.16
// has no ADD COLUMN IF NOT EXISTS, and two workers may migrate at once).
func AddedColumn(stmt string) (table, column string, ok bool) {
	m := addColumn.FindStringSubmatch(stmt)
	if m == nil {
		return "", "", false
	}
	return m[1], m[2], true
}

// ForCluster turns one statement of the single-server schema into its
// cluster variant for cluster (a name in the servers' remote_servers) and
// database db, so one set of migrations serves both:
//
//   - CREATE TABLE t … ENGINE = E(args) becomes t_local, created ON CLUSTER
//     with ReplicatedE('/clickhouse/tables/{shard}/<db>/t', '{replica}', args)
//     (the servers' macros name the shard and replica), and t itself, a
//     Distributed table over t_local sharded by ShardingKeys[t]: the rest
//     of seatline reads and writes t unchanged;
//   - CREATE VIEW v becomes CREATE VIEW v ON CLUSTER;
//   - ALTER TABLE t … runs ON CLUSTER on t_local; the Distributed t, which
//     ClickHouse will not ALTER ON CLUSTER when the shards replicate
//     internally, is made again over the new t_local (it holds no data:
//     inserts are synchronous);
//   - DROP TABLE IF EXISTS v (a view being redefined) runs ON CLUSTER;
//   - CREATE MATERIALIZED VIEW m TO t … FROM s becomes m ON CLUSTER, from
//     s_local into t_local;
//   - INSERT INTO … SELECT (a read model's fill) runs
//     once, through the Distributed tables.
//
// Anything else is an error, so that a new kind of migration statement has
// to say what it means on a cluster.
func ForCluster(stmt, cluster, db string) ([]string, error) {
	if m := createTable.FindStringSubmatch(stmt); m != nil {
		name, columns, engine, args, rest := m[1], m[2], m[3], m[4], m[5]
		_, ok := ShardingKeys[name]
		if !ok {
			return nil, fmt.Errorf("schema: table %s has no cluster sharding key (add it to schema.ShardingKeys)", name)
		}
		if !strings.HasSuffix(engine, "MergeTree") || strings.HasPrefix(engine, "Replicated") {
			return nil, fmt.Errorf("schema: table %s: engine %s has no Replicated variant here", name, engine)
		}
		rargs := fmt.Sprintf("'/clickhouse/tables/{shard}/%s/%s', '{replica}'", db, name)
		if strings.TrimSpace(args) != "" {
			rargs += ", " + strings.TrimSpace(args)
		}
		return []string{
			fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s.%s_local ON CLUSTER %s\n%s\nENGINE = Replicated%s(%s)%s",
				db, name, cluster, columns, engine, rargs, rest),
			distributed(db, name, cluster),
		}, nil
	}
	if r, ok, err := ParseReadModel(stmt); ok || err != nil {
		if err != nil {
			return nil, err
		}
		if _, ok := ShardingKeys[r.Target]; !ok {
			return nil, fmt.Errorf("schema: materialized view %s fills %s, which is not a table of the schema", r.View, r.Target)
		}
		// Each shard's view folds the rows its own shard receives into its
		// own part of the model.
		return []string{fmt.Sprintf("CREATE MATERIALIZED VIEW IF NOT EXISTS %s.%s ON CLUSTER %s TO %s.%s_local AS\n%s",
			db, r.View, cluster, db, r.Target, localTables(r.Select, db))}, nil
	}
	if strings.HasPrefix(stmt, "INSERT INTO ") {
		return []string{stmt}, nil // through the Distributed tables, from one server
	}
	if m := createView.FindStringSubmatch(stmt); m != nil {
		return []string{fmt.Sprintf("CREATE VIEW IF NOT EXISTS %s.%s ON CLUSTER %s AS\n%s", db, m[1], cluster, qualify(m[2], db))}, nil
	}
	if m := alterTable.FindStringSubmatch(stmt); m != nil {
		if _, ok := ShardingKeys[m[1]]; !ok {
			return nil, fmt.Errorf("schema: ALTER of %s, which is not a table of the schema", m[1])
		}
		return []string{
			fmt.Sprintf("ALTER TABLE %s.%s_local ON CLUSTER %s %s", db, m[1], cluster, m[2]),
			fmt.Sprintf("DROP TABLE IF EXISTS %s.%s ON CLUSTER %s", db, m[1], cluster),
			distributed(db, m[1], cluster),
		}, nil
	}
	if m := dropTable.FindStringSubmatch(stmt); m != nil {
		if _, isTable := ShardingKeys[m[1]]; isTable {
			return nil, fmt.Errorf("schema: a migration drops table %s: only views are redefined so", m[1])
		}
		return []string{fmt.Sprintf("DROP TABLE IF EXISTS %s.%s ON CLUSTER %s", db, m[1], cluster)}, nil
	}
	first, _, _ := strings.Cut(stmt, "\n")
	return nil, fmt.Errorf("schema: no cluster variant for statement %.60q", first)
}

// localTables points a materialized view's FROM at the shard's local
// table: a view fires on inserts into the table it reads, and on a cluster
// rows land in t_local.
func localTables(body, db string) string {
	return tableRef.ReplaceAllStringFunc(body, func(m string) string {
		sub := tableRef.FindStringSubmatch(m)
		if _, ok := ShardingKeys[sub[3]]; !ok {
			return m
		}
		return sub[1] + sub[2] + db + "." + sub[3] + "_local"
	})
}

// distributed is the Distributed table t over t_local.
func distributed(db, t, cluster string) string {
	return fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s.%s ON CLUSTER %s AS %s.%s_local\nENGINE = Distributed(%s, %s, %s_local, %s)",
		db, t, cluster, db, t, cluster, db, t, ShardingKeys[t])
}

var tableRef = regexp.MustCompile(`(?i)\b(FROM|JOIN)(\s+)([A-Za-z_]\w*)`)

// qualify prefixes db to the tables a view body reads (FROM t, JOIN t):
// ON CLUSTER DDL runs on the other servers in their default database, where
// 18.16 resolves the view's columns; a name already qualified (db.t) or a
// subquery is left alone.
func qualify(body, db string) string {
	var out strings.Builder
	last := 0
	for _, m := range tableRef.FindAllStringSubmatchIndex(body, -1) {
		end := m[1]
		if end < len(body) && body[end] == '.' {
			continue
		}
		out.WriteString(body[last:m[6]])
		out.WriteString(db + ".")
		out.WriteString(body[m[6]:end])
		last = end
	}
	out.WriteString(body[last:])
	return out.String()
}
