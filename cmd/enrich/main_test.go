package main_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seatline/seatline/internal/testenv"
)

func run(t *testing.T, bin string, env []string, args ...string) (string, int) {
	t.Helper()
	return testenv.RunBinary(t, bin, env, args...)
}

var secrets = []string{"ch-SECRET-1", "ghp_SECRET2", "PW-SECRET-3"}

// Every configuration mistake stops the enrich worker with exit 2 naming
// the flag, before it connects to ClickHouse or GitHub (both are listeners
// that record connections), and no secret is printed. Defaults are not
// slipped in: --interval 0 is refused, not read as 30s.
func TestConfigMistakesFailAtStartNamingTheField(t *testing.T) {
	bin, err := testenv.Build(context.Background(), "./cmd/enrich", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ch, gh := testenv.NewRecorder(t), testenv.NewRecorder(t)
	dir := t.TempDir()
	notKey := filepath.Join(dir, "app.pem")
	if err := os.WriteFile(notKey, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := []string{"--clickhouse-addr", ch.Addr(), "--clickhouse-password", "ch-SECRET-1",
		"--github-base-url", "http://" + gh.Addr() + "/", "--http-addr", ""}
	baseEnv := []string{"SEATLINE_GITHUB_TOKEN=ghp_SECRET2"} // a later entry for the same variable wins
	app := []string{"--github-token", "", "--github-app-id", "1", "--github-installation-id", "2"}
	for _, tc := range []struct {
		args  []string
		env   []string
		field string
	}{
		{[]string{"--interval", "0"}, nil, "interval"},
		{[]string{"--interval", "-5s"}, nil, "interval"},
		{[]string{"--interval", "48h"}, nil, "interval"},
		{[]string{"--github-max-concurrent", "0"}, nil, "github-max-concurrent"},
		{[]string{"--github-max-wait", "2h"}, nil, "github-max-wait"},
		{[]string{"--snapshot-interval", "0"}, nil, "snapshot-interval"},
		{[]string{"--pending-batch", "0"}, nil, "pending-batch"},
		{[]string{"--retry-failed-every", "-1"}, nil, "retry-failed-every"},
		{[]string{"--enrich-budget", "0"}, nil, "enrich-budget"},
		{[]string{"--enrich-max-requests", "-3"}, nil, "enrich-max-requests"},
		{[]string{"--enrich-max-attempts", "256"}, nil, "enrich-max-attempts"},
		{[]string{"--clickhouse-read-timeout", "0"}, nil, "clickhouse-read-timeout"},
		{[]string{"--clickhouse-database", ""}, nil, "clickhouse-database"},
		{[]string{"--clickhouse-addr", "default:PW-SECRET-3@127.0.0.1:9000"}, nil, "clickhouse-addr"},
		{[]string{"--clickhouse-addr", "127.0.0.1:99999"}, nil, "clickhouse-addr"},
		{[]string{"--github-base-url", "https://x-access-token:PW-SECRET-3@github.example.com/"}, nil, "github-base-url"},
		{[]string{"--github-base-url", "github.example.com"}, nil, "github-base-url"},
		{[]string{"--github-token", ""}, nil, "github-token"},
		{append(app, "--github-private-key", filepath.Join(dir, "absent.pem")), nil, "github-private-key"},
		{append(app, "--github-private-key", notKey), nil, "github-private-key"},
		{append(app, "--github-private-key", "/dev/zero"), nil, "github-private-key"},
		{[]string{"--orgs", "acme/../admin"}, nil, "orgs"},
		{[]string{"--enterprises", "acme corp"}, nil, "enterprises"},
		{[]string{"--http-addr", "9465"}, nil, "http-addr"},
		{[]string{"--log-format", "xml"}, nil, "log-format"},
		{nil, []string{"SEATLINE_INTERVAL="}, "interval"},
		{nil, []string{"SEATLINE_INTERVAL=0s"}, "interval"},
		{nil, []string{"SEATLINE_ONCE="}, "once"},
		{nil, []string{"SEATLINE_GITHUB_TOKEN="}, "github-token"}, // set, and empty: as --github-token ""
	} {
		args := append(append([]string(nil), base...), tc.args...)
		out, code := run(t, bin, append(append([]string(nil), baseEnv...), tc.env...), args...)
		if code != 2 || !strings.Contains(out, "invalid configuration: "+tc.field) {
			t.Errorf("%v %v: exit %d, output %q; want exit 2 naming %s", tc.args, tc.env, code, out, tc.field)
		}
		for _, secret := range secrets {
			if strings.Contains(out, secret) {
				t.Errorf("%v %v: output leaks %s:\n%s", tc.args, tc.env, secret, out)
			}
		}
		time.Sleep(50 * time.Millisecond) // for the accept loops to take what is queued
		if n, m := ch.Conns(), gh.Conns(); n+m != 0 {
			t.Fatalf("%v %v: %d connection(s) to ClickHouse and %d to GitHub before the configuration was checked", tc.args, tc.env, n, m)
		}
	}

	// A valid configuration does reach ClickHouse (which hangs up: exit 1).
	out, code := run(t, bin, baseEnv, append(base, "--once")...)
	time.Sleep(50 * time.Millisecond)
	if code == 0 || code == 2 || ch.Conns() == 0 {
		t.Errorf("valid configuration: exit %d, %d ClickHouse connections; want a failure after connecting:\n%s", code, ch.Conns(), out)
	}
}
