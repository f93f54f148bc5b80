package cli

import (
	"errors"
	"flag"
	"fmt"
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/seatline/seatline/internal/timeline"
	"github.com/seatline/seatline/pkg/ghclient"
)

// One mapping for every binary: each class of error, however wrapped, and
// the order that decides when a run ends with several.
func TestExitCode(t *testing.T) {
	chDown := &timeline.UnavailableError{Addr: "127.0.0.1:9000", Err: errors.New("connection refused")}
	chRefused := fmt.Errorf("ClickHouse at x: %w", &clickhouse.Exception{Code: 241, Message: "Memory limit exceeded"})
	gh401 := &ghclient.APIError{Method: "GET", Path: "/orgs/a/copilot/billing/seats", Status: 401, Message: "Bad credentials"}
	gh403 := &ghclient.APIError{Method: "GET", Path: "/orgs/a/copilot/billing/seats", Status: 403, Message: "Resource not accessible by personal access token"}
	gh502 := &ghclient.APIError{Method: "GET", Path: "/orgs/a/copilot/billing/seats", Status: 502}
	ghLimited := &ghclient.RateLimitedError{Secondary: true}
	gh404 := &ghclient.APIError{Method: "GET", Path: "/orgs/nope/copilot/billing/seats", Status: 404}
	wrap := func(err error) error {
		return fmt.Errorf("the pass did not complete: %w", errors.Join(fmt.Errorf("step: %w", err)))
	}
	for _, tc := range []struct {
		err  error
		want int
	}{
		{nil, ExitOK},
		{flag.ErrHelp, ExitOK},
		{&ConfigError{Err: errors.New("github-token: required")}, ExitConfig},
		{chDown, ExitUnavailable},
		{wrap(chRefused), ExitUnavailable},
		{wrap(gh401), ExitGitHubRefused},
		{wrap(gh403), ExitGitHubRefused},
		{wrap(gh502), ExitUnavailable},
		{wrap(ghLimited), ExitUnavailable},
		{wrap(gh404), ExitFailed},
		{errors.New("anything else"), ExitFailed},
		// Several causes: configuration, then refused credentials, then unavailable.
		{errors.Join(gh502, chDown), ExitUnavailable},
		{errors.Join(chDown, gh403), ExitGitHubRefused},
		{errors.Join(gh502, &ConfigError{Err: errors.New("x")}), ExitConfig},
	} {
		if got := ExitCode(tc.err); got != tc.want {
			t.Errorf("ExitCode(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}
