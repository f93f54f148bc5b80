package enrichd_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/seatline/seatline/internal/enrichd"
	"github.com/seatline/seatline/internal/ghsim"
	"github.com/seatline/seatline/internal/testenv"
)

// The enrich daemon serves /readyz from the same model as ingest: 503
// within seconds of ClickHouse stopping, even between passes (nothing to
// do: its idle ping notices), 200 again after the restart, one log line
// each way.
func TestReadinessFollowsClickHouse(t *testing.T) {
	if testing.Short() {
		t.Skip("stops ClickHouse: run without -short")
	}
	ch := testenv.SharedClickHouse(t)
	db := testenv.NewDatabase(t, ch)
	sim := ghsim.New(ghsim.Options{Tokens: []string{token}, Seed: 4})
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	if err := sim.AddOrg("acme", ghsim.AssignSelected, ghsim.PlanBusiness); err != nil {
		t.Fatal(err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := enrichd.Defaults()
	cfg.Orgs, cfg.Interval, cfg.HTTPAddr, cfg.LogLevel = []string{"acme"}, time.Hour, addr, "debug"
	cfg.ClickHouse.Addrs, cfg.ClickHouse.Database = []string{ch.Addr()}, db
	cfg.GitHub.BaseURL, cfg.GitHub.Token = sim.URL()+"/", token
	var logs strings.Builder
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- enrichd.Run(ctx, cfg, slog.New(slog.NewTextHandler(&syncWriter{sb: &logs}, &slog.HandlerOptions{Level: slog.LevelDebug})))
	}()
	get := func(path string) (int, string) {
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + addr + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	waitFor := func(what string, d time.Duration, ok func() bool) {
		t.Helper()
		start := time.Now()
		for !ok() {
			select {
			case err := <-done:
				t.Fatalf("%s: enrich stopped: %v", what, err)
			default:
			}
			if time.Since(start) > d {
				mu.Lock()
				defer mu.Unlock()
				t.Fatalf("%s: not within %s\n%s", what, d, logs.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Logf("%s after %s", what, time.Since(start).Round(time.Millisecond))
	}
	state := func(code int, up string) func() bool {
		return func() bool {
			c, _ := get("/readyz")
			_, m := get("/metrics")
			return c == code && strings.Contains(m, "\nseatline_clickhouse_up "+up+"\n")
		}
	}
	waitFor("ready after start", 30*time.Second, state(200, "1"))

	if err := ch.Stop(); err != nil {
		t.Fatal(err)
	}
	waitFor("503 and seatline_clickhouse_up 0 once ClickHouse stopped", 5*time.Second, state(503, "0"))
	if _, body := get("/readyz"); !strings.Contains(body, "cannot reach ClickHouse") {
		t.Errorf("/readyz says %q", body)
	}
	if err := ch.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor("200 and seatline_clickhouse_up 1 once ClickHouse restarted", 10*time.Second, state(200, "1"))
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	out := logs.String()
	mu.Unlock()
	if d, u := strings.Count(out, "ClickHouse is failing"), strings.Count(out, "ClickHouse is answering again"); d != 1 || u != 1 {
		t.Fatalf("%d down and %d up lines, want one each:\n%s", d, u, out)
	}
}
