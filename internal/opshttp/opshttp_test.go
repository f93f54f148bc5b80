package opshttp

import (
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestServe: the paths both workers serve, pprof only when asked.
func TestServe(t *testing.T) {
	for _, pprofOn := range []bool{false, true} {
		ready := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "clickhouse down", 503) })
		srv, err := Serve("127.0.0.1:0", NewRegistry(), ready, pprofOn, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		base := "http://" + srv.Addr
		if code, body := get(t, base+"/metrics"); code != 200 || !strings.Contains(body, "go_goroutines") || !strings.Contains(body, "process_resident_memory_bytes") {
			t.Errorf("/metrics: %d %.200s", code, body)
		}
		if code, body := get(t, base+"/healthz"); code != 200 || body != "ok\n" {
			t.Errorf("/healthz: %d %q", code, body)
		}
		if code, body := get(t, base+"/readyz"); code != 503 || !strings.Contains(body, "clickhouse down") {
			t.Errorf("/readyz: %d %q, want the worker's readiness", code, body)
		}
		want := 404
		if pprofOn {
			want = 200
		}
		if code, _ := get(t, base+"/debug/pprof/"); code != want {
			t.Errorf("pprof %v: /debug/pprof/ answered %d, want %d", pprofOn, code, want)
		}
		srv.Close()
	}
}
