package cli_test

import (
	"flag"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/seatline/seatline/internal/cli"
)

// flags is one flag of each kind, with non-zero defaults so that an empty
// value is visible.
type flags struct {
	addr  string
	list  []string
	wait  time.Duration
	on    bool
	count int
}

func parse(t *testing.T, args ...string) (flags, error) {
	t.Helper()
	f := flags{list: []string{"a", "b"}}
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&f.addr, "http-addr", ":9464", "")
	fs.Var((*cli.List)(&f.list), "kafka-brokers", "")
	fs.DurationVar(&f.wait, "batch-wait", 500*time.Millisecond, "")
	fs.BoolVar(&f.on, "pprof", true, "")
	fs.IntVar(&f.count, "batch-rows", 10, "")
	err := cli.Parse(fs, args, "test")
	return f, err
}

// An environment variable that exists sets its flag, even to an empty
// value; one that does not exist leaves the default.
func TestEnvironmentSetsFlagsIncludingEmptyValues(t *testing.T) {
	f, err := parse(t)
	if err != nil || f.addr != ":9464" || len(f.list) != 2 || f.wait != 500*time.Millisecond || !f.on || f.count != 10 {
		t.Fatalf("defaults: %+v %v", f, err)
	}

	t.Setenv("SEATLINE_HTTP_ADDR", "")
	t.Setenv("SEATLINE_KAFKA_BROKERS", "")
	t.Setenv("SEATLINE_BATCH_WAIT", "2s")
	t.Setenv("SEATLINE_PPROF", "false")
	t.Setenv("SEATLINE_BATCH_ROWS", "7")
	f, err = parse(t)
	if err != nil {
		t.Fatal(err)
	}
	if f.addr != "" {
		t.Errorf(`SEATLINE_HTTP_ADDR="" left --http-addr %q; want "" (off), as --http-addr "" does`, f.addr)
	}
	if len(f.list) != 0 {
		t.Errorf(`SEATLINE_KAFKA_BROKERS="" left %q; want an empty list`, f.list)
	}
	if f.wait != 2*time.Second || f.on || f.count != 7 {
		t.Errorf("from the environment: %+v", f)
	}

	t.Setenv("SEATLINE_KAFKA_BROKERS", "h1:9092, h2:9092")
	if f, _ = parse(t); strings.Join(f.list, "|") != "h1:9092|h2:9092" {
		t.Errorf("list from the environment: %q", f.list)
	}
}

// The command line wins over the environment, also over an empty value.
func TestCommandLineWinsOverEnvironment(t *testing.T) {
	t.Setenv("SEATLINE_HTTP_ADDR", "")
	t.Setenv("SEATLINE_KAFKA_BROKERS", "env:9092")
	t.Setenv("SEATLINE_BATCH_WAIT", "soon") // never read: the flag is given
	t.Setenv("SEATLINE_PPROF", "")
	f, err := parse(t, "--http-addr", ":1234", "--kafka-brokers", "cli:9092", "--batch-wait", "1s", "--pprof=false")
	if err != nil {
		t.Fatal(err)
	}
	if f.addr != ":1234" || strings.Join(f.list, ",") != "cli:9092" || f.wait != time.Second || f.on {
		t.Errorf("%+v", f)
	}
}

// A value a flag cannot take is refused from the environment as on the
// command line, naming the flag and the variable; an empty duration,
// number or boolean too.
func TestBadEnvironmentValuesNameFlagAndVariable(t *testing.T) {
	for _, tc := range []struct{ env, value, flag string }{
		{"SEATLINE_BATCH_WAIT", "soon", "batch-wait"},
		{"SEATLINE_BATCH_WAIT", "", "batch-wait"},
		{"SEATLINE_BATCH_ROWS", "", "batch-rows"},
		{"SEATLINE_BATCH_ROWS", "ten", "batch-rows"},
		{"SEATLINE_PPROF", "", "pprof"},
		{"SEATLINE_PPROF", "yes please", "pprof"},
	} {
		t.Run(tc.env+"="+tc.value, func(t *testing.T) {
			t.Setenv(tc.env, tc.value)
			_, err := parse(t)
			if err == nil || !strings.HasPrefix(err.Error(), tc.flag+": ") || !strings.Contains(err.Error(), "$"+tc.env) {
				t.Errorf("got %v; want an error naming %s and $%s", err, tc.flag, tc.env)
			}
		})
	}
	t.Run("exit code", func(t *testing.T) {
		t.Setenv("SEATLINE_BATCH_WAIT", "")
		_, err := parse(t)
		if code := cli.ExitCode(&cli.ConfigError{Err: err}); code != 2 {
			t.Errorf("exit %d, want 2", code)
		}
	})
}

// A value quoted from the environment is redacted like one from a flag.
func TestEnvironmentErrorsRedactCredentials(t *testing.T) {
	t.Setenv("SEATLINE_BATCH_WAIT", "https://user:PW-99@host/")
	_, err := parse(t)
	if err == nil || strings.Contains(err.Error(), "PW-99") {
		t.Errorf("%v", err)
	}
}
