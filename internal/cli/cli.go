// Package cli holds what every seatline binary's main shares: flags that
// can also be set from SEATLINE_* environment variables, list flags, and
// the logger.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/seatline/seatline/internal/flagval"
	"github.com/seatline/seatline/internal/timeline"
	"github.com/seatline/seatline/pkg/ghclient"
)

// EnvPrefix: flag --kafka-brokers is also SEATLINE_KAFKA_BROKERS.
const EnvPrefix = "SEATLINE"

// Parse parses args, then sets every flag not given on the command line
// from its environment variable (EnvName) when that variable exists, even
// when it is empty: SEATLINE_HTTP_ADDR="" turns the listener off as
// --http-addr "" does, and an empty value a flag cannot take (a duration,
// a number, a boolean) is refused as it would be on the command line. An
// unset variable leaves the flag's default. It prints usage (with the env
// name of every flag) for -h.
func Parse(fs *flag.FlagSet, args []string, about string) error {
	fs.Usage = func() {
		out := fs.Output()
		fmt.Fprintf(out, "%s\n\nFlags (each also read from the environment variable shown; the command line wins):\n", about)
		fs.VisitAll(func(f *flag.Flag) {
			name, usage := flag.UnquoteUsage(f)
			fmt.Fprintf(out, "  --%s %s\t[$%s]\n    \t%s", f.Name, name, EnvName(f.Name), strings.ReplaceAll(usage, "\n", "\n    \t"))
			if def := f.DefValue; def != "" && def != "false" && def != "0" {
				if d, err := time.ParseDuration(def); err == nil && name == "duration" {
					def = flagval.Short(d) // 1m, not 1m0s
				}
				fmt.Fprintf(out, " (default %s)", def)
			}
			fmt.Fprintln(out)
		})
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	return setFromEnv(fs)
}

// setFromEnv sets each flag not set on the command line from its
// environment variable, if that variable exists.
func setFromEnv(fs *flag.FlagSet) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if err != nil || given[f.Name] {
			return
		}
		env := EnvName(f.Name)
		v, ok := os.LookupEnv(env)
		if !ok {
			return
		}
		if setErr := fs.Set(f.Name, v); setErr != nil {
			err = envError(f, env, v, setErr)
		}
	})
	return err
}

// envError says which variable held a value its flag cannot take, quoting
// the value only through flagval.Redact.
func envError(f *flag.Flag, env, v string, err error) error {
	if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
		if v == "" {
			return fmt.Errorf("%s: $%s is empty; set it to true or false, or unset it", f.Name, env)
		}
		return fmt.Errorf("%s: $%s=%q is not true or false", f.Name, env, flagval.Redact(v))
	}
	if v == "" {
		return fmt.Errorf("%s: $%s is empty, which --%s cannot be; set a value or unset it for the default (%s)", f.Name, env, f.Name, f.DefValue)
	}
	return fmt.Errorf("%s: invalid value %q in $%s: %v", f.Name, flagval.Redact(v), env, err)
}

// ParseOnly parses args without the environment and refuses positional
// arguments (see NoArgs): the worker binaries' command line, for tests.
func ParseOnly(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	return NoArgs(fs)
}

// NoArgs refuses the positional arguments left after parsing a command
// that takes none. The flag package stops at the first one, so every flag
// after a stray word would otherwise be ignored without a word
// ("--files a.json b.json --clickhouse-addr …" would read only a.json and
// connect to the default address).
func NoArgs(fs *flag.FlagSet) error {
	if fs.NArg() == 0 {
		return nil
	}
	after := ""
	if n := fs.NArg() - 1; n > 0 {
		after = fmt.Sprintf(" (and %d more after it, none of them read)", n)
	}
	return fmt.Errorf("unexpected argument %q%s: %s takes flags only; a list is one comma-separated value, e.g. --files a.json,b.json",
		fs.Arg(0), after, fs.Name())
}

// EnvName is the environment variable for a flag.
func EnvName(flagName string) string {
	return EnvPrefix + "_" + strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(flagName))
}

// List is a comma-separated flag value.
type List = flagval.List

// Logger builds the process logger: format "text" or "json", level
// debug|info|warn|error.
func Logger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log-level: must be debug, info, warn or error, got %q", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text", "":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("log-format: must be text or json, got %q", format)
}

// Exit codes, the same for every binary (README: "Readiness and exit
// codes"). seatctl gives 1 its own meaning (a check failed, an apply not
// finished) and 4 to seatctl reclaim (the plan was refused).
const (
	ExitOK     = 0 // done, or a clean stop
	ExitFailed = 1 // anything else
	ExitConfig = 2 // a usage or configuration mistake
	// ExitUnavailable: ClickHouse or GitHub could not be used: unreachable,
	// failing or refusing a call the run needed (ClickHouse), not answering
	// in time, 5xx after the retries, or rate-limited for longer than
	// --github-max-wait (GitHub). The message says which; running again
	// later, or fixing the server, helps.
	ExitUnavailable = 3
	// ExitGitHubRefused: GitHub refused the credentials (401, or a 403 that
	// is not a rate limit): they must be fixed.
	ExitGitHubRefused = 5
)

// ExitCodesHelp is the exit codes for the workers' --help.
const ExitCodesHelp = `Exit codes:
  0  done: a clean stop, a finished input, a complete pass
  1  any other failure
  2  a usage or configuration mistake (the message names the flag)
  3  ClickHouse or GitHub could not be used: unreachable, failing, or GitHub
     rate-limited past --github-max-wait (the message says which; run again later)
  5  GitHub refused the credentials (401, or a 403 that is not a rate limit)`

// ExitCode maps a run's error to the exit codes. When an error holds
// several causes (errors.Join), the first that applies in this order
// decides: a code the error carries itself, configuration, GitHub refusing
// the credentials, ClickHouse or GitHub unavailable, anything else.
func ExitCode(err error) int { return ExitCodeOr(err, ExitFailed) }

// ExitCodeOr is ExitCode for a command whose failures of no other class
// have their own documented code: other (seatctl: 3, its other failures
// are reading or writing a file). An error with an ExitCode() int method
// (a command's documented codes: seatctl's failed check, reclaim's refused
// plan) carries its own code.
func ExitCodeOr(err error, other int) int {
	var coded interface{ ExitCode() int }
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return ExitOK
	case errors.As(err, &coded):
		return coded.ExitCode()
	case errors.As(err, new(*ConfigError)):
		return ExitConfig
	case ghclient.CredentialsRefused(err):
		return ExitGitHubRefused
	case timeline.IsClickHouseError(err), ghclient.Unavailable(err):
		return ExitUnavailable
	}
	return other
}

// ConfigError is a configuration mistake found at start-up.
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return "invalid configuration: " + e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

// Fatal prints err and exits with ExitCode(err).
func Fatal(prog string, err error) {
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(os.Stderr, "%s: %v\n", prog, err)
	}
	os.Exit(ExitCode(err))
}

// Main is the whole main of a worker binary: it installs the stop-signal
// handler first (so a SIGTERM during start-up is a clean stop, not a
// kill), parses flags bound by register (each also an environment
// variable), builds the logger from *logFormat and *logLevel, runs, and
// exits with ExitCode.
func Main(name, about string, register func(*flag.FlagSet), logFormat, logLevel *string, run func(context.Context, *slog.Logger) error) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	register(fs)
	err := Parse(fs, os.Args[1:], about)
	if err == nil {
		err = NoArgs(fs)
	}
	if err != nil {
		Fatal(name, &ConfigError{Err: err})
	}
	log, err := Logger(os.Stderr, *logFormat, *logLevel)
	if err != nil {
		Fatal(name, &ConfigError{Err: err})
	}
	err = run(ctx, log)
	stop()
	Fatal(name, err)
}
