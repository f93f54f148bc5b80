package ghclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/seatline/seatline/internal/ghsim"
)

// appSim starts a simulator that takes App auth (App 4242, installation
// 77, installation tokens living ttl) and a client Config for it.
func appSim(t *testing.T, ttl time.Duration) (*ghsim.Server, Config) {
	t.Helper()
	key, pemKey := testKey(t)
	s := startSim(t, ghsim.Options{AppID: 4242, AppPublicKey: &key.PublicKey, InstallationID: 77, TokenTTL: ttl})
	return s, Config{BaseURL: s.URL() + "/", AppID: 4242, InstallationID: 77, PrivateKeyPEM: pemKey, Timeout: 5 * time.Second}
}

// TestAppInstallationToken: a JWT signed with the App key (verified by the
// server) buys an installation token, used for API calls and refreshed
// before it expires.
func TestAppInstallationToken(t *testing.T) {
	s, cfg := appSim(t, 61500*time.Millisecond) // the token is renewed a minute before expiry
	seatOrg(t, s, "acme", 3)
	c, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for range 3 {
		if _, err := c.UserSeat(ctx, "acme", "user0001"); err != nil {
			t.Fatal(err)
		}
	}
	issued, _ := s.Credentials()
	if posts := s.Requests()[ghsim.EndpointAccessToken]; posts != 1 || len(issued) != 1 {
		t.Fatalf("token posts %d", posts)
	}
	time.Sleep(1600 * time.Millisecond) // now within a minute of expiry
	if _, err := c.UserSeat(ctx, "acme", "user0002"); err != nil {
		t.Fatal(err)
	}
	issued, _ = s.Credentials()
	if posts := s.Requests()[ghsim.EndpointAccessToken]; posts != 2 || len(issued) != 2 {
		t.Fatalf("token not refreshed before expiry: %d posts", posts)
	}
	reqs := s.RequestLog()
	for i, r := range reqs {
		want := "token " + issued[0]
		if i == len(reqs)-1 {
			want = "token " + issued[1]
		}
		if r.Authorization != want || r.APIVersion != APIVersion {
			t.Fatalf("request %d auth/version wrong", i)
		}
	}
	if !strings.Contains(fmt.Sprint(c), "auth=app") {
		t.Fatalf("String: %v", c)
	}
}

func TestAppTokenFailure(t *testing.T) {
	s, cfg := appSim(t, 0)
	seatOrg(t, s, "acme", 3)
	s.FailTokenExchanges(2) // the free GET /rate_limit probe, then the request itself
	c, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.UserSeat(context.Background(), "acme", "user0001")
	var te *TransportError
	if !errors.As(err, &te) || Retryable(err) || !strings.Contains(err.Error(), "status 401") {
		t.Fatalf("want a final token error, got %v", err)
	}
	if apiCount(s) != 0 || c.Budget().InFlight != 0 {
		t.Fatalf("API requests %d, in flight %d", apiCount(s), c.Budget().InFlight)
	}
	if _, err := c.UserSeat(context.Background(), "acme", "user0001"); err != nil {
		t.Fatalf("after the token endpoint recovered: %v", err)
	}
}

// TestNoSecretInOutput runs every path with a debug-level logger writing to
// a buffer, formats every error and value with every verb, and checks that
// no credential (PAT, App key, JWTs, installation tokens) shows up.
func TestNoSecretInOutput(t *testing.T) {
	var logBuf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	jlog := slog.New(slog.NewJSONHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var out bytes.Buffer
	show := func(vs ...any) {
		for _, v := range vs {
			fmt.Fprintf(&out, "%v|%+v|%#v|%s|%q\n", v, v, v, v, v)
			if b, err := json.Marshal(v); err == nil {
				out.Write(b)
			}
			log.Info("value", "v", v)
			jlog.Info("value", "v", v)
		}
	}
	ctx := context.Background()

	// PAT paths
	f := startSim(t, ghsim.Options{})
	seatOrg(t, f, "acme", 120)
	f.Fail(
		// a server that echoes the credential back
		ghsim.Failure{Path: "/members/boom/", Status: 500, Message: "internal error for", EchoAuthorization: true},
		ghsim.Failure{Path: "/members/policy/", Status: 422, Message: "Copilot is not enabled; token", EchoAuthorization: true},
		ghsim.Failure{Path: "/members/limited/", Status: 429, Message: "slow down", RetryAfter: time.Second},
		ghsim.Failure{Path: "/members/slow/", Delay: 200 * time.Millisecond})
	cfg := Config{BaseURL: f.URL() + "/", Token: Secret(simToken), Timeout: 100 * time.Millisecond, MaxRetries: 1}
	show(cfg, &cfg)
	c, err := New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	c.backoffInitial = time.Millisecond
	show(c, c.Budget())
	lk := NewLookup(c, LookupConfig{})
	for _, login := range []string{"user0001", "ghost", "boom", "policy", "slow", "limited", "user0002"} {
		_, err := c.UserSeat(ctx, "acme", login)
		show(err)
		show(lk.Seat(ctx, "acme", login))
	}
	time.Sleep(1100 * time.Millisecond)
	_, err = c.OrgSeats(ctx, "acme", func(Seat) error { return nil })
	show(err)
	_, err = c.OrgBilling(ctx, "nope")
	show(err)
	show(lk.Seats(ctx, "acme", []string{"a", "b", "c", "user0005"}, 0))
	// a server that is gone
	dead := ghsim.New(ghsim.Options{})
	if err := dead.Start(); err != nil {
		t.Fatal(err)
	}
	deadURL := dead.URL() + "/"
	dead.Close()
	cd, _ := New(Config{BaseURL: deadURL, Token: Secret(simToken), MaxRetries: -1}, log)
	_, err = cd.UserSeat(ctx, "acme", "user0001")
	show(err)
	// a bad config
	bad := Config{Token: Secret("bad token " + simToken)}
	show(bad.Validate(), bad)

	// App paths
	fa, acfg := appSim(t, 61*time.Second)
	seatOrg(t, fa, "acme", 3)
	show(acfg)
	ca, err := New(acfg, log)
	if err != nil {
		t.Fatal(err)
	}
	show(ca)
	for _, login := range []string{"user0001", "ghost"} {
		_, err := ca.UserSeat(ctx, "acme", login)
		show(err)
	}
	fa.FailTokenExchanges(1)
	fa.RevokeInstallationTokens() // 401 on the API, then a refresh fails
	time.Sleep(1100 * time.Millisecond)
	_, err = ca.UserSeat(ctx, "acme", "user0001")
	show(err)
	_, err = ca.UserSeat(ctx, "acme", "user0001")
	show(err)

	all := logBuf.String() + out.String()
	issued, jwts := fa.Credentials()
	secrets := append([]string{simToken}, issued...)
	secrets = append(secrets, jwts...)
	if len(secrets) < 4 {
		t.Fatalf("expected installation tokens and JWTs to check, got %d secrets", len(secrets))
	}
	pemBody := string(acfg.PrivateKeyPEM)
	lines := strings.Split(pemBody, "\n")
	secrets = append(secrets, lines[1], lines[len(lines)/2])
	for _, s := range secrets {
		if s == "" {
			continue
		}
		if strings.Contains(all, s) {
			i := strings.Index(all, s)
			t.Fatalf("secret %.12s… printed: …%s…", s, all[max(0, i-80):min(len(all), i+40)])
		}
	}
	if !strings.Contains(all, redacted) || !strings.Contains(all, "retry after") {
		t.Fatal("expected redacted markers and rate-limit errors in the output")
	}
	if testing.Verbose() {
		t.Log(all[:min(len(all), 4000)])
	}
}
