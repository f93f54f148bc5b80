package main_test

import (
	"context"
	"errors"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/seatline/seatline/internal/testenv"
)

func build(t *testing.T) string {
	t.Helper()
	bin, err := testenv.Build(context.Background(), "./cmd/ingest", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

func run(t *testing.T, bin string, env []string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append([]string{"PATH=/usr/bin:/bin"}, env...)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(out), ee.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(out), 0
}

func TestConfigMistakesFailAtStartNamingTheField(t *testing.T) {
	bin := build(t)
	for _, tc := range []struct {
		args  []string
		env   []string
		field string
	}{
		{[]string{"--kafka-topics", "audit"}, nil, "kafka-brokers"},
		{[]string{"--kafka-brokers", "127.0.0.1:1"}, nil, "kafka-topics"},
		{[]string{"--kafka-brokers", "nope", "--kafka-topics", "a"}, nil, "kafka-brokers"},
		{nil, []string{"SEATLINE_KAFKA_BROKERS=127.0.0.1:1", "SEATLINE_KAFKA_TOPICS=a", "SEATLINE_KAFKA_SASL_MECHANISM=gssapi"}, "kafka-sasl-mechanism"},
		{[]string{"--kafka-brokers", "127.0.0.1:1", "--kafka-topics", "a", "--kafka-sasl-mechanism", "plain", "--kafka-sasl-username", "u"}, nil, "kafka-sasl-password"},
		{[]string{"--kafka-brokers", "127.0.0.1:1", "--kafka-topics", "a", "--batch-rows", "-5"}, nil, "batch-rows"},
		{[]string{"--kafka-brokers", "127.0.0.1:1", "--kafka-topics", "a", "--pii", "blur"}, nil, "pii"},
		{[]string{"--kafka-brokers", "127.0.0.1:1", "--kafka-topics", "a", "--pii", "hash"}, nil, "pii-salt"},
		{[]string{"--kafka-brokers", "127.0.0.1:1", "--kafka-topics", "a", "--pii", "hash"}, []string{"SEATLINE_PII_SALT=short-SECRET"}, "pii-salt: must be at least 16 bytes"},
		{[]string{"--kafka-brokers", "127.0.0.1:1", "--kafka-topics", "a", "--clickhouse-addr", "x"}, nil, "clickhouse-addr"},
		{[]string{"--kafka-brokers", "127.0.0.1:1", "--kafka-topics", "a", "--source", "ftp"}, nil, "source"},
		{[]string{"--batch-wait", "soon"}, nil, "batch-wait"},
	} {
		out, code := run(t, bin, tc.env, tc.args...)
		if code != 2 || !strings.Contains(out, tc.field) {
			t.Errorf("%v %v: exit %d, output %q; want exit 2 naming %s", tc.args, tc.env, code, out, tc.field)
		}
		if strings.Contains(out, "SECRET") {
			t.Errorf("%v %v: a secret echoed: %q", tc.args, tc.env, out)
		}
	}
}

func TestHelpShowsEnvNames(t *testing.T) {
	out, code := run(t, build(t), nil, "--help")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, s := range []string{"--kafka-brokers", "$SEATLINE_KAFKA_BROKERS", "$SEATLINE_CLICKHOUSE_PASSWORD", "--batch-rows"} {
		if !strings.Contains(out, s) {
			t.Errorf("--help lacks %s", s)
		}
	}
}

// Secrets given by flag or environment never appear in the output, even
// when start-up fails and everything is reported.
func TestSecretsNeverPrinted(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	out, code := run(t, build(t), []string{"SEATLINE_CLICKHOUSE_PASSWORD=ch-SECRET-1", "SEATLINE_KAFKA_SASL_PASSWORD=kafka-SECRET-2"},
		"--kafka-brokers", "127.0.0.1:1", "--kafka-topics", "a", "--kafka-sasl-mechanism", "scram-sha-512", "--kafka-sasl-username", "svc",
		"--clickhouse-addr", dead, "--pii", "hash", "--pii-salt", "salt-SECRET-3-0123456789", "--log-level", "debug", "--http-addr", "")
	if code != 1 {
		t.Fatalf("exit %d, want 1:\n%s", code, out)
	}
	if !strings.Contains(out, "cannot reach ClickHouse at "+dead) {
		t.Errorf("error should say ClickHouse is unreachable:\n%s", out)
	}
	for _, secret := range []string{"ch-SECRET-1", "kafka-SECRET-2", "salt-SECRET-3"} { // a prefix of each
		if strings.Contains(out, secret) {
			t.Errorf("output leaks %s:\n%s", secret, out)
		}
	}
}
