package main_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/seatline/seatline/internal/cli"
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
	return testenv.RunBinary(t, bin, env, args...)
}

// Secrets given in every run of the table below: none may ever be printed.
var secrets = []string{"ch-SECRET-1", "kafka-SECRET-2", "ghp_SECRET3", "PW-SECRET-4", "salt-SECRET-5"}

// Every configuration mistake stops the worker with exit 2 naming the
// flag, before it connects to anything (ClickHouse, Kafka, S3 and GitHub
// are listeners that record connections), and no secret given in any flag
// or variable appears in what it prints.
func TestConfigMistakesFailAtStartNamingTheField(t *testing.T) {
	bin := build(t)
	ch, kafka, s3, gh := testenv.NewRecorder(t), testenv.NewRecorder(t), testenv.NewRecorder(t), testenv.NewRecorder(t)
	dir := t.TempDir()
	fifo := filepath.Join(dir, "audit.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	notPEM := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	unreadable := filepath.Join(dir, "unreadable.json") // unreadable unless root
	if err := os.WriteFile(unreadable, []byte("{}"), 0o000); err != nil {
		t.Fatal(err)
	}
	closed := testenv.NewRecorder(t)
	dead := closed.Addr()
	closed.Close() // ClickHouse down as well: the config mistake is still what is reported

	base := []string{"--kafka-brokers", kafka.Addr(), "--kafka-topics", "audit",
		"--kafka-sasl-mechanism", "scram-sha-512", "--kafka-sasl-username", "svc", "--kafka-sasl-password", "kafka-SECRET-2",
		"--clickhouse-addr", ch.Addr(), "--clickhouse-password", "ch-SECRET-1",
		"--github-base-url", "http://" + gh.Addr() + "/", "--github-token", "ghp_SECRET3",
		"--s3-endpoint", "http://" + s3.Addr(), "--http-addr", ""}
	s3src := []string{"--source", "s3", "--s3-bucket", "audit", "--s3-path-style"}
	files := []string{"--source", "file", "--files"}
	type mistake struct {
		args  []string
		env   []string
		field string
	}
	mistakes := []mistake{
		// Named in issue 11.
		{[]string{"--max-event-bytes", "99999999999"}, nil, "max-event-bytes"},
		{[]string{"--s3-concurrency", "0"}, nil, "s3-concurrency"}, // even when another source runs
		{append(s3src, "--s3-concurrency", "0"), nil, "s3-concurrency"},
		{[]string{"--clickhouse-read-timeout", "0"}, nil, "clickhouse-read-timeout"},
		{[]string{"--shutdown-timeout", "-1s"}, nil, "shutdown-timeout"},
		{[]string{"--clickhouse-database", ""}, nil, "clickhouse-database"},
		{[]string{"--github-max-concurrent", "0"}, nil, "github-max-concurrent"},
		{[]string{"--clickhouse-addr", "127.0.0.1:99999"}, nil, "clickhouse-addr"},
		{[]string{"--kafka-tls-ca", filepath.Join(dir, "missing-ca.pem")}, nil, "kafka-tls-ca"},
		{[]string{"--kafka-tls-ca", filepath.Join(dir, "missing-ca.pem"), "--clickhouse-addr", dead}, nil, "kafka-tls-ca"},
		{[]string{"--clickhouse-addr", "default:PW-SECRET-4@" + ch.Addr()}, nil, "clickhouse-addr"},
		{append(files, "/dev/zero"), nil, "files"},
		{append(files, fifo), nil, "files"},
		// Every other number and duration has a range.
		{[]string{"--max-event-depth", "0"}, nil, "max-event-depth"},
		{[]string{"--batch-rows", "0"}, nil, "batch-rows"},
		{[]string{"--batch-bytes", "100"}, nil, "batch-bytes"},
		{[]string{"--batch-wait", "0"}, nil, "batch-wait"},
		{[]string{"--batch-idle-age", "1h"}, nil, "batch-idle-age"},
		{[]string{"--shutdown-timeout", "2h"}, nil, "shutdown-timeout"},
		{[]string{"--clickhouse-read-timeout", "-1s"}, nil, "clickhouse-read-timeout"},
		{[]string{"--kafka-max-bytes", "1"}, nil, "kafka-max-bytes"},
		{[]string{"--kafka-session-timeout", "0s"}, nil, "kafka-session-timeout"},
		{[]string{"--enrich-budget", "0"}, nil, "enrich-budget"},
		{[]string{"--enrich-max-requests", "0"}, nil, "enrich-max-requests"},
		{[]string{"--github-max-concurrent", "101"}, nil, "github-max-concurrent"},
		{[]string{"--github-max-wait", "-1s"}, nil, "github-max-wait"},
		{[]string{"--files-concurrency", "0"}, nil, "files-concurrency"},
		{[]string{"--s3-poll-interval", "1ms"}, nil, "s3-poll-interval"},
		{append(s3src, "--s3-lookback", "200h"), nil, "s3-lookback"},
		// Addresses, URLs, names and files.
		{[]string{"--clickhouse-addr", "127.0.0.1:0"}, nil, "clickhouse-addr"},
		{[]string{"--clickhouse-addr", ""}, nil, "clickhouse-addr"},
		{[]string{"--clickhouse-database", "seat-line"}, nil, "clickhouse-database"},
		{[]string{"--clickhouse-user", ""}, nil, "clickhouse-user"},
		{[]string{"--clickhouse-tls-ca", notPEM}, nil, "clickhouse-tls-ca"}, // without --clickhouse-tls
		{[]string{"--clickhouse-tls", "--clickhouse-tls-ca", notPEM}, nil, "clickhouse-tls-ca"},
		{[]string{"--kafka-brokers", "svc:PW-SECRET-4@" + kafka.Addr()}, nil, "kafka-brokers"},
		{[]string{"--kafka-brokers", "127.0.0.1:70000"}, nil, "kafka-brokers"},
		{[]string{"--kafka-topics", "a/b"}, nil, "kafka-topics"},
		{[]string{"--kafka-group", ""}, nil, "kafka-group"},
		{[]string{"--kafka-tls-cert", notPEM, "--kafka-tls-key", notPEM}, nil, "kafka-tls-cert"},
		{[]string{"--kafka-tls-insecure-skip-verify"}, nil, "kafka-tls-insecure-skip-verify"},
		{append(s3src, "--s3-endpoint", "http://key:PW-SECRET-4@"+s3.Addr()), nil, "s3-endpoint"},
		{append(s3src, "--s3-endpoint", s3.Addr()), nil, "s3-endpoint"},
		{[]string{"--github-base-url", "https://PW-SECRET-4@github.example.com/api/v3/"}, nil, "github-base-url"},
		{[]string{"--github-token", "", "--github-app-id", "1", "--github-installation-id", "2", "--github-private-key", filepath.Join(dir, "app.pem")}, nil, "github-private-key"},
		{append(files, filepath.Join(dir, "absent.json")), nil, "files"},
		{[]string{"--http-addr", ":99999"}, nil, "http-addr"},
		{[]string{"--pprof"}, nil, "pprof"}, // with --http-addr ""
		{[]string{"--cpu-profile", filepath.Join(dir, "no-such-dir", "cpu.pprof")}, nil, "cpu-profile"},
		{[]string{"--log-level", "loud"}, nil, "log-level"},
		{[]string{"--memory-limit", "lots"}, nil, "memory-limit"},
		{[]string{"--pii", "blur"}, nil, "pii"},
		{[]string{"--pii", "hash"}, nil, "pii-salt"},
		{[]string{"--pii", "hash"}, []string{"SEATLINE_PII_SALT=salt-SECRET-5"}, "pii-salt: must be at least 16 bytes"},
		// From the environment, empty values included.
		{nil, []string{"SEATLINE_CLICKHOUSE_DATABASE="}, "clickhouse-database"},
		{nil, []string{"SEATLINE_SHUTDOWN_TIMEOUT="}, "shutdown-timeout"},
		{nil, []string{"SEATLINE_CLICKHOUSE_ADDR=default:PW-SECRET-4@" + ch.Addr()}, "clickhouse-addr"},
		{nil, []string{"SEATLINE_S3_CONCURRENCY=0"}, "s3-concurrency"},
		{nil, []string{"SEATLINE_MEMORY_LIMIT=1MiB"}, "memory-limit"},
	}
	if os.Geteuid() != 0 { // root reads any file
		mistakes = append(mistakes, mistake{append(files, unreadable), nil, "files"})
	}
	for _, tc := range mistakes {
		args := append(append([]string(nil), base...), tc.args...)
		if len(tc.args) > 0 && tc.args[0] == "--clickhouse-addr" || len(tc.env) > 0 && strings.HasPrefix(tc.env[0], "SEATLINE_CLICKHOUSE_ADDR=") {
			args = without(args, "--clickhouse-addr")
			args = append(args, tc.args...)
		}
		out, code := run(t, bin, tc.env, args...)
		if code != 2 || !strings.Contains(out, "invalid configuration: "+tc.field) {
			t.Errorf("%v %v: exit %d, output %q; want exit 2 naming %s", tc.args, tc.env, code, out, tc.field)
		}
		for _, secret := range secrets {
			if strings.Contains(out, secret) {
				t.Errorf("%v %v: output leaks %s:\n%s", tc.args, tc.env, secret, out)
			}
		}
		time.Sleep(50 * time.Millisecond) // for the accept loops to take what is queued
		for name, r := range map[string]*testenv.Recorder{"ClickHouse": ch, "Kafka": kafka, "S3": s3, "GitHub": gh} {
			if n := r.Conns(); n != 0 {
				t.Fatalf("%v %v: %d connection(s) to %s before the configuration was checked", tc.args, tc.env, n, name)
			}
		}
	}

	// The recorders do see a worker that connects: a valid configuration
	// reaches ClickHouse (which hangs up at once: exit 3, ClickHouse).
	out, code := run(t, bin, nil, base...)
	time.Sleep(50 * time.Millisecond)
	if code != cli.ExitUnavailable || ch.Conns() == 0 {
		t.Errorf("valid configuration: exit %d, %d ClickHouse connections; want exit %d after connecting:\n%s", code, ch.Conns(), cli.ExitUnavailable, out)
	}
	for _, secret := range secrets {
		if strings.Contains(out, secret) {
			t.Errorf("output leaks %s:\n%s", secret, out)
		}
	}

	// Parse errors of the flag package keep exit 2 and name the flag.
	for _, tc := range []struct {
		args  []string
		field string
	}{
		{[]string{"--batch-wait", "soon"}, "batch-wait"},
		{[]string{"--files", "a.json", "b.json"}, "b.json"},
	} {
		out, code := run(t, bin, nil, tc.args...)
		if code != 2 || !strings.Contains(out, tc.field) {
			t.Errorf("%v: exit %d, output %q; want exit 2 naming %s", tc.args, code, out, tc.field)
		}
	}
}

// without drops flag and its value from args.
func without(args []string, flag string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		if args[i] == flag {
			i++
			continue
		}
		out = append(out, args[i])
	}
	return out
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
		"--clickhouse-addr", dead, "--pii", "hash", "--pii-salt", "salt-SECRET-3-long-enough", "--log-level", "debug", "--http-addr", "")
	if code != cli.ExitUnavailable {
		t.Fatalf("exit %d, want %d (ClickHouse):\n%s", code, cli.ExitUnavailable, out)
	}
	if !strings.Contains(out, "cannot reach ClickHouse at "+dead) {
		t.Errorf("error should say ClickHouse is unreachable:\n%s", out)
	}
	for _, secret := range []string{"ch-SECRET-1", "kafka-SECRET-2", "salt-SECRET-3"} {
		if strings.Contains(out, secret) {
			t.Errorf("output leaks %s:\n%s", secret, out)
		}
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.Shutdown()
	os.Exit(code)
}

// startIngest starts the worker on the shared ClickHouse with a database of
// its own, and waits until it has begun migrating it.
func startIngest(t *testing.T, bin string, env []string, args ...string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	ch := testenv.SharedClickHouse(t)
	db := testenv.NewDatabase(t, ch)
	cmd := exec.Command(bin, append([]string{"--clickhouse-addr", ch.Addr(), "--clickhouse-database", db}, args...)...)
	cmd.Env = append([]string{"PATH=/usr/bin:/bin"}, env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &syncWriter{w: &out}, &syncWriter{w: &out}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	deadline := time.Now().Add(60 * time.Second)
	for {
		n, err := ch.QueryIn(context.Background(), db, "SELECT count() FROM system.tables WHERE database = currentDatabase() AND name = 'schema_migrations'")
		if err == nil && strings.TrimSpace(n) == "1" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the worker did not migrate its database in 60s:\n%s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return cmd, &out
}

type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// stop sends SIGTERM and returns the exit code and how long the worker took.
func stop(t *testing.T, cmd *exec.Cmd) (int, time.Duration) {
	t.Helper()
	t0 := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode(), time.Since(t0)
		}
		return 0, time.Since(t0)
	case <-time.After(30 * time.Second):
		t.Fatal("the worker did not stop within 30s of SIGTERM")
	}
	return -1, 0
}

// A pipe or a device named with --files-special is read to its end, or
// until SIGTERM, which stops the worker at once (exit 0): neither a read
// blocked on an empty pipe, nor an open waiting for a writer, nor a device
// that never ends holds the stop (it took 10s, the source's close timeout).
func TestSpecialFiles(t *testing.T) {
	bin := build(t)
	const prompt = 3 * time.Second
	base := []string{"--source", "file", "--files-special", "--http-addr", "", "--log-level", "debug"}

	t.Run("pipe with a writer that stays", func(t *testing.T) {
		fifo := filepath.Join(t.TempDir(), "audit.fifo")
		if err := syscall.Mkfifo(fifo, 0o600); err != nil {
			t.Fatal(err)
		}
		cmd, out := startIngest(t, bin, nil, append(base, "--files", fifo)...)
		// A non-blocking open for writing succeeds once the worker has
		// the pipe open for reading.
		var w *os.File
		for deadline := time.Now().Add(30 * time.Second); ; {
			f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0)
			if err == nil {
				w = f
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the worker never opened the pipe: %v\n%s", err, out.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
		defer w.Close()
		if _, err := w.WriteString(`{"action":"git.clone","_document_id":"x"}` + "\n"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond) // the worker now waits in a read
		code, took := stop(t, cmd)
		if code != 0 || took > prompt {
			t.Errorf("SIGTERM: exit %d after %s; want exit 0 within %s:\n%s", code, took, prompt, out.String())
		}
	})

	t.Run("pipe read to its end", func(t *testing.T) {
		fifo := filepath.Join(t.TempDir(), "audit.fifo")
		if err := syscall.Mkfifo(fifo, 0o600); err != nil {
			t.Fatal(err)
		}
		ch := testenv.SharedClickHouse(t)
		db := testenv.NewDatabase(t, ch)
		go func() { // blocks until the worker opens the pipe
			w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
			if err != nil {
				return
			}
			defer w.Close()
			for i := range 3 {
				fmt.Fprintf(w, `{"@timestamp":%d,"_document_id":"fifo-%d","action":"copilot.cfb_seat_added","actor":"octo-admin","org":"acme","user":"mona%d","created_at":%d}`+"\n",
					1732406400000+i, i, i, 1732406400000+i)
			}
		}()
		out, code := run(t, bin, nil, append(base, "--files", fifo, "--clickhouse-addr", ch.Addr(), "--clickhouse-database", db)...)
		if code != 0 {
			t.Fatalf("exit %d:\n%s", code, out)
		}
		if n, err := ch.QueryIn(context.Background(), db, "SELECT count() FROM seat_timeline"); err != nil || strings.TrimSpace(n) != "3" {
			t.Errorf("seat rows %q %v, want 3:\n%s", n, err, out)
		}
	})

	t.Run("pipe nobody writes to", func(t *testing.T) {
		fifo := filepath.Join(t.TempDir(), "audit.fifo")
		if err := syscall.Mkfifo(fifo, 0o600); err != nil {
			t.Fatal(err)
		}
		cmd, out := startIngest(t, bin, nil, append(base, "--files", fifo)...)
		waitFor(t, out, "a thread waiting in the pipe's open", func() bool { return inKernel(cmd.Process.Pid, "wait_for_partner") })
		code, took := stop(t, cmd)
		if code != 0 || took > prompt {
			t.Errorf("SIGTERM: exit %d after %s; want exit 0 within %s:\n%s", code, took, prompt, out.String())
		}
	})

	t.Run("/dev/zero", func(t *testing.T) {
		cmd, out := startIngest(t, bin, nil, append(base, "--files", "/dev/zero")...)
		waitFor(t, out, "/dev/zero open", func() bool { return hasOpen(cmd.Process.Pid, "/dev/zero") })
		time.Sleep(300 * time.Millisecond) // reading
		code, took := stop(t, cmd)
		if code != 0 || took > prompt {
			t.Errorf("SIGTERM: exit %d after %s; want exit 0 within %s:\n%s", code, took, prompt, out.String())
		}
	})
}

// waitFor polls cond for 30s.
func waitFor(t *testing.T, out *bytes.Buffer, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no %s after 30s:\n%s", what, out.String())
		}
	}
}

// inKernel reports whether a thread of pid sleeps in the kernel function
// fn (Linux: /proc/PID/task/TID/wchan).
func inKernel(pid int, fn string) bool {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/wchan", pid))
	for _, w := range tasks {
		if b, err := os.ReadFile(w); err == nil && string(b) == fn {
			return true
		}
	}
	return false
}

// hasOpen reports whether pid has path open (Linux: /proc/PID/fd).
func hasOpen(pid int, path string) bool {
	fds, _ := filepath.Glob(fmt.Sprintf("/proc/%d/fd/*", pid))
	for _, fd := range fds {
		if l, err := os.Readlink(fd); err == nil && l == path {
			return true
		}
	}
	return false
}

// SEATLINE_HTTP_ADDR="" turns the listener off as --http-addr "" does (the
// environment used to ignore empty values, so the worker bound :9464).
func TestEmptyEnvironmentValueTurnsListenerOff(t *testing.T) {
	bin := build(t)
	file := filepath.Join(t.TempDir(), "audit.json")
	if err := os.WriteFile(file, []byte(`{"action":"git.clone","_document_id":"n1","@timestamp":1}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ch := testenv.SharedClickHouse(t)
	for _, tc := range []struct {
		name    string
		env     []string
		args    []string
		serving bool
	}{
		{"flag", nil, []string{"--http-addr", ""}, false},
		{"environment", []string{"SEATLINE_HTTP_ADDR="}, nil, false},
		{"environment, flag wins", []string{"SEATLINE_HTTP_ADDR="}, []string{"--http-addr", "127.0.0.1:0"}, true},
		{"listener on", []string{"SEATLINE_HTTP_ADDR=127.0.0.1:0"}, nil, true},
	} {
		db := testenv.NewDatabase(t, ch)
		args := append([]string{"--source", "file", "--files", file, "--clickhouse-addr", ch.Addr(), "--clickhouse-database", db}, tc.args...)
		out, code := run(t, bin, tc.env, args...)
		if code != 0 {
			t.Fatalf("%s: exit %d:\n%s", tc.name, code, out)
		}
		if serving := strings.Contains(out, "serving /metrics"); serving != tc.serving {
			t.Errorf("%s: serving %v, want %v:\n%s", tc.name, serving, tc.serving, out)
		}
	}
}
