package testenv_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/seatline/seatline/internal/testenv"
)

func TestMain(m *testing.M) {
	if os.Getenv("TESTENV_HELPER") == "panic-with-server" {
		helperPanicWithServer()
		return
	}
	code := m.Run()
	testenv.Shutdown()
	os.Exit(code)
}

func query(t *testing.T, ch *testenv.ClickHouse, sql string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := ch.Query(ctx, sql)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(out)
}

func TestClickHouseStopRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	t0 := time.Now()
	ch, err := testenv.StartClickHouse(ctx, testenv.ClickHouseOptions{Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("StartClickHouse took %v", time.Since(t0))
	defer ch.Close()
	dir := ch.Dir()

	if v := query(t, ch, "SELECT version()"); v == "" {
		t.Fatal("empty version")
	} else {
		t.Logf("clickhouse-server version %s, pid %d, native %s, http %s", v, ch.PID(), ch.Addr(), ch.HTTPAddr())
	}
	for _, addr := range []string{ch.Addr(), ch.HTTPAddr()} {
		if host, _, _ := net.SplitHostPort(addr); host != "127.0.0.1" {
			t.Fatalf("address %s is not on 127.0.0.1", addr)
		}
	}
	for _, kv := range testenv.ProfileSettings() {
		if got := query(t, ch, "SELECT value FROM system.settings WHERE name = '"+kv[0]+"'"); got != kv[1] {
			t.Errorf("profile setting %s = %q, want %s", kv[0], got, kv[1])
		}
	}

	db := testenv.NewDatabase(t, ch)
	query(t, ch, fmt.Sprintf("CREATE TABLE %s.seats (id UInt64, name String) ENGINE = MergeTree ORDER BY id", db))
	query(t, ch, fmt.Sprintf("INSERT INTO %s.seats VALUES (1, 'a'), (2, 'b'), (3, 'a')", db))
	const want = "3\t2"
	count := fmt.Sprintf("SELECT count(), uniqExact(name) FROM %s.seats", db)
	if got := query(t, ch, count); got != want {
		t.Fatalf("got %q, want %q", got, want)
	}

	addr, httpAddr, pid := ch.Addr(), ch.HTTPAddr(), ch.PID()
	t0 = time.Now()
	if err := ch.Stop(); err != nil {
		t.Fatal(err)
	}
	t.Logf("Stop took %v", time.Since(t0))
	if ch.PID() != 0 {
		t.Errorf("PID() = %d after Stop, want 0", ch.PID())
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("process %d still exists after Stop (kill 0: %v)", pid, err)
	}
	if _, err := ch.Query(ctx, "SELECT 1"); err == nil {
		t.Error("Query succeeded on a stopped server")
	}
	if err := ch.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}

	t0 = time.Now()
	if err := ch.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("Restart took %v", time.Since(t0))
	if ch.Addr() != addr || ch.HTTPAddr() != httpAddr {
		t.Fatalf("restarted on %s/%s, want %s/%s", ch.Addr(), ch.HTTPAddr(), addr, httpAddr)
	}
	if ch.PID() == pid || ch.PID() == 0 {
		t.Errorf("PID after restart = %d (before %d)", ch.PID(), pid)
	}
	if got := query(t, ch, count); got != want {
		t.Fatalf("after restart got %q, want %q", got, want)
	}

	// Restart of a running server stops it first.
	if err := ch.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if got := query(t, ch, count); got != want {
		t.Fatalf("after second restart got %q, want %q", got, want)
	}

	// The native port speaks the native protocol.
	if client, err := exec.LookPath("clickhouse-client"); err == nil {
		_, port, _ := net.SplitHostPort(ch.Addr())
		out, err := exec.CommandContext(ctx, client, "--host", "127.0.0.1", "--port", port, "--query", count).CombinedOutput()
		if err != nil {
			t.Fatalf("clickhouse-client: %v\n%s", err, out)
		}
		if got := strings.TrimSpace(string(out)); got != want {
			t.Fatalf("clickhouse-client got %q, want %q", got, want)
		}
	}

	pid = ch.PID()
	if err := ch.Close(); err != nil {
		t.Fatal(err)
	}
	if err := ch.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("process %d still exists after Close (kill 0: %v)", pid, err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("dir %s not removed by Close: %v", dir, err)
	}
	if err := ch.Restart(ctx); err == nil {
		t.Error("Restart after Close succeeded")
	}
}

// TestRestartPortTaken checks that a start that cannot bind reports why,
// with the binary's path and the server's own log lines, and that Restart
// works once the port is free again.
func TestRestartPortTaken(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ch, err := testenv.StartClickHouse(ctx, testenv.ClickHouseOptions{Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	if err := ch.Stop(); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", ch.HTTPAddr())
	if err != nil {
		t.Fatal(err)
	}
	err = ch.Restart(ctx)
	ln.Close()
	if err == nil {
		t.Fatal("Restart succeeded with its HTTP port taken")
	}
	t.Logf("Restart error: %v", err)
	for _, want := range []string{"clickhouse", "Address already in use", "err.log", ch.HTTPAddr()} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Restart error lacks %q", want)
		}
	}
	if err := ch.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	query(t, ch, "SELECT 1")
}

func TestClickHouseGivenDirIsKept(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ch, err := testenv.StartClickHouse(ctx, testenv.ClickHouseOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	query(t, ch, "CREATE TABLE default.kept (x UInt8) ENGINE = TinyLog")
	query(t, ch, "INSERT INTO default.kept VALUES (7)")
	if err := ch.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir + "/config.xml"); err != nil {
		t.Fatalf("Close removed a caller's dir: %v", err)
	}
	// A new server on the same dir (new ports) serves the old data.
	ch, err = testenv.StartClickHouse(ctx, testenv.ClickHouseOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	if got := query(t, ch, "SELECT x FROM default.kept"); got != "7" {
		t.Fatalf("got %q, want 7", got)
	}
}

func TestSharedClickHouse(t *testing.T) {
	ch := testenv.SharedClickHouse(t)
	if ch2 := testenv.SharedClickHouse(t); ch2 != ch {
		t.Fatal("SharedClickHouse returned two instances")
	}
	db1 := testenv.NewDatabase(t, ch)
	db2 := testenv.NewDatabase(t, ch)
	if db1 == db2 {
		t.Fatalf("NewDatabase returned %q twice", db1)
	}
	var inner string
	t.Run("sub/test with spaces", func(t *testing.T) {
		inner = testenv.NewDatabase(t, ch)
		if got := query(t, ch, "SELECT count() FROM system.databases WHERE name = '"+inner+"'"); got != "1" {
			t.Fatalf("database %s not created", inner)
		}
	})
	// The subtest's database is dropped when the subtest ends.
	if got := query(t, ch, "SELECT count() FROM system.databases WHERE name = '"+inner+"'"); got != "0" {
		t.Fatalf("database %s not dropped after its test", inner)
	}
}

func TestQueryError(t *testing.T) {
	ch := testenv.SharedClickHouse(t)
	_, err := ch.Query(context.Background(), "SELECT no_such_column FROM system.one")
	if err == nil {
		t.Fatal("no error for a bad query")
	}
	if !strings.Contains(err.Error(), "no_such_column") || !strings.Contains(err.Error(), "Code: 47") {
		t.Fatalf("error lacks the server's message: %v", err)
	}
	t.Logf("error: %v", err)
}

// TestNoOrphanAfterPanic runs this test binary as a child that starts a
// ClickHouse and panics, then checks that the server died with it.
func TestNoOrphanAfterPanic(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "TESTENV_HELPER=panic-with-server")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = nil
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var pid int
	var dir string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 3 && f[0] == "server" {
			pid, _ = strconv.Atoi(f[1])
			dir = f[2]
		}
	}
	err = cmd.Wait()
	if pid == 0 {
		t.Fatalf("helper did not report a server (exit: %v)", err)
	}
	defer os.RemoveAll(dir) // the helper died before it could remove it
	if err == nil {
		t.Fatal("helper exited cleanly, want a panic")
	}
	deadline := time.Now().Add(10 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("clickhouse-server %d outlived its panicking parent", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func helperPanicWithServer() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ch, err := testenv.StartClickHouse(ctx, testenv.ClickHouseOptions{})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(2)
	}
	fmt.Println("server", ch.PID(), ch.Dir())
	os.Stdout.Sync()
	// Let the runtime run other goroutines on other threads for a moment,
	// then die the way a failing test does.
	time.Sleep(100 * time.Millisecond)
	panic("helper: dying with a running clickhouse-server")
}

func TestUsersXMLAddsProfileAndUser(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ch, err := testenv.StartClickHouse(ctx, testenv.ClickHouseOptions{Logf: t.Logf, UsersXML: `
  <profiles>
    <probe>
      <readonly>2</readonly>
    </probe>
  </profiles>
  <users>
    <probe>
      <password>probe-pw</password>
      <networks><ip>127.0.0.1</ip></networks>
      <profile>probe</profile>
      <quota>default</quota>
    </probe>
  </users>`})
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	asUser := func(user, password string) string {
		t.Helper()
		u := "http://" + ch.HTTPAddr() + "/?" + url.Values{"user": {user}, "password": {password}}.Encode()
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader("SELECT value FROM system.settings WHERE name = 'readonly'"))
		if err != nil {
			t.Fatal(err)
		}
		req.Close = true // no idle connection to hold up the server's shutdown
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("as %s: HTTP %d: %s", user, resp.StatusCode, body)
		}
		return strings.TrimSpace(string(body))
	}
	if got := asUser("probe", "probe-pw"); got != "2" {
		t.Errorf("user probe: readonly = %q, want 2 (from its profile in users.d)", got)
	}
	if got := asUser("default", ""); got != "0" {
		t.Errorf("user default: readonly = %q, want 0", got)
	}
	if _, err := os.Stat(filepath.Join(ch.Dir(), "users.d", "testenv.xml")); err != nil {
		t.Error(err)
	}
}
