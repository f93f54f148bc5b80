package ingestd_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/seatline/seatline/internal/testenv"
	"github.com/seatline/seatline/internal/timeline"
)

// TestCluster runs the worker against a real two-shard ClickHouse cluster
// (ZooKeeper, ReplicatedReplacingMergeTree behind Distributed tables, DDL
// ON CLUSTER): the schema's cluster variant is created by the worker
// itself, rows spread over both shards, and the whole stream delivered a
// second time through the other server stays visible once, from either;
// a schema made in the other mode is refused.
func TestCluster(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cl := testenv.NewCluster(t)

	b := &bed{ch: cl.Nodes[0], db: "seatline", kafka: testenv.NewKafka(t), topic: "audit"}
	if err := b.kafka.CreateTopic(ctx, b.topic, 4); err != nil {
		t.Fatal(err)
	}
	s := genStream(20_000, 5, 0.2)
	b.produce(t, s.lines...)

	// First pass through shard 1's server, then the whole topic again (a
	// new group: every event redelivered) through shard 2's.
	for i, node := range cl.Nodes {
		group := []string{"cluster-a", "cluster-b"}[i]
		cfg := b.config(group)
		cfg.ClickHouse.Addrs = []string{node.Addr()}
		cfg.ClickHouse.Cluster = cl.Name
		stop := b.run(t, cfg, nil)
		b.waitCaughtUp(t, group, 2*time.Minute)
		if err := stop(); err != nil {
			t.Fatalf("worker %d: %v", i+1, err)
		}
	}

	// Background merges would collapse redeliveries between the shards'
	// counts and the Distributed one below.
	for _, node := range cl.Nodes {
		if _, err := node.Query(ctx, "SYSTEM STOP MERGES"); err != nil {
			t.Fatal(err)
		}
	}
	var locals []uint64
	for i, node := range cl.Nodes {
		store := testenv.OpenTimeline(t, timeline.Config{Addrs: []string{node.Addr()}, Database: b.db, Cluster: cl.Name})
		b.store = store
		b.checkExact(t, s) // through the Distributed tables and views, from this server
		var engine string
		if err := store.Conn().QueryRow(ctx, "SELECT engine FROM system.tables WHERE database = ? AND name = 'seat_events_local'", b.db).Scan(&engine); err != nil {
			t.Fatal(err)
		}
		if engine != "ReplicatedReplacingMergeTree" {
			t.Errorf("shard %d: seat_events_local engine %s", i+1, engine)
		}
		n := b.count(t, "SELECT count() FROM seat_events_local")
		locals = append(locals, n)
		if n == 0 {
			t.Errorf("shard %d holds no rows: the Distributed table did not spread them", i+1)
		}
		// Every view answers, and the same on each server.
		for _, v := range []string{"seat_state", "current_seats", "idle_seats", "pending_cancellations", "daily_seat_changes", "latest_seat_snapshot"} {
			b.count(t, "SELECT count() FROM "+v)
		}
		// The read models, kept by each shard's materialized views (two
		// passes: every event delivered twice), count as the timeline.
		const seatChange = "user != '' AND transition NOT IN ('other', 'policy_changed', 'plan_changed', 'licence_granted', 'licence_removed')"
		if got, want := b.count(t, "SELECT count() FROM seat_state"), b.count(t, "SELECT uniqExact(org, user) FROM seat_timeline WHERE "+seatChange); got != want || want == 0 {
			t.Errorf("shard %d: seat_state has %d seats, the timeline %d", i+1, got, want)
		}
		if got, want := b.count(t, "SELECT sum(changes) FROM daily_seat_changes"), b.count(t, "SELECT count() FROM seat_timeline WHERE user != '' AND transition NOT IN ('other', 'policy_changed', 'plan_changed')"); got != want {
			t.Errorf("shard %d: daily_seat_changes counts %d changes, the timeline %d", i+1, got, want)
		}
		if got, want := b.count(t, "SELECT count() FROM seat_history FINAL"), b.count(t, "SELECT count() FROM seat_timeline"); got != want {
			t.Errorf("shard %d: seat_history holds %d events, the timeline %d", i+1, got, want)
		}
	}
	// A schema made in the other mode is refused, naming the flag.
	single, err := timeline.Open(ctx, timeline.Config{Addrs: []string{cl.Nodes[0].Addr()}, Database: b.db})
	if err != nil {
		t.Fatal(err)
	}
	defer single.Close()
	if err := single.Migrate(ctx); err == nil || !strings.Contains(err.Error(), "clickhouse-cluster: database seatline holds a cluster schema") {
		t.Errorf("single-server mode on the cluster schema: %v", err)
	}
	testenv.OpenTimeline(t, timeline.Config{Addrs: []string{cl.Nodes[0].Addr()}, Database: "plain"})
	clustered, err := timeline.Open(ctx, timeline.Config{Addrs: []string{cl.Nodes[0].Addr()}, Database: "plain", Cluster: cl.Name})
	if err != nil {
		t.Fatal(err)
	}
	defer clustered.Close()
	if err := clustered.Migrate(ctx); err == nil || !strings.Contains(err.Error(), "holds a single-server schema") {
		t.Errorf("cluster mode on a single-server schema: %v", err)
	}

	raw := b.count(t, "SELECT count() FROM seat_events")
	t.Logf("%d distinct seat events; %d raw rows (two deliveries) split %v over the shards; %d dead letters",
		len(s.seatIDs), raw, locals, b.count(t, "SELECT count() FROM dead_letters"))
	if raw != locals[0]+locals[1] {
		t.Errorf("Distributed seat_events counts %d rows, the shards hold %d", raw, locals[0]+locals[1])
	}
}
