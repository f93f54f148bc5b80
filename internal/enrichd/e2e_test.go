package enrichd_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seatline/seatline/internal/cli"
	"github.com/seatline/seatline/internal/enrichd"
	"github.com/seatline/seatline/internal/ghsim"
	"github.com/seatline/seatline/internal/ingestd"
	"github.com/seatline/seatline/internal/testenv"
	"github.com/seatline/seatline/internal/timeline"
	"github.com/seatline/seatline/pkg/events"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.Shutdown()
	os.Exit(code)
}

const token = "ghp_e2eTestTokenNeverPrinted0000000000"

// simStream builds an enterprise in the simulator, makes seat changes
// through it, and returns the audit events those changes emitted.
func simStream(t *testing.T, changes int) (*ghsim.Server, [][]byte) {
	t.Helper()
	sim := ghsim.New(ghsim.Options{Tokens: []string{token}, Limit: 5000, Window: time.Hour, Seed: 3,
		Start: time.Date(2026, 9, 1, 9, 0, 0, 0, time.UTC)})
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	rng := rand.New(rand.NewPCG(3, 3))
	if _, err := sim.Populate(rng, ghsim.Population{Users: 120, Emit: true}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < changes; i++ {
		sim.RandomChange(rng)
		sim.Advance(time.Duration(rng.IntN(6)) * time.Hour)
	}
	return sim, sim.Events()
}

// truth is the simulator's seat state per org: login → active | pending_cancellation.
func truth(sim *ghsim.Server) map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, org := range sim.Orgs() {
		out[org] = map[string]string{}
		for _, s := range sim.Seats(org) {
			state := "active"
			if s.PendingCancellationDate != "" {
				state = "pending_cancellation"
			}
			out[org][s.Login] = state
		}
	}
	return out
}

func TestStreamFromSimulatorEnrichedUnderFaults(t *testing.T) {
	ctx := context.Background()
	sim, stream := simStream(t, 400)
	t.Logf("simulator emitted %d audit events", len(stream))

	ch := testenv.SharedClickHouse(t)
	db := testenv.NewDatabase(t, ch)
	k := testenv.NewKafka(t)
	if err := k.CreateTopic(ctx, "audit", 3); err != nil {
		t.Fatal(err)
	}
	p := testenv.NewProducer(k.Brokers(), "audit")
	if err := p.Write(ctx, stream...); err != nil {
		t.Fatal(err)
	}
	p.Close()

	// GitHub misbehaves throughout: 30% 5xx, bursts of 429 with Retry-After.
	sim.SetFaults(ghsim.Faults{ErrorRate: 0.3, Burst429Every: 15, Burst429Len: 3, RetryAfter: time.Second})

	var logs strings.Builder
	logger := slog.New(slog.NewTextHandler(io.MultiWriter(&syncWriter{sb: &logs}), &slog.HandlerOptions{Level: slog.LevelDebug}))

	// Ingest with inline enrichment: it must never stall on GitHub.
	icfg, err := ingestd.ParseArgs("--kafka-brokers", k.Brokers()[0], "--kafka-topics", "audit", "--kafka-group", "e2e",
		"--clickhouse-addr", ch.Addr(), "--clickhouse-database", db, "--batch-wait", "200ms", "--http-addr", "", "--log-level", "debug")
	if err != nil {
		t.Fatal(err)
	}
	icfg.GitHub.BaseURL, icfg.GitHub.Token = sim.URL()+"/", token
	icfg.Enrich.Budget, icfg.Enrich.MaxRequests = 300*time.Millisecond, 10
	ingestAll(t, icfg, logger, k.Brokers(), "e2e", 90*time.Second)

	store, err := timeline.Open(ctx, timeline.Config{Addrs: []string{ch.Addr()}, Database: db})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	count := func(q string) uint64 {
		var n uint64
		if err := store.Conn().QueryRow(ctx, q).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}
	if n := count("SELECT count() FROM seat_timeline"); n != uint64(len(stream)) {
		t.Fatalf("timeline has %d events, the simulator emitted %d", n, len(stream))
	}
	inline := count("SELECT count() FROM seat_timeline WHERE enrichment = 'enriched'")
	t.Logf("after ingest: %d enriched inline, %d pending", inline, count("SELECT count() FROM seat_timeline WHERE enrichment = 'pending'"))

	// The enrich worker completes the rest, pass after pass, despite faults.
	ecfg := enrichd.Defaults()
	ecfg.Once = true
	ecfg.ClickHouse.Addrs, ecfg.ClickHouse.Database = []string{ch.Addr()}, db
	ecfg.GitHub.BaseURL, ecfg.GitHub.Token, ecfg.GitHub.MaxWait = sim.URL()+"/", token, 5*time.Second
	ecfg.Enrich.Budget, ecfg.Enrich.MaxRequests = 10*time.Second, 200
	ecfg.Enrich.MaxAttempts = 200 // under 30% errors, keep trying rather than giving up
	for pass := 1; ; pass++ {
		// A pass some of whose lookups GitHub failed (5xx after the retries,
		// a rate limit past the wait) says so: --once would exit 4.
		if err := enrichd.Run(ctx, ecfg, logger); err != nil && cli.ExitCode(err) != cli.ExitUnavailable {
			t.Fatal(err)
		} else if err != nil {
			t.Logf("enrich pass %d: GitHub unavailable for some lookups (exit %d): %v", pass, cli.ExitCode(err), err)
		}
		left := count("SELECT count() FROM seat_timeline WHERE enrichment IN ('pending', 'failed')")
		t.Logf("enrich pass %d: %d rows left", pass, left)
		if left == 0 {
			break
		}
		if pass == 30 {
			var org, user, action, why string
			_ = store.Conn().QueryRow(ctx, "SELECT org, user, action, enrichment_error FROM seat_timeline WHERE enrichment IN ('pending', 'failed') LIMIT 1").Scan(&org, &user, &action, &why)
			t.Fatalf("%d rows still not enriched after 30 passes, e.g. %s/%s %s: %s", left, org, user, action, why)
		}
	}
	if n := count("SELECT count() FROM seat_timeline WHERE enrichment NOT IN ('enriched', 'not_applicable')"); n != 0 {
		t.Fatalf("%d rows neither enriched nor not_applicable", n)
	}
	if v := sim.LimitViolations(); v != 0 {
		t.Fatalf("%d requests were sent into an exhausted rate limit", v)
	}

	// The timeline's current seats match the simulator's, user for user.
	want := truth(sim)
	rows, err := store.Conn().Query(ctx, "SELECT org, user, state FROM seat_state WHERE state IN ('active', 'pending_cancellation')")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]map[string]string{}
	for rows.Next() {
		var org, user, state string
		if err := rows.Scan(&org, &user, &state); err != nil {
			t.Fatal(err)
		}
		if got[org] == nil {
			got[org] = map[string]string{}
		}
		got[org][user] = state
	}
	rows.Close()
	for _, org := range sim.Orgs() {
		if d := diff(want[org], got[org]); d != "" {
			t.Errorf("org %s: timeline vs simulator:\n%s", org, d)
		}
	}
	// The latest enrichment of each current seat agrees with the API.
	var mismatched uint64
	for _, org := range sim.Orgs() {
		for user, state := range want[org] {
			var status string
			err := store.Conn().QueryRow(ctx, "SELECT toString(argMax(seat_status, event_ms)) FROM seat_timeline WHERE org = ? AND user = ? AND enrichment = 'enriched'", org, user).Scan(&status)
			if err != nil {
				t.Fatal(err)
			}
			if status != state && !(status == "policy_blocked") {
				mismatched++
				if mismatched < 5 {
					t.Errorf("%s/%s: enriched seat_status %q, API says %q", org, user, status, state)
				}
			}
		}
	}
	if strings.Contains(logs.String(), token) {
		t.Fatal("the GitHub token appeared in the logs")
	}
	req := sim.Requests()
	keys := make([]string, 0, len(req))
	for k := range req {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		t.Logf("requests %-55s %d", k, req[k])
	}
}

func diff(want, got map[string]string) string {
	var out []string
	for u, w := range want {
		if g := got[u]; g != w {
			out = append(out, "  "+u+": simulator "+w+", timeline "+orNone(g))
		}
	}
	for u, g := range got {
		if _, ok := want[u]; !ok {
			out = append(out, "  "+u+": simulator none, timeline "+g)
		}
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

var mu sync.Mutex

type syncWriter struct {
	sb *strings.Builder
}

func (w *syncWriter) Write(p []byte) (int, error) {
	mu.Lock()
	defer mu.Unlock()
	return w.sb.Write(p)
}

// A timeline that misses some of the stream disagrees with GitHub's seat
// list: the worker records each difference in seat_drift, and the seat
// list itself in seat_snapshots.
func TestSnapshotsAndDrift(t *testing.T) {
	ctx := context.Background()
	sim, stream := simStream(t, 60)
	ch := testenv.SharedClickHouse(t)
	db := testenv.NewDatabase(t, ch)
	store, err := timeline.Open(ctx, timeline.Config{Addrs: []string{ch.Addr()}, Database: db})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	// Store the stream minus every event of one user who holds a seat now.
	org := sim.Orgs()[0]
	var missing string
	for _, s := range sim.Seats(org) {
		if !s.UserDeleted && s.PendingCancellationDate == "" {
			missing = s.Login
			break
		}
	}
	var rows []timeline.Row
	for i, line := range stream {
		ev, err := events.Parse(line)
		if err != nil {
			t.Fatal(err)
		}
		if ev.User == missing {
			continue
		}
		rows = append(rows, timeline.NewRow(ev, "test", fmt.Sprintf("sim/%d", i), time.Now()))
	}
	if err := store.Write(ctx, rows, nil); err != nil {
		t.Fatal(err)
	}
	cfg := enrichd.Defaults()
	cfg.Once, cfg.Orgs, cfg.Enterprises = true, []string{org}, []string{"acme-corp"}
	cfg.ClickHouse.Addrs, cfg.ClickHouse.Database = []string{ch.Addr()}, db
	cfg.GitHub.BaseURL, cfg.GitHub.Token = sim.URL()+"/", token
	if err := enrichd.Run(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatal(err)
	}
	var n uint64
	if err := store.Conn().QueryRow(ctx, "SELECT count() FROM seat_snapshots WHERE scope = 'org' AND scope_name = ?", org).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if int(n) != len(sim.Seats(org)) {
		t.Errorf("org snapshot holds %d seats, the API %d", n, len(sim.Seats(org)))
	}
	if err := store.Conn().QueryRow(ctx, "SELECT count() FROM seat_snapshots WHERE scope = 'enterprise'").Scan(&n); err != nil || n == 0 {
		t.Errorf("no enterprise snapshot: %d, %v", n, err)
	}
	var kind, tlState string
	if err := store.Conn().QueryRow(ctx, "SELECT toString(kind), timeline_state FROM seat_drift WHERE org = ? AND user = ?", org, missing).Scan(&kind, &tlState); err != nil {
		t.Fatalf("no drift recorded for %s/%s: %v", org, missing, err)
	}
	if kind != "seat_without_assignment" || tlState != "none" {
		t.Errorf("drift for %s: kind %s, timeline state %s", missing, kind, tlState)
	}
}

// GitHub slow or down never holds ingestion: every batch spends at most its
// enrichment budget, and rows it could not complete are stored pending.
func TestIngestNeverStallsOnGitHub(t *testing.T) {
	ctx := context.Background()
	sim, stream := simStream(t, 200)
	sim.SetFaults(ghsim.Faults{Latency: 3 * time.Second, ErrorRate: 0.5})
	ch := testenv.SharedClickHouse(t)
	db := testenv.NewDatabase(t, ch)
	k := testenv.NewKafka(t)
	if err := k.CreateTopic(ctx, "audit", 2); err != nil {
		t.Fatal(err)
	}
	p := testenv.NewProducer(k.Brokers(), "audit")
	if err := p.Write(ctx, stream...); err != nil {
		t.Fatal(err)
	}
	p.Close()
	cfg, err := ingestd.ParseArgs("--kafka-brokers", k.Brokers()[0], "--kafka-topics", "audit", "--kafka-group", "stall",
		"--clickhouse-addr", ch.Addr(), "--clickhouse-database", db, "--batch-rows", "50", "--batch-wait", "100ms", "--http-addr", "")
	if err != nil {
		t.Fatal(err)
	}
	cfg.GitHub.BaseURL, cfg.GitHub.Token = sim.URL()+"/", token
	cfg.Enrich.Budget = 200 * time.Millisecond
	batches := len(stream)/50 + 1
	limit := time.Duration(batches)*(cfg.Enrich.Budget+500*time.Millisecond) + 15*time.Second
	took := ingestAll(t, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), k.Brokers(), "stall", limit)
	t.Logf("%d events ingested in %s with GitHub answering in 3 s, half of the time with 5xx", len(stream), took.Round(time.Millisecond))
	store, err := timeline.Open(ctx, timeline.Config{Addrs: []string{ch.Addr()}, Database: db})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	var total, pending uint64
	if err := store.Conn().QueryRow(ctx, "SELECT count(), countIf(enrichment = 'pending') FROM seat_timeline").Scan(&total, &pending); err != nil {
		t.Fatal(err)
	}
	if total != uint64(len(stream)) || pending == 0 {
		t.Fatalf("stored %d of %d events, %d pending", total, len(stream), pending)
	}
}
