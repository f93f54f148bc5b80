package enrichd_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/seatline/seatline/internal/enrichd"
	"github.com/seatline/seatline/internal/seatctl"
	"github.com/seatline/seatline/internal/testenv"
	"github.com/seatline/seatline/internal/timeline"
	"github.com/seatline/seatline/pkg/events"
)

// TestCluster enriches a simulator stream stored on a two-shard cluster:
// each superseding row version lands on its original's shard (FINAL shows
// it once, enriched), seat lists go into the Distributed seat_snapshots, and
// current_seats agrees with the API from either server, and seatctl
// (history, seats, pending, export, verify) works over the cluster.
func TestCluster(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	sim, stream := simStream(t, 60)
	cl := testenv.NewCluster(t)
	cfg := timeline.Config{Addrs: []string{cl.Nodes[0].Addr()}, Database: "seatline", Cluster: cl.Name}
	store := testenv.OpenTimeline(t, cfg)
	var rows []timeline.Row
	for i, line := range stream {
		ev, err := events.Parse(line)
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, timeline.NewRow(ev, "test", fmt.Sprintf("sim/%d", i), time.Now()))
	}
	if err := store.Write(ctx, rows, nil); err != nil {
		t.Fatal(err)
	}

	ecfg := enrichd.Defaults()
	ecfg.Once, ecfg.Orgs = true, sim.Orgs()
	ecfg.ClickHouse.Database, ecfg.ClickHouse.Cluster = cfg.Database, cfg.Cluster
	ecfg.ClickHouse.Addrs = []string{cl.Nodes[1].Addr()} // the other server: the Distributed tables are the same
	ecfg.GitHub.BaseURL, ecfg.GitHub.Token = sim.URL()+"/", token
	if err := enrichd.Run(ctx, ecfg, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatal(err)
	}

	want := truth(sim)
	for i, node := range cl.Nodes {
		s := testenv.OpenTimeline(t, timeline.Config{Addrs: []string{node.Addr()}, Database: "seatline", Cluster: cl.Name})
		var total, once, pending uint64
		if err := s.Conn().QueryRow(ctx, "SELECT count(), uniqExact(document_id), countIf(enrichment = 'pending') FROM seat_timeline").Scan(&total, &once, &pending); err != nil {
			t.Fatal(err)
		}
		if total != once || int(once) != len(rows) || pending != 0 {
			t.Errorf("server %d: seat_timeline %d rows, %d distinct events (stored %d), %d pending", i+1, total, once, len(rows), pending)
		}
		got := map[string]map[string]string{}
		q, err := s.Conn().Query(ctx, "SELECT org, user, toString(state) FROM current_seats")
		if err != nil {
			t.Fatal(err)
		}
		for q.Next() {
			var org, user, state string
			if err := q.Scan(&org, &user, &state); err != nil {
				t.Fatal(err)
			}
			if got[org] == nil {
				got[org] = map[string]string{}
			}
			got[org][user] = state
		}
		q.Close()
		for org := range want {
			if d := diff(want[org], got[org]); d != "" {
				t.Errorf("server %d, org %s: current_seats differs from the API:\n%s", i+1, org, d)
			}
		}
		var snap uint64
		if err := s.Conn().QueryRow(ctx, "SELECT count() FROM latest_seat_snapshot").Scan(&snap); err != nil || snap == 0 {
			t.Errorf("server %d: latest_seat_snapshot: %d rows, %v", i+1, snap, err)
		}
	}

	// seatctl reads the Distributed tables and views like a single server's.
	conn := []string{"--clickhouse-addr", cl.Nodes[1].Addr(), "--clickhouse-database", "seatline", "--clickhouse-cluster", cl.Name}
	out := t.TempDir() + "/bundle"
	for _, args := range [][]string{
		{"history", "--format", "csv"},
		{"seats", "--format", "csv"},
		{"pending", "--format", "csv"},
		{"export", "--since", "2000-01-01", "--out", out},
		{"verify", out},
	} {
		var stdout, stderr bytes.Buffer
		if args[0] != "verify" { // verify reads only the bundle
			args = append(args, conn...)
		}
		if code := seatctl.Main(ctx, args, &stdout, &stderr); code != 0 {
			t.Fatalf("seatctl %s: exit %d\n%s%s", args[0], code, stdout.String(), stderr.String())
		}
		if args[0] == "history" && strings.Count(stdout.String(), "\n") != len(rows)+1 {
			t.Errorf("seatctl history: %d lines, want a header and %d rows", strings.Count(stdout.String(), "\n"), len(rows))
		}
	}
	var m seatctl.Manifest
	if b, err := os.ReadFile(out + "/manifest.json"); err != nil {
		t.Fatal(err)
	} else if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m.RowCount != int64(len(rows)) {
		t.Errorf("export holds %d rows, want %d", m.RowCount, len(rows))
	}
}
