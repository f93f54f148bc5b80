package testenv

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ErrNoClickHouse is returned (wrapped) by StartClickHouse when no
// clickhouse-server binary can be found.
var ErrNoClickHouse = errors.New("clickhouse-server not found; install it: " +
	"apt-get install -y clickhouse-server clickhouse-client, or run make test which installs it")

const (
	// readyTimeout bounds how long one start waits for /ping and the native
	// port to answer.
	readyTimeout = 60 * time.Second
	// stopGrace is how long Stop waits after SIGTERM before SIGKILL.
	stopGrace = 20 * time.Second
	// startAttempts is how many times a start is tried when the server
	// fails to bind its ports.
	startAttempts = 3
)

// ClickHouse is a private clickhouse-server in a temp dir on free loopback
// ports. It runs as a child process with its own process group; its stdout
// and stderr go to stdout.log and stderr.log in the directory, its logs to
// server.log and err.log.
//
// The methods are safe for concurrent use.
type ClickHouse struct {
	bin     string   // path of the executable
	binArgs []string // arguments before --config-file ("server" for the single clickhouse binary)
	dir     string   // absolute
	ownDir  bool     // dir was created by StartClickHouse and is removed by Close
	logf    func(string, ...any)
	client  *http.Client

	// extra is XML put inside <yandex> (a cluster member's remote_servers,
	// macros and ZooKeeper); interPort, when set, is its interserver port.
	extra     string
	interPort int
	// logQueries: see ClickHouseOptions.LogQueries.
	logQueries bool
	// usersXML: see ClickHouseOptions.UsersXML.
	usersXML string

	mu       sync.Mutex
	tcpPort  int
	httpPort int
	proc     *process // nil while stopped
	closed   bool
}

// ClickHouseOptions configures StartClickHouse.
type ClickHouseOptions struct {
	// Dir holds the configuration, data and logs. "" means a new temporary
	// directory that Close removes. A given Dir is kept, and existing data in
	// it is served.
	Dir string
	// Logf, if set, receives progress messages (ports, PID, startup time).
	Logf func(string, ...any)
	// LogQueries records every query in system.query_log (log_queries = 1
	// in the profile), so a test can see the exact SQL clients sent.
	LogQueries bool
	// UsersXML, if set, is XML put inside <yandex> of users.d/testenv.xml
	// next to users.xml; the server merges it into users.xml, so it can add
	// profiles and users (<profiles><ro>…</ro></profiles><users><ro>…</ro>
	// </users>) beside the default ones; each of those at most once, as
	// the server reads only the first of repeated elements. 18.16 manages
	// users in these files only (no CREATE USER).
	UsersXML string
}

// process is one run of the server.
type process struct {
	cmd  *exec.Cmd
	pid  int
	done chan struct{} // closed when the process has exited
	err  error         // result of Wait, valid after done
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// StartClickHouse starts a clickhouse-server listening on 127.0.0.1 on two
// free ports and waits until both its HTTP interface answers /ping and its
// native port accepts connections (at most 60s per attempt, less if ctx
// ends sooner). If the server fails to bind, it is started again on new
// ports, up to three times.
//
// The binary is $CLICKHOUSE_SERVER if set, else clickhouse-server on PATH,
// else /usr/sbin/clickhouse-server, else the single "clickhouse" binary of
// newer packages (run as "clickhouse server").
func StartClickHouse(ctx context.Context, opt ClickHouseOptions) (*ClickHouse, error) {
	bin, binArgs, err := findClickHouse()
	if err != nil {
		return nil, err
	}
	c, err := newClickHouse(bin, binArgs, opt)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	err = c.start(ctx, true)
	c.mu.Unlock()
	if err != nil {
		if c.ownDir {
			os.RemoveAll(c.dir)
		}
		return nil, err
	}
	return c, nil
}

// newClickHouse sets up c and its directory; it does not start it.
func newClickHouse(bin string, binArgs []string, opt ClickHouseOptions) (*ClickHouse, error) {
	c := &ClickHouse{
		bin:        bin,
		binArgs:    binArgs,
		logf:       opt.Logf,
		logQueries: opt.LogQueries,
		usersXML:   opt.UsersXML,
		client: &http.Client{Transport: &http.Transport{
			Proxy:       nil, // never send loopback traffic to a proxy
			DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			// Below the server's keep_alive_timeout (10s in our config), so
			// we never reuse a connection the server is closing; a POST on
			// such a connection would not be retried.
			IdleConnTimeout:     5 * time.Second,
			MaxIdleConnsPerHost: 16,
		}},
	}
	if c.logf == nil {
		c.logf = func(string, ...any) {}
	}
	if opt.Dir == "" {
		dir, err := os.MkdirTemp("", "testenv-clickhouse-")
		if err != nil {
			return nil, fmt.Errorf("testenv: %w", err)
		}
		c.dir, c.ownDir = dir, true
	} else {
		dir, err := filepath.Abs(opt.Dir)
		if err != nil {
			return nil, fmt.Errorf("testenv: %w", err)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("testenv: %w", err)
		}
		c.dir = dir
	}
	return c, nil
}

// findClickHouse returns the executable to run and the arguments that go
// before --config-file.
func findClickHouse() (string, []string, error) {
	argsFor := func(path string) []string {
		if filepath.Base(path) == "clickhouse" {
			return []string{"server"}
		}
		return nil
	}
	if env := os.Getenv("CLICKHOUSE_SERVER"); env != "" {
		path, err := exec.LookPath(env)
		if err != nil {
			return "", nil, fmt.Errorf("testenv: $CLICKHOUSE_SERVER=%q: %v: %w", env, err, ErrNoClickHouse)
		}
		return path, argsFor(path), nil
	}
	if path, err := exec.LookPath("clickhouse-server"); err == nil {
		return path, nil, nil
	}
	if isExecutable("/usr/sbin/clickhouse-server") {
		return "/usr/sbin/clickhouse-server", nil, nil
	}
	if path, err := exec.LookPath("clickhouse"); err == nil {
		return path, []string{"server"}, nil
	}
	if isExecutable("/usr/bin/clickhouse") {
		return "/usr/bin/clickhouse", []string{"server"}, nil
	}
	return "", nil, fmt.Errorf("testenv: %w", ErrNoClickHouse)
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// Addr returns the native protocol address, "127.0.0.1:PORT".
func (c *ClickHouse) Addr() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(c.tcpPort))
}

// HTTPAddr returns the HTTP interface address, "127.0.0.1:PORT".
func (c *ClickHouse) HTTPAddr() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(c.httpPort))
}

// PID returns the server's process ID, or 0 while it is stopped.
func (c *ClickHouse) PID() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.proc == nil {
		return 0
	}
	return c.proc.pid
}

// closedNow reports whether Close has been called.
func (c *ClickHouse) closedNow() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// Dir returns the directory holding config.xml, users.xml, data/ and the
// logs (server.log, err.log, stdout.log, stderr.log).
func (c *ClickHouse) Dir() string { return c.dir }

// Stop stops the server: SIGTERM to its PID (never to a group), then SIGKILL
// if it has not exited after 20s. Data and ports are kept for Restart.
// Stopping a stopped server is a no-op. If the server had already exited on
// its own, Stop reports that.
func (c *ClickHouse) Stop() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stopLocked()
}

func (c *ClickHouse) stopLocked() error {
	p := c.proc
	if p == nil {
		return nil
	}
	c.proc = nil
	if p.exited() {
		return fmt.Errorf("testenv: clickhouse-server (pid %d) had already exited: %v%s", p.pid, p.err, c.logTails(logOffsets{}))
	}
	t0 := time.Now()
	c.terminate(p, stopGrace)
	c.logf("testenv: clickhouse-server pid %d stopped in %v", p.pid, time.Since(t0).Round(time.Millisecond))
	return nil
}

// terminate ends p: SIGTERM and up to grace to exit, then SIGKILL. With a
// zero grace it kills at once. It returns once p has exited.
func (c *ClickHouse) terminate(p *process, grace time.Duration) {
	if p.exited() {
		return
	}
	if grace > 0 {
		// Our idle keep-alive connections would make the server wait
		// shutdown_wait_unfinished for them.
		c.client.CloseIdleConnections()
		// os.Process signals through a pidfd: it can only reach our child.
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-p.done:
			return
		case <-t.C:
			c.logf("testenv: clickhouse-server pid %d ignored SIGTERM for %v; killing it", p.pid, grace)
		}
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

// Restart starts the server again on the same ports and data directory
// (stopping it first if it is running) and waits until it is ready.
func (c *ClickHouse) Restart(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return errors.New("testenv: Restart of a closed ClickHouse")
	}
	if err := c.stopLocked(); err != nil {
		c.logf("%v", err)
	}
	return c.start(ctx, false)
}

// Close stops the server and removes its directory if StartClickHouse
// created it. Calling Close more than once is safe.
func (c *ClickHouse) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	err := c.stopLocked()
	c.client.CloseIdleConnections()
	if c.ownDir {
		if rerr := os.RemoveAll(c.dir); rerr != nil && err == nil {
			err = fmt.Errorf("testenv: %w", rerr)
		}
	}
	return err
}

// Query runs sql through the HTTP interface (POST body) and returns the
// response body: for a SELECT, the rows in TabSeparated format unless sql
// has a FORMAT clause. The server buffers the whole result
// (wait_end_of_query=1), so a failing query always gives an error, which
// carries the server's message.
func (c *ClickHouse) Query(ctx context.Context, sql string) (string, error) {
	return c.QueryIn(ctx, "", sql)
}

// QueryIn is Query with database as the current database ("" for the
// server's default).
func (c *ClickHouse) QueryIn(ctx context.Context, database, sql string) (string, error) {
	params := url.Values{"wait_end_of_query": {"1"}}
	if database != "" {
		params.Set("database", database)
	}
	u := "http://" + c.HTTPAddr() + "/?" + params.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(sql))
	if err != nil {
		return "", fmt.Errorf("testenv: %w", err)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return "", fmt.Errorf("clickhouse query %s: %w", abbrev(sql), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", fmt.Errorf("clickhouse query %s: reading response: %w", abbrev(sql), err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("clickhouse query %s: HTTP %d: %s", abbrev(sql), resp.StatusCode, bytes.TrimSpace(body))
	}
	return string(body), nil
}

// CreateDatabase creates database name if it does not exist.
func (c *ClickHouse) CreateDatabase(ctx context.Context, name string) error {
	_, err := c.Query(ctx, "CREATE DATABASE IF NOT EXISTS "+QuoteIdent(name))
	return err
}

// DropDatabase drops database name and its tables if it exists.
func (c *ClickHouse) DropDatabase(ctx context.Context, name string) error {
	_, err := c.Query(ctx, "DROP DATABASE IF EXISTS "+QuoteIdent(name))
	return err
}

// QuoteIdent quotes a ClickHouse identifier with backquotes.
func QuoteIdent(name string) string {
	r := strings.NewReplacer(`\`, `\\`, "`", "\\`")
	return "`" + r.Replace(name) + "`"
}

func abbrev(sql string) string {
	s := strings.Join(strings.Fields(sql), " ")
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return strconv.Quote(s)
}

// start runs the server and waits until it is ready. With newPorts it picks
// fresh ports for every attempt; otherwise it reuses c's ports and only
// waits a moment between attempts. c.mu is held.
func (c *ClickHouse) start(ctx context.Context, newPorts bool) error {
	var lastErr error
	for attempt := 1; attempt <= startAttempts; attempt++ {
		if newPorts {
			ports, err := freePorts(2)
			if err != nil {
				return fmt.Errorf("testenv: picking free ports: %w", err)
			}
			c.tcpPort, c.httpPort = ports[0], ports[1]
		}
		if err := c.writeConfig(); err != nil {
			return fmt.Errorf("testenv: writing clickhouse config: %w", err)
		}
		offs := c.logOffsets()
		t0 := time.Now()
		p, err := c.spawn()
		if err != nil {
			return err
		}
		err = c.waitReady(ctx, p, offs)
		if err == nil {
			c.proc = p
			c.logf("testenv: clickhouse-server pid %d ready in %v (native 127.0.0.1:%d, http 127.0.0.1:%d, dir %s)",
				p.pid, time.Since(t0).Round(time.Millisecond), c.tcpPort, c.httpPort, c.dir)
			return nil
		}
		c.terminate(p, 0)
		lastErr = err
		var se *startError
		if !errors.As(err, &se) || !se.bindFailed || ctx.Err() != nil {
			return err
		}
		c.logf("testenv: clickhouse-server could not bind its ports (attempt %d/%d)", attempt, startAttempts)
		if !newPorts && attempt < startAttempts {
			select {
			case <-ctx.Done():
				return lastErr
			case <-time.After(time.Second):
			}
		}
	}
	return fmt.Errorf("%w\n(gave up after %d attempts)", lastErr, startAttempts)
}

// spawn starts the server process. The process is started, waited for and
// reaped by one goroutine locked to its OS thread: Pdeathsig fires when the
// thread that forked the child exits (not when the process does), and a
// thread a goroutine holds locked is never ended by the Go runtime, so the
// signal comes only when the whole test binary dies, which is the point.
func (c *ClickHouse) spawn() (*process, error) {
	stdout, err := os.OpenFile(filepath.Join(c.dir, "stdout.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("testenv: %w", err)
	}
	defer stdout.Close()
	stderr, err := os.OpenFile(filepath.Join(c.dir, "stderr.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("testenv: %w", err)
	}
	defer stderr.Close()

	args := append(append([]string(nil), c.binArgs...), "--config-file="+filepath.Join(c.dir, "config.xml"))
	cmd := exec.Command(c.bin, args...)
	cmd.Dir = c.dir
	cmd.Stdin = nil
	cmd.Stdout = stdout
	cmd.Stderr = stderr
	cmd.SysProcAttr = sysProcAttr()

	return startChild(cmd)
}

// startChild starts cmd (whose SysProcAttr asks for SIGKILL when the
// starting thread ends) from a goroutine that keeps its OS thread to itself
// while the child runs. It unlocks once the child is gone instead of
// exiting locked: a goroutine that exits locked makes the runtime end the
// thread, which would deliver Pdeathsig to any other child forked from that
// thread earlier. Every server and worker the test bed starts goes through it.
func startChild(cmd *exec.Cmd) (*process, error) {
	p := &process{cmd: cmd, done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		p.err = cmd.Wait()
		close(p.done)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("testenv: starting %s: %w", cmd.Path, err)
	}
	p.pid = cmd.Process.Pid
	return p, nil
}

// startError is a failed start; bindFailed says the server could not listen
// on its ports, which a start on other ports may fix.
type startError struct {
	msg        string
	bindFailed bool
}

func (e *startError) Error() string { return e.msg }

// waitReady polls GET /ping ("Ok.") and a TCP connect to the native port
// until both succeed, p exits, ctx ends or readyTimeout passes.
func (c *ClickHouse) waitReady(ctx context.Context, p *process, offs logOffsets) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	httpAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(c.httpPort))
	tcpAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(c.tcpPort))
	t0 := time.Now()
	fail := func(why string) error {
		tails := c.logTails(offs)
		return &startError{
			msg: fmt.Sprintf("testenv: clickhouse-server (%s, pid %d, config %s) %s (native %s, http %s)%s",
				c.bin, p.pid, filepath.Join(c.dir, "config.xml"), why, tcpAddr, httpAddr, tails),
			bindFailed: strings.Contains(tails, "Address already in use"),
		}
	}
	for {
		if p.exited() {
			return fail(fmt.Sprintf("exited during startup after %v: %v", time.Since(t0).Round(time.Millisecond), p.err))
		}
		if c.ping(ctx, httpAddr) && dialOK(ctx, tcpAddr) {
			// The ports answer; make sure it is our process answering and
			// not one that won a bind race against it.
			time.Sleep(20 * time.Millisecond)
			if !p.exited() {
				return nil
			}
			continue
		}
		select {
		case <-p.done:
		case <-ctx.Done():
			return fail(fmt.Sprintf("not ready after %v: %v", time.Since(t0).Round(time.Millisecond), context.Cause(ctx)))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (c *ClickHouse) ping(ctx context.Context, httpAddr string) bool {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+httpAddr+"/ping", nil)
	if err != nil {
		return false
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64))
	return resp.StatusCode == http.StatusOK && strings.TrimSpace(string(body)) == "Ok."
}

func dialOK(ctx context.Context, addr string) bool {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

// freePorts returns n distinct free TCP ports on 127.0.0.1. They are free
// when returned, not reserved: the start retries if one gets taken.
func freePorts(n int) ([]int, error) {
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// logOffsets are the sizes of the log files before a start, so a failure
// reports only what that start wrote.
type logOffsets map[string]int64

var tailFiles = []string{"err.log", "stderr.log", "stdout.log"}

func (c *ClickHouse) logOffsets() logOffsets {
	offs := logOffsets{}
	for _, name := range tailFiles {
		if fi, err := os.Stat(filepath.Join(c.dir, name)); err == nil {
			offs[name] = fi.Size()
		}
	}
	return offs
}

// logTails returns the last few KB each log file got since offs, formatted
// for an error message.
func (c *ClickHouse) logTails(offs logOffsets) string {
	const maxTail = 3000
	var b strings.Builder
	for _, name := range tailFiles {
		path := filepath.Join(c.dir, name)
		data, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		if off := offs[name]; off <= int64(len(data)) {
			data = data[off:]
		}
		if len(bytes.TrimSpace(data)) == 0 {
			continue
		}
		if len(data) > maxTail {
			data = data[len(data)-maxTail:]
			if i := bytes.IndexByte(data, '\n'); i >= 0 {
				data = data[i+1:]
			}
		}
		fmt.Fprintf(&b, "\n--- tail of %s ---\n%s", path, bytes.TrimRight(data, "\n"))
	}
	if b.Len() == 0 {
		return "\n(no log output)"
	}
	return b.String()
}

// ProfileSettings are the settings of the default profile every test
// server runs with, in users.xml order. They stay accepted by current
// releases too (internal/ch26 checks them there): 26.x refuses unknown
// settings, such as 18.16's allow_experimental_low_cardinality_type, which
// nothing here needs (the schema uses Enum, not LowCardinality).
func ProfileSettings() [][2]string {
	return [][2]string{
		{"max_memory_usage", "4000000000"},
		// Read from the default profile at startup by 18.x: merge and
		// schedule thread pools sized for a 2-core machine.
		{"background_pool_size", "4"},
		{"background_schedule_pool_size", "4"},
	}
}

// writeConfig writes config.xml and users.xml for c's directory and ports.
// Nothing listens beyond 127.0.0.1, only a cluster member has an
// interserver port, and the server is sized for a small (2-core) machine.
func (c *ClickHouse) writeConfig() error {
	for _, sub := range []string{"data", "tmp", "user_files", "format_schemas"} {
		if err := os.MkdirAll(filepath.Join(c.dir, sub), 0o755); err != nil {
			return err
		}
	}
	p := func(elem ...string) string {
		var b strings.Builder
		_ = xml.EscapeText(&b, []byte(filepath.Join(append([]string{c.dir}, elem...)...)))
		return b.String()
	}
	config := fmt.Sprintf(`<?xml version="1.0"?>
<!-- Written by internal/testenv; rewritten on every start. -->
<yandex>
  <logger>
    <level>warning</level>
    <log>%s</log>
    <errorlog>%s</errorlog>
    <size>100M</size>
    <count>1</count>
  </logger>
  <tcp_port>%d</tcp_port>
  <http_port>%d</http_port>
  <listen_host>127.0.0.1</listen_host>
  <path>%s/</path>
  <tmp_path>%s/</tmp_path>
  <user_files_path>%s/</user_files_path>
  <format_schema_path>%s/</format_schema_path>
  <users_config>%s</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  <mark_cache_size>268435456</mark_cache_size>
  <uncompressed_cache_size>268435456</uncompressed_cache_size>
  <max_concurrent_queries>64</max_concurrent_queries>
  <max_connections>1024</max_connections>
  <keep_alive_timeout>10</keep_alive_timeout>
  <!-- On SIGTERM, wait at most this many seconds for open connections and
       running queries (default 5): clients' idle pooled connections would
       otherwise make every Stop take 5s. -->
  <shutdown_wait_unfinished>2</shutdown_wait_unfinished>
  <mlock_executable>false</mlock_executable>
%s%s</yandex>
`, p("server.log"), p("err.log"), c.tcpPort, c.httpPort,
		p("data"), p("tmp"), p("user_files"), p("format_schemas"), p("users.xml"), c.clusterConfig(), c.queryLogConfig())

	var profile strings.Builder
	settings := ProfileSettings()
	if c.logQueries {
		settings = append(settings, [2]string{"log_queries", "1"})
	}
	for _, kv := range settings {
		fmt.Fprintf(&profile, "      <%s>%s</%s>\n", kv[0], kv[1], kv[0])
	}

	users := `<?xml version="1.0"?>
<!-- Written by internal/testenv; rewritten on every start. -->
<yandex>
  <profiles>
    <default>
` + profile.String() + `    </default>
  </profiles>
  <users>
    <default>
      <password></password>
      <networks>
        <ip>127.0.0.1</ip>
        <ip>::1</ip>
      </networks>
      <profile>default</profile>
      <quota>default</quota>
    </default>
  </users>
  <quotas>
    <default>
      <interval>
        <duration>3600</duration>
        <queries>0</queries>
        <errors>0</errors>
        <result_rows>0</result_rows>
        <read_rows>0</read_rows>
        <execution_time>0</execution_time>
      </interval>
    </default>
  </quotas>
</yandex>
`
	if err := os.WriteFile(filepath.Join(c.dir, "config.xml"), []byte(config), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(c.dir, "users.xml"), []byte(users), 0o644); err != nil {
		return err
	}
	return c.writeUsersD()
}

// writeUsersD writes users.d/testenv.xml from c.usersXML, or removes it
// when there is none (a kept Dir started before with other options).
func (c *ClickHouse) writeUsersD() error {
	path := filepath.Join(c.dir, "users.d", "testenv.xml")
	if c.usersXML == "" {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	body := "<?xml version=\"1.0\"?>\n<!-- Written by internal/testenv (ClickHouseOptions.UsersXML); rewritten on every start. -->\n<yandex>\n" +
		c.usersXML + "\n</yandex>\n"
	return os.WriteFile(path, []byte(body), 0o644)
}

// queryLogConfig is the system.query_log section when queries are logged:
// 18.16 has no query log unless the config names its table.
func (c *ClickHouse) queryLogConfig() string {
	if !c.logQueries {
		return ""
	}
	return `  <query_log>
    <database>system</database>
    <table>query_log</table>
    <flush_interval_milliseconds>1000</flush_interval_milliseconds>
  </query_log>
`
}
