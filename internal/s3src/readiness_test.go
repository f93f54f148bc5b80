package s3src_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/seatline/seatline/internal/ingestd"
	"github.com/seatline/seatline/internal/objsrc/objsrctest"
	"github.com/seatline/seatline/internal/testenv"
)

// TestFollowReadinessDuringOutage: in S3 follow mode, ClickHouse stopped
// while a new object arrives (the worker is held on that object's
// checkpoint read, before any row is written): /readyz turns 503 within
// seconds and stays so, seatline_clickhouse_up is 0 and failed calls are
// counted; after ClickHouse restarts, /readyz is 200 again, the object's
// rows land, and the outage is logged exactly once each way.
func TestFollowReadinessDuringOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("stops ClickHouse for 20 s: run without -short")
	}
	b := newBed(t)
	b.WithKeys(t)
	exp := objsrctest.NewExpect()
	start := time.Date(2026, 11, 10, 9, 0, 0, 0, time.UTC)
	b.Upload(t, objsrctest.GenObjects("", 2, 200, 41, start, 0.3, exp))

	addr := freeAddr(t)
	cfg := b.Config(t, "--s3-mode", "follow", "--since", "2026-11-10", "--s3-poll-interval", "200ms", "--s3-lookback", "30m",
		"--http-addr", addr)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs testenv.Buffer
	done := make(chan error, 1)
	go func() {
		done <- ingestd.Run(ctx, cfg, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	}()
	source := b.Source("")
	b.WaitDone(t, source, 2, time.Minute, done, &logs)
	if code, body := httpGet(t, "http://"+addr+"/readyz"); code != 200 {
		t.Fatalf("before the outage: /readyz %d %s", code, body)
	}
	if v := metric(t, addr, "seatline_clickhouse_up"); v != "1" {
		t.Fatalf("seatline_clickhouse_up %s before the outage", v)
	}

	if err := b.CH.Stop(); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	late := objsrctest.GenObjects("", 1, 200, 42, start.Add(5*time.Minute), 0.3, exp)
	b.Upload(t, late)
	for {
		code, body := httpGet(t, "http://"+addr+"/readyz")
		if code == 503 {
			t.Logf("/readyz 503 %s after ClickHouse stopped: %s", time.Since(stopped).Round(time.Millisecond), strings.TrimSpace(body))
			if !strings.Contains(body, "ClickHouse is failing") || !strings.Contains(body, "cannot reach ClickHouse") {
				t.Errorf("/readyz should say why: %q", body)
			}
			break
		}
		if time.Since(stopped) > 5*time.Second {
			t.Fatalf("/readyz still %d %s after ClickHouse was stopped 5 s ago:\n%s", code, body, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Down for 20 s in all: not ready, and saying so, the whole time.
	for time.Since(stopped) < 20*time.Second {
		if code, _ := httpGet(t, "http://"+addr+"/readyz"); code != 503 {
			t.Fatalf("/readyz %d %s into the outage", code, time.Since(stopped).Round(time.Millisecond))
		}
		if v := metric(t, addr, "seatline_clickhouse_up"); v != "0" {
			t.Fatalf("seatline_clickhouse_up %s during the outage", v)
		}
		time.Sleep(500 * time.Millisecond)
	}
	if v := metric(t, addr, `seatline_clickhouse_errors_total{operation="read"}`); v == "0" || v == "" {
		t.Errorf("failed reads not counted: %q", v)
	}
	if !strings.Contains(logs.String(), "reading checkpoints from ClickHouse failed") {
		t.Errorf("the new object's checkpoint read should have been held by the outage:\n%s", logs.String())
	}

	if err := b.CH.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	restarted := time.Now()
	for {
		code, _ := httpGet(t, "http://"+addr+"/readyz")
		if code == 200 {
			t.Logf("/readyz 200 %s after ClickHouse restarted", time.Since(restarted).Round(time.Millisecond))
			break
		}
		if time.Since(restarted) > 10*time.Second {
			t.Fatalf("/readyz still %d 10 s after ClickHouse restarted:\n%s", code, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if v := metric(t, addr, "seatline_clickhouse_up"); v != "1" {
		t.Fatalf("seatline_clickhouse_up %s after the restart", v)
	}
	b.WaitDone(t, source, 3, time.Minute, done, &logs)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("stop: %v\n%s", err, logs.String())
		}
	case <-time.After(time.Minute):
		t.Fatal("follow mode did not stop within a minute")
	}
	b.CheckExact(t, exp)
	out := logs.String()
	if n := strings.Count(out, "ClickHouse is failing"); n != 1 {
		t.Errorf("the outage should be logged once when it starts, got %d:\n%s", n, out)
	}
	if n := strings.Count(out, "ClickHouse is answering again"); n != 1 {
		t.Errorf("the recovery should be logged once, got %d:\n%s", n, out)
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "ClickHouse is ") {
			t.Log(line)
		}
	}
	if !strings.Contains(out, "down_for=") || !strings.Contains(out, "what_to_do=") {
		t.Errorf("the lines should say how long and what to do:\n%s", out)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// metric is a series' value on /metrics ("" when absent).
func metric(t *testing.T, addr, series string) string {
	t.Helper()
	_, body := httpGet(t, "http://"+addr+"/metrics")
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			return v
		}
	}
	return ""
}
