package ghclient

// Integration tests against the project's GitHub API simulator
// (internal/ghsim): the same scenarios as the unit tests, on the
// simulator's rate limiting, pagination, auth and fault injection, always
// asserting its LimitViolations() stays 0.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seatline/seatline/internal/ghsim"
)

const simToken = "ghp_simTESTtoken0123456789abcdefABCDEF"

func startSim(t *testing.T, opts ghsim.Options) *ghsim.Server {
	t.Helper()
	if opts.Seed == 0 {
		opts.Seed = 7
	}
	s := ghsim.New(opts)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if v := s.LimitViolations(); v != 0 {
			t.Errorf("simulator counted %d rate-limit violations", v)
		}
		s.Close()
	})
	return s
}

// seatOrg creates org (assign_selected) with n members user0000.. holding seats.
func seatOrg(t *testing.T, s *ghsim.Server, org string, n int) []string {
	t.Helper()
	if err := s.AddOrg(org, ghsim.AssignSelected, ""); err != nil {
		t.Fatal(err)
	}
	users := logins(0, n)
	for _, u := range users {
		if err := s.AddMember(org, u); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < n; i += 100 {
		if err := s.Assign(org, "", users[i:min(i+100, n)]...); err != nil {
			t.Fatal(err)
		}
	}
	return users
}

func simClient(t *testing.T, s *ghsim.Server, mod func(*Config), log *slog.Logger) *Client {
	t.Helper()
	cfg := Config{BaseURL: s.URL() + "/", Token: simToken, Timeout: 5 * time.Second}
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	c.backoffInitial, c.backoffMax = 5*time.Millisecond, 100*time.Millisecond
	return c
}

func TestSimSeatsAndDecoding(t *testing.T) {
	s := startSim(t, ghsim.Options{})
	seatOrg(t, s, "acme", 250)
	if err := s.AddTeam("acme", "backend", "user0001", "teamonly"); err != nil {
		t.Fatal(err)
	}
	if err := s.AssignTeams("acme", "", "backend"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddEnterpriseTeam("pilots", "user0002", "entonly"); err != nil {
		t.Fatal(err)
	}
	if err := s.AssignEnterpriseTeams("", "pilots"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteUser("user0003"); err != nil { // its seat lists "assignee": null
		t.Fatal(err)
	}
	if err := s.Invite("acme", "invitee"); err != nil {
		t.Fatal(err)
	}
	var logBuf bytes.Buffer
	c := simClient(t, s, nil, slog.New(slog.NewTextHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	ctx := context.Background()

	var seats []Seat
	total, err := c.OrgSeats(ctx, "acme", func(st Seat) error { seats = append(seats, st); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Requests()[ghsim.EndpointOrgSeats]; got != 3 || total != len(seats) || total < 250 {
		t.Fatalf("pages %d total %d seats %d", got, total, len(seats))
	}
	var nullAssignee, viaTeam int
	for _, st := range seats {
		if st.Login == "" && st.AssigneeType == "" {
			nullAssignee++
		}
		if st.AssigningTeam != nil && st.AssigningTeam.Slug == "backend" && !st.AssigningTeam.Enterprise {
			viaTeam++
		}
	}
	if nullAssignee != 1 || viaTeam < 1 {
		t.Fatalf("null assignees %d, team seats %d", nullAssignee, viaTeam)
	}

	var ent []Seat
	if _, err := c.EnterpriseSeats(ctx, s.Options().Enterprise, func(st Seat) error { ent = append(ent, st); return nil }); err != nil {
		t.Fatal(err)
	}
	var entTeam int
	for _, st := range ent {
		if st.AssigningTeam != nil && st.AssigningTeam.Enterprise {
			entTeam++
			if st.Org != "" || !strings.HasPrefix(st.AssigningTeam.Slug, "ent:") {
				t.Fatalf("enterprise-team seat %+v", st)
			}
		}
	}
	if entTeam != 2 {
		t.Fatalf("enterprise-team seats %d", entTeam)
	}

	st, err := c.UserSeat(ctx, "acme", "user0010")
	if err != nil || st.Login != "user0010" || st.CreatedAt.IsZero() || st.PlanType != "business" {
		t.Fatalf("seat %+v: %v", st, err)
	}
	if _, err := c.UserSeat(ctx, "acme", "nobody"); !errors.Is(err, ErrNoSeat) {
		t.Fatalf("404: %v", err)
	}
	var pe *PolicyError
	if _, err := c.UserSeat(ctx, "acme", "invitee"); !errors.As(err, &pe) || !strings.Contains(pe.Message, "invitation") {
		t.Fatalf("422: %v", err)
	}
	b, err := c.OrgBilling(ctx, "acme")
	if err != nil || b.SeatManagementSetting != ghsim.AssignSelected || b.Seats.Total != total {
		t.Fatalf("billing %+v: %v", b, err)
	}
	if strings.Contains(logBuf.String(), simToken) {
		t.Fatal("token in the log")
	}
}

// TestSimLookupBurst: the 2,000-user burst and the single user on the simulator.
func TestSimLookupBurst(t *testing.T) {
	s := startSim(t, ghsim.Options{})
	users := seatOrg(t, s, "acme", 2000)
	c := simClient(t, s, nil, nil)
	lk := NewLookup(c, LookupConfig{})
	ctx := context.Background()
	res := lk.Seats(ctx, "acme", append(users, "ghost"), 0)
	for _, u := range users {
		if r := res[u]; r.Status != SeatActive || r.Seat == nil || r.Seat.Login != u {
			t.Fatalf("%s: %+v", u, r)
		}
	}
	if res["ghost"].Status != SeatAbsent {
		t.Fatalf("ghost: %+v", res["ghost"])
	}
	req := s.Requests()
	t.Logf("simulator, 2,000-user burst: %d seat-list requests, %d per-user, %d in all (GET /rate_limit probes: %d, free)",
		req[ghsim.EndpointOrgSeats], req[ghsim.EndpointSeatDetails], s.TotalRequests(), req[ghsim.EndpointRateLimit])
	if req[ghsim.EndpointOrgSeats] > 20 || req[ghsim.EndpointSeatDetails] != 0 {
		t.Fatalf("burst cost %v", req)
	}
	s.ResetCounters()
	lk2 := NewLookup(c, LookupConfig{})
	if r := lk2.Seat(ctx, "acme", "user1999"); r.Status != SeatActive {
		t.Fatal(r)
	}
	if req := s.Requests(); req[ghsim.EndpointSeatDetails] != 1 || s.TotalRequests() != 1 {
		t.Fatalf("single user cost %v", req)
	}
	// 100 goroutines, one user: one request
	s.ResetCounters()
	s.SetFaults(ghsim.Faults{Latency: 30 * time.Millisecond})
	lk3 := NewLookup(c, LookupConfig{})
	var wg sync.WaitGroup
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r := lk3.Seat(ctx, "acme", "user0500"); r.Status != SeatActive {
				t.Error(r)
			}
		}()
	}
	wg.Wait()
	if s.TotalRequests() != 1 {
		t.Fatalf("coalescing: %d requests", s.TotalRequests())
	}
}

func TestSimLookupPolicies(t *testing.T) {
	s := startSim(t, ghsim.Options{})
	seatOrg(t, s, "acme", 20)
	if err := s.AddOrg("everyone", ghsim.AssignAll, ""); err != nil {
		t.Fatal(err)
	}
	for _, u := range logins(0, 150) {
		if err := s.AddMember("everyone", u); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.AddOrg("off", ghsim.Disabled, ""); err != nil {
		t.Fatal(err)
	}
	if err := s.Invite("acme", "invitee"); err != nil {
		t.Fatal(err)
	}
	c := simClient(t, s, nil, nil)
	lk := NewLookup(c, LookupConfig{})
	ctx := context.Background()
	if r := lk.Seat(ctx, "acme", "invitee"); r.Status != SeatPolicyBlocked || !strings.Contains(r.Policy, "invitation") {
		t.Fatalf("invitee: %+v", r)
	}
	if r := lk.Seat(ctx, "acme", "stranger"); r.Status != SeatAbsent {
		t.Fatalf("stranger: %+v", r)
	}
	for _, u := range []string{"user0001", "user0002"} {
		if r := lk.Seat(ctx, "off", u); r.Status != SeatPolicyBlocked || !strings.Contains(r.Policy, "not enabled") {
			t.Fatalf("off/%s: %+v", u, r)
		}
	}
	if r := lk.Seat(ctx, "everyone", "user0120"); r.Status != SeatActive || r.Seat.Login != "user0120" {
		t.Fatalf("assign_all org: %+v", r)
	}
	if r := lk.Seat(ctx, "everyone", "user0121"); r.Status != SeatActive {
		t.Fatalf("assign_all org, cached: %+v", r)
	}
	req := s.Requests()
	// acme: invitee 422 + billing, stranger 404; off: 422 + billing, then
	// the org is known to be off; everyone: 422 + billing + 2 list pages.
	if req[ghsim.EndpointSeatDetails] != 4 || req[ghsim.EndpointBilling] != 3 || req[ghsim.EndpointOrgSeats] != 2 {
		t.Fatalf("requests %v", req)
	}
}

// TestSimPrimaryLimit: many goroutines spend a small primary budget down
// to the reserve and stop; with MaxWait they ride through window resets.
func TestSimPrimaryLimit(t *testing.T) {
	t.Parallel() // mostly waiting for limits to pass
	for _, use429 := range []bool{false, true} {
		t.Run(fmt.Sprintf("use429=%v", use429), func(t *testing.T) {
			s := startSim(t, ghsim.Options{Limit: 60, Use429: use429})
			seatOrg(t, s, "acme", 30)
			c := simClient(t, s, nil, nil)
			var wg sync.WaitGroup
			var ok, limited atomic.Int64
			for g := range 12 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; ; i++ {
						_, err := c.UserSeat(context.Background(), "acme", fmt.Sprintf("user%04d", (g+i)%30))
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
			if ok.Load() != 60-MinReserve || s.Requests()[ghsim.EndpointSeatDetails] != 60-MinReserve || limited.Load() != 12 {
				t.Fatalf("ok %d limited %d requests %v", ok.Load(), limited.Load(), s.Requests())
			}
		})
	}
	t.Run("waits for resets", func(t *testing.T) {
		s := startSim(t, ghsim.Options{Limit: 25, Window: 2 * time.Second})
		seatOrg(t, s, "acme", 30)
		c := simClient(t, s, func(c *Config) { c.MaxWait = 5 * time.Second; c.Reserve = 5 }, nil)
		c.budget.mu.Lock()
		c.budget.resetSlack = 200 * time.Millisecond // the simulator resets exactly on time
		c.budget.mu.Unlock()
		start := time.Now()
		var wg sync.WaitGroup
		for g := range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 8 {
					if _, err := c.UserSeat(context.Background(), "acme", fmt.Sprintf("user%04d", g*5+i%5)); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		// 48 requests at 20 a window: at least 2 resets
		if d := time.Since(start); d < 2*time.Second {
			t.Fatalf("48 requests in %v: the budget was overspent", d)
		}
		if st := s.Statuses(); st[403] != 0 || st[429] != 0 {
			t.Fatalf("statuses %v", st)
		}
	})
}

// TestSimSecondaryLimits: the simulator's concurrency limit is not
// tripped; injected secondary limits and 429 bursts with Retry-After are
// obeyed (no request before they pass) and calls succeed within MaxWait;
// with MaxWait 0 they fail fast as Unknown.
func TestSimSecondaryLimits(t *testing.T) {
	t.Parallel() // mostly waiting for limits to pass
	s := startSim(t, ghsim.Options{SecondaryConcurrent: 4, SecondaryRetryAfter: time.Second})
	seatOrg(t, s, "acme", 100)
	ctx := context.Background()
	hammer := func(c *Client) {
		var wg sync.WaitGroup
		for g := range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 5 {
					if _, err := c.UserSeat(ctx, "acme", fmt.Sprintf("user%04d", g*10+i)); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
	}
	c := simClient(t, s, func(c *Config) { c.MaxWait = 10 * time.Second; c.MaxConcurrent = 3 }, nil)
	hammer(c)
	if st := s.Statuses(); st[403]+st[429] != 0 {
		t.Fatalf("concurrency limit tripped: %v", st)
	}

	// Injected secondary limits, one request at a time: a strict zero.
	serial := simClient(t, s, func(c *Config) { c.MaxWait = 10 * time.Second; c.MaxConcurrent = 1 }, nil)
	s.SetFaults(ghsim.Faults{SecondaryEvery: 15, RetryAfter: time.Second})
	hammer(serial)
	s.SetFaults(ghsim.Faults{Burst429Every: 8, Burst429Len: 2, RetryAfter: time.Second})
	lk := NewLookup(serial, LookupConfig{ListThreshold: -1})
	for u, r := range lk.Seats(ctx, "acme", logins(50, 30), 0) {
		if r.Status != SeatActive {
			t.Fatalf("%s: %+v", u, r)
		}
	}
	if st := s.Statuses(); st[403] == 0 || st[429] == 0 {
		t.Fatalf("no limits injected: %v", st)
	}

	// fail fast (MaxWait 0): Unknown with a secondary RateLimitedError
	s.SetFaults(ghsim.Faults{SecondaryEvery: 1, RetryAfter: 2 * time.Second})
	fast := simClient(t, s, func(c *Config) { c.MaxConcurrent = 1 }, nil)
	lk = NewLookup(fast, LookupConfig{ListThreshold: -1})
	var rl *RateLimitedError
	for u, r := range lk.Seats(ctx, "acme", logins(90, 5), 0) {
		if r.Status != SeatUnknown || !errors.As(r.Err, &rl) || !rl.Secondary {
			t.Fatalf("%s: %+v", u, r)
		}
	}
	time.Sleep(time.Until(rl.Until)) // leave the simulator's window closed before cleanup
}

// TestSimSecondaryConcurrentRace documents a limit of the simulator's
// violation accounting: with requests in flight concurrently, a request
// the client sent before an injected limit's answer reached it can reach
// the server after the server recorded the announcement, and counts as a
// violation although no client could have known. The client keeps these
// rare (the transport applies a limit the moment headers arrive; after a
// pause requests resume one at a time), and the simulator's grace period
// covers them.
func TestSimSecondaryConcurrentRace(t *testing.T) {
	t.Parallel() // mostly waiting for limits to pass
	s := ghsim.New(ghsim.Options{Seed: 7})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	seatOrg(t, s, "acme", 100)
	c := simClient(t, s, func(c *Config) { c.MaxWait = 10 * time.Second; c.MaxConcurrent = 4 }, nil)
	s.SetFaults(ghsim.Faults{SecondaryEvery: 15, RetryAfter: time.Second, Latency: 5 * time.Millisecond})
	var wg sync.WaitGroup
	for g := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 5 {
				if _, err := c.UserSeat(context.Background(), "acme", fmt.Sprintf("user%04d", g*10+i)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	st := s.Statuses()
	t.Logf("4 in flight, injected secondary limits: statuses %v, simulator violations %d (limits announced while requests were in flight)",
		st, s.LimitViolations())
	// The simulator does not count requests arriving within its grace
	// (20 ms) of an announcement: with that, a client that obeys limits as
	// soon as it sees them has none.
	if v := s.LimitViolations(); v != 0 {
		t.Fatalf("%d violations for %d limits", v, st[403]+st[429])
	}
}

// TestSimFaults: 5xx and connection resets are retried; a 2,000-seat
// listing completes.
func TestSimFaults(t *testing.T) {
	s := startSim(t, ghsim.Options{})
	seatOrg(t, s, "acme", 2000)
	s.SetFaults(ghsim.Faults{ErrorRate: 0.2, ResetRate: 0.1})
	c := simClient(t, s, func(c *Config) { c.MaxRetries = 8 }, nil)
	n := 0
	total, err := c.OrgSeats(context.Background(), "acme", func(Seat) error { n++; return nil })
	if err != nil || total != 2000 || n != 2000 {
		t.Fatalf("total %d seen %d: %v", total, n, err)
	}
	t.Logf("statuses %v, requests %d", s.Statuses(), s.TotalRequests())
	if s.TotalRequests() <= 20 {
		t.Fatal("no faults were injected")
	}
}

// TestSimAppAuth: App JWT → installation token, refreshed before expiry.
func TestSimAppAuth(t *testing.T) {
	t.Parallel() // mostly waiting for limits to pass
	key, pemKey := testKey(t)
	s := startSim(t, ghsim.Options{AppID: 99, AppPublicKey: &key.PublicKey, InstallationID: 5, TokenTTL: 62 * time.Second})
	seatOrg(t, s, "acme", 10)
	var logBuf bytes.Buffer
	c, err := New(Config{BaseURL: s.URL() + "/", AppID: 99, InstallationID: 5, PrivateKeyPEM: pemKey},
		slog.New(slog.NewTextHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := c.UserSeat(ctx, "acme", "user0001"); err != nil {
		t.Fatal(err)
	}
	if n := s.Requests()[ghsim.EndpointAccessToken]; n != 1 {
		t.Fatalf("token exchanges %d", n)
	}
	time.Sleep(2100 * time.Millisecond) // within a minute of expiry now
	if _, err := c.UserSeat(ctx, "acme", "user0002"); err != nil {
		t.Fatal(err)
	}
	if n := s.Requests()[ghsim.EndpointAccessToken]; n != 2 {
		t.Fatalf("token not refreshed: %d exchanges", n)
	}
	if strings.Contains(logBuf.String(), "ghs_") || strings.Contains(logBuf.String(), "eyJ") {
		t.Fatal("a token in the log")
	}
	// a wrong App ID: a final error naming no secret
	bad, _ := New(Config{BaseURL: s.URL() + "/", AppID: 100, InstallationID: 5, PrivateKeyPEM: pemKey}, nil)
	_, err = bad.UserSeat(ctx, "acme", "user0001")
	if err == nil || Retryable(err) || strings.Contains(fmt.Sprintf("%+v", err), "eyJ") {
		t.Fatalf("wrong app: %v", err)
	}
}

// usedOrg is seatOrg with every seat used in VS Code an hour ago.
func usedOrg(t *testing.T, s *ghsim.Server, org string, n int) []string {
	t.Helper()
	users := seatOrg(t, s, org, n)
	for _, u := range users {
		if err := s.SetActivity(org, u, s.Now().Add(-time.Hour), "vscode"); err != nil {
			t.Fatal(err)
		}
	}
	return users
}

// apiCount is how many API requests the simulator received (GET
// /rate_limit and the App token exchange are free and not counted).
func apiCount(s *ghsim.Server) int { return len(s.RequestLog()) }

// countPath is how many of them had sub in their path.
func countPath(s *ghsim.Server, sub string) int {
	n := 0
	for _, r := range s.RequestLog() {
		if strings.Contains(r.Path, sub) {
			n++
		}
	}
	return n
}

// testKey makes an RSA key (PKCS#1 PEM) for App auth.
func testKey(t *testing.T) (*rsa.PrivateKey, []byte) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
}
