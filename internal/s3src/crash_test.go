package s3src_test

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/seatline/seatline/internal/objsrc/objsrctest"
	"github.com/seatline/seatline/internal/source"
	_ "github.com/seatline/seatline/internal/source/all" // source.Names: every kind the binary has
	"github.com/seatline/seatline/internal/testenv"
)

// TestClusterKill9MidObject is the kill -9 backfill test on a two-shard ClickHouse cluster
// (--clickhouse-cluster): checkpoints and rows go through Distributed
// tables, and a restarted worker resumes from what every shard acknowledged.
func TestClusterKill9MidObject(t *testing.T) {
	if testing.Short() {
		t.Skip("long crash test: run without -short")
	}
	objsrctest.Kill9Backfill(t, objsrctest.NewClusterBed(t, newBucket(t)), 60, 3)
}

// TestConfigMistakes: the binary refuses bad S3 and file settings at start
// with exit 2, naming the field.
func TestConfigMistakes(t *testing.T) {
	bin := testenv.Binary(t, "./cmd/ingest")
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
		{[]string{"--source", "ftp"}, "source: must be one of " + strings.Join(source.Names(), ", ")},
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
