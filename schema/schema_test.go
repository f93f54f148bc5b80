package schema

import (
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
