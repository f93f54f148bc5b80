package ghclient

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
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
	f := newFakeGH(t)
	f.addOrg("acme", 3)
	c := newTestClient(t, f, func(c *Config) { c.UserAgent = "seatline-test/1" }, nil)
	ctx := context.Background()
	if _, err := c.UserSeat(ctx, "acme", "user0001"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.OrgSeats(ctx, "acme", func(Seat) error { return nil }); err != nil {
		t.Fatal(err)
	}
	_, _ = c.UserSeat(ctx, "acme", "nobody")
	for _, r := range f.requests() {
		if r.version != "2022-11-28" || r.ua != "seatline-test/1" || r.auth != "Bearer "+f.pat {
			t.Fatalf("request %s: version=%q ua=%q auth ok=%v", r.path, r.version, r.ua, r.auth == "Bearer "+f.pat)
		}
	}
	if c.Requests() != 3 || f.count() != 3 {
		t.Fatalf("requests: client %d server %d", c.Requests(), f.count())
	}
}

func TestOrgSeatsPagination(t *testing.T) {
	f := newFakeGH(t)
	f.addOrg("acme", 250)
	c := newTestClient(t, f, nil, nil)
	var got []Seat
	total, err := c.OrgSeats(context.Background(), "acme", func(s Seat) error { got = append(got, s); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if total != 250 || len(got) != 250 {
		t.Fatalf("total %d, got %d", total, len(got))
	}
	reqs := f.requests()
	if len(reqs) != 3 {
		t.Fatalf("want 3 page requests, got %d", len(reqs))
	}
	for i, r := range reqs {
		if want := fmt.Sprintf("per_page=100&page=%d", i+1); r.raw != want {
			t.Fatalf("request %d query %q, want %q", i, r.raw, want)
		}
	}
	seen := map[string]bool{}
	for _, s := range got {
		if s.Org != "acme" || s.AssigneeType != "User" || s.PlanType != "business" || s.LastActivityEditor != "vscode" ||
			s.CreatedAt.IsZero() || s.LastActivityAt == nil || s.LastAuthenticatedAt == nil || s.UserID == 0 {
			t.Fatalf("bad seat %+v", s)
		}
		if seen[s.Login] {
			t.Fatalf("duplicate %s", s.Login)
		}
		seen[s.Login] = true
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
	if !errors.Is(err, stop) || f.count() != 5 {
		t.Fatalf("err %v after %d requests", err, f.count())
	}
}

func TestOddSeatsNeverFailAPage(t *testing.T) {
	f := newFakeGH(t)
	f.addOrg("acme", 2)
	f.addRawSeat("acme", `{"assignee":null,"created_at":"2024-01-10T00:00:00Z","pending_cancellation_date":null,"last_activity_at":null}`)
	f.addRawSeat("acme", `{"assignee":{"login":"robo","id":7,"type":"Bot"},"created_at":"2024-01-10T00:00:00Z","plan_type":null}`)
	f.addRawSeat("acme", `{"assignee":{"login":"ent1","id":8,"type":"User"},"assigning_team":{"id":42,"name":"Justice League","slug":"justice-league","url":"https://api.github.com/enterprises/dc/teams/justice-league","sync_to_organizations":"disabled","group_id":null},"pending_cancellation_date":"2024-07-31","created_at":"2024-01-10T00:00:00Z","last_activity_at":null,"last_authenticated_at":null,"updated_at":null}`)
	f.addRawSeat("acme", `{"assignee":{"login":"org1","id":9,"type":"User"},"assigning_team":{"id":43,"name":"Eng","slug":"eng","url":"https://api.github.com/orgs/acme/teams/eng","privacy":"closed","permission":"pull"},"created_at":"not a date","last_activity_at":12345}`)
	f.addRawSeat("acme", `"just a string"`)
	f.addRawSeat("acme", `{"assignee":{"login":"odd","id":"10"},"assigning_team":"eng","created_at":1704844800,"unknown_field":{"x":1}}`)
	f.addRawSeat("acme", `{"assignee":{"slug":"team-a","name":"Team A","type":"Team","id":11},"created_at":"2024-01-10T00:00:00Z"}`)
	c := newTestClient(t, f, nil, nil)
	bylogin := map[string]Seat{}
	var nullAssignee int
	total, err := c.OrgSeats(context.Background(), "acme", func(s Seat) error {
		if s.Login == "" {
			nullAssignee++
		}
		bylogin[s.Login] = s
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if total != 9 || len(bylogin) != 8 || nullAssignee != 1 {
		t.Fatalf("total %d, decoded %d (null %d): %v", total, len(bylogin), nullAssignee, bylogin)
	}
	if s := bylogin[""]; s.AssigneeType != "" || s.LastActivityAt != nil || s.CreatedAt.IsZero() {
		t.Fatalf("null assignee seat %+v", s)
	}
	if s := bylogin["robo"]; s.AssigneeType != "Bot" || s.PlanType != "" {
		t.Fatalf("unknown type seat %+v", s)
	}
	s := bylogin["ent1"]
	if s.AssigningTeam == nil || !s.AssigningTeam.Enterprise || s.AssigningTeam.Slug != "justice-league" || s.AssigningTeam.ID != 42 ||
		s.PendingCancellation == nil || s.PendingCancellation.Format(time.DateOnly) != "2024-07-31" || s.LastAuthenticatedAt != nil || s.UpdatedAt != nil {
		t.Fatalf("enterprise team seat %+v team %+v", s, s.AssigningTeam)
	}
	if s := bylogin["org1"]; s.AssigningTeam == nil || s.AssigningTeam.Enterprise || s.AssigningTeam.Slug != "eng" || !s.CreatedAt.IsZero() || s.LastActivityAt == nil {
		t.Fatalf("org team seat %+v", s)
	}
	if s := bylogin["odd"]; s.UserID != 10 || s.AssigneeType != "User" || s.AssigningTeam != nil || s.CreatedAt.Unix() != 1704844800 {
		t.Fatalf("odd seat %+v", s)
	}
	if s := bylogin["team-a"]; s.AssigneeType != "Team" {
		t.Fatalf("team assignee %+v", s)
	}
}

func TestUserSeatNoSeatAndPolicy(t *testing.T) {
	f := newFakeGH(t)
	f.addOrg("acme", 5)
	f.setHook(func(w http.ResponseWriter, r *http.Request, n int) bool {
		if strings.Contains(r.URL.Path, "/members/invited/") {
			writeJSON(w, 422, map[string]string{"message": "User has a pending organization invitation"})
			return true
		}
		return false
	})
	c := newTestClient(t, f, nil, nil)
	ctx := context.Background()
	s, err := c.UserSeat(ctx, "acme", "USER0003")
	if err != nil || s.Login != "user0003" || s.Org != "acme" || s.PendingCancellation != nil {
		t.Fatalf("seat %+v err %v", s, err)
	}
	_, err = c.UserSeat(ctx, "acme", "ghost")
	if !errors.Is(err, ErrNoSeat) || Retryable(err) {
		t.Fatalf("404: %v", err)
	}
	_, err = c.UserSeat(ctx, "acme", "invited")
	var pe *PolicyError
	if !errors.As(err, &pe) || pe.Message != "User has a pending organization invitation" || pe.Org != "acme" || pe.Login != "invited" || Retryable(err) {
		t.Fatalf("422: %v", err)
	}
	if f.count() != 3 {
		t.Fatalf("no retries expected for 4xx: %d requests", f.count())
	}
}

func TestEnterpriseSeatsAndBilling(t *testing.T) {
	f := newFakeGH(t)
	f.addRawSeat("dc", `{"assignee":{"login":"clark","id":1,"type":"User"},"organization":{"login":"daily-planet","id":5},"assigning_team":{"id":1,"slug":"justice-league","name":"Justice League","html_url":"https://github.com/enterprises/dc/teams/justice-league"},"plan_type":"enterprise","created_at":"2024-01-10T00:00:00Z"}`)
	f.addRawSeat("dc", `{"assignee":{"login":"clark","id":1,"type":"User"},"organization":{"login":"kent-farm","id":6},"assigning_team":null,"plan_type":"business","created_at":"2024-01-10T00:00:00Z"}`)
	f.addRawSeat("dc", `{"assignee":{"login":"bruce","id":2,"type":"User"},"organization":null,"created_at":"2024-01-10T00:00:00Z"}`)
	c := newTestClient(t, f, nil, nil)
	var got []Seat
	total, err := c.EnterpriseSeats(context.Background(), "dc", func(s Seat) error { got = append(got, s); return nil })
	if err != nil || total != 3 || len(got) != 3 {
		t.Fatalf("total %d got %d err %v", total, len(got), err)
	}
	if got[0].Org != "daily-planet" || !got[0].AssigningTeam.Enterprise || got[1].Org != "kent-farm" || got[2].Org != "" {
		t.Fatalf("orgs: %+v", got)
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
	f := newFakeGH(t)
	f.addOrg("acme", 5)
	var first atomic.Int64
	f.setHook(func(w http.ResponseWriter, r *http.Request, n int) bool {
		if n == 1 {
			first.Store(time.Now().UnixNano())
			w.Header().Set("Retry-After", "1")
			writeJSON(w, http.StatusTooManyRequests, map[string]string{"message": "You have exceeded a secondary rate limit"})
			return true
		}
		return false
	})
	c := newTestClient(t, f, func(c *Config) { c.MaxWait = 5 * time.Second }, nil)
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
	reqs := f.requests()
	if len(reqs) != 10 {
		t.Fatalf("want 10 requests, got %d", len(reqs))
	}
	pauseEnd := time.Unix(0, first.Load()).Add(time.Second)
	for _, r := range reqs[1:] {
		if r.at.Before(pauseEnd) {
			t.Fatalf("request at %v before Retry-After expired at %v", r.at, pauseEnd)
		}
	}

	// Fail fast when MaxWait is 0: no request while the pause lasts.
	f2 := newFakeGH(t)
	f2.addOrg("acme", 5)
	f2.setHook(func(w http.ResponseWriter, r *http.Request, n int) bool {
		if n == 1 {
			w.Header().Set("Retry-After", "2")
			writeJSON(w, http.StatusTooManyRequests, map[string]string{"message": "slow down"})
			return true
		}
		return false
	})
	c2 := newTestClient(t, f2, nil, nil)
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
	if !errors.As(err, &rl) || time.Since(start) > 100*time.Millisecond || f2.count() != 1 {
		t.Fatalf("second call: %v after %v, %d requests", err, time.Since(start), f2.count())
	}
	if b := c2.Budget(); b.PausedUntil.IsZero() || !b.Secondary {
		t.Fatalf("budget %+v", b)
	}
}

// TestSecondary403: 403 with the secondary-limit documentation URL and
// Retry-After maps to a secondary RateLimitedError and pauses all requests;
// go-github's own memory and ours agree.
func TestSecondary403(t *testing.T) {
	f := newFakeGH(t)
	f.addOrg("acme", 5)
	f.setHook(func(w http.ResponseWriter, r *http.Request, n int) bool {
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			writeJSON(w, http.StatusForbidden, map[string]string{"message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
				"documentation_url": "https://docs.github.com/free-pro-team@latest/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"})
			return true
		}
		return false
	})
	c := newTestClient(t, f, nil, nil)
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
	if f.count() != 1 {
		t.Fatalf("requests during pause: %d", f.count()-1)
	}
	time.Sleep(time.Until(rl.Until) + 10*time.Millisecond)
	if _, err := c.UserSeat(ctx, "acme", "user0001"); err != nil {
		t.Fatalf("after pause: %v", err)
	}
	reqs := f.requests()
	if reqs[1].at.Sub(reqs[0].at) < time.Second {
		t.Fatalf("second request %v after the first", reqs[1].at.Sub(reqs[0].at))
	}
	// A 403 that is a permission error is neither a limit nor retried.
	f.setHook(func(w http.ResponseWriter, r *http.Request, n int) bool {
		writeJSON(w, http.StatusForbidden, map[string]string{"message": "Resource not accessible by integration"})
		return true
	})
	before := f.count()
	_, err = c.UserSeat(ctx, "acme", "user0001")
	var api *APIError
	if !errors.As(err, &api) || api.Status != 403 || Retryable(err) || f.count() != before+1 {
		t.Fatalf("permission 403: %v (%d requests)", err, f.count()-before)
	}
}

func TestRetry5xxThenSuccess(t *testing.T) {
	f := newFakeGH(t)
	f.addOrg("acme", 5)
	f.setHook(func(w http.ResponseWriter, r *http.Request, n int) bool {
		switch n {
		case 1:
			writeJSON(w, 502, map[string]string{"message": "Server Error"})
			return true
		case 2:
			writeJSON(w, 503, map[string]string{"message": "Unavailable"})
			return true
		case 3: // connection reset: hijack and close
			hj, _ := w.(http.Hijacker)
			conn, _, _ := hj.Hijack()
			_ = conn.Close()
			return true
		}
		return false
	})
	c := newTestClient(t, f, nil, nil)
	s, err := c.UserSeat(context.Background(), "acme", "user0002")
	if err != nil || s.Login != "user0002" || f.count() != 4 {
		t.Fatalf("seat %+v err %v after %d requests", s, err, f.count())
	}

	// retries run out: the last error, retryable
	f.setHook(func(w http.ResponseWriter, r *http.Request, n int) bool {
		writeJSON(w, 500, map[string]string{"message": "boom"})
		return true
	})
	before := f.count()
	_, err = c.UserSeat(context.Background(), "acme", "user0002")
	var api *APIError
	if !errors.As(err, &api) || api.Status != 500 || !Retryable(err) || f.count()-before != 1+DefaultMaxRetries {
		t.Fatalf("err %v after %d requests", err, f.count()-before)
	}

	// timeouts are retried too
	slowN := f.count() + 1
	f.setHook(func(w http.ResponseWriter, r *http.Request, n int) bool {
		if n == slowN {
			time.Sleep(300 * time.Millisecond)
		}
		return false
	})
	c2 := newTestClient(t, f, func(c *Config) { c.Timeout = 100 * time.Millisecond }, nil)
	if _, err := c2.UserSeat(context.Background(), "acme", "user0002"); err != nil || f.count() != slowN+1 {
		t.Fatalf("after a timeout: %v, %d requests", err, f.count()-slowN+1)
	}

	// no retries with MaxRetries -1
	f.setHook(func(w http.ResponseWriter, r *http.Request, n int) bool {
		writeJSON(w, 500, map[string]string{"message": "boom"})
		return true
	})
	c3 := newTestClient(t, f, func(c *Config) { c.MaxRetries = -1 }, nil)
	before = f.count()
	if _, err := c3.UserSeat(context.Background(), "acme", "user0002"); err == nil || f.count()-before != 1 {
		t.Fatalf("MaxRetries -1: %v, %d requests", err, f.count()-before)
	}
}

// TestPrimaryNearlySpent: with the budget at the reserve, MaxWait > 0 waits
// for the reset and then succeeds; MaxWait = 0 fails fast without sending.
func TestPrimaryNearlySpent(t *testing.T) {
	f := newFakeGH(t)
	f.addOrg("acme", 5)
	f.setWindow(30, 18, 2*time.Second) // remaining 12, reserve 10
	c := newTestClient(t, f, func(c *Config) { c.MaxWait = 10 * time.Second }, nil)
	ctx := context.Background()
	for range 2 {
		if _, err := c.UserSeat(ctx, "acme", "user0001"); err != nil {
			t.Fatal(err)
		}
	}
	if b := c.Budget(); b.Remaining != 10 || b.Limit != 30 || b.Reserve != MinReserve || !b.Known || b.Spendable(time.Now()) != 0 {
		t.Fatalf("budget %+v", b)
	}
	f.mu.Lock()
	reset := f.windowEnd
	f.mu.Unlock()

	// fail fast
	fast := newTestClient(t, f, nil, nil) // same token and URL: the same budget
	start := time.Now()
	_, err := fast.UserSeat(ctx, "acme", "user0001")
	var rl *RateLimitedError
	if !errors.As(err, &rl) || rl.Secondary || time.Since(start) > 50*time.Millisecond || !rl.Until.After(reset.Add(-time.Millisecond)) {
		t.Fatalf("fail fast: %v after %v", err, time.Since(start))
	}
	if f.count() != 2 {
		t.Fatalf("a request went out at the reserve: %d", f.count())
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
	reqs := f.requests()
	if len(reqs) != 3 || reqs[2].at.Before(reset) || reqs[2].remainingBefore != 30 {
		t.Fatalf("third request at %v (reset %v), remaining before %d", reqs[2].at, reset, reqs[2].remainingBefore)
	}
	if f.nViolations() != 0 {
		t.Fatalf("violations %d", f.nViolations())
	}
}

// TestPrimaryExhaustedByServer: a 403 with X-RateLimit-Remaining: 0 (spent
// by someone else using the same token) is a primary RateLimitedError, and
// neither our accounting nor go-github's sends anything before the reset.
func TestPrimaryExhaustedByServer(t *testing.T) {
	f := newFakeGH(t)
	f.addOrg("acme", 5)
	f.setWindow(100, 0, 3*time.Second)
	c := newTestClient(t, f, nil, nil)
	ctx := context.Background()
	if _, err := c.UserSeat(ctx, "acme", "user0001"); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.used = f.limit // another process spent it
	f.mu.Unlock()
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
	if f.count() != 2 || f.nViolations() != 1 {
		t.Fatalf("requests %d violations %d", f.count(), f.nViolations())
	}
	// go-github's memory alone also refuses (it saw remaining 0)
	req, _ := c.gh.NewRequest(ctx, "GET", "orgs/acme/members/user0001/copilot", nil)
	if _, err := c.gh.Do(req, nil); err == nil || f.count() != 2 {
		t.Fatalf("go-github sent into a spent limit: %v", err)
	}
}

// TestConcurrentNeverOverspend: many goroutines on one Client stop at the
// reserve together; nothing reaches the server past it.
func TestConcurrentNeverOverspend(t *testing.T) {
	f := newFakeGH(t)
	f.addOrg("acme", 50)
	f.setWindow(120, 0, time.Hour)
	f.setLatency(3 * time.Millisecond)
	c := newTestClient(t, f, func(c *Config) { c.Reserve = 15 }, nil)
	c2 := newTestClient(t, f, func(c *Config) { c.Reserve = 15 }, nil) // same credential, same budget
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
	if f.nViolations() != 0 || f.count() != 120-15 || ok.Load() != 105 || limited.Load() != 24 {
		t.Fatalf("requests %d (want 105) ok %d limited %d violations %d", f.count(), ok.Load(), limited.Load(), f.nViolations())
	}
	for _, r := range f.requests() {
		if r.remainingBefore <= 15 {
			t.Fatalf("request sent with %d remaining", r.remainingBefore)
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
	f := newFakeGH(t)
	f.addOrg("acme", 5)
	f.setWindow(100, 95, time.Hour) // someone else left 5, below the reserve
	c := newTestClient(t, f, nil, nil)
	_, err := c.UserSeat(context.Background(), "acme", "user0001")
	var rl *RateLimitedError
	if !errors.As(err, &rl) || rl.Secondary || f.count() != 0 {
		t.Fatalf("want a primary limit without requests: %v, %d requests", err, f.count())
	}
	f.mu.Lock()
	probes := f.probes
	f.mu.Unlock()
	if probes != 1 {
		t.Fatalf("probes %d", probes)
	}
	// without GET /rate_limit (404 with headers) the real request is the probe
	f2 := newFakeGH(t)
	f2.addOrg("acme", 5)
	f2.noRateLimit = true
	c2 := newTestClient(t, f2, nil, nil)
	for range 3 {
		if _, err := c2.UserSeat(context.Background(), "acme", "user0001"); err != nil {
			t.Fatal(err)
		}
	}
	f2.mu.Lock()
	probes = f2.probes
	f2.mu.Unlock()
	if probes != 1 || f2.count() != 3 {
		t.Fatalf("probes %d requests %d", probes, f2.count())
	}
}

func TestMaxConcurrent(t *testing.T) {
	f := newFakeGH(t)
	f.addOrg("acme", 50)
	var cur, peak atomic.Int64
	f.setHook(func(w http.ResponseWriter, r *http.Request, n int) bool {
		v := cur.Add(1)
		for {
			p := peak.Load()
			if v <= p || peak.CompareAndSwap(p, v) {
				break
			}
		}
		time.Sleep(5 * time.Millisecond)
		cur.Add(-1)
		return false
	})
	c := newTestClient(t, f, func(c *Config) { c.MaxConcurrent = 3 }, nil)
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
	if peak.Load() > 3 || f.count() != 100 {
		t.Fatalf("peak %d requests %d", peak.Load(), f.count())
	}
}
