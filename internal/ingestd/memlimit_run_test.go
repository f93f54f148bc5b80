package ingestd_test

import (
	"context"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/KimMachineGun/automemlimit/memlimit"

	"github.com/seatline/seatline/internal/testenv"
)

// The worker's soft memory limit is what --memory-limit says, read back
// from the running binary's /metrics (the Go runtime's own gauge).
func TestMemoryLimitInTheRunningWorker(t *testing.T) {
	b := newBed(t, 1)
	bin, err := testenv.Build(context.Background(), "./cmd/ingest", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// What auto finds here without GOMEMLIMIT: this machine's cgroup,
	// else twice what the default batches hold.
	noEnv := float64(2*3*(10000<<10+2*(8<<20)) + 48<<20)
	if limit, err := memlimit.FromCgroup(); err == nil && limit > 0 {
		noEnv = float64(int64(float64(limit) * 0.9))
	}
	for _, tc := range []struct {
		name       string
		env        map[string]string
		args       []string
		wantBytes  float64
		wantSource string
	}{
		{"flag", map[string]string{"GOMEMLIMIT": "", "SEATLINE_MEMORY_LIMIT": "off"}, []string{"--memory-limit", "300MiB"}, 300 << 20, "--memory-limit"},
		{"auto takes GOMEMLIMIT", map[string]string{"GOMEMLIMIT": "200MiB", "SEATLINE_MEMORY_LIMIT": "auto"}, nil, 200 << 20, "GOMEMLIMIT"},
		{"off by environment overrides GOMEMLIMIT", map[string]string{"GOMEMLIMIT": "200MiB", "SEATLINE_MEMORY_LIMIT": "off"}, nil, math.MaxInt64, "off"},
		{"auto without GOMEMLIMIT", map[string]string{"GOMEMLIMIT": "", "SEATLINE_MEMORY_LIMIT": "auto"}, nil, noEnv, ""},
	} {
		for k, v := range tc.env {
			t.Setenv(k, v)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		args := append(append(b.args("memlimit"), tc.args...), "--http-addr", addr)
		proc, err := testenv.StartProcess(bin, args, nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := scrapeMemoryLimit(addr, 60*time.Second)
		if err != nil {
			proc.Kill()
			t.Fatalf("%s: %v\n%s", tc.name, err, proc.Output())
		}
		if err := proc.Stop(30 * time.Second); err != nil {
			t.Fatalf("%s: clean stop: %v\n%s", tc.name, err, proc.Output())
		}
		if got != tc.wantBytes {
			t.Errorf("%s: go_gc_gomemlimit_bytes %.0f, want %.0f\n%s", tc.name, got, tc.wantBytes, proc.Output())
		}
		if !regexp.MustCompile(`msg="memory limit" limit=\S+ from="?` + regexp.QuoteMeta(tc.wantSource)).MatchString(proc.Output()) {
			t.Errorf("%s: no start-up line giving the limit from %q:\n%s", tc.name, tc.wantSource, proc.Output())
		}
	}
}

var memLimitGauge = regexp.MustCompile(`(?m)^go_gc_gomemlimit_bytes (\S+)$`)

// scrapeMemoryLimit polls addr's /metrics until it answers.
func scrapeMemoryLimit(addr string, timeout time.Duration) (float64, error) {
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{Proxy: nil}}
	var last error = errors.New("no answer")
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		resp, err := client.Get("http://" + addr + "/metrics")
		if err != nil {
			last = err
			continue
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			last = err
			continue
		}
		m := memLimitGauge.FindSubmatch(body)
		if m == nil {
			return 0, errors.New("/metrics has no go_gc_gomemlimit_bytes")
		}
		return strconv.ParseFloat(string(m[1]), 64)
	}
	return 0, last
}
