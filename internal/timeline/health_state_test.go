package timeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/prometheus/client_golang/prometheus"
)

// clock is a settable time for Health.now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedBuf) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// The state machine alone: an outage is logged once when it starts and
// once when it ends, however many calls fail meanwhile and from however
// many goroutines; a refused write is not cleared by reads or pings; a
// success between failures (a server shutting down) ends nothing.
func TestHealthStates(t *testing.T) {
	clk := &clock{t: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
	h := NewHealth()
	h.now = clk.now
	reg := prometheus.NewRegistry()
	h.Register(reg)
	var logs lockedBuf
	count := func(s string) int { return strings.Count(logs.String(), s) }
	readyz := func() int {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/readyz", nil))
		return w.Code
	}
	h.Report(OpRead, &UnavailableError{Addr: "x", Err: errors.New("before Watch")})
	if h.Up() || logs.String() != "" {
		t.Fatal("a failure during start-up counts, unlogged (it is the start-up's error)")
	}
	h.Report(OpRead, nil)
	clk.add(time.Second)
	h.Report(OpRead, nil)
	if !h.Up() {
		t.Fatal("up after a second of answers")
	}
	// Watch's pings are not in this test: a ping that never runs.
	stop := h.Watch(context.Background(), func(context.Context) error { return nil }, slog.New(slog.NewTextHandler(&logs, nil)), "doing X meanwhile")
	defer stop()

	unreachable := &UnavailableError{Addr: "127.0.0.1:9000", Err: errors.New("connection refused")}
	var wg sync.WaitGroup
	for range 8 { // eight writers failing at once: one line
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				h.Report(OpWrite, unreachable)
			}
		}()
	}
	wg.Wait()
	if h.Up() || readyz() != 503 || count("ClickHouse is failing") != 1 || !strings.Contains(logs.String(), "doing X meanwhile") ||
		!strings.Contains(logs.String(), "what_to_do") || !strings.Contains(h.Err().Error(), "connection refused") {
		t.Fatalf("after 400 failed calls: up %v, readyz %d, log:\n%s", h.Up(), readyz(), logs.String())
	}
	// A server shutting down: a ping answered between dropped queries.
	for range 5 {
		clk.add(300 * time.Millisecond)
		h.Report(OpRead, nil)
		clk.add(300 * time.Millisecond)
		h.Report(OpWrite, unreachable)
	}
	if h.Up() || count("ClickHouse is answering again") != 0 {
		t.Fatalf("answers between failures end nothing:\n%s", logs.String())
	}
	clk.add(10 * time.Second)
	h.Report(OpRead, nil) // any answer after an outage of no answer…
	if h.Up() || readyz() != 503 {
		t.Fatal("…starts the second of grace, no more")
	}
	clk.add(time.Second)
	h.Report(OpRead, nil)
	if !h.Up() || readyz() != 200 || count("ClickHouse is answering again") != 1 || !strings.Contains(logs.String(), "failed_calls=405") ||
		!strings.Contains(logs.String(), "down_for=14s") {
		t.Fatalf("after a second of answers: up %v, log:\n%s", h.Up(), logs.String())
	}

	refused := &clickhouse.Exception{Code: 252, Name: "DB::Exception", Message: "Too many parts"}
	h.Report(OpWrite, refused)
	for range 3 {
		clk.add(time.Second)
		h.Report(OpRead, nil) // reads and pings work: inserts still do not
	}
	if h.Up() || count("ClickHouse is failing") != 2 || !strings.Contains(h.Err().Error(), "Too many parts") ||
		!strings.Contains(logs.String(), "fix its cause on the server") {
		t.Fatalf("a refused write holds until a write succeeds: up %v, err %v\n%s", h.Up(), h.Err(), logs.String())
	}
	h.Report(OpWrite, nil)
	clk.add(time.Second)
	h.Report(OpRead, nil)
	if !h.Up() || count("ClickHouse is answering again") != 2 || h.Err() != nil {
		t.Fatalf("a successful write ends it: up %v\n%s", h.Up(), logs.String())
	}
	if got := gather(t, reg); got != `seatline_clickhouse_errors_total{operation="read"} 1 seatline_clickhouse_errors_total{operation="write"} 406 seatline_clickhouse_up 1` {
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
