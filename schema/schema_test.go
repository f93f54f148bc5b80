package schema

import (
	"regexp"
	"strings"
	"testing"
)

func TestMigrationsAreNumberedAndSplit(t *testing.T) {
	migs, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(migs) == 0 || migs[0].Version != 1 {
		t.Fatalf("migrations must start at 0001: %+v", migs)
	}
	for i, m := range migs {
		if i > 0 && m.Version <= migs[i-1].Version {
			t.Errorf("migration %d out of order", m.Version)
		}
		for _, st := range m.Statements {
			if strings.HasSuffix(st, ";") || strings.Contains(st, ";\n") {
				t.Errorf("%04d: statement not split: %q", m.Version, st)
			}
			// Idempotent: every CREATE says IF NOT EXISTS.
			if strings.HasPrefix(st, "CREATE") && !strings.Contains(st, "IF NOT EXISTS") {
				t.Errorf("%04d: CREATE without IF NOT EXISTS: %.60s", m.Version, st)
			}
		}
	}
}

func TestSplit(t *testing.T) {
	got := Split("-- comment\nCREATE TABLE a (x String);\n\nCREATE VIEW b AS\nSELECT 1;\nSELECT 2")
	want := []string{"CREATE TABLE a (x String)", "CREATE VIEW b AS\nSELECT 1", "SELECT 2"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("got %q", got)
	}
}

// Every statement of every migration has a cluster variant: a new table
// needs a sharding key, a new kind of statement a rule in ForCluster.
func TestEveryMigrationHasAClusterVariant(t *testing.T) {
	migs, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	tables := 0
	for _, m := range migs {
		for _, st := range m.Statements {
			out, err := ForCluster(st, "c1", "db")
			if err != nil {
				t.Errorf("%04d_%s: %v", m.Version, m.Name, err)
				continue
			}
			for _, o := range out {
				if !strings.Contains(o, " ON CLUSTER c1") && !strings.HasPrefix(o, "INSERT INTO ") { // an INSERT runs once, through the Distributed tables
					t.Errorf("%04d: not ON CLUSTER: %.80s", m.Version, o)
				}
			}
			if strings.HasPrefix(st, "CREATE TABLE") {
				tables++
			}
		}
	}
	if tables != len(ShardingKeys)-1 { // schema_migrations is created by the store
		t.Errorf("%d tables in the migrations, %d sharding keys (one is schema_migrations)", tables, len(ShardingKeys))
	}
}

func TestForCluster(t *testing.T) {
	got, err := ForCluster("CREATE TABLE IF NOT EXISTS seat_events\n(\n    a Nullable(String),\n    version UInt64\n)\nENGINE = ReplacingMergeTree(version)\nPARTITION BY toYYYYMM(t)\nORDER BY (org, user)", "c1", "db")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"CREATE TABLE IF NOT EXISTS db.seat_events_local ON CLUSTER c1\n(\n    a Nullable(String),\n    version UInt64\n)\nENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/db/seat_events', '{replica}', version)\nPARTITION BY toYYYYMM(t)\nORDER BY (org, user)",
		"CREATE TABLE IF NOT EXISTS db.seat_events ON CLUSTER c1 AS db.seat_events_local\nENGINE = Distributed(c1, db, seat_events_local, cityHash64(org, user))",
	}
	if strings.Join(got, "\n--\n") != strings.Join(want, "\n--\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n--\n"), strings.Join(want, "\n--\n"))
	}
	got, err = ForCluster("CREATE TABLE IF NOT EXISTS ingest_errors (x String) ENGINE = ReplacingMergeTree ORDER BY x", "c1", "db")
	if err != nil || !strings.Contains(got[0], "ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/db/ingest_errors', '{replica}') ORDER BY x") {
		t.Errorf("engine without arguments: %q, %v", got, err)
	}
	got, err = ForCluster("CREATE VIEW IF NOT EXISTS v AS\nSELECT a FROM seat_events FINAL\nANY LEFT JOIN (SELECT a FROM latest_seat_snapshot) USING a\nWHERE a IN (SELECT a FROM system.one)", "c1", "db")
	if err != nil {
		t.Fatal(err)
	}
	if want := "CREATE VIEW IF NOT EXISTS db.v ON CLUSTER c1 AS\nSELECT a FROM db.seat_events FINAL\nANY LEFT JOIN (SELECT a FROM db.latest_seat_snapshot) USING a\nWHERE a IN (SELECT a FROM system.one)"; got[0] != want {
		t.Errorf("view:\n%s\nwant\n%s", got[0], want)
	}
	got, err = ForCluster("ALTER TABLE seat_events ADD COLUMN y String AFTER x", "c1", "db")
	if err != nil || strings.Join(got, "|") != "ALTER TABLE db.seat_events_local ON CLUSTER c1 ADD COLUMN y String AFTER x|"+
		"DROP TABLE IF EXISTS db.seat_events ON CLUSTER c1|"+
		"CREATE TABLE IF NOT EXISTS db.seat_events ON CLUSTER c1 AS db.seat_events_local\nENGINE = Distributed(c1, db, seat_events_local, cityHash64(org, user))" {
		t.Errorf("alter: %q, %v", got, err)
	}
	if tbl, col, ok := AddedColumn("ALTER TABLE seat_events ADD COLUMN y String AFTER x"); !ok || tbl != "seat_events" || col != "y" {
		t.Errorf("AddedColumn: %s %s %v", tbl, col, ok)
	}
	got, err = ForCluster("DROP TABLE IF EXISTS seat_state", "c1", "db")
	if err != nil || len(got) != 1 || got[0] != "DROP TABLE IF EXISTS db.seat_state ON CLUSTER c1" {
		t.Errorf("drop view: %q, %v", got, err)
	}
	for _, bad := range []string{"CREATE TABLE IF NOT EXISTS nokey (x String) ENGINE = ReplacingMergeTree ORDER BY x",
		"ALTER TABLE nokey ADD COLUMN y String", "DROP TABLE IF EXISTS seat_events", "TRUNCATE TABLE seat_events"} {
		if _, err := ForCluster(bad, "c1", "db"); err == nil {
			t.Errorf("no error for %q", bad)
		}
	}
}

func TestEnumNamesFollowTheLatestDefinition(t *testing.T) {
	// 0005 widened seat_events.transition with an ALTER … MODIFY COLUMN.
	tr, err := EnumNames("seat_events", "transition")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(tr, ","); got != "other,assigned,unassigned,cancelled,refreshed,reused,updated,policy_changed,plan_changed,access_revoked,access_reinstated,cancelled_by_staff,scope_revoked,licence_granted,licence_removed" {
		t.Errorf("seat_events.transition: %s", got)
	}
	for _, c := range []struct{ table, col, want string }{
		{"seat_events", "enrichment", "pending,enriched,failed,not_applicable"},
		{"seat_events", "seat_status", "unknown,active,pending_cancellation,absent,policy_blocked"},
		{"seat_events", "assigning_team_kind", "none,org,enterprise"},
		{"seat_periods", "via", "direct,team,enterprise_team,all_members,seat"},
		{"seat_drift", "kind", "seat_without_assignment,assignment_without_seat,seat_without_period,period_without_seat"},
	} {
		got, err := EnumNames(c.table, c.col)
		if err != nil || strings.Join(got, ",") != c.want {
			t.Errorf("%s.%s: %v %v, want %s", c.table, c.col, got, err, c.want)
		}
	}
	if _, err := EnumNames("seat_events", "org"); err == nil || !strings.Contains(err.Error(), "seat_events.org") {
		t.Errorf("a String column: %v", err)
	}
}

// current_seats keeps exactly CurrentSeatStates: its latest definition
// filters on them, and seat_facts' multiIf, where state is derived,
// yields each.
func TestCurrentSeatStatesMatchTheView(t *testing.T) {
	migs, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	latest := func(view string) string {
		var def string
		re := regexp.MustCompile(`VIEW IF NOT EXISTS ` + view + `\s+AS`)
		for _, m := range migs {
			for _, st := range m.Statements {
				if re.MatchString(st) {
					def = st
				}
			}
		}
		if def == "" {
			t.Fatalf("no view %s in the migrations", view)
		}
		return def
	}
	current, state := latest("current_seats"), latest("seat_facts")
	quoted := make([]string, len(CurrentSeatStates))
	for i, s := range CurrentSeatStates {
		quoted[i] = "'" + s + "'"
		if !strings.Contains(state, ", '"+s+"',") {
			t.Errorf("seat_facts' multiIf yields no %q", s)
		}
	}
	if want := "state IN (" + strings.Join(quoted, ", ") + ")"; !strings.Contains(current, want) {
		t.Errorf("current_seats does not filter on %s:\n%s", want, current)
	}
}
