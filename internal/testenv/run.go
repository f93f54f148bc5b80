package testenv

import (
	"context"
	"errors"
	"os/exec"
	"testing"
	"time"
)

// RunBinary runs a built binary with only PATH and env in its
// environment (so no SEATLINE_* of the caller leaks in) and returns its
// combined output and exit code; it fails the test if it cannot start or
// runs over a minute.
func RunBinary(t testing.TB, bin string, env []string, args ...string) (string, int) {
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
