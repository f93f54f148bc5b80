package timeline_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

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
	waitFor(t, "a checkpoint read that works ends a read refusal (after a second of answers)", 3*time.Second, h.Up)

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
	time.Sleep(1500 * time.Millisecond) // Watch's pings meanwhile: still down
	if h.Up() {
		t.Fatal("pings must not end a write refusal")
	}
	if err := s.WriteCheckpoints(ctx, []timeline.Checkpoint{{Source: "s3:b/", Key: "k", ETag: "e", Lines: 1}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a checkpoint write that works ends a write refusal", 3*time.Second, h.Up)

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
