package enrichd_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/seatline/seatline/internal/enrichd"
	"github.com/seatline/seatline/internal/testenv"
	"github.com/seatline/seatline/internal/timeline"
	"github.com/seatline/seatline/pkg/events"
)

// TestCluster enriches a simulator stream stored on a two-shard cluster:
// each superseding row version lands on its original's shard (FINAL shows
// it once, enriched), seat lists go into the Distributed seat_snapshots, and
// current_seats agrees with the API from either server.
func TestCluster(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	sim, stream := simStream(t, 60)
	cl := testenv.NewCluster(t)
	cfg := timeline.Config{Addrs: []string{cl.Nodes[0].Addr()}, Database: "seatline", Cluster: cl.Name}
	store, err := timeline.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	var rows []timeline.Row
	for i, line := range stream {
		ev, err := events.Parse(line, 0)
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, timeline.NewRow(ev, "test", fmt.Sprintf("sim/%d", i), time.Now()))
	}
	if err := store.Write(ctx, rows, nil); err != nil {
		t.Fatal(err)
	}

	ecfg := enrichd.Config{Once: true, Orgs: sim.Orgs(), LogFormat: "text", LogLevel: "info"}
	ecfg.ClickHouse = cfg
	ecfg.ClickHouse.Addrs = []string{cl.Nodes[1].Addr()} // the other server: the Distributed tables are the same
	ecfg.GitHub.BaseURL, ecfg.GitHub.Token = sim.URL()+"/", token
	if err := enrichd.Run(ctx, ecfg, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatal(err)
	}

	want := truth(sim)
	for i, node := range cl.Nodes {
		s, err := timeline.Open(ctx, timeline.Config{Addrs: []string{node.Addr()}, Database: "seatline", Cluster: cl.Name})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
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
}
