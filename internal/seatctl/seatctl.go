// Package seatctl is the seatctl command: seat history, current and idle
// seats, pending cancellations, and compliance exports (with a manifest, a
// hash chain over the rows and an optional ed25519 signature) and their
// verification, all read from the ClickHouse timeline through the views of
// schema/migrations. cmd/seatctl only calls Main.
//
// Every query binds user input: as server-side query parameters
// ({p0:Type}) where the server takes them (ClickHouse 22.8+), else with
// clickhouse-go's client-side "?" binding, which escapes each value. No
// filter value is ever pasted into SQL text by seatctl.
package seatctl

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/seatline/seatline/internal/cli"
	"github.com/seatline/seatline/internal/timeline"
)

// Exit codes: cli's, which every binary shares (README, "Readiness and
// exit codes"), with seatctl's own meaning of 1 (and reclaim's 4).
const (
	ExitOK          = cli.ExitOK          // success (also: no rows matched, reported on stderr)
	ExitVerifyFail  = cli.ExitFailed      // verify: the bundle does not check out; rebuild --check: a model differs
	ExitUsage       = cli.ExitConfig      // bad flags, bad time range, unknown database, bad key file
	ExitUnavailable = cli.ExitUnavailable // cannot reach ClickHouse, a query failed, or a file could not be read or written
)

const exitCodesHelp = `Exit codes:
  0  success (a query that matches nothing also exits 0, saying so on stderr)
  1  verify: the bundle failed verification (each problem is printed);
     rebuild --check: a read model differs from a rebuild of it
  2  usage or configuration error (bad flag, bad time range, unknown database, unreadable key)
  3  cannot reach ClickHouse, a query failed, or a file could not be read or written`

const timeHelp = `Times (--since, --until): RFC 3339 (2025-03-01T09:30:00Z), a date (2025-03-01, UTC),
"now", or a time ago (30d, 12h, 2w). --since is inclusive, --until exclusive; a plain
date as --until means the end of that day.`

// usageError is a mistake on the command line: exit code 2.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }
func (e *usageError) ExitCode() int { return ExitUsage }

func usageErrorf(format string, args ...any) error {
	return &usageError{fmt.Errorf(format, args...)}
}

// verifyFailed: verification found problems (already printed): exit code 1.
type verifyFailed struct{}

func (verifyFailed) Error() string { return "verification failed" }
func (verifyFailed) ExitCode() int { return ExitVerifyFail }

var errVerifyFailed error = verifyFailed{}

// exitCode is cli's one mapping; a failure of no other class is reading
// or writing (ClickHouse, a file): 3.
func exitCode(err error) int { return cli.ExitCodeOr(err, ExitUnavailable) }

type command struct {
	name, summary string
	run           func(ctx context.Context, e *env, args []string) error
}

// env is what a command writes to.
type env struct {
	stdout, stderr io.Writer
}

func commands() []command {
	return []command{
		{"history", "seat changes, filtered by org, user, team, actor, transition and time", runHistory},
		{"seats", "current seats per org (--summary: counts; --idle 30d: reclamation candidates)", runSeats},
		{"pending", "seats pending cancellation and the date billing stops", runPending},
		{"periods", "a holder's seat periods: held from, via, granted by, pending, billable until, ended, orphaned", runPeriods},
		{"seat-days", "seat-days per org (or team), month and plan: the basis to reconcile the invoice", runSeatDays},
		{"orphans", "seats still held or billable whose holder left, was deprovisioned or suspended, with their monthly cost", runOrphans},
		{"reclaim", "take back idle and orphaned seats: plan (read-only), apply PLAN --approve SHA256, status", runReclaim},
		{"derive", "bring the seat periods up to date now (cmd/enrich does it on every pass)", runDerive},
		{"rebuild", "fill the read models again from the timeline (--check: compare, change nothing)", runRebuild},
		{"export", "write a compliance bundle: data files, manifest with a row hash chain, optional signature", runExport},
		{"verify", "check a bundle: file hashes, row chain, signature", runVerify},
		{"keygen", "make an ed25519 key pair for signing bundles", runKeygen},
	}
}

func mainUsage() string {
	var b strings.Builder
	b.WriteString(`seatctl: query the Copilot seat timeline in ClickHouse and make verifiable compliance exports

Usage: seatctl <command> [flags]     (seatctl <command> --help for its flags and examples)

Commands:
`)
	for _, c := range commands() {
		fmt.Fprintf(&b, "  %-9s  %s\n", c.name, c.summary)
	}
	b.WriteString(`
Every flag is also an environment variable: --clickhouse-addr is SEATLINE_CLICKHOUSE_ADDR,
--clickhouse-password is SEATLINE_CLICKHOUSE_PASSWORD (prefer it to the flag).

Examples:
  seatctl history --org acme-platform --user mona --since 90d
  seatctl seats --summary
  seatctl seats --idle 30d --org acme-platform
  seatctl seats --at 2026-03-15
  seatctl periods --user mona
  seatctl seat-days --month 2026-03
  seatctl orphans
  seatctl pending
  seatctl keygen --out export-signing
  seatctl export --org acme-platform --since 2025-01-01 --until 2025-03-31 --out q1 --formats csv,jsonl --sign-key export-signing.key
  seatctl verify q1 --pub-key export-signing.pub

`)
	b.WriteString(exitCodesHelp)
	b.WriteString("\n")
	return b.String()
}

// Main runs seatctl with args (without the program name) and returns the
// exit code. It prints results to stdout and messages to stderr.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	e := &env{stdout: stdout, stderr: stderr}
	if len(args) == 0 {
		fmt.Fprint(stderr, mainUsage())
		return ExitUsage
	}
	name := args[0]
	switch name {
	case "-h", "--help", "-help", "help":
		if len(args) > 1 && name == "help" {
			return Main(ctx, []string{args[1], "--help"}, stdout, stderr)
		}
		fmt.Fprint(stdout, mainUsage())
		return ExitOK
	}
	c, ok := findCommand(commands(), name)
	if !ok {
		fmt.Fprintf(stderr, "seatctl: unknown command %q\n\n%s", name, mainUsage())
		return ExitUsage
	}
	err := c.run(ctx, e, args[1:])
	if err != nil && !errors.Is(err, flag.ErrHelp) && !errors.Is(err, errVerifyFailed) {
		// An error may quote a value (a server's message, a file name).
		fmt.Fprintf(stderr, "seatctl %s: %s\n", name, visibleLines(err.Error()))
	}
	return exitCode(err)
}

// findCommand finds name in a table of commands (seatctl's, reclaim's steps).
func findCommand(table []command, name string) (command, bool) {
	for _, c := range table {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// parse parses a command's flags (SEATLINE_* environment variables fill
// unset ones) and returns its positional arguments, which may come before,
// between or after the flags. --help prints to stdout.
func parse(e *env, fs *flag.FlagSet, args []string, about string) ([]string, error) {
	var out bytes.Buffer
	fs.SetOutput(&out)
	err := cli.Parse(fs, args, about)
	var pos []string
	for err == nil && fs.NArg() > 0 {
		rest := fs.Args()
		if rest[0] == "--" {
			pos = append(pos, rest[1:]...)
			break
		}
		pos = append(pos, rest[0])
		err = fs.Parse(rest[1:])
	}
	switch {
	case errors.Is(err, flag.ErrHelp):
		io.Copy(e.stdout, &out)
		return nil, err
	case err != nil:
		// The flag package printed the error and the usage; keep the error
		// line only, with a pointer to --help.
		msg := strings.TrimSpace(strings.SplitN(out.String(), "\n", 2)[0])
		if msg == "" {
			msg = err.Error()
		}
		return nil, usageErrorf("%s (see seatctl %s --help)", msg, fs.Name())
	}
	return pos, nil
}

// clickhouseFlags binds the ClickHouse flags, named as in cmd/ingest.
func clickhouseFlags(fs *flag.FlagSet, c *timeline.Config) {
	cli.ClickHouseFlags(fs, c, "database holding the timeline")
}
