package testenv

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestFindClickHouseEnv(t *testing.T) {
	t.Setenv("CLICKHOUSE_SERVER", filepath.Join(t.TempDir(), "no-such-clickhouse-server"))
	_, err := StartClickHouse(context.Background(), ClickHouseOptions{})
	if !errors.Is(err, ErrNoClickHouse) {
		t.Fatalf("err = %v, want ErrNoClickHouse", err)
	}
	if !strings.Contains(err.Error(), "apt-get install -y clickhouse-server clickhouse-client") {
		t.Errorf("error lacks the install hint: %v", err)
	}
}

// TestSingleBinary runs the server through a stand-in for the single
// "clickhouse" binary of newer packages, which wants "server" first.
func TestSingleBinary(t *testing.T) {
	realBin, _, err := findClickHouse()
	if err != nil {
		t.Fatalf("%v (make test installs it)", err)
	}
	dir := t.TempDir()
	fake := filepath.Join(dir, "clickhouse")
	script := "#!/bin/sh\n[ \"$1\" = server ] || { echo \"want server, got $1\" >&2; exit 64; }\nshift\nexec " + realBin + " \"$@\"\n"
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CLICKHOUSE_SERVER", fake)
	bin, args, err := findClickHouse()
	if err != nil || bin != fake || len(args) != 1 || args[0] != "server" {
		t.Fatalf("findClickHouse() = %q, %q, %v", bin, args, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ch, err := StartClickHouse(ctx, ClickHouseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	if _, err := ch.Query(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
}
