package grafanasql

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seatline/seatline/internal/testenv"
)

func TestExpand(t *testing.T) {
	from := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	m := Macros{From: from, To: from.Add(48 * time.Hour), Interval: time.Hour, NoInterval: true,
		Vars: map[string]string{"${org:singlequote}": "'a','b'"}}
	got, err := m.Expand("SELECT $__timeInterval(event_time) AS time FROM t WHERE $__timeFilter(event_time) AND org IN (${org:singlequote}) AND d <= $__toTime")
	if err != nil {
		t.Fatal(err)
	}
	want := "SELECT toDateTime(intDiv(toUInt32(toDateTime(event_time)), 3600) * 3600) AS time FROM t WHERE event_time >= toDateTime(1772323200) AND event_time <= toDateTime(1772496000) AND org IN ('a','b') AND d <= toDateTime(1772496000)"
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	for _, bad := range []string{"SELECT $__timeFilter_ms(x)", "SELECT ${idle_days}", "SELECT $__timeFilter(a, b)", "SELECT $__timeFilter(x"} {
		if _, err := m.Expand(bad); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

func TestLoadDashboards(t *testing.T) {
	root, err := testenv.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	qs, problems, err := Load(filepath.Join(root, "deploy", "grafana", "dashboards"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Error(p)
	}
	panels := 0
	for _, q := range qs {
		if q.Panel {
			panels++
		}
		if strings.TrimSpace(q.SQL) == "" || q.Title == "" {
			t.Errorf("%s: empty SQL or title", q.Where)
		}
	}
	if panels < 10 {
		t.Errorf("%d panel queries, want ≥ 10", panels)
	}
	if _, _, err := Load(t.TempDir()); err == nil {
		t.Error("an empty directory: no error")
	}
}
