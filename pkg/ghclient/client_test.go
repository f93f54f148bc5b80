package ghclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seatline/seatline/internal/ghsim"
)

func TestValidate(t *testing.T) {
	_, pemKey := testKey(t)
	cases := []struct {
		name  string
		cfg   Config
		field string
	}{
		{"nothing", Config{}, "ghclient: Config.Token:"},
		{"both", Config{Token: "x1234", AppID: 1, InstallationID: 2, PrivateKeyPEM: pemKey}, "ghclient: Config.Token:"},
		{"app no id", Config{InstallationID: 2, PrivateKeyPEM: pemKey}, "ghclient: Config.AppID:"},
		{"app no inst", Config{AppID: 1, PrivateKeyPEM: pemKey}, "ghclient: Config.InstallationID:"},
		{"app no key", Config{AppID: 1, InstallationID: 2}, "ghclient: Config.PrivateKeyPEM:"},
		{"app bad key", Config{AppID: 1, InstallationID: 2, PrivateKeyPEM: []byte("-----BEGIN NOPE-----\nc2VjcmV0a2V5bWF0ZXJpYWw=\n-----END NOPE-----\n")}, "ghclient: Config.PrivateKeyPEM:"},
		{"bad url", Config{BaseURL: "ftp://x", Token: "tok1234"}, "ghclient: Config.BaseURL:"},
		{"url creds", Config{BaseURL: "https://u:p@127.0.0.1/", Token: "tok1234"}, "ghclient: Config.BaseURL:"},
		{"token ws", Config{Token: "tok 1234"}, "ghclient: Config.Token:"},
		{"neg timeout", Config{Token: "tok1234", Timeout: -1}, "ghclient: Config.Timeout:"},
		{"neg retries", Config{Token: "tok1234", MaxRetries: -2}, "ghclient: Config.MaxRetries:"},
		{"neg reserve", Config{Token: "tok1234", Reserve: -1}, "ghclient: Config.Reserve:"},
		{"neg wait", Config{Token: "tok1234", MaxWait: -1}, "ghclient: Config.MaxWait:"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if err == nil || !strings.HasPrefix(err.Error(), tc.field) {
				t.Fatalf("err = %v, want prefix %q", err, tc.field)
			}
			if strings.Contains(err.Error(), "c2VjcmV0") || strings.Contains(err.Error(), "tok 1234") {
				t.Fatalf("secret in error: %v", err)
			}
		})
	}
	c := Config{Token: "tok1234", BaseURL: "https://ghes.example.com/api/v3"}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.BaseURL != "https://ghes.example.com/api/v3/" || c.Timeout != DefaultTimeout || c.MaxRetries != DefaultMaxRetries || c.UserAgent == "" {
		t.Fatalf("defaults not filled: %+v", c)
	}
	d := Config{Token: "tok1234", MaxRetries: -1}
	if err := d.Validate(); err != nil || d.Validate() != nil || d.MaxRetries != -1 {
		t.Fatalf("MaxRetries -1 must survive repeated Validate: %v %d", err, d.MaxRetries)
	}
	a := Config{AppID: 1, InstallationID: 2, PrivateKeyPEM: pemKey}
	if err := a.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestHeadersOnEveryRequest(t *testing.T) {
	s := startSim(t, ghsim.Options{})
	seatOrg(t, s, "acme", 3)
	c := simClient(t, s, func(c *Config) { c.UserAgent = "seatline-test/1" }, nil)
	ctx := context.Background()
	if _, err := c.UserSeat(ctx, "acme", "user0001"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.OrgSeats(ctx, "acme", func(Seat) error { return nil }); err != nil {
		t.Fatal(err)
	}
	_, _ = c.UserSeat(ctx, "acme", "nobody")
	for _, r := range s.RequestLog() {
		if r.APIVersion != "2022-11-28" || r.UserAgent != "seatline-test/1" || r.Authorization != "Bearer "+simToken {
			t.Fatalf("request %s: version=%q ua=%q auth ok=%v", r.Path, r.APIVersion, r.UserAgent, r.Authorization == "Bearer "+simToken)
		}
	}
	if c.Requests() != 3 || apiCount(s) != 3 {
		t.Fatalf("requests: client %d server %d", c.Requests(), apiCount(s))
	}
}

func TestOrgSeatsPagination(t *testing.T) {
	s := startSim(t, ghsim.Options{})
	usedOrg(t, s, "acme", 250)
	c := simClient(t, s, nil, nil)
	var got []Seat
	total, err := c.OrgSeats(context.Background(), "acme", func(st Seat) error { got = append(got, st); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if total != 250 || len(got) != 250 {
		t.Fatalf("total %d, got %d", total, len(got))
	}
	reqs := s.RequestLog()
	if len(reqs) != 3 {
		t.Fatalf("want 3 page requests, got %d", len(reqs))
	}
	for i, r := range reqs {
		if want := fmt.Sprintf("per_page=100&page=%d", i+1); r.RawQuery != want {
			t.Fatalf("request %d query %q, want %q", i, r.RawQuery, want)
		}
	}
	seen := map[string]bool{}
	for _, st := range got {
		if st.Org != "acme" || st.AssigneeType != "User" || st.PlanType != "business" || st.LastActivityEditor != "vscode" ||
			st.CreatedAt.IsZero() || st.LastActivityAt == nil || st.LastAuthenticatedAt == nil || st.UserID == 0 {
			t.Fatalf("bad seat %+v", st)
		}
		if seen[st.Login] {
			t.Fatalf("duplicate %s", st.Login)
		}
		seen[st.Login] = true
	}
	// fn's error stops the walk
	stop := errors.New("stop")
	n := 0
	_, err = c.OrgSeats(context.Background(), "acme", func(Seat) error {
		if n++; n == 150 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || apiCount(s) != 5 {
		t.Fatalf("err %v after %d requests", err, apiCount(s))
	}
}

func TestOddSeatsNeverFailAPage(t *testing.T) {
	s := startSim(t, ghsim.Options{})
	seatOrg(t, s, "acme", 2)
	for _, raw := range []string{
		`{"assignee":null,"created_at":"2024-01-10T00:00:00Z","pending_cancellation_date":null,"last_activity_at":null}`,
		`{"assignee":{"login":"robo","id":7,"type":"Bot"},"created_at":"2024-01-10T00:00:00Z","plan_type":null}`,
		`{"assignee":{"login":"ent1","id":8,"type":"User"},"assigning_team":{"id":42,"name":"Justice League","slug":"justice-league","url":"https://api.github.com/enterprises/dc/teams/justice-league","sync_to_organizations":"disabled","group_id":null},"pending_cancellation_date":"2024-07-31","created_at":"2024-01-10T00:00:00Z","last_activity_at":null,"last_authenticated_at":null,"updated_at":null}`,
		`{"assignee":{"login":"org1","id":9,"type":"User"},"assigning_team":{"id":43,"name":"Eng","slug":"eng","url":"https://api.github.com/orgs/acme/teams/eng","privacy":"closed","permission":"pull"},"created_at":"not a date","last_activity_at":12345}`,
		`"just a string"`,
		`{"assignee":{"login":"odd","id":"10"},"assigning_team":"eng","created_at":1704844800,"unknown_field":{"x":1}}`,
		`{"assignee":{"slug":"team-a","name":"Team A","type":"Team","id":11},"created_at":"2024-01-10T00:00:00Z"}`,
	} {
		s.AddRawSeat("acme", json.RawMessage(raw))
	}
	c := simClient(t, s, nil, nil)
	bylogin := map[string]Seat{}
	var nullAssignee int
	total, err := c.OrgSeats(context.Background(), "acme", func(st Seat) error {
		if st.Login == "" {
			nullAssignee++
		}
		bylogin[st.Login] = st
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if total != 9 || len(bylogin) != 8 || nullAssignee != 1 {
		t.Fatalf("total %d, decoded %d (null %d): %v", total, len(bylogin), nullAssignee, bylogin)
	}
	if st := bylogin[""]; st.AssigneeType != "" || st.LastActivityAt != nil || st.CreatedAt.IsZero() {
		t.Fatalf("null assignee seat %+v", st)
	}
	if st := bylogin["robo"]; st.AssigneeType != "Bot" || st.PlanType != "" {
		t.Fatalf("unknown type seat %+v", st)
	}
	st := bylogin["ent1"]
	if st.AssigningTeam == nil || !st.AssigningTeam.Enterprise || st.AssigningTeam.Slug != "justice-league" || st.AssigningTeam.ID != 42 ||
		st.PendingCancellation == nil || st.PendingCancellation.Format(time.DateOnly) != "2024-07-31" || st.LastAuthenticatedAt != nil || st.UpdatedAt != nil {
		t.Fatalf("enterprise team seat %+v team %+v", st, st.AssigningTeam)
	}
	if st := bylogin["org1"]; st.AssigningTeam == nil || st.AssigningTeam.Enterprise || st.AssigningTeam.Slug != "eng" || !st.CreatedAt.IsZero() || st.LastActivityAt == nil {
		t.Fatalf("org team seat %+v", st)
	}
	if st := bylogin["odd"]; st.UserID != 10 || st.AssigneeType != "User" || st.AssigningTeam != nil || st.CreatedAt.Unix() != 1704844800 {
		t.Fatalf("odd seat %+v", st)
	}
	if st := bylogin["team-a"]; st.AssigneeType != "Team" {
		t.Fatalf("team assignee %+v", st)
	}
}

func TestUserSeatNoSeatAndPolicy(t *testing.T) {
	s := startSim(t, ghsim.Options{})
	seatOrg(t, s, "acme", 5)
	if err := s.Invite("acme", "invited"); err != nil {
		t.Fatal(err)
	}
	c := simClient(t, s, nil, nil)
	ctx := context.Background()
	st, err := c.UserSeat(ctx, "acme", "USER0003")
	if err != nil || st.Login != "user0003" || st.Org != "acme" || st.PendingCancellation != nil {
		t.Fatalf("seat %+v err %v", st, err)
	}
	_, err = c.UserSeat(ctx, "acme", "ghost")
	if !errors.Is(err, ErrNoSeat) || Retryable(err) {
		t.Fatalf("404: %v", err)
	}
	_, err = c.UserSeat(ctx, "acme", "invited")
	var pe *PolicyError
	if !errors.As(err, &pe) || pe.Message != "The user has a pending invitation to this organization." || pe.Org != "acme" || pe.Login != "invited" || Retryable(err) {
		t.Fatalf("422: %v", err)
	}
	if apiCount(s) != 3 {
		t.Fatalf("no retries expected for 4xx: %d requests", apiCount(s))
	}
}

func TestEnterpriseSeatsAndBilling(t *testing.T) {
	s := startSim(t, ghsim.Options{Enterprise: "dc"})
	s.AddRawSeat("dc", json.RawMessage(`{"assignee":{"login":"clark","id":1,"type":"User"},"organization":{"login":"daily-planet","id":5},"assigning_team":{"id":1,"slug":"justice-league","name":"Justice League","html_url":"https://github.com/enterprises/dc/teams/justice-league"},"plan_type":"enterprise","created_at":"2024-01-10T00:00:00Z"}`))
	s.AddRawSeat("dc", json.RawMessage(`{"assignee":{"login":"clark","id":1,"type":"User"},"organization":{"login":"kent-farm","id":6},"assigning_team":null,"plan_type":"business","created_at":"2024-01-10T00:00:00Z"}`))
	s.AddRawSeat("dc", json.RawMessage(`{"assignee":{"login":"bruce","id":2,"type":"User"},"organization":null,"created_at":"2024-01-10T00:00:00Z"}`))
	c := simClient(t, s, nil, nil)
	var got []Seat
	total, err := c.EnterpriseSeats(context.Background(), "dc", func(st Seat) error { got = append(got, st); return nil })
	if err != nil || total != 3 || len(got) != 3 {
		t.Fatalf("total %d got %d err %v", total, len(got), err)
	}
	if got[0].Org != "daily-planet" || !got[0].AssigningTeam.Enterprise || got[1].Org != "kent-farm" || got[2].Org != "" {
		t.Fatalf("orgs: %+v", got)
	}
	// acme: 12 seats, one of them unassigned (pending cancellation)
	users := seatOrg(t, s, "acme", 12)
	if err := s.Unassign("acme", "", users[3]); err != nil {
		t.Fatal(err)
	}
	b, err := c.OrgBilling(context.Background(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	if b.SeatManagementSetting != "assign_selected" || b.PlanType != "business" || b.Seats.Total != 12 || b.Seats.PendingCancellation != 1 || b.IDEChat != "enabled" {
		t.Fatalf("billing %+v", b)
	}
}

// TestRetryAfter429: after a 429 with Retry-After, no request reaches the
// server before it expires (server-side timestamps), from any goroutine.
func TestRetryAfter429(t *testing.T) {
	s := startSim(t, ghsim.Options{})
	seatOrg(t, s, "acme", 5)
	s.Fail(ghsim.Failure{Times: 1, Status: http.StatusTooManyRequests, Message: "You have exceeded a secondary rate limit", RetryAfter: time.Second})
	c := simClient(t, s, func(c *Config) { c.MaxWait = 5 * time.Second }, nil)
	ctx := context.Background()
	if _, err := c.UserSeat(ctx, "acme", "user0001"); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.UserSeat(ctx, "acme", fmt.Sprintf("user%04d", i%5)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	reqs := s.RequestLog()
	if len(reqs) != 10 {
		t.Fatalf("want 10 requests, got %d", len(reqs))
	}
	pauseEnd := reqs[0].At.Add(time.Second)
	for _, r := range reqs[1:] {
		if r.At.Before(pauseEnd) {
			t.Fatalf("request at %v before Retry-After expired at %v", r.At, pauseEnd)
		}
	}

	// Fail fast when MaxWait is 0: no request while the pause lasts.
	s2 := startSim(t, ghsim.Options{})
	seatOrg(t, s2, "acme", 5)
	s2.Fail(ghsim.Failure{Times: 1, Status: http.StatusTooManyRequests, Message: "slow down", RetryAfter: 2 * time.Second})
	c2 := simClient(t, s2, nil, nil)
	_, err := c2.UserSeat(ctx, "acme", "user0001")
	var rl *RateLimitedError
	if !errors.As(err, &rl) || !rl.Secondary || !Retryable(err) || time.Until(rl.Until) < time.Second {
		t.Fatalf("want secondary RateLimitedError, got %v", err)
	}
	if !strings.Contains(err.Error(), "retry after") || !strings.Contains(err.Error(), "secondary limit") {
		t.Fatalf("message %q", err)
	}
	start := time.Now()
	_, err = c2.UserSeat(ctx, "acme", "user0002")
	if !errors.As(err, &rl) || time.Since(start) > 100*time.Millisecond || apiCount(s2) != 1 {
		t.Fatalf("second call: %v after %v, %d requests", err, time.Since(start), apiCount(s2))
	}
	if b := c2.Budget(); b.PausedUntil.IsZero() || !b.Secondary {
		t.Fatalf("budget %+v", b)
	}
}

// TestSecondary403: 403 with the secondary-limit documentation URL and
// Retry-After maps to a secondary RateLimitedError and pauses all requests;
// go-github's own memory and ours agree.
func TestSecondary403(t *testing.T) {
	s := startSim(t, ghsim.Options{})
	seatOrg(t, s, "acme", 5)
	s.Fail(ghsim.Failure{Times: 1, Status: http.StatusForbidden, RetryAfter: time.Second,
		Message:          "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
		DocumentationURL: "https://docs.github.com/free-pro-team@latest/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"})
	c := simClient(t, s, nil, nil)
	ctx := context.Background()
	_, err := c.UserSeat(ctx, "acme", "user0001")
	var rl *RateLimitedError
	if !errors.As(err, &rl) || !rl.Secondary {
		t.Fatalf("want secondary limit, got %v", err)
	}
	for range 5 {
		if _, err := c.UserSeat(ctx, "acme", "user0001"); !errors.As(err, &rl) {
			t.Fatalf("during pause: %v", err)
		}
	}
	if apiCount(s) != 1 {
		t.Fatalf("requests during pause: %d", apiCount(s)-1)
	}
	time.Sleep(time.Until(rl.Until) + 10*time.Millisecond)
	if _, err := c.UserSeat(ctx, "acme", "user0001"); err != nil {
		t.Fatalf("after pause: %v", err)
	}
	reqs := s.RequestLog()
	if reqs[1].At.Sub(reqs[0].At) < time.Second {
		t.Fatalf("second request %v after the first", reqs[1].At.Sub(reqs[0].At))
	}
	// A 403 that is a permission error is neither a limit nor retried.
	s.Fail(ghsim.Failure{Times: 1, Status: http.StatusForbidden, Message: "Resource not accessible by integration"})
	before := apiCount(s)
	_, err = c.UserSeat(ctx, "acme", "user0001")
	var api *APIError
	if !errors.As(err, &api) || api.Status != 403 || Retryable(err) || apiCount(s) != before+1 {
		t.Fatalf("permission 403: %v (%d requests)", err, apiCount(s)-before)
	}
}

func TestRetry5xxThenSuccess(t *testing.T) {
	s := startSim(t, ghsim.Options{})
	seatOrg(t, s, "acme", 5)
	s.Fail(ghsim.Failure{Times: 1, Status: 502, Message: "Server Error"},
		ghsim.Failure{Times: 1, Status: 503, Message: "Unavailable"},
		ghsim.Failure{Times: 1, Reset: true}) // connection reset
	c := simClient(t, s, nil, nil)
	st, err := c.UserSeat(context.Background(), "acme", "user0002")
	if err != nil || st.Login != "user0002" || apiCount(s) != 4 {
		t.Fatalf("seat %+v err %v after %d requests", st, err, apiCount(s))
	}

	// retries run out: the last error, retryable
	s.Fail(ghsim.Failure{Status: 500, Message: "boom"})
	before := apiCount(s)
	_, err = c.UserSeat(context.Background(), "acme", "user0002")
	var api *APIError
	if !errors.As(err, &api) || api.Status != 500 || !Retryable(err) || apiCount(s)-before != 1+DefaultMaxRetries {
		t.Fatalf("err %v after %d requests", err, apiCount(s)-before)
	}
	s.ClearFailures()

	// timeouts are retried too
	slowN := apiCount(s) + 1
	s.Fail(ghsim.Failure{Times: 1, Delay: 300 * time.Millisecond})
	c2 := simClient(t, s, func(c *Config) { c.Timeout = 100 * time.Millisecond }, nil)
	if _, err := c2.UserSeat(context.Background(), "acme", "user0002"); err != nil || apiCount(s) != slowN+1 {
		t.Fatalf("after a timeout: %v, %d requests", err, apiCount(s)-slowN+1)
	}

	// no retries with MaxRetries -1
	s.Fail(ghsim.Failure{Status: 500, Message: "boom"})
	c3 := simClient(t, s, func(c *Config) { c.MaxRetries = -1 }, nil)
	before = apiCount(s)
	if _, err := c3.UserSeat(context.Background(), "acme", "user0002"); err == nil || apiCount(s)-before != 1 {
		t.Fatalf("MaxRetries -1: %v, %d requests", err, apiCount(s)-before)
	}
	s.ClearFailures()
}

// TestPrimaryNearlySpent: with the budget at the reserve, MaxWait > 0 waits
// for the reset and then succeeds; MaxWait = 0 fails fast without sending.
func TestPrimaryNearlySpent(t *testing.T) {
	s := startSim(t, ghsim.Options{})
	seatOrg(t, s, "acme", 5)
	s.SetRateLimit(simToken, 30, 18, time.Now().Add(2*time.Second)) // remaining 12, reserve 10
	c := simClient(t, s, func(c *Config) { c.MaxWait = 10 * time.Second }, nil)
	ctx := context.Background()
	for range 2 {
		if _, err := c.UserSeat(ctx, "acme", "user0001"); err != nil {
			t.Fatal(err)
		}
	}
	if b := c.Budget(); b.Remaining != 10 || b.Limit != 30 || b.Reserve != MinReserve || !b.Known || b.Spendable(time.Now()) != 0 {
		t.Fatalf("budget %+v", b)
	}
	_, _, reset := s.RateLimit(simToken)

	// fail fast
	fast := simClient(t, s, nil, nil) // same token and URL: the same budget
	start := time.Now()
	_, err := fast.UserSeat(ctx, "acme", "user0001")
	var rl *RateLimitedError
	if !errors.As(err, &rl) || rl.Secondary || time.Since(start) > 50*time.Millisecond || !rl.Until.After(reset.Add(-time.Millisecond)) {
		t.Fatalf("fail fast: %v after %v", err, time.Since(start))
	}
	if apiCount(s) != 2 {
		t.Fatalf("a request went out at the reserve: %d", apiCount(s))
	}
	// and a caller deadline before the reset fails fast too
	dctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	_, err = c.UserSeat(dctx, "acme", "user0001")
	cancel()
	if !errors.As(err, &rl) {
		t.Fatalf("deadline before reset: %v", err)
	}

	// wait for the reset
	if _, err := c.UserSeat(ctx, "acme", "user0002"); err != nil {
		t.Fatal(err)
	}
	reqs := s.RequestLog()
	if len(reqs) != 3 || reqs[2].At.Before(reset) || reqs[2].RemainingBefore != 30 {
		t.Fatalf("third request at %v (reset %v), remaining before %d", reqs[2].At, reset, reqs[2].RemainingBefore)
	}
	if s.LimitViolations() != 0 {
		t.Fatalf("violations %d", s.LimitViolations())
	}
}

// TestPrimaryExhaustedByServer: a 403 with X-RateLimit-Remaining: 0 (spent
// by someone else using the same token) is a primary RateLimitedError, and
// neither our accounting nor go-github's sends anything before the reset.
func TestPrimaryExhaustedByServer(t *testing.T) {
	s := startSim(t, ghsim.Options{})
	seatOrg(t, s, "acme", 5)
	s.SetRateLimit(simToken, 100, 0, time.Now().Add(3*time.Second))
	c := simClient(t, s, nil, nil)
	ctx := context.Background()
	if _, err := c.UserSeat(ctx, "acme", "user0001"); err != nil {
		t.Fatal(err)
	}
	_, _, reset := s.RateLimit(simToken)
	s.SetRateLimit(simToken, 100, 100, reset) // another process spent it
	_, err := c.UserSeat(ctx, "acme", "user0001")
	var rl *RateLimitedError
	if !errors.As(err, &rl) || rl.Secondary {
		t.Fatalf("want primary limit: %v", err)
	}
	for range 3 {
		if _, err := c.UserSeat(ctx, "acme", "user0001"); !errors.As(err, &rl) {
			t.Fatal(err)
		}
	}
	// one request met the spent window (refused 403), none after it said so
	if apiCount(s) != 2 || s.Statuses()[http.StatusForbidden] != 1 || s.LimitViolations() != 0 {
		t.Fatalf("requests %d refused %d violations %d", apiCount(s), s.Statuses()[http.StatusForbidden], s.LimitViolations())
	}
	// go-github's memory alone also refuses (it saw remaining 0)
	req, _ := c.gh.NewRequest(ctx, "GET", "orgs/acme/members/user0001/copilot", nil)
	if _, err := c.gh.Do(req, nil); err == nil || apiCount(s) != 2 {
		t.Fatalf("go-github sent into a spent limit: %v", err)
	}
}

// TestConcurrentNeverOverspend: many goroutines on one Client stop at the
// reserve together; nothing reaches the server past it.
func TestConcurrentNeverOverspend(t *testing.T) {
	s := startSim(t, ghsim.Options{})
	seatOrg(t, s, "acme", 50)
	s.SetRateLimit(simToken, 120, 0, time.Now().Add(time.Hour))
	s.SetFaults(ghsim.Faults{Latency: 3 * time.Millisecond})
	c := simClient(t, s, func(c *Config) { c.Reserve = 15 }, nil)
	c2 := simClient(t, s, func(c *Config) { c.Reserve = 15 }, nil) // same credential, same budget
	var wg sync.WaitGroup
	var ok, limited atomic.Int64
	for g := range 24 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := c
			if g%2 == 1 {
				cl = c2
			}
			for i := 0; ; i++ {
				_, err := cl.UserSeat(context.Background(), "acme", fmt.Sprintf("user%04d", (g+i)%50))
				var rl *RateLimitedError
				if errors.As(err, &rl) {
					limited.Add(1)
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	if s.LimitViolations() != 0 || apiCount(s) != 120-15 || ok.Load() != 105 || limited.Load() != 24 {
		t.Fatalf("requests %d (want 105) ok %d limited %d violations %d", apiCount(s), ok.Load(), limited.Load(), s.LimitViolations())
	}
	for _, r := range s.RequestLog() {
		if r.RemainingBefore <= 15 {
			t.Fatalf("request sent with %d remaining", r.RemainingBefore)
		}
	}
}

func TestBudgetAccounting(t *testing.T) {
	b := newBudget()
	now := time.Now()
	reset := time.Unix(now.Add(time.Hour).Unix(), 0)
	mk := func(status, rem int, reset time.Time) *http.Response {
		h := http.Header{}
		h.Set("X-RateLimit-Limit", "5000")
		h.Set("X-RateLimit-Remaining", fmt.Sprint(rem))
		h.Set("X-RateLimit-Reset", fmt.Sprint(reset.Unix()))
		return &http.Response{StatusCode: status, Header: h}
	}
	b.observe(mk(200, 4000, reset), now)
	b.observe(mk(200, 4100, reset), now) // out of order: keep the lowest
	if b.remaining != 4000 || !b.known {
		t.Fatalf("remaining %d", b.remaining)
	}
	b.observe(mk(200, 4990, reset.Add(time.Hour)), now) // a new window
	if b.remaining != 4990 || !b.reset.Equal(reset.Add(time.Hour)) {
		t.Fatalf("new window: %d %v", b.remaining, b.reset)
	}
	b.observe(mk(200, 10, reset), now) // a late answer from the old window
	if b.remaining != 4990 {
		t.Fatalf("old window applied: %d", b.remaining)
	}
	if r := b.reserveFor(0); r != 50 {
		t.Fatalf("default reserve for 5000: %d", r)
	}
	b.observe(nil, now) // sent, no answer: counted
	if b.remaining != 4989 {
		t.Fatalf("lost request not counted: %d", b.remaining)
	}
	// rollover: after the reset one probe at a time
	b2 := newBudget()
	b2.resetSlack = 0
	b2.observe(mk(200, 0, time.Now().Add(-time.Second)), time.Now().Add(-2*time.Second))
	ctx := context.Background()
	if probe, err := b2.acquire(ctx, 0, 0, 0); err != nil || !probe {
		t.Fatalf("probe after reset: %v %v", probe, err)
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	if _, err := b2.acquire(sctx, 0, 0, 0); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second request during the probe: %v", err)
	}
	cancel()
	b2.release(mk(200, 4999, time.Now().Add(time.Hour)), true, false, time.Now())
	if _, err := b2.acquire(ctx, 0, 0, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := b2.acquire(ctx, 0, 0, 0); err != nil {
		t.Fatal("known budget should allow concurrency")
	}
	// no rate-limit headers at all: unlimited
	b3 := newBudget()
	b3.observe(&http.Response{StatusCode: 200, Header: http.Header{}}, time.Now())
	for range 5 {
		if _, err := b3.acquire(ctx, 0, 0, 0); err != nil {
			t.Fatal(err)
		}
	}
	// Retry-After as an HTTP date
	b4 := newBudget()
	h := http.Header{}
	h.Set("Retry-After", time.Now().Add(3*time.Second).UTC().Format(http.TimeFormat))
	b4.observe(&http.Response{StatusCode: 429, Header: h}, time.Now())
	if d := time.Until(b4.pauseUntil); d < time.Second || d > 4*time.Second || !b4.pauseSecondary {
		t.Fatalf("pause %v", d)
	}
}

// TestProbeBeforeFirstRequest: a fresh Client learns the budget from the
// free GET /rate_limit, so a limit spent by an earlier process is never hit.
func TestProbeBeforeFirstRequest(t *testing.T) {
	s := startSim(t, ghsim.Options{})
	seatOrg(t, s, "acme", 5)
	s.SetRateLimit(simToken, 100, 95, time.Now().Add(time.Hour)) // someone else left 5, below the reserve
	c := simClient(t, s, nil, nil)
	_, err := c.UserSeat(context.Background(), "acme", "user0001")
	var rl *RateLimitedError
	if !errors.As(err, &rl) || rl.Secondary || apiCount(s) != 0 {
		t.Fatalf("want a primary limit without requests: %v, %d requests", err, apiCount(s))
	}
	if probes := s.Requests()[ghsim.EndpointRateLimit]; probes != 1 {
		t.Fatalf("probes %d", probes)
	}
	// without GET /rate_limit (404) the real request is the probe
	s2 := startSim(t, ghsim.Options{NoRateLimitEndpoint: true})
	seatOrg(t, s2, "acme", 5)
	c2 := simClient(t, s2, nil, nil)
	for range 3 {
		if _, err := c2.UserSeat(context.Background(), "acme", "user0001"); err != nil {
			t.Fatal(err)
		}
	}
	if probes := s2.Requests()[ghsim.EndpointRateLimit]; probes != 1 || apiCount(s2) != 3 {
		t.Fatalf("probes %d requests %d", probes, apiCount(s2))
	}
}

func TestMaxConcurrent(t *testing.T) {
	s := startSim(t, ghsim.Options{})
	seatOrg(t, s, "acme", 50)
	s.SetFaults(ghsim.Faults{Latency: 5 * time.Millisecond})
	c := simClient(t, s, func(c *Config) { c.MaxConcurrent = 3 }, nil)
	var wg sync.WaitGroup
	for g := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 5 {
				if _, err := c.UserSeat(context.Background(), "acme", fmt.Sprintf("user%04d", g+i)); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if peak := s.PeakInFlight(); peak > 3 || apiCount(s) != 100 {
		t.Fatalf("peak %d requests %d", peak, apiCount(s))
	}
}
