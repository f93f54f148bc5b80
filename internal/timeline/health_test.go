package timeline_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/seatline/seatline/internal/testenv"
	"github.com/seatline/seatline/internal/timeline"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (s *syncBuf) count(sub string) int { return strings.Count(s.String(), sub) }

const (
	downLine = "ClickHouse is failing"
	upLine   = "ClickHouse is answering again"
)

func readyz(h *timeline.Health) int {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/readyz", nil))
	return w.Code
}

// The state machine alone: an outage is logged once when it starts and
// once when it ends, however many calls fail meanwhile and from however
// many goroutines; a refused write is not cleared by reads or pings.
func TestHealthStates(t *testing.T) {
	h := timeline.NewHealth()
	reg := prometheus.NewRegistry()
	h.Register(reg)
	var logs syncBuf
	h.Report(timeline.OpRead, &timeline.UnavailableError{Addr: "x", Err: errors.New("before Watch")})
	if h.Up() || logs.String() != "" {
		t.Fatal("a failure during start-up still counts (but is not logged: it is the start-up's error)")
	}
	h.Report(timeline.OpRead, nil)
	stop := h.Watch(context.Background(), func(context.Context) error { return nil }, slog.New(slog.NewTextHandler(&logs, nil)), "doing X meanwhile")
	defer stop()

	unreachable := &timeline.UnavailableError{Addr: "127.0.0.1:9000", Err: errors.New("connection refused")}
	var wg sync.WaitGroup
	for range 8 { // eight writers failing at once: one line
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				h.Report(timeline.OpWrite, unreachable)
			}
		}()
	}
	wg.Wait()
	if h.Up() || readyz(h) != 503 || logs.count(downLine) != 1 || !strings.Contains(logs.String(), "doing X meanwhile") ||
		!strings.Contains(logs.String(), "what_to_do") {
		t.Fatalf("after 400 failed calls: up %v, readyz %d, log:\n%s", h.Up(), readyz(h), logs.String())
	}
	h.Report(timeline.OpRead, nil) // any answer ends an outage of no answer
	h.Report(timeline.OpWrite, nil)
	if !h.Up() || readyz(h) != 200 || logs.count(upLine) != 1 || !strings.Contains(logs.String(), "failed_calls=400") {
		t.Fatalf("after a success: up %v, log:\n%s", h.Up(), logs.String())
	}

	refused := &clickhouse.Exception{Code: 252, Name: "DB::Exception", Message: "Too many parts"}
	h.Report(timeline.OpWrite, refused)
	for range 3 {
		h.Report(timeline.OpRead, nil) // reads and pings work: inserts still do not
	}
	if h.Up() || logs.count(downLine) != 2 || !strings.Contains(h.Err().Error(), "Too many parts") {
		t.Fatalf("a refused write must hold until a write succeeds: up %v, err %v", h.Up(), h.Err())
	}
	h.Report(timeline.OpWrite, nil)
	if !h.Up() || logs.count(upLine) != 2 || h.Err() != nil {
		t.Fatalf("a successful write ends it: up %v\n%s", h.Up(), logs.String())
	}
	if got := gather(t, reg); got != `seatline_clickhouse_errors_total{operation="read"} 1 seatline_clickhouse_errors_total{operation="write"} 401 seatline_clickhouse_up 1` {
		t.Fatalf("metrics: %s", got)
	}
}

// gather renders reg's series as "name{labels} value", space-separated.
func gather(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			labels := ""
			for _, l := range m.GetLabel() {
				labels += l.GetName() + `="` + l.GetValue() + `"`
			}
			if labels != "" {
				labels = "{" + labels + "}"
			}
			v := m.GetGauge().GetValue() + m.GetCounter().GetValue()
			out = append(out, fmt.Sprintf("%s%s %g", mf.GetName(), labels, v))
		}
	}
	return strings.Join(out, " ")
}

// proxy forwards loopback connections to ClickHouse until cut: a network
// failure between the worker and the server, for real, without stopping
// the server the other tests share.
type proxy struct {
	addr, target string
	mu           sync.Mutex
	ln           net.Listener
	conns        []net.Conn
}

func newProxy(t *testing.T, target string) *proxy {
	p := &proxy{target: target}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(p.cut)
	return p
}

func (p *proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(s, c); s.Close() }()
			go func() { _, _ = io.Copy(c, s); c.Close() }()
		}
	}()
}

// cut closes the listener and every connection: dials are refused.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// mend listens on the same address again.
func (p *proxy) mend(t *testing.T) {
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	p.serve(ln)
}

func waitFor(t *testing.T, what string, d time.Duration, ok func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < d {
		if ok() {
			return time.Since(start)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s: not within %s", what, d)
	return 0
}

// Every kind of call a Store makes, and calls made through Conn(), report
// to its Health; an idle process notices a cut within seconds (Watch's
// ping) and recovery at once.
func TestHealthSeesEveryCall(t *testing.T) {
	ch := testenv.SharedClickHouse(t)
	db := testenv.NewDatabase(t, ch)
	px := newProxy(t, ch.Addr())
	ctx := context.Background()
	h := timeline.NewHealth()
	s, err := timeline.Open(ctx, timeline.Config{Addrs: []string{px.addr}, Database: db, DialTimeout: time.Second}, timeline.WithHealth(h))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	var logs syncBuf
	stop := h.Watch(ctx, s.Ping, slog.New(slog.NewTextHandler(&logs, nil)), "testing")
	defer stop()
	if s.Health() != h || !h.Up() {
		t.Fatal("the store reports to the health it was given, up after start")
	}

	// A query the server refuses, through Conn(): down; a good one: up.
	if _, err := s.Conn().Query(ctx, "SELECT no_such_column FROM seat_events"); err == nil {
		t.Fatal("want an error")
	}
	if h.Up() || h.Failures(timeline.OpRead) != 1 {
		t.Fatalf("a refused query: up %v, read failures %d", h.Up(), h.Failures(timeline.OpRead))
	}
	if _, err := s.Checkpoints(ctx, "s3:b/", "", ""); err != nil {
		t.Fatal(err)
	}
	if !h.Up() {
		t.Fatal("a checkpoint read that works ends a read refusal")
	}

	// An insert the server refuses (a wrong column): reads and pings do not
	// end it, a write that works does.
	if _, err := s.Conn().PrepareBatch(ctx, "INSERT INTO source_checkpoints (no_such_column)"); err == nil {
		t.Fatal("want an error")
	}
	if _, err := s.Checkpoints(ctx, "s3:b/", "", ""); err != nil || s.Ping(ctx) != nil {
		t.Fatal(err)
	}
	if h.Up() || h.Failures(timeline.OpWrite) != 1 {
		t.Fatalf("refused insert: up %v, write failures %d", h.Up(), h.Failures(timeline.OpWrite))
	}
	if err := s.WriteCheckpoints(ctx, []timeline.Checkpoint{{Source: "s3:b/", Key: "k", ETag: "e", Lines: 1}}); err != nil {
		t.Fatal(err)
	}
	if !h.Up() {
		t.Fatal("a checkpoint write that works ends a write refusal")
	}

	// The network cut with nothing to do: Watch's idle ping sees it.
	px.cut()
	took := waitFor(t, "an idle process notices the cut", 10*time.Second, func() bool { return !h.Up() })
	t.Logf("cut noticed after %s (idle)", took)
	if readyz(h) != 503 || !strings.Contains(h.Err().Error(), "cannot reach ClickHouse at "+px.addr) {
		t.Fatalf("readyz %d, err %v", readyz(h), h.Err())
	}
	if _, err := s.Checkpoints(ctx, "s3:b/", "", ""); err == nil {
		t.Fatal("a checkpoint read through a cut network must fail")
	}
	px.mend(t)
	took = waitFor(t, "recovery shows without a caller", 5*time.Second, h.Up)
	t.Logf("recovery noticed after %s", took)
	if readyz(h) != 200 {
		t.Fatal("ready again")
	}
	// Three outages, each one line down and one line up.
	if d, u := logs.count(downLine), logs.count(upLine); d != 3 || u != 3 {
		t.Fatalf("%d down and %d up lines, want 3 and 3:\n%s", d, u, logs.String())
	}
	if !strings.Contains(logs.String(), "down_for=") || !strings.Contains(logs.String(), "level=WARN") {
		t.Fatalf("log:\n%s", logs.String())
	}
}
