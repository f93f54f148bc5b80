//go:build chdb

// The parameter form of every seatctl query, run in chDB (the ClickHouse
// 26.x engine in-process) over the project's migrations: proof that what a
// current server is sent is valid SQL there. 18.16 cannot take this form
// (the other tests run the client-side form on it). chdb-go loads
// libchdb.so at init and panics without it, hence the build tag:
//
//	CHDB_LIB_PATH=/path/to/libchdb.so go test -tags chdb -run TestChDB ./internal/seatctl/
package seatctl

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chdb-io/chdb-go/chdb"

	"github.com/seatline/seatline/schema"
)

func TestChDBRunsEveryServerParamsQuery(t *testing.T) {
	s, err := chdb.NewSession(t.TempDir())
	if err != nil {
		t.Fatalf("chdb session: %v", err)
	}
	defer s.Cleanup()
	query := func(sql string) string {
		t.Helper()
		r, err := s.Query(sql, "TSV")
		if err != nil {
			t.Fatalf("%v\n%s", err, sql)
		}
		return r.String()
	}
	if v := query("SELECT version()"); !strings.HasPrefix(v, "26.") {
		t.Logf("chDB engine %s (expected 26.x)", strings.TrimSpace(v))
	}
	migs, err := schema.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range migs {
		for _, st := range m.Statements {
			query(st)
		}
	}
	// One event the history query below must find: the parameters bind
	// the values, not just parse.
	query(`INSERT INTO seat_events (event_time, event_ms, document_id, action, transition, org, user)
VALUES (toDateTime(1), 1500, 'doc-1', 'copilot.cfb_seat_added', 'assigned', 'acme', 'mona')`)

	run := func(q Stmt) string {
		t.Helper()
		// chDB has no native-protocol parameters: the session's param_
		// settings carry the values, as text in the form clickhouse-go
		// sends them.
		for i, v := range q.Values {
			query(fmt.Sprintf("SET param_%s = %s", paramName(i), sqlString(paramText(t, v))))
		}
		return query(q.SQL)
	}
	for name, q := range everyQuery(ServerParams, "x' OR 1=1 -- \\ ") {
		t.Run(name, func(t *testing.T) { run(q) })
	}
	hf := HistoryFilter{Orgs: []string{"acme"}, Users: []string{"mona"}, Transitions: []string{"assigned", "unassigned"},
		Range: TimeRange{Since: time.UnixMilli(1000), Until: time.UnixMilli(2000)}, Limit: 10}
	if got := run(HistoryQuery(hf, ServerParams)); !strings.Contains(got, "doc-1") {
		t.Errorf("history with parameters did not find the event: %q", got)
	}
	hf.Orgs = []string{"acme-other"}
	if got := run(HistoryQuery(hf, ServerParams)); got != "" {
		t.Errorf("history for another org found %q", got)
	}
}

// paramText is a value as clickhouse-go sends it as a query parameter:
// strings and arrays in ClickHouse's escaped text form, times as epoch
// seconds.
func paramText(t *testing.T, v any) string {
	esc := strings.NewReplacer(`\`, `\\`, "\t", `\t`, "\n", `\n`)
	switch v := v.(type) {
	case string:
		return esc.Replace(v)
	case []string:
		q := make([]string, len(v))
		for i, s := range v {
			q[i] = "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
		}
		return "[" + strings.Join(q, ", ") + "]"
	case int:
		return strconv.Itoa(v)
	case uint64:
		return strconv.FormatUint(v, 10)
	case time.Time:
		return strconv.FormatInt(v.Unix(), 10)
	}
	t.Fatalf("no parameter text for %T", v)
	return ""
}

// sqlString quotes s as a ClickHouse string literal.
func sqlString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}
