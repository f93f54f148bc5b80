// Package benchkit is what the demo (internal/cmd/demo) and the benchmark
// (internal/cmd/bench) share: a private local stack (ClickHouse and a kfake
// Kafka broker, both on loopback), the ingest binary run as a subprocess with
// its logs in a file, its Prometheus counters read over HTTP, consumer group
// lag, and the enrich binary run once against a GitHub API simulator.
package benchkit

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/seatline/seatline/internal/ghsim"
	"github.com/seatline/seatline/internal/kafkasrc"
	"github.com/seatline/seatline/internal/testenv"
	"github.com/seatline/seatline/internal/timeline"
)

// Stack is a private ClickHouse and Kafka broker for one run.
type Stack struct {
	CH      *testenv.ClickHouse
	Kafka   *testenv.Kafka
	client  *kafka.Client
	Started time.Duration // time to get both ready
}

// StartStack starts ClickHouse with its data in chDir (kept: the caller
// removes it) and a kfake broker.
func StartStack(ctx context.Context, chDir string) (*Stack, error) {
	t0 := time.Now()
	ch, err := testenv.StartClickHouse(ctx, testenv.ClickHouseOptions{Dir: chDir})
	if err != nil {
		return nil, err
	}
	k, err := testenv.StartKafka()
	if err != nil {
		ch.Close()
		return nil, err
	}
	return &Stack{
		CH:      ch,
		Kafka:   k,
		client:  &kafka.Client{Addr: kafka.TCP(k.Brokers()...), Timeout: 10 * time.Second},
		Started: time.Since(t0),
	}, nil
}

// Close stops the broker and ClickHouse. It is safe on a nil or partly
// closed stack.
func (s *Stack) Close() error {
	if s == nil {
		return nil
	}
	if s.Kafka != nil {
		s.Kafka.Close()
	}
	if s.CH != nil {
		return s.CH.Close()
	}
	return nil
}

// Broker is the (only) broker's address.
func (s *Stack) Broker() string { return s.Kafka.Brokers()[0] }

// Lag is how many messages of topic group has not committed.
func (s *Stack) Lag(ctx context.Context, group, topic string) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return kafkasrc.GroupLag(ctx, s.client, group, []string{topic})
}

// ClickHouseVersion asks the server.
func (s *Stack) ClickHouseVersion(ctx context.Context) string {
	v, err := s.CH.Query(ctx, "SELECT version()")
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(v)
}

// Store opens the timeline database db (for queries).
func (s *Stack) Store(ctx context.Context, db string) (*timeline.Store, error) {
	return timeline.Open(ctx, timeline.Config{Addrs: []string{s.CH.Addr()}, Database: db})
}

// IngestBinary returns bin/ingest of the module if it exists (make build
// puts it there), else builds ./cmd/ingest into buildDir. built says which.
func IngestBinary(ctx context.Context, buildDir string) (path string, built bool, err error) {
	return Binary(ctx, "ingest", buildDir)
}

// Binary returns bin/<name> of the module if it exists (make build puts
// every ./cmd/... there), else builds ./cmd/<name> into buildDir. built
// says which.
func Binary(ctx context.Context, name, buildDir string) (path string, built bool, err error) {
	root, err := testenv.ModuleRoot()
	if err != nil {
		return "", false, err
	}
	p := filepath.Join(root, "bin", name)
	if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
		return p, false, nil
	}
	p, err = testenv.Build(ctx, "./cmd/"+name, buildDir)
	return p, true, err
}

// FreeAddr returns "127.0.0.1:PORT" for a port that was free a moment ago.
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// Ingest is a running ingest worker.
type Ingest struct {
	Proc     *testenv.Process
	HTTPAddr string // 127.0.0.1:PORT of /metrics
	LogPath  string
	logFile  *os.File
	http     *http.Client
	stopped  bool
	stopErr  error
}

// IngestArgs are the flags for a worker on stack s reading topic as group
// into database db; extra flags go last (and so win).
func IngestArgs(s *Stack, topic, group, db string, extra ...string) []string {
	return append([]string{
		"--kafka-brokers", strings.Join(s.Kafka.Brokers(), ","),
		"--kafka-topics", topic,
		"--kafka-group", group,
		"--clickhouse-addr", s.CH.Addr(),
		"--clickhouse-database", db,
	}, extra...)
}

// StartIngest runs bin with args plus --http-addr on a free loopback port,
// its output going to logPath only.
func StartIngest(bin string, args []string, logPath string) (*Ingest, error) {
	addr, err := FreeAddr()
	if err != nil {
		return nil, fmt.Errorf("picking a port for ingest: %w", err)
	}
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	args = append(append([]string(nil), args...), "--http-addr", addr)
	p, err := testenv.StartProcess(bin, args, f)
	if err != nil {
		f.Close()
		return nil, err
	}
	return &Ingest{
		Proc: p, HTTPAddr: addr, LogPath: logPath, logFile: f,
		http: &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 2}},
	}, nil
}

// GitHubArgs are the flags that point ingest (inline enrichment) or enrich
// at a GitHub API simulator: its base URL (go-github wants the trailing
// slash) and a token it accepts.
func GitHubArgs(sim *ghsim.Server, token string) []string {
	return []string{"--github-base-url", sim.URL() + "/", "--github-token", token}
}

// EnrichArgs are the flags for one pass of the enrich worker (--once) on
// stack s's database db; extra flags go last (and so win). Its HTTP
// endpoint is off.
func EnrichArgs(s *Stack, db string, extra ...string) []string {
	return append([]string{
		"--clickhouse-addr", s.CH.Addr(),
		"--clickhouse-database", db,
		"--once",
		"--http-addr", "",
	}, extra...)
}

// RunOnce runs bin with args to completion (at most timeout), its output
// appended to logPath, and returns the output. A non-zero exit, or running
// past timeout (the process is then killed), is an error with the output's
// tail.
func RunOnce(ctx context.Context, bin string, args []string, logPath string, timeout time.Duration) (string, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return "", err
	}
	defer f.Close()
	p, err := testenv.StartProcess(bin, args, f)
	if err != nil {
		return "", err
	}
	name := filepath.Base(bin)
	tail := func() string {
		lines := strings.Split(strings.TrimRight(p.Output(), "\n"), "\n")
		if len(lines) > 15 {
			lines = lines[len(lines)-15:]
		}
		return "--- last lines of " + logPath + " ---\n  " + strings.Join(lines, "\n  ")
	}
	deadline := time.Now().Add(timeout)
	for {
		if done, err := p.Exited(); done {
			if err != nil {
				return p.Output(), fmt.Errorf("%s (pid %d) failed: %v\n%s", name, p.PID(), err, tail())
			}
			return p.Output(), nil
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			_ = p.Stop(10 * time.Second)
			if ctx.Err() != nil {
				return p.Output(), ctx.Err()
			}
			return p.Output(), fmt.Errorf("%s (pid %d) still running after %s: stopped\n%s", name, p.PID(), timeout, tail())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// APIRequests is the number of GitHub API calls among a simulator's
// per-endpoint request counts (ghsim.Server.Requests): every request except
// GET /rate_limit (free on GitHub) and the App installation-token exchange.
func APIRequests(byEndpoint map[string]int) int {
	n := 0
	for k, v := range byEndpoint {
		if k != ghsim.EndpointRateLimit && k != ghsim.EndpointAccessToken {
			n += v
		}
	}
	return n
}

// DiffRequests is after - before, per endpoint (zero counts left out).
func DiffRequests(after, before map[string]int) map[string]int {
	out := map[string]int{}
	for k, v := range after {
		if d := v - before[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}

// CheckAlive returns an error, with the log's tail, if the process has exited.
func (i *Ingest) CheckAlive() error {
	if done, err := i.Proc.Exited(); done {
		return fmt.Errorf("ingest (pid %d) exited unexpectedly: %v\n%s", i.Proc.PID(), err, i.LogTail(15))
	}
	return nil
}

// Stop sends SIGTERM and checks that the worker exits 0 having logged
// "stopped cleanly". Calling it again returns the first result.
func (i *Ingest) Stop(timeout time.Duration) error {
	if i.stopped {
		return i.stopErr
	}
	i.stopped = true
	i.http.CloseIdleConnections()
	err := i.Proc.Stop(timeout)
	i.logFile.Close()
	switch {
	case err != nil:
		i.stopErr = fmt.Errorf("ingest (pid %d) did not stop cleanly on SIGTERM: %v\n%s", i.Proc.PID(), err, i.LogTail(15))
	case !strings.Contains(i.Proc.Output(), "stopped cleanly"):
		i.stopErr = fmt.Errorf("ingest (pid %d) exited 0 but did not log \"stopped cleanly\"\n%s", i.Proc.PID(), i.LogTail(15))
	}
	return i.stopErr
}

// Close stops the process if Stop has not been called: SIGTERM, then
// SIGKILL after 10s (cleanup after a failure or an interrupt).
func (i *Ingest) Close() {
	if !i.stopped {
		_ = i.Stop(10 * time.Second)
	}
}

// CleanLine is the log line that says the worker stopped cleanly ("" if none).
func (i *Ingest) CleanLine() string {
	for _, l := range strings.Split(i.Proc.Output(), "\n") {
		if strings.Contains(l, "stopped cleanly") {
			return l
		}
	}
	return ""
}

// LogTail is the last n lines the process printed, indented.
func (i *Ingest) LogTail(n int) string {
	lines := strings.Split(strings.TrimRight(i.Proc.Output(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "--- last lines of " + i.LogPath + " ---\n  " + strings.Join(lines, "\n  ")
}

// Metrics are the worker's counters.
type Metrics struct {
	Messages    float64 // seatline_ingest_messages_total
	Rows        float64 // seatline_ingest_rows_written_total
	Members     float64 // seatline_ingest_membership_rows_written_total
	DeadLetters float64 // seatline_ingest_dead_letters_total, all reasons
	Filtered    float64 // seatline_ingest_filtered_total
	Commits     float64 // seatline_ingest_commits_total
	BatchCount  float64 // seatline_ingest_batch_write_seconds_count
	BatchSum    float64 // seatline_ingest_batch_write_seconds_sum (seconds)

	// seatline_ingest_enrichment_total by outcome (inline enrichment)
	EnrichEnriched, EnrichPending, EnrichFailed float64
}

// Metrics scrapes /metrics.
func (i *Ingest) Metrics(ctx context.Context) (Metrics, error) {
	var m Metrics
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+i.HTTPAddr+"/metrics", nil)
	if err != nil {
		return m, err
	}
	resp, err := i.http.Do(req)
	if err != nil {
		return m, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return m, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	return parseMetrics(resp.Body, &m)
}

func parseMetrics(r io.Reader, m *Metrics) (Metrics, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "seatline_") {
			continue
		}
		sp := strings.LastIndexByte(line, ' ')
		if sp < 0 {
			continue
		}
		name, labels := line[:sp], ""
		if b := strings.IndexByte(name, '{'); b >= 0 {
			name, labels = name[:b], name[b:]
		}
		v, err := strconv.ParseFloat(line[sp+1:], 64)
		if err != nil {
			continue
		}
		switch name {
		case "seatline_ingest_messages_total":
			m.Messages = v
		case "seatline_ingest_rows_written_total":
			m.Rows = v
		case "seatline_ingest_membership_rows_written_total":
			m.Members = v
		case "seatline_ingest_dead_letters_total":
			m.DeadLetters += v
		case "seatline_ingest_filtered_total":
			m.Filtered = v
		case "seatline_ingest_commits_total":
			m.Commits = v
		case "seatline_ingest_batch_write_seconds_count":
			m.BatchCount = v
		case "seatline_ingest_batch_write_seconds_sum":
			m.BatchSum = v
		case "seatline_ingest_enrichment_total":
			switch {
			case strings.Contains(labels, `outcome="enriched"`):
				m.EnrichEnriched = v
			case strings.Contains(labels, `outcome="pending"`):
				m.EnrichPending = v
			case strings.Contains(labels, `outcome="failed"`):
				m.EnrichFailed = v
			}
		}
	}
	return *m, sc.Err()
}

// Cleanup is a stack of undo steps run last-in first-out.
type Cleanup struct{ fns []func() }

// Add pushes fn.
func (c *Cleanup) Add(fn func()) { c.fns = append(c.fns, fn) }

// Run runs and forgets every step.
func (c *Cleanup) Run() {
	for i := len(c.fns) - 1; i >= 0; i-- {
		c.fns[i]()
	}
	c.fns = nil
}

// Sleep waits d or until ctx ends.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// CPUSeconds is the user+system CPU time process pid has used (0 for pid 0
// or on error); pid -1 means this process.
func CPUSeconds(pid int) float64 {
	path := fmt.Sprintf("/proc/%d/stat", pid)
	if pid < 0 {
		path = "/proc/self/stat"
	} else if pid == 0 {
		return 0
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	// Fields after the command (which may hold spaces) in parentheses.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64) // utime: field 14 overall
	st, _ := strconv.ParseFloat(f[12], 64) // stime: field 15
	return (ut + st) / 100                 // USER_HZ is 100 on Linux
}

// ScrubEnv unsets every SEATLINE_* environment variable, so a user's own
// configuration of the binaries (cmd/ingest reads its flags from them) does
// not leak into the private stack's workers. It returns the names removed.
func ScrubEnv() []string {
	var names []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "SEATLINE_") {
			os.Unsetenv(name)
			names = append(names, name)
		}
	}
	return names
}
