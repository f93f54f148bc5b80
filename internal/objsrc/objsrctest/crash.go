package objsrctest

import (
	"context"
	"math/rand"
	"strings"
	"testing"
	"time"

	"github.com/seatline/seatline/internal/testenv"
)

// Kill9Backfill uploads nObjects objects of 2,000 lines, kills the backfill
// minKills times mid-object, and checks the end state is exact.
func Kill9Backfill(t *testing.T, b *Bed, nObjects, minKills int) {
	b.WithKeys(t) // the children inherit the server's keys through the environment
	bin := testenv.Binary(t, "./cmd/ingest")
	exp := NewExpect()
	const perObject = 2000
	objs := GenObjects("", nObjects, perObject, 42, time.Date(2026, 11, 1, 22, 50, 0, 0, time.UTC), 0.3, exp)
	b.Upload(t, objs)
	t.Logf("%d objects of %d lines: %d distinct seat events, %d malformed lines", nObjects, perObject, len(exp.SeatIDs), exp.Malformed)

	args := b.Args("--since", "2026-11-01", "--until", "2026-11-02", "--batch-rows", "2000", b.Flag("concurrency"), "3")
	rng := rand.New(rand.NewSource(7))
	source := b.Source("")
	kills := 0
	var last *testenv.Process
	for kills < 10 {
		proc, err := testenv.StartProcess(bin, args, nil)
		if err != nil {
			t.Fatal(err)
		}
		last = proc
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("output of pid %d:\n%s", proc.PID(), proc.Output())
			}
		})
		if kills >= minKills {
			break // enough crashes: this run finishes the backfill
		}
		// Kill once this worker has written and committed (a newer
		// checkpoint version; row counts can shrink as duplicates merge),
		// at a random moment after.
		const newest = "SELECT max(version) FROM source_checkpoints"
		before := b.Count(t, newest)
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			if b.Count(t, newest) > before {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("worker %d committed nothing within 30 s:\n%s", proc.PID(), proc.Output())
			}
		}
		time.Sleep(time.Duration(rng.Intn(400)) * time.Millisecond)
		if done, err := proc.Exited(); done {
			t.Fatalf("ingest finished the backfill before kill #%d (make the run longer): %v", kills+1, err)
		}
		proc.Kill()
		kills++
		cps := b.Checkpoints(t, source)
		inProgress, done := 0, 0
		for _, cp := range cps {
			switch cp.State {
			case "in_progress":
				inProgress++
			case "done":
				done++
			}
		}
		t.Logf("kill -9 #%d (pid %d): %d objects done, %d part-read (in_progress checkpoint), raw rows %d",
			kills, proc.PID(), done, inProgress, b.Count(t, "SELECT count() FROM seat_events"))
		if done >= nObjects {
			t.Fatalf("kill #%d came after the last object was done", kills)
		}
	}
	if err := testenv.WaitExit(t, last, 3*time.Minute); err != nil {
		t.Fatalf("final run: %v\n%s", err, last.Output())
	}
	out := last.Output()
	for _, want := range []string{"input finished", "stopped cleanly"} {
		if !strings.Contains(out, want) {
			t.Errorf("final run did not log %q:\n%s", want, out)
		}
	}
	b.CheckExact(t, exp)
	cps := b.Checkpoints(t, source)
	for _, o := range objs {
		if cp := cps[o.Key]; cp.State != "done" || cp.Lines != perObject {
			t.Errorf("checkpoint of %s = %+v, want done at line %d", o.Key, cp, perObject)
		}
	}
	t.Logf("after %d kills: raw rows %d, visible %d, dead letters %d", kills,
		b.Count(t, "SELECT count() FROM seat_events"), len(exp.SeatIDs), exp.Malformed)
}

// Shards: three workers with --shard 0/3, 1/3, 2/3 run at once over
// the same bucket; together they read every object exactly once.
func Shards(t *testing.T, b *Bed) {
	b.WithKeys(t)
	bin := testenv.Binary(t, "./cmd/ingest")
	exp := NewExpect()
	objs := GenObjects("gh/", 60, 300, 9, time.Date(2026, 11, 5, 10, 0, 0, 0, time.UTC), 0.3, exp)
	b.Upload(t, objs)

	var procs []*testenv.Process
	for i := range 3 {
		p, err := testenv.StartProcess(bin, b.Args(b.Flag("prefix"), "gh", "--since", "2026-11-05", "--until", "2026-11-05",
			"--shard", []string{"0/3", "1/3", "2/3"}[i]), nil)
		if err != nil {
			t.Fatal(err)
		}
		procs = append(procs, p)
	}
	read := 0
	for i, p := range procs {
		if err := testenv.WaitExit(t, p, 2*time.Minute); err != nil {
			t.Fatalf("shard %d/3: %v\n%s", i, err, p.Output())
		}
		n := objectsRead(p.Output())
		t.Logf("shard %d/3 read %d objects", i, n)
		if n == 0 {
			t.Errorf("shard %d/3 read nothing: the hash spreads keys badly", i)
		}
		read += n
	}
	if read != len(objs) {
		t.Errorf("the shards read %d objects together, want %d (each exactly once)", read, len(objs))
	}
	b.CheckExact(t, exp)
	// Each key was finished by exactly one worker: one done row per key.
	rows, err := b.Store.Conn().Query(context.Background(),
		"SELECT key, countIf(state = 'done') FROM source_checkpoints WHERE source = ? GROUP BY key", b.Source("gh/"))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	keys := 0
	for rows.Next() {
		var key string
		var n uint64
		if err := rows.Scan(&key, &n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("%s checkpointed done %d times", key, n)
		}
		keys++
	}
	if keys != len(objs) {
		t.Errorf("%d keys checkpointed, want %d", keys, len(objs))
	}
}

// objectsRead is objects_done of a worker's "backfill finished" line.
func objectsRead(out string) int {
	for _, line := range strings.Split(out, "\n") {
		if !strings.Contains(line, "backfill finished") {
			continue
		}
		for _, f := range strings.Fields(line) {
			if v, ok := strings.CutPrefix(f, "objects_done="); ok {
				n := 0
				for _, c := range v {
					n = n*10 + int(c-'0')
				}
				return n
			}
		}
	}
	return -1
}
