package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"
	"golang.org/x/term"

	"github.com/seatline/seatline/internal/auditgen"
	"github.com/seatline/seatline/internal/testenv"
	"github.com/seatline/seatline/internal/timeline"
)

// runS3Demo shows the S3 source: it starts a private S3 server (versitygw,
// in tmp), uploads 24 objects of acme-corp's audit stream the way GitHub's
// audit-log streaming writes them (gzipped NDJSON under
// YYYY/MM/DD/HH/mm/<uuid>.json.log.gz, one object a minute, across a
// midnight so two day prefixes are listed), and runs the ingest binary bin
// as a backfill of that date range into database of the ClickHouse at
// chAddr, with its progress output: a progress bar when stderr is a
// terminal, progress log lines otherwise. It then prints what landed and
// runs the backfill again to show that the checkpoints make it read
// nothing. It stops everything it started.
func runS3Demo(ctx context.Context, bin, tmp, chAddr, database string) error {
	say := func(format string, args ...any) { fmt.Printf("▸ "+format+"\n", args...) }
	fmt.Println("S3 backfill (GitHub audit-log streaming to S3)")
	srv, err := testenv.StartS3(ctx, testenv.S3Options{Dir: filepath.Join(tmp, "s3")})
	if err != nil {
		return err
	}
	defer srv.Close()
	const bucket = "acme-audit-stream"
	if err := srv.CreateBucket(ctx, bucket); err != nil {
		return err
	}

	const objects = 24
	start := time.Date(2025, 3, 3, 23, 48, 0, 0, time.UTC)
	st, err := fillS3Demo(ctx, srv, bucket, start, objects)
	if err != nil {
		return err
	}
	seat, dup, bad, size := st.seat, st.dup, st.bad, st.size
	since, until := start.Format("2006-01-02"), start.Add(time.Duration(objects)*time.Minute).Format("2006-01-02")
	say("S3 server (versitygw) on %s: bucket %s holds %d objects (%.1f MiB, %s/%s …), %d events: %d seat/policy, %d redelivered, %d malformed",
		srv.Endpoint, bucket, objects, float64(size)/(1<<20), start.Format("2006/01/02/15/04"), "<uuid>.json.log.gz",
		objects*s3DemoPerObject, seat, dup, bad)

	args := append(srv.IngestArgs(bucket), "--s3-mode", "backfill", "--since", since, "--until", until,
		"--clickhouse-addr", chAddr, "--clickhouse-database", database, "--http-addr", "", "--batch-wait", "200ms")
	run := func() (string, error) {
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = s3DemoEnv(srv)
		var out bytes.Buffer
		tty := term.IsTerminal(int(os.Stderr.Fd()))
		if tty {
			// The worker's stderr is the terminal itself, so it draws its
			// progress bar; only warnings are logged.
			cmd.Args = append(cmd.Args, "--log-level", "warn")
			cmd.Stderr = os.Stderr
		} else {
			cmd.Stderr = io.MultiWriter(&out, &progressLines{w: os.Stdout})
		}
		err := cmd.Run()
		return out.String(), err
	}
	say("ingest --source s3 --s3-mode backfill --since %s --until %s (only those days' prefixes are listed)", since, until)
	t0 := time.Now()
	if out, err := run(); err != nil {
		return fmt.Errorf("ingest --source s3: %v\n%s", err, out)
	}
	say("backfill finished and exited 0 in %.1fs", time.Since(t0).Seconds())

	store, err := timeline.Open(ctx, timeline.Config{Addrs: []string{chAddr}, Database: database})
	if err != nil {
		return err
	}
	defer store.Close()
	count := func(q string, args ...any) (uint64, error) {
		var n uint64
		err := store.Conn().QueryRow(ctx, q, args...).Scan(&n)
		return n, err
	}
	rows, dead, done, err := reportS3Demo(ctx, store, bucket, st, objects)
	if err != nil {
		return err
	}

	before, err := count("SELECT count() FROM seat_events WHERE source = 's3'")
	if err != nil {
		return err
	}
	t0 = time.Now()
	out, err := run()
	if err != nil {
		return fmt.Errorf("second backfill: %v\n%s", err, out)
	}
	after, err := count("SELECT count() FROM seat_events WHERE source = 's3'")
	if err != nil {
		return err
	}
	say("ran the same backfill again: every object is checkpointed done, nothing was read, nothing stored (%d rows before and %d after, %.1fs)",
		before, after, time.Since(t0).Seconds())
	if int(rows) != seat || int(dead) != bad || int(done) != objects || after != before {
		return fmt.Errorf("S3 backfill: %d rows (want %d), %d dead letters (want %d), %d objects done (want %d)", rows, seat, dead, bad, done, objects)
	}
	return nil
}

// s3DemoEnv is the demo's environment for the worker, without SEATLINE_*
// settings, with the S3 server's keys for the AWS default chain.
func s3DemoEnv(srv *testenv.S3) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SEATLINE_") && !strings.HasPrefix(kv, "AWS_") {
			env = append(env, kv)
		}
	}
	return append(env, srv.Env()...)
}

// progressLines passes on the worker's backfill progress lines (when
// stderr is not a terminal there is no bar, only these), indented.
type progressLines struct {
	w    io.Writer
	rest []byte
}

func (p *progressLines) Write(b []byte) (int, error) {
	p.rest = append(p.rest, b...)
	for {
		i := bytes.IndexByte(p.rest, '\n')
		if i < 0 {
			return len(b), nil
		}
		line := string(p.rest[:i])
		p.rest = p.rest[i+1:]
		if strings.Contains(line, `msg="s3 backfill`) {
			fmt.Fprintf(p.w, "    %s\n", line)
		}
	}
}

// s3DemoPerObject is the events in each object of the demo's bucket.
const s3DemoPerObject = 2500

// s3DemoBucket is what fillS3Demo put in the bucket.
type s3DemoBucket struct {
	seat, dup, bad int
	size           int64
}

// fillS3Demo writes objects GitHub-layout objects, one a minute from
// start, of a realistic stream (3% seat events, redeliveries, malformed
// lines).
func fillS3Demo(ctx context.Context, srv *testenv.S3, bucket string, start time.Time, objects int) (s3DemoBucket, error) {
	const perObject = s3DemoPerObject
	var st s3DemoBucket
	g := auditgen.New(auditgen.Config{Seed: 21, Enterprise: "acme-corp", BusinessID: 4242,
		Orgs: []string{"acme-platform", "acme-mobile", "acme-research"}, Users: 40,
		SeatFraction: 0.03, DuplicateFraction: 0.02, MalformedFraction: 0.002,
		Start: start, Step: time.Minute / perObject})
	for i := range objects {
		var raw bytes.Buffer
		for range perObject {
			r := g.Next()
			switch r.Kind {
			case auditgen.KindSeat:
				st.seat++
			case auditgen.KindDuplicate:
				st.dup++
			case auditgen.KindMalformed:
				st.bad++
			}
			raw.Write(r.Line)
			raw.WriteByte('\n')
		}
		var gz bytes.Buffer
		zw := gzip.NewWriter(&gz)
		zw.Write(raw.Bytes())
		zw.Close()
		key := fmt.Sprintf("%s/%08x-5eed-4a11-8000-%012x.json.log.gz", start.Add(time.Duration(i)*time.Minute).Format("2006/01/02/15/04"), 0x5ea71e00+i, i)
		if _, err := srv.Put(ctx, bucket, key, gz.Bytes()); err != nil {
			return st, err
		}
		st.size += int64(gz.Len())
	}
	return st, nil
}

// reportS3Demo prints what the backfill stored against what the bucket
// holds and returns the rows, dead letters and objects done.
func reportS3Demo(ctx context.Context, store *timeline.Store, bucket string, st s3DemoBucket, objects int) (rows, dead, done uint64, err error) {
	count := func(q string, args ...any) (uint64, error) {
		var n uint64
		err := store.Conn().QueryRow(ctx, q, args...).Scan(&n)
		return n, err
	}
	if rows, err = count("SELECT count() FROM seat_timeline WHERE source = 's3'"); err != nil {
		return 0, 0, 0, err
	}
	if dead, err = count("SELECT count() FROM dead_letters WHERE source = 's3'"); err != nil {
		return 0, 0, 0, err
	}
	done, err = count("SELECT countIf(st = 'done') FROM (SELECT key, toString(argMax(state, version)) AS st FROM source_checkpoints WHERE source = ? GROUP BY key)", "s3:"+bucket+"/")
	if err != nil {
		return 0, 0, 0, err
	}
	fmt.Printf("  %s seat_timeline: %d rows from S3 (%d seat/policy events produced, redeliveries collapsed)\n", mark(int(rows) == st.seat), rows, st.seat)
	fmt.Printf("  %s dead_letters: %d (%d malformed lines, each with its key/line position)\n", mark(int(dead) == st.bad), dead, st.bad)
	fmt.Printf("  %s source_checkpoints: %d of %d objects done\n", mark(int(done) == objects), done, objects)
	var pos string
	if err := store.Conn().QueryRow(ctx, "SELECT min(position) FROM dead_letters WHERE source = 's3'").Scan(&pos); err == nil && pos != "" {
		fmt.Printf("    e.g. a dead letter at %s\n", pos)
	}
	return rows, dead, done, nil
}
