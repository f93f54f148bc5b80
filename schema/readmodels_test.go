package schema

import (
	"regexp"
	"strings"
	"testing"
)

// Every materialized view parses, fills only columns its target has, and
// reads a table of the schema; on a cluster it reads and fills the local
// tables.
func TestReadModels(t *testing.T) {
	models, err := ReadModels()
	if err != nil {
		t.Fatal(err)
	}
	if len(models) < 4 {
		t.Fatalf("%d read models, want the views of migration 0006", len(models))
	}
	migs, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	columns := map[string]map[string]bool{}
	colDef := regexp.MustCompile(`(?m)^\s+(\w+) `)
	for _, m := range migs {
		for _, st := range m.Statements {
			if c := createTable.FindStringSubmatch(st); c != nil {
				columns[c[1]] = map[string]bool{}
				for _, d := range colDef.FindAllStringSubmatch(c[2], -1) {
					columns[c[1]][d[1]] = true
				}
			}
		}
	}
	for _, r := range models {
		have, ok := columns[r.Target]
		if !ok {
			t.Errorf("%s fills %s, which no migration creates", r.View, r.Target)
			continue
		}
		for _, c := range r.Columns {
			if !have[c] {
				t.Errorf("%s fills %s.%s, which the table lacks", r.View, r.Target, c)
			}
		}
		if _, ok := columns[r.Source]; !ok {
			t.Errorf("%s reads %q, not a table of the schema", r.View, r.Source)
		}
		if !strings.HasPrefix(r.Fill(), "INSERT INTO "+r.Target+" (") {
			t.Errorf("fill of %s: %.60s", r.View, r.Fill())
		}
		stmts, err := ForCluster("CREATE MATERIALIZED VIEW IF NOT EXISTS "+r.View+" TO "+r.Target+" AS\n"+r.Select, "c", "db")
		if err != nil {
			t.Fatal(err)
		}
		if len(stmts) != 1 || !strings.Contains(stmts[0], "TO db."+r.Target+"_local AS") || !strings.Contains(stmts[0], "FROM db."+r.Source+"_local") {
			t.Errorf("cluster variant of %s:\n%s", r.View, strings.Join(stmts, "\n"))
		}
	}
	for _, r := range models {
		fill := r.Fill()
		if r.Copies != (r.Target == "seat_history") || r.Copies != strings.Contains(fill, "FROM "+r.Source+" FINAL") {
			t.Errorf("%s: copies %v, fill:\n%s", r.View, r.Copies, fill)
		}
	}
	if got := ReadModelTargets(models); len(got) >= len(models) {
		t.Errorf("targets %v: seat_current is filled by two views and listed once", got)
	}
}

func TestParseReadModelNeedsNamedOutputs(t *testing.T) {
	_, ok, err := ParseReadModel("CREATE MATERIALIZED VIEW IF NOT EXISTS v TO t AS\nSELECT a, max(b)\nFROM s")
	if !ok || err == nil || !strings.Contains(err.Error(), "max(b)") {
		t.Errorf("ok %v, err %v; want an error naming the unnamed output", ok, err)
	}
}

func TestViewAsOf(t *testing.T) {
	before, err := ViewAsOf("seat_state", 5)
	if err != nil || !strings.Contains(before, "FROM seat_timeline") {
		t.Errorf("seat_state as of 5: %v\n%s", err, before)
	}
	now, err := ViewAsOf("seat_state", 6)
	if err != nil || !strings.Contains(now, "FROM seat_facts") {
		t.Errorf("seat_state as of 6: %v\n%s", err, now)
	}
	if _, err := ViewAsOf("seat_state", 0); err == nil {
		t.Error("seat_state exists before the first migration")
	}
}
