package flagval_test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/seatline/seatline/internal/flagval"
)

func TestRedactHidesCredentials(t *testing.T) {
	for in, want := range map[string]string{
		"default:PW@host:9000":                      "REDACTED@host:9000",
		"PW@host:9000":                              "REDACTED@host:9000",
		"u:p@ss@host:9000":                          "REDACTED@host:9000",
		"http://user:PW@minio:9000/x":               "http://REDACTED@minio:9000/x",
		"https://ghp_TOKEN@github.example.com/api/": "https://REDACTED@github.example.com/api/",
		"http://u:P W/?#@host:9000":                 "http://REDACTED@host:9000",
		"https://h/api?access_token=T&page=2#frag":  "https://h/api?access_token=REDACTED&page=REDACTED#frag",
		"127.0.0.1:9000":                            "127.0.0.1:9000",
		"http://minio:9000":                         "http://minio:9000",
		"":                                          "",
	} {
		if got := flagval.Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestHostPort(t *testing.T) {
	for _, ok := range []string{"127.0.0.1:9000", "clickhouse.internal:9440", "[::1]:9000", "kafka_1:9092", "h:1", "h:65535"} {
		if err := flagval.HostPort("x", ok, false); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, listener := range []string{":9464", "127.0.0.1:0", "[::]:9464"} {
		if err := flagval.HostPort("http-addr", listener, true); err != nil {
			t.Errorf("%s as a listener: %v", listener, err)
		}
	}
	if err := flagval.HostPort("http-addr", ":99999", true); err == nil {
		t.Error(":99999 accepted as a listener")
	}
	for _, bad := range []string{"127.0.0.1:99999", "h:0", "h:-1", "h:http", "h", ":9000", "a b:9000", "PW@h:9000", "u:PW@h:9000", "-h:9000", "h/x:9000"} {
		err := flagval.HostPort("clickhouse-addr", bad, false)
		if err == nil || !strings.HasPrefix(err.Error(), "clickhouse-addr: ") {
			t.Errorf("%s: %v, want an error naming clickhouse-addr", bad, err)
		} else if strings.Contains(err.Error(), "PW") {
			t.Errorf("%s: the error echoes the password: %v", bad, err)
		}
	}
}

func TestHTTPURL(t *testing.T) {
	for _, ok := range []string{"https://api.github.com/", "http://127.0.0.1:8080/api/v3/", "http://minio:9000"} {
		if _, err := flagval.HTTPURL("x", ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"ftp://h/", "h:9000", "http://", "http://u:PW@h/", "https://PW@h/", "http://h:99999/", "http://h x/"} {
		_, err := flagval.HTTPURL("github-base-url", bad)
		if err == nil || !strings.HasPrefix(err.Error(), "github-base-url: ") || strings.Contains(err.Error(), "PW") {
			t.Errorf("%s: %v", bad, err)
		}
	}
}

func TestRangesShowInUsageAndChecks(t *testing.T) {
	i := flagval.Int{Name: "s3-concurrency", Min: 1, Max: 64}
	if got := i.Usage("objects at once"); got != "objects at once (1 to 64)" {
		t.Errorf("usage %q", got)
	}
	if i.Check(1) != nil || i.Check(64) != nil {
		t.Error("the bounds are inside the range")
	}
	if err := i.Check(0); err == nil || err.Error() != "s3-concurrency: must be 1 to 64, got 0" {
		t.Errorf("0: %v", err)
	}
	d := flagval.Duration{Name: "interval", Min: time.Second, Max: 24 * time.Hour}
	if got := d.Usage("between passes"); got != "between passes (1s to 24h)" {
		t.Errorf("usage %q", got)
	}
	if err := d.Check(-5 * time.Second); err == nil || err.Error() != "interval: must be 1s to 24h, got -5s" {
		t.Errorf("-5s: %v", err)
	}
	for d, want := range map[time.Duration]string{0: "0s", 90 * time.Minute: "1h30m", 168 * time.Hour: "168h", 100 * time.Millisecond: "100ms", 61 * time.Second: "1m1s"} {
		if got := flagval.Short(d); got != want {
			t.Errorf("Short(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestReadFileRefusesWhatIsNotARegularFile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		fifo:                         "a named pipe (FIFO)",
		"/dev/zero":                  "a character device",
		dir:                          "a directory",
		filepath.Join(dir, "absent"): "no such file",
	} {
		_, err := flagval.ReadFile("kafka-tls-ca", path) // must not block on the FIFO
		if err == nil || !strings.HasPrefix(err.Error(), "kafka-tls-ca: ") || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", path, err, want)
		}
	}
	ok := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ok, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := flagval.ReadFile("kafka-tls-ca", ok); err != nil || string(b) != "x" {
		t.Errorf("%q %v", b, err)
	}
}

func TestOutputFile(t *testing.T) {
	dir := t.TempDir()
	if err := flagval.OutputFile("cpu-profile", filepath.Join(dir, "cpu.pprof")); err != nil {
		t.Error(err)
	}
	for _, bad := range []string{filepath.Join(dir, "nope", "cpu.pprof"), dir} {
		if err := flagval.OutputFile("cpu-profile", bad); err == nil || !strings.HasPrefix(err.Error(), "cpu-profile: ") {
			t.Errorf("%s: %v", bad, err)
		}
	}
}
