package main_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/seatline/seatline/internal/cli"
	"github.com/seatline/seatline/internal/ghsim"
	"github.com/seatline/seatline/internal/testenv"
	"github.com/seatline/seatline/internal/timeline"
	"github.com/seatline/seatline/pkg/events"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.Shutdown()
	os.Exit(code)
}

const (
	token   = "ghp_exitCodeTestTokenNeverPrinted000000"
	noScope = "ghp_exitCodeTestTokenWithoutScope00000"
)

// seeded is a simulator with one org whose seat changes are in a fresh
// timeline database, pending enrichment.
func seeded(t *testing.T, ch *testenv.ClickHouse) (*ghsim.Server, string) {
	t.Helper()
	sim := ghsim.New(ghsim.Options{Tokens: []string{token}, ForbiddenTokens: []string{noScope}, Seed: 5})
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	if err := sim.AddOrg("acme", ghsim.AssignSelected, ghsim.PlanBusiness); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"mona", "hubot", "octocat"} {
		if err := sim.AddMember("acme", u); err != nil {
			t.Fatal(err)
		}
	}
	if err := sim.Assign("acme", "", "mona", "hubot", "octocat"); err != nil {
		t.Fatal(err)
	}
	db := testenv.NewDatabase(t, ch)
	store := testenv.OpenTimeline(t, timeline.Config{Addrs: []string{ch.Addr()}, Database: db})
	var rows []timeline.Row
	for i, line := range sim.Events() {
		ev, err := events.Parse(line)
		if err != nil {
			continue // a membership or policy event: not needed here
		}
		rows = append(rows, timeline.NewRow(ev, "test", fmt.Sprintf("sim/%d", i), time.Now()))
	}
	if err := store.Write(context.Background(), rows, nil); err != nil {
		t.Fatal(err)
	}
	if pending(t, store) == 0 {
		t.Fatal("no pending rows to enrich")
	}
	return sim, db
}

func pending(t *testing.T, store *timeline.Store) uint64 {
	t.Helper()
	var n uint64
	if err := store.Conn().QueryRow(context.Background(), "SELECT count() FROM seat_timeline WHERE enrichment = 'pending'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// enrich --once exits with the documented code for each way a pass can
// end, says why on stderr, and never prints the token.
func TestOnceExitCodes(t *testing.T) {
	ch := testenv.SharedClickHouse(t)
	bin, err := testenv.Build(context.Background(), "./cmd/enrich", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	run := func(env []string, args ...string) (string, int, time.Duration) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, append([]string{"--once", "--http-addr", ""}, args...)...)
		cmd.Env = append([]string{"PATH=/usr/bin:/bin"}, env...)
		start := time.Now()
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		switch {
		case errors.As(err, &ee):
			return string(out), ee.ExitCode(), time.Since(start)
		case err != nil:
			t.Fatal(err)
		}
		return string(out), 0, time.Since(start)
	}
	for _, tc := range []struct {
		name  string
		args  func(sim *ghsim.Server) []string
		token string
		code  int
		say   string
	}{
		{"success", func(sim *ghsim.Server) []string { return []string{"--github-base-url", sim.URL() + "/"} },
			token, cli.ExitOK, "pass complete"},
		{"GitHub unreachable", func(sim *ghsim.Server) []string {
			return []string{"--github-base-url", "http://" + closedAddr(t) + "/"}
		}, token, cli.ExitUnavailable, "connection refused"},
		{"401 bad credentials", func(sim *ghsim.Server) []string { return []string{"--github-base-url", sim.URL() + "/"} },
			"ghp_notAtokenTheSimulatorKnows00000000", cli.ExitGitHubRefused, "401 Bad credentials"},
		{"403 token without the permission", func(sim *ghsim.Server) []string { return []string{"--github-base-url", sim.URL() + "/"} },
			noScope, cli.ExitGitHubRefused, "403 Resource not accessible by personal access token"},
		{"ClickHouse unreachable", func(sim *ghsim.Server) []string {
			return []string{"--github-base-url", sim.URL() + "/", "--clickhouse-addr", closedAddr(t)}
		}, token, cli.ExitUnavailable, "cannot reach ClickHouse"},
		{"configuration", func(sim *ghsim.Server) []string { return []string{"--github-base-url", sim.URL() + "/"} },
			"", cli.ExitConfig, "github-token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sim, db := seeded(t, ch)
			args := append([]string{"--clickhouse-addr", ch.Addr(), "--clickhouse-database", db, "--orgs", "acme"}, tc.args(sim)...)
			var env []string
			if tc.token != "" {
				env = append(env, "SEATLINE_GITHUB_TOKEN="+tc.token)
			}
			out, code, took := run(env, args...)
			t.Logf("exit %d after %s", code, took.Round(time.Millisecond))
			if code != tc.code || !strings.Contains(out, tc.say) {
				t.Fatalf("exit %d, want %d, and output saying %q:\n%s", code, tc.code, tc.say, out)
			}
			if tc.token != "" && strings.Contains(out, tc.token) {
				t.Fatalf("the token is printed:\n%s", out)
			}
			store := testenv.OpenTimeline(t, timeline.Config{Addrs: []string{ch.Addr()}, Database: db})
			left := pending(t, store)
			if (code == cli.ExitOK) != (left == 0) {
				t.Fatalf("exit %d with %d rows still pending", code, left)
			}
		})
	}
}

// --help lists the exit codes with the flags.
func TestHelpListsExitCodes(t *testing.T) {
	bin, err := testenv.Build(context.Background(), "./cmd/enrich", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("--help: %v\n%s", err, out)
	}
	for _, s := range []string{"Exit codes:", "3  ClickHouse or GitHub could not be used", "5  GitHub refused the credentials", "--once"} {
		if !strings.Contains(string(out), s) {
			t.Errorf("--help lacks %q:\n%s", s, out)
		}
	}
}
