package grafana_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/seatline/seatline/deploy/grafana"
	"github.com/seatline/seatline/internal/testenv"
)

// errReadonly is ClickHouse's READONLY error code.
const errReadonly = 164

// readmeUsersXML returns the users.d file the README recommends for the
// Grafana user on 18.16 (the ```xml block holding <readonly>2</readonly>),
// without its <yandex> wrapper and with its password hash set to that of
// password.
func readmeUsersXML(t *testing.T, password string) string {
	t.Helper()
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	var block string
	for _, part := range strings.Split(string(b), "```xml\n")[1:] {
		body, _, ok := strings.Cut(part, "```")
		if ok && strings.Contains(body, "<readonly>2</readonly>") {
			block = body
			break
		}
	}
	if block == "" {
		t.Fatal("README.md has no ```xml block with a readonly = 2 profile")
	}
	inner := regexp.MustCompile(`(?s)<yandex>(.*)</yandex>`).FindStringSubmatch(block)
	if inner == nil {
		t.Fatalf("README.md's users.d block has no <yandex> root (the only one 18.16 reads):\n%s", block)
	}
	sum := sha256.Sum256([]byte(password))
	pw := regexp.MustCompile(`<password_sha256_hex>[^<]*</password_sha256_hex>`)
	if !pw.MatchString(inner[1]) {
		t.Fatalf("README.md's users.d block sets no <password_sha256_hex>:\n%s", block)
	}
	return pw.ReplaceAllString(inner[1], "<password_sha256_hex>"+hex.EncodeToString(sum[:])+"</password_sha256_hex>")
}

// withReadonly1 adds to a users.d body a user grafana_readonly1 whose
// profile is the one the README advised before: readonly = 1 and nothing
// else (18.16 has no settings constraints to loosen it). A repeated
// <profiles> or <users> element would be ignored, so it goes inside them.
func withReadonly1(t *testing.T, usersXML string) string {
	t.Helper()
	if strings.Count(usersXML, "</profiles>") != 1 || strings.Count(usersXML, "</users>") != 1 {
		t.Fatalf("want one <profiles> and one <users> in:\n%s", usersXML)
	}
	s := strings.Replace(usersXML, "</profiles>", `  <grafana_readonly1>
      <readonly>1</readonly>
    </grafana_readonly1>
  </profiles>`, 1)
	return strings.Replace(s, "</users>", `  <grafana_readonly1>
      <password></password>
      <networks><ip>127.0.0.1</ip></networks>
      <profile>grafana_readonly1</profile>
      <quota>default</quota>
      <allow_databases><database>seatline</database></allow_databases>
    </grafana_readonly1>
  </users>`, 1)
}

// TestReadonlyUserRunsPanels connects as the README's Grafana user
// (users.d, profile readonly = 2, database seatline only) over the native
// protocol, as the plugin does, and runs every panel with max_execution_time
// set on the query, as the plugin's client (clickhouse-go) does for a query
// with a deadline. That user must not write, create or drop tables, nor read
// another database. A readonly = 1 user, the former advice, is checked for
// what 18.16 does with the setting.
func TestReadonlyUserRunsPanels(t *testing.T) {
	queries, err := grafana.Queries("dashboards")
	if err != nil {
		t.Fatal(err)
	}
	const password = "grafana-test-password"
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ch, err := testenv.StartClickHouse(ctx, testenv.ClickHouseOptions{
		Logf:     t.Logf,
		UsersXML: withReadonly1(t, readmeUsersXML(t, password)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ch.Close() })
	if err := ch.CreateDatabase(ctx, "seatline"); err != nil {
		t.Fatal(err)
	}
	_, m := loadDemo(t, ch, "seatline")

	grafanaConn := openAs(t, ch, "grafana", password)
	// What the plugin sends: clickhouse-go adds max_execution_time to every
	// query whose context has a deadline (the datasource's query timeout).
	withTimeout := clickhouse.Context(context.Background(), clickhouse.WithSettings(clickhouse.Settings{"max_execution_time": 60}))

	var got string
	if err := grafanaConn.QueryRow(withTimeout, "SELECT value FROM system.settings WHERE name = 'max_execution_time'").Scan(&got); err != nil {
		t.Fatalf("readonly = 2 user reading system.settings with max_execution_time set: %v", err)
	}
	if got != "60" {
		t.Errorf("max_execution_time in the query = %q, want 60 (the setting was not applied)", got)
	}
	for _, q := range queries {
		sql, err := m.Expand(q.SQL)
		if err != nil {
			t.Fatalf("%s: %v", q.Where, err)
		}
		n, err := countRows(withTimeout, grafanaConn, sql)
		if err != nil {
			t.Errorf("%s as the readonly = 2 user with max_execution_time: %v\n%s", q.Where, err, sql)
			continue
		}
		if n == 0 {
			t.Errorf("%s as the readonly = 2 user: no rows\n%s", q.Where, sql)
		}
	}

	// No writes, no DDL, no other database.
	for _, sql := range []string{
		"INSERT INTO seatline.dead_letters SELECT * FROM seatline.dead_letters LIMIT 1",
		"CREATE TABLE seatline.grafana_probe (x UInt8) ENGINE = Memory",
		"DROP TABLE seatline.dead_letters",
	} {
		err := grafanaConn.Exec(withTimeout, sql)
		if code := exceptionCode(err); code != errReadonly {
			t.Errorf("%s as the readonly = 2 user: got %v, want a READONLY (%d) refusal", sql, err, errReadonly)
		}
	}
	if out, err := ch.Query(ctx, "EXISTS TABLE seatline.grafana_probe"); err != nil || strings.TrimSpace(out) != "0" {
		t.Errorf("seatline.grafana_probe exists after the refused CREATE TABLE (%q, %v)", out, err)
	}
	if _, err := countRows(withTimeout, grafanaConn, "SELECT * FROM system.one"); err != nil {
		t.Errorf("the readonly = 2 user cannot read system tables (the plugin's editor lists them): %v", err)
	}
	if err := ch.CreateDatabase(ctx, "other"); err != nil {
		t.Fatal(err)
	}
	if _, err := ch.Query(ctx, "CREATE TABLE other.t (x UInt8) ENGINE = Memory"); err != nil {
		t.Fatal(err)
	}
	if _, err := countRows(withTimeout, grafanaConn, "SELECT * FROM other.t"); err == nil {
		t.Error("the Grafana user reads database other: allow_databases does not hold")
	}

	// readonly = 1: every query the plugin sends sets max_execution_time.
	// Current servers refuse such a query ("Cannot modify
	// 'max_execution_time' setting in readonly mode"); 18.16 runs it over
	// the native protocol but drops the setting without a word (no timeout
	// on the server), and refuses it over HTTP.
	ro1 := openAs(t, ch, "grafana_readonly1", "")
	probe, err := m.Expand(queries[0].SQL)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := countRows(withTimeout, ro1, probe); err != nil {
		t.Errorf("%s as the readonly = 1 user with max_execution_time over the native protocol: %v (18.16 used to run it)", queries[0].Where, err)
	}
	got = ""
	if err := ro1.QueryRow(withTimeout, "SELECT value FROM system.settings WHERE name = 'max_execution_time'").Scan(&got); err != nil {
		t.Fatal(err)
	}
	if got != "0" {
		t.Errorf("readonly = 1 user: max_execution_time in the query = %q; 18.16 used to drop it (0)", got)
	}
	status, body := httpQuery(t, ch, url.Values{"database": {"seatline"}, "user": {"grafana_readonly1"}, "max_execution_time": {"60"}}, probe)
	if status == http.StatusOK || !strings.Contains(body, "Code: 164") || !strings.Contains(body, "max_execution_time") {
		t.Errorf("readonly = 1 user with max_execution_time over HTTP: HTTP %d %s; want a READONLY (164) refusal naming the setting", status, body)
	}
	if status, body := httpQuery(t, ch, url.Values{"database": {"seatline"}, "user": {"grafana"}, "password": {password}, "max_execution_time": {"60"}}, probe); status != http.StatusOK {
		t.Errorf("readonly = 2 user with max_execution_time over HTTP: HTTP %d %s", status, body)
	}
}

// httpQuery posts sql to ch's HTTP interface with params and returns the
// status and body.
func httpQuery(t *testing.T, ch *testenv.ClickHouse, params url.Values, sql string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+ch.HTTPAddr()+"/?"+params.Encode(), strings.NewReader(sql))
	if err != nil {
		t.Fatal(err)
	}
	req.Close = true // no idle connection to hold up the server's shutdown
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, strings.TrimSpace(string(b))
}

func openAs(t *testing.T, ch *testenv.ClickHouse, user, password string) driver.Conn {
	t.Helper()
	conn, err := clickhouse.Open(&clickhouse.Options{
		Addr: []string{ch.Addr()},
		Auth: clickhouse.Auth{Database: "seatline", Username: user, Password: password},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func countRows(ctx context.Context, conn driver.Conn, sql string) (int, error) {
	rows, err := conn.Query(ctx, sql)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		n++
	}
	return n, rows.Err()
}

func exceptionCode(err error) int32 {
	var ex *clickhouse.Exception
	if errors.As(err, &ex) {
		return ex.Code
	}
	return 0
}
