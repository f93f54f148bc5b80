package ghsim

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-github/v93/github"
)

func TestPrimaryRateLimit(t *testing.T) {
	for _, use429 := range []bool{false, true} {
		t.Run("429="+strconv.FormatBool(use429), func(t *testing.T) {
			s := startSim(t, Options{Seed: 10, Limit: 5, Window: 30 * time.Second, Use429: use429})
			smallEnterprise(t, s)
			start := time.Now()
			for i := 1; i <= 5; i++ {
				r := get(t, s, "/orgs/octo/copilot/billing")
				if r.status != 200 || r.header.Get("X-RateLimit-Remaining") != strconv.Itoa(5-i) ||
					r.header.Get("X-RateLimit-Used") != strconv.Itoa(i) || r.header.Get("X-RateLimit-Limit") != "5" ||
					r.header.Get("X-RateLimit-Resource") != "core" {
					t.Fatalf("request %d: %d %v", i, r.status, r.header)
				}
			}
			r := get(t, s, "/orgs/octo/copilot/billing")
			want := 403
			if use429 {
				want = 429
			}
			if r.status != want || r.header.Get("X-RateLimit-Remaining") != "0" {
				t.Fatalf("6th: %d remaining %q", r.status, r.header.Get("X-RateLimit-Remaining"))
			}
			reset, _ := strconv.ParseInt(r.header.Get("X-RateLimit-Reset"), 10, 64)
			if d := time.Unix(reset, 0).Sub(start); d < 29*time.Second || d > 32*time.Second {
				t.Fatalf("reset in %v", d)
			}
			if e := r.apiErr(t); !strings.HasPrefix(e.Message, "API rate limit exceeded for user ID ") {
				t.Fatalf("message %q", e.Message)
			}
			// Errors other than the limit also carry the headers, and another
			// token has its own budget.
			other := raw(t, s, "GET", "/orgs/octo/copilot/billing", "another-token", APIVersion, nil)
			if other.status != 200 || other.header.Get("X-RateLimit-Remaining") != "4" {
				t.Fatalf("other token: %d %s", other.status, other.header.Get("X-RateLimit-Remaining"))
			}
			// go-github maps it to *RateLimitError (both 403 and 429 in v84)
			// and then refuses locally until the reset.
			gh := ghClient(t, s, testToken)
			ctx := context.WithValue(context.Background(), github.BypassRateLimitCheck, true)
			_, _, err := gh.Copilot.GetCopilotBilling(ctx, "octo")
			var rle *github.RateLimitError
			if !errors.As(err, &rle) || rle.Rate.Remaining != 0 || rle.Rate.Reset.Unix() != reset {
				t.Fatalf("go-github: %v", err)
			}
			n := s.TotalRequests()
			_, _, err = gh.Copilot.GetCopilotBilling(context.Background(), "octo")
			if !errors.As(err, &rle) || s.TotalRequests() != n {
				t.Fatalf("go-github should refuse locally: %v (%d→%d requests)", err, n, s.TotalRequests())
			}
		})
	}
}

func TestPrimaryWindowResets(t *testing.T) {
	s := startSim(t, Options{Seed: 11, Limit: 3, Window: time.Second})
	smallEnterprise(t, s)
	var reset int64
	for range 3 {
		r := get(t, s, "/orgs/octo/copilot/billing")
		reset, _ = strconv.ParseInt(r.header.Get("X-RateLimit-Reset"), 10, 64)
	}
	time.Sleep(time.Until(time.Unix(reset, 0)) + 10*time.Millisecond)
	r := get(t, s, "/orgs/octo/copilot/billing")
	if r.status != 200 || r.header.Get("X-RateLimit-Remaining") != "2" {
		t.Fatalf("after reset: %d %s", r.status, r.header.Get("X-RateLimit-Remaining"))
	}
	if v := s.LimitViolations(); v != 0 {
		t.Fatalf("violations %d", v)
	}
}

func TestSecondaryRateLimit(t *testing.T) {
	for _, use429 := range []bool{false, true} {
		t.Run("429="+strconv.FormatBool(use429), func(t *testing.T) {
			s := startSim(t, Options{Seed: 12, SecondaryBurst: 3, SecondaryRetryAfter: 2 * time.Second, Use429: use429})
			smallEnterprise(t, s)
			for i := range 3 {
				if r := get(t, s, "/orgs/octo/copilot/billing"); r.status != 200 {
					t.Fatalf("request %d: %d", i, r.status)
				}
			}
			r := get(t, s, "/orgs/octo/copilot/billing")
			want := 403
			if use429 {
				want = 429
			}
			if r.status != want || r.header.Get("Retry-After") != "2" {
				t.Fatalf("burst: %d Retry-After %q", r.status, r.header.Get("Retry-After"))
			}
			if r.header.Get("X-RateLimit-Remaining") == "0" || r.header.Get("X-RateLimit-Limit") == "" {
				t.Fatalf("secondary limit headers %v", r.header)
			}
			e := r.apiErr(t)
			if !strings.HasPrefix(e.Message, "You have exceeded a secondary rate limit") ||
				!strings.HasSuffix(e.DocumentationURL, "secondary-rate-limits") {
				t.Fatalf("body %s", r.body)
			}
			if v := s.LimitViolations(); v != 0 {
				t.Fatalf("tripping is not a violation: %d", v)
			}
			// go-github: *AbuseRateLimitError with RetryAfter.
			gh := ghClient(t, s, "fresh-token")
			var last error
			for range 5 {
				if _, _, err := gh.Copilot.GetCopilotBilling(context.Background(), "octo"); err != nil {
					last = err
					break
				}
			}
			var ae *github.AbuseRateLimitError
			if !errors.As(last, &ae) || ae.GetRetryAfter() != 2*time.Second {
				t.Fatalf("go-github: %v", last)
			}
		})
	}
}

func TestSecondaryConcurrency(t *testing.T) {
	s := startSim(t, Options{Seed: 13, SecondaryConcurrent: 2, SecondaryRetryAfter: time.Second})
	smallEnterprise(t, s)
	s.SetFaults(Faults{Latency: 150 * time.Millisecond})
	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[int]int{}
	for range 6 {
		wg.Go(func() {
			r := get(t, s, "/orgs/octo/copilot/billing")
			mu.Lock()
			statuses[r.status]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if statuses[200] < 1 || statuses[403] < 1 || statuses[200]+statuses[403] != 6 {
		t.Fatalf("statuses %v", statuses)
	}
}

// ignoringClient sends n requests back to back, whatever the answers.
func ignoringClient(t *testing.T, s *Server, tok string, n int) map[int]int {
	out := map[int]int{}
	for range n {
		out[raw(t, s, "GET", "/orgs/octo/copilot/billing", tok, APIVersion, nil).status]++
	}
	return out
}

func TestViolationAccounting(t *testing.T) {
	t.Run("primary/ignoring", func(t *testing.T) {
		s := startSim(t, Options{ViolationGrace: -1, Seed: 14, Limit: 5, Window: 30 * time.Second})
		smallEnterprise(t, s)
		st := ignoringClient(t, s, testToken, 8)
		if st[200] != 5 || st[403] != 3 {
			t.Fatalf("statuses %v", st)
		}
		// The 5th response said remaining 0: all three later requests ignored it.
		if v := s.LimitViolations(); v != 3 {
			t.Fatalf("violations %d, want 3", v)
		}
	})
	t.Run("secondary/ignoring", func(t *testing.T) {
		s := startSim(t, Options{ViolationGrace: -1, Seed: 15, SecondaryBurst: 3, SecondaryRetryAfter: 5 * time.Second})
		smallEnterprise(t, s)
		st := ignoringClient(t, s, testToken, 7)
		if st[200] != 3 || st[403] != 4 {
			t.Fatalf("statuses %v", st)
		}
		if v := s.LimitViolations(); v != 3 { // the 4th tripped it: not a violation
			t.Fatalf("violations %d, want 3", v)
		}
	})
	t.Run("in-flight when announced", func(t *testing.T) {
		// 10 concurrent requests against a budget of 5: all are in flight
		// before any answer, so the 5 rejected ones are not violations.
		s := startSim(t, Options{ViolationGrace: -1, Seed: 16, Limit: 5, Window: 30 * time.Second})
		smallEnterprise(t, s)
		s.SetFaults(Faults{Latency: 300 * time.Millisecond})
		var wg sync.WaitGroup
		var mu sync.Mutex
		st := map[int]int{}
		for range 10 {
			wg.Go(func() {
				r := get(t, s, "/orgs/octo/copilot/billing")
				mu.Lock()
				st[r.status]++
				mu.Unlock()
			})
		}
		wg.Wait()
		if st[200] != 5 || st[403] != 5 {
			t.Fatalf("statuses %v", st)
		}
		if v := s.LimitViolations(); v != 0 {
			t.Fatalf("violations %d, want 0", v)
		}
		// Now everyone knows: one more is a violation.
		get(t, s, "/orgs/octo/copilot/billing")
		if v := s.LimitViolations(); v != 1 {
			t.Fatalf("violations %d, want 1", v)
		}
	})
	t.Run("obeying client", func(t *testing.T) {
		s := startSim(t, Options{ViolationGrace: -1, Seed: 17, Limit: 4, Window: 2 * time.Second,
			SecondaryBurst: 3, SecondaryWindow: 500 * time.Millisecond, SecondaryRetryAfter: time.Second})
		smallEnterprise(t, s)
		s.SetFaults(Faults{Burst429Every: 5, Burst429Len: 2, RetryAfter: time.Second})
		gh := ghClient(t, s, testToken)
		ok := 0
		deadline := time.Now().Add(30 * time.Second)
		for ok < 12 && time.Now().Before(deadline) {
			_, _, err := gh.Copilot.GetCopilotBilling(context.Background(), "octo")
			var rle *github.RateLimitError
			var ae *github.AbuseRateLimitError
			switch {
			case err == nil:
				ok++
			case errors.As(err, &rle):
				time.Sleep(time.Until(rle.Rate.Reset.Time) + 20*time.Millisecond)
			case errors.As(err, &ae):
				time.Sleep(ae.GetRetryAfter() + 20*time.Millisecond)
			default:
				t.Fatal(err)
			}
		}
		if ok < 12 {
			t.Fatalf("only %d successes", ok)
		}
		st := s.Statuses()
		if st[403] == 0 || st[429] == 0 {
			t.Fatalf("the limits were never hit: %v", st)
		}
		if v := s.LimitViolations(); v != 0 {
			t.Fatalf("a client obeying the headers got %d violations (statuses %v)", v, st)
		}
	})
	t.Run("injected Retry-After ignored", func(t *testing.T) {
		s := startSim(t, Options{ViolationGrace: -1, Seed: 18})
		smallEnterprise(t, s)
		s.SetFaults(Faults{Burst429Every: 2, Burst429Len: 1, RetryAfter: 5 * time.Second})
		st := ignoringClient(t, s, testToken, 5)
		// 200, 200, 429 (announces 5 s), then two requests inside the window.
		if st[200] != 2 || st[429] != 1 || st[403] != 2 || s.LimitViolations() != 2 {
			t.Fatalf("statuses %v, violations %d", st, s.LimitViolations())
		}
	})
}

func TestAppInstallationToken(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	must(t, err)
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	must(t, err)
	s := startSim(t, Options{Seed: 19, AppID: 4242, AppPublicKey: &key.PublicKey, InstallationID: 77,
		TokenTTL: 2 * time.Second, Tokens: []string{testToken}})
	smallEnterprise(t, s)
	ctx := context.Background()

	jwt, err := AppJWT(key, 4242, time.Now(), 9*time.Minute)
	must(t, err)
	tok, resp, err := ghClient(t, s, jwt).Apps.CreateInstallationToken(ctx, 77, nil)
	if err != nil || resp.StatusCode != 201 || !strings.HasPrefix(tok.GetToken(), "ghs_") || len(tok.GetToken()) != 40 {
		t.Fatalf("exchange: %+v %v", tok, err)
	}
	if d := time.Until(tok.GetExpiresAt().Time); d < 0 || d > 3*time.Second {
		t.Fatalf("expires in %v", d)
	}
	// The installation token works, then expires.
	gh := ghClient(t, s, tok.GetToken())
	if _, _, err := gh.Copilot.ListCopilotSeats(ctx, "octo", nil); err != nil {
		t.Fatal(err)
	}
	// Budget is per installation: a second token shares it.
	tok2, _, err := ghClient(t, s, jwt).Apps.CreateInstallationToken(ctx, 77, nil)
	must(t, err)
	r := raw(t, s, "GET", "/orgs/octo/copilot/billing", tok2.GetToken(), APIVersion, nil)
	if r.status != 200 || r.header.Get("X-RateLimit-Used") != "2" {
		t.Fatalf("second token: %d used %s", r.status, r.header.Get("X-RateLimit-Used"))
	}
	// Seat changes made with it are attributed to the App's bot.
	s.Events()
	if _, _, err := gh.Copilot.AddCopilotUsers(ctx, "octo", []string{"erin"}); err != nil {
		t.Fatal(err)
	}
	for _, e := range parseAll(t, s.Events()) {
		if e.Actor != "seatline-sim[bot]" || !e.ActorIsBot || e.ProgrammaticAccessType != "GitHub App server-to-server token" || e.HashedToken == "" {
			t.Fatalf("event actor %+v", e)
		}
	}
	time.Sleep(time.Until(tok.GetExpiresAt().Time) + 50*time.Millisecond)
	_, resp, err = gh.Copilot.ListCopilotSeats(ctx, "octo", nil)
	if err == nil || resp.StatusCode != 401 {
		t.Fatalf("expired token: %v", err)
	}

	bad := func(name, jwt string, status int) {
		t.Helper()
		r := raw(t, s, "POST", "/app/installations/77/access_tokens", jwt, APIVersion, nil)
		if r.status != status {
			t.Fatalf("%s: %d %s", name, r.status, r.body)
		}
	}
	wrongKey, _ := AppJWT(other, 4242, time.Now(), 5*time.Minute)
	bad("wrong key", wrongKey, 401)
	wrongApp, _ := AppJWT(key, 1, time.Now(), 5*time.Minute)
	bad("wrong iss", wrongApp, 401)
	tooLong, _ := SignJWT(key, map[string]any{"iat": time.Now().Unix(), "exp": time.Now().Add(20 * time.Minute).Unix(), "iss": 4242})
	bad("exp > 10 min", tooLong, 401)
	expired, _ := SignJWT(key, map[string]any{"iat": time.Now().Add(-15 * time.Minute).Unix(), "exp": time.Now().Add(-5 * time.Minute).Unix(), "iss": 4242})
	bad("expired", expired, 401)
	fraction, _ := SignJWT(key, map[string]any{"iat": 1.5, "exp": float64(time.Now().Add(5*time.Minute).Unix()) + 0.5, "iss": 4242})
	bad("fractional", fraction, 401)
	bad("PAT", testToken, 401)
	bad("garbage", "a.b.c", 401)
	okJWT, _ := SignJWT(key, map[string]any{"iat": time.Now().Add(-60 * time.Second).Unix(), "exp": time.Now().Add(10 * time.Minute).Unix(), "iss": 4242})
	bad("integer iss, 10 min", okJWT, 201)
	r = raw(t, s, "POST", "/app/installations/78/access_tokens", jwt, APIVersion, nil)
	if r.status != 404 {
		t.Fatalf("wrong installation: %d", r.status)
	}
	// A JWT is not an API token; the token exchange accepts a missing
	// version header (some App token clients send none).
	if r := raw(t, s, "GET", "/orgs/octo/copilot/billing", jwt, APIVersion, nil); r.status != 401 {
		t.Fatalf("JWT on the API: %d", r.status)
	}
	if r := raw(t, s, "POST", "/app/installations/77/access_tokens", jwt, "", nil); r.status != 201 {
		t.Fatalf("no version header on exchange: %d %s", r.status, r.body)
	}
	// A token issued directly.
	direct, exp := s.IssueInstallationToken()
	if time.Until(exp) <= 0 || raw(t, s, "GET", "/orgs/octo/copilot/billing", direct, APIVersion, nil).status != 200 {
		t.Fatal("IssueInstallationToken")
	}
}

func TestFaults(t *testing.T) {
	t.Run("errors", func(t *testing.T) {
		s := startSim(t, Options{Seed: 20})
		smallEnterprise(t, s)
		s.SetFaults(Faults{ErrorRate: 0.3})
		st := ignoringClient(t, s, testToken, 400)
		fails := st[500] + st[502] + st[503]
		if fails < 80 || fails > 160 || st[500] == 0 || st[502] == 0 || st[503] == 0 || fails+st[200] != 400 {
			t.Fatalf("statuses %v", st)
		}
		s.SetFaults(Faults{})
		if st := ignoringClient(t, s, testToken, 20); st[200] != 20 {
			t.Fatalf("after clearing faults: %v", st)
		}
	})
	t.Run("resets", func(t *testing.T) {
		s := startSim(t, Options{Seed: 21})
		smallEnterprise(t, s)
		s.SetFaults(Faults{ResetRate: 0.25})
		client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		errs := 0
		for range 200 {
			req, _ := http.NewRequest("GET", s.URL()+"/orgs/octo/copilot/billing", nil)
			req.Header.Set("Authorization", "Bearer "+testToken)
			req.Header.Set("X-GitHub-Api-Version", APIVersion)
			resp, err := client.Do(req)
			if err != nil {
				errs++
				continue
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
		}
		if errs < 25 || errs > 80 {
			t.Fatalf("%d of 200 connections reset", errs)
		}
	})
	t.Run("429 bursts and secondary", func(t *testing.T) {
		s := startSim(t, Options{Seed: 22})
		smallEnterprise(t, s)
		s.SetFaults(Faults{Burst429Every: 3, Burst429Len: 2, RetryAfter: time.Second})
		var seq []int
		for range 10 {
			r := get(t, s, "/orgs/octo/copilot/billing")
			seq = append(seq, r.status)
			if r.status == 429 && r.header.Get("Retry-After") != "1" {
				t.Fatalf("Retry-After %q", r.header.Get("Retry-After"))
			}
			if r.status == 429 {
				time.Sleep(1050 * time.Millisecond)
			}
		}
		want := []int{200, 200, 200, 429, 429, 200, 200, 200, 429, 429}
		for i := range want {
			if seq[i] != want[i] {
				t.Fatalf("sequence %v", seq)
			}
		}
		if s.LimitViolations() != 0 {
			t.Fatalf("violations %d", s.LimitViolations())
		}
		s.SetFaults(Faults{SecondaryEvery: 4, RetryAfter: time.Second})
		seq = nil
		for range 8 {
			r := get(t, s, "/orgs/octo/copilot/billing")
			seq = append(seq, r.status)
			if r.status == 403 {
				if !strings.HasSuffix(r.apiErr(t).DocumentationURL, "secondary-rate-limits") {
					t.Fatalf("body %s", r.body)
				}
				time.Sleep(1050 * time.Millisecond)
			}
		}
		if seq[3] != 403 || seq[7] != 403 || seq[0] != 200 {
			t.Fatalf("secondary every 4: %v", seq)
		}
	})
	t.Run("latency", func(t *testing.T) {
		s := startSim(t, Options{Seed: 23})
		smallEnterprise(t, s)
		s.SetFaults(Faults{Latency: 100 * time.Millisecond})
		start := time.Now()
		get(t, s, "/orgs/octo/copilot/billing")
		if d := time.Since(start); d < 100*time.Millisecond {
			t.Fatalf("latency %v", d)
		}
	})
}
