package s3src_test

import (
	"context"
	"errors"
	"math/rand"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seatline/seatline/internal/testenv"
)

var ingestBin struct {
	once sync.Once
	path string
	err  error
}

// buildIngest builds cmd/ingest once per test binary.
func buildIngest(t *testing.T) string {
	t.Helper()
	ingestBin.once.Do(func() {
		dir, err := testDir()
		if err != nil {
			ingestBin.err = err
			return
		}
		ingestBin.path, ingestBin.err = testenv.Build(context.Background(), "./cmd/ingest", dir)
	})
	if ingestBin.err != nil {
		t.Fatal(ingestBin.err)
	}
	return ingestBin.path
}

// waitExit waits for p to exit by itself.
func waitExit(t *testing.T, p *testenv.Process, timeout time.Duration) error {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if done, err := p.Exited(); done {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.Kill()
	t.Fatalf("pid %d did not finish within %s:\n%s", p.PID(), timeout, p.Output())
	return nil
}

// TestKill9MidObject kills the ingest binary (kill -9) at random moments
// of an S3 backfill of 150 objects, at least five times, each time while
// objects are half read, restarts it, and checks that the final run exits
// 0 on its own and the deduplicated timeline holds exactly the produced seat
// events and the dead letters exactly the bad lines.
func TestKill9MidObject(t *testing.T) {
	if testing.Short() {
		t.Skip("long crash test: run without -short")
	}
	kill9Backfill(t, newBed(t), 150, 5)
}

// TestClusterKill9MidObject is the same on a two-shard ClickHouse cluster
// (--clickhouse-cluster): checkpoints and rows go through Distributed
// tables, and a restarted worker resumes from what every shard acknowledged.
func TestClusterKill9MidObject(t *testing.T) {
	if testing.Short() {
		t.Skip("long crash test: run without -short")
	}
	kill9Backfill(t, newClusterBed(t), 60, 3)
}

// kill9Backfill uploads nObjects objects of 2,000 lines, kills the backfill
// minKills times mid-object, and checks the end state is exact.
func kill9Backfill(t *testing.T, b *bed, nObjects, minKills int) {
	b.withKeys(t) // the children inherit the server's keys through the environment
	bin := buildIngest(t)
	exp := newExpect()
	const perObject = 2000
	objs := genObjects("", nObjects, perObject, 42, time.Date(2026, 11, 1, 22, 50, 0, 0, time.UTC), 0.3, exp)
	b.upload(t, objs)
	t.Logf("%d objects of %d lines: %d distinct seat events, %d malformed lines", nObjects, perObject, len(exp.seatIDs), exp.malformed)

	args := b.args("--since", "2026-11-01", "--until", "2026-11-02", "--batch-rows", "2000", "--s3-concurrency", "3")
	rng := rand.New(rand.NewSource(7))
	source := "s3:" + b.bucket + "/"
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
		before := b.count(t, newest)
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			if b.count(t, newest) > before {
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
		cps := b.checkpoints(t, source)
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
			kills, proc.PID(), done, inProgress, b.count(t, "SELECT count() FROM seat_events"))
		if done >= nObjects {
			t.Fatalf("kill #%d came after the last object was done", kills)
		}
	}
	if err := waitExit(t, last, 3*time.Minute); err != nil {
		t.Fatalf("final run: %v\n%s", err, last.Output())
	}
	out := last.Output()
	for _, want := range []string{"input finished", "stopped cleanly"} {
		if !strings.Contains(out, want) {
			t.Errorf("final run did not log %q:\n%s", want, out)
		}
	}
	b.checkExact(t, exp)
	cps := b.checkpoints(t, source)
	for _, o := range objs {
		if cp := cps[o.key]; cp.State != "done" || cp.Lines != perObject {
			t.Errorf("checkpoint of %s = %+v, want done at line %d", o.key, cp, perObject)
		}
	}
	t.Logf("after %d kills: raw rows %d, visible %d, dead letters %d", kills,
		b.count(t, "SELECT count() FROM seat_events"), len(exp.seatIDs), exp.malformed)
}

// TestShards: three workers with --shard 0/3, 1/3, 2/3 run at once over
// the same bucket; together they read every object exactly once.
func TestShards(t *testing.T) {
	b := newBed(t)
	b.withKeys(t)
	bin := buildIngest(t)
	exp := newExpect()
	objs := genObjects("gh/", 60, 300, 9, time.Date(2026, 11, 5, 10, 0, 0, 0, time.UTC), 0.3, exp)
	b.upload(t, objs)

	var procs []*testenv.Process
	for i := range 3 {
		p, err := testenv.StartProcess(bin, b.args("--s3-prefix", "gh", "--since", "2026-11-05", "--until", "2026-11-05",
			"--shard", []string{"0/3", "1/3", "2/3"}[i]), nil)
		if err != nil {
			t.Fatal(err)
		}
		procs = append(procs, p)
	}
	read := 0
	for i, p := range procs {
		if err := waitExit(t, p, 2*time.Minute); err != nil {
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
	b.checkExact(t, exp)
	// Each key was finished by exactly one worker: one done row per key.
	rows, err := b.store.Conn().Query(context.Background(),
		"SELECT key, countIf(state = 'done') FROM source_checkpoints WHERE source = ? GROUP BY key", "s3:"+b.bucket+"/gh/")
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

// TestConfigMistakes: the binary refuses bad S3 and file settings at start
// with exit 2, naming the field.
func TestConfigMistakes(t *testing.T) {
	bin := buildIngest(t)
	for _, tc := range []struct {
		args  []string
		field string
	}{
		{[]string{"--source", "s3"}, "s3-bucket: required with --source s3"},
		{[]string{"--source", "file"}, "files: required with --source file"},
		{[]string{"--source", "s3", "--s3-bucket", "b", "--s3-mode", "once"}, "s3-mode"},
		{[]string{"--source", "s3", "--s3-bucket", "b", "--s3-mode", "backfill", "--since", "2026-13-01"}, "since"},
		{[]string{"--source", "s3", "--s3-bucket", "b", "--s3-mode", "backfill", "--since", "2026-11-02", "--until", "2026-11-01"}, "until"},
		{[]string{"--source", "s3", "--s3-bucket", "b", "--until", "2026-11-01"}, "until: only for a backfill"},
		{[]string{"--source", "s3", "--s3-bucket", "b", "--shard", "3/3"}, "shard"},
		{[]string{"--source", "s3", "--s3-bucket", "b", "--shard", "x"}, "shard"},
		{[]string{"--source", "s3", "--s3-bucket", "b", "--s3-endpoint", "minio:9000"}, "s3-endpoint"},
		{[]string{"--source", "s3", "--s3-bucket", "b", "--s3-concurrency", "-1"}, "s3-concurrency"},
		{[]string{"--source", "s3", "--s3-bucket", "b", "--s3-poll-interval", "-1s"}, "s3-poll-interval"},
		{[]string{"--source", "kafka", "--kafka-brokers", "127.0.0.1:1", "--kafka-topics", "a", "--shard", "0/2"}, "shard"},
		{[]string{"--source", "ftp"}, "source: must be one of file, kafka, s3"},
		{[]string{"--source", "file", "--files", "/etc/hostname", "/etc/passwd", "--clickhouse-addr", "127.0.0.1:1"}, `unexpected argument "/etc/passwd"`},
		{[]string{"--source", "file", "--files", "/dev/null"}, "not a regular file"},
		{[]string{"--source", "s3", "--s3-bucket", "b", "--max-event-bytes", "99999999999"}, "max-event-bytes"},
		{[]string{"--source", "s3", "--s3-bucket", "b", "--s3-concurrency", "0"}, "s3-concurrency"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		cmd := exec.CommandContext(ctx, bin, append(tc.args, "--http-addr", "")...)
		cmd.Env = []string{"PATH=/usr/bin:/bin", "AWS_EC2_METADATA_DISABLED=true"}
		out, err := cmd.CombinedOutput()
		cancel()
		var ee *exec.ExitError
		code := 0
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		}
		if code != 2 || !strings.Contains(string(out), tc.field) {
			t.Errorf("%v: exit %d, output %q; want exit 2 naming %q", tc.args, code, out, tc.field)
		}
	}
	// Every flag is also an environment variable.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--help")
	out, _ := cmd.CombinedOutput()
	for _, s := range []string{"$SEATLINE_S3_BUCKET", "$SEATLINE_S3_PREFIX", "$SEATLINE_S3_REGION", "$SEATLINE_S3_ENDPOINT",
		"$SEATLINE_S3_PATH_STYLE", "$SEATLINE_S3_MODE", "$SEATLINE_SINCE", "$SEATLINE_UNTIL", "$SEATLINE_S3_POLL_INTERVAL",
		"$SEATLINE_S3_CONCURRENCY", "$SEATLINE_SHARD", "$SEATLINE_FILES"} {
		if !strings.Contains(string(out), s) {
			t.Errorf("--help lacks %s", s)
		}
	}
}
