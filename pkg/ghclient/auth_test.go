package ghclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"
)

func newAppFake(t *testing.T) (*fakeGH, Config) {
	t.Helper()
	f := newFakeGH(t)
	key, pemKey := testKey(t)
	f.appID, f.appKey = 4242, &key.PublicKey
	return f, Config{BaseURL: f.url(), AppID: 4242, InstallationID: 77, PrivateKeyPEM: pemKey, Timeout: 5 * time.Second}
}

// TestAppInstallationToken: a JWT signed with the App key (verified by the
// server) buys an installation token, used for API calls and refreshed
// before it expires.
func TestAppInstallationToken(t *testing.T) {
	f, cfg := newAppFake(t)
	f.addOrg("acme", 3)
	f.tokenTTL = 61500 * time.Millisecond // ghinstallation refreshes a minute before expiry
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
	f.mu.Lock()
	posts, issued := f.tokenPosts, append([]string(nil), f.issued...)
	f.mu.Unlock()
	if posts != 1 || len(issued) != 1 {
		t.Fatalf("token posts %d", posts)
	}
	time.Sleep(1600 * time.Millisecond) // now within a minute of expiry
	if _, err := c.UserSeat(ctx, "acme", "user0002"); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	posts, issued = f.tokenPosts, append([]string(nil), f.issued...)
	f.mu.Unlock()
	if posts != 2 || len(issued) != 2 {
		t.Fatalf("token not refreshed before expiry: %d posts", posts)
	}
	reqs := f.requests()
	for i, r := range reqs {
		want := "token " + issued[0]
		if i == len(reqs)-1 {
			want = "token " + issued[1]
		}
		if r.auth != want || r.version != APIVersion {
			t.Fatalf("request %d auth/version wrong", i)
		}
	}
	if !strings.Contains(fmt.Sprint(c), "auth=app") {
		t.Fatalf("String: %v", c)
	}
}

func TestAppTokenFailure(t *testing.T) {
	f, cfg := newAppFake(t)
	f.addOrg("acme", 3)
	f.tokenFail = 2 // the free GET /rate_limit probe, then the request itself
	c, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.UserSeat(context.Background(), "acme", "user0001")
	var te *TransportError
	if !errors.As(err, &te) || Retryable(err) || !strings.Contains(err.Error(), "status 401") {
		t.Fatalf("want a final token error, got %v", err)
	}
	if f.count() != 0 || c.Budget().InFlight != 0 {
		t.Fatalf("API requests %d, in flight %d", f.count(), c.Budget().InFlight)
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
	f := newFakeGH(t)
	f.addOrg("acme", 120)
	f.setHook(func(w http.ResponseWriter, r *http.Request, n int) bool {
		switch {
		case strings.Contains(r.URL.Path, "/members/boom/"):
			// a server that echoes the credential back
			writeJSON(w, 500, map[string]string{"message": "internal error for " + r.Header.Get("Authorization")})
			return true
		case strings.Contains(r.URL.Path, "/members/policy/"):
			writeJSON(w, 422, map[string]string{"message": "Copilot is not enabled; token " + strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")})
			return true
		case strings.Contains(r.URL.Path, "/members/limited/"):
			w.Header().Set("Retry-After", "1")
			writeJSON(w, 429, map[string]string{"message": "slow down"})
			return true
		case strings.Contains(r.URL.Path, "/members/slow/"):
			time.Sleep(200 * time.Millisecond)
		}
		return false
	})
	cfg := Config{BaseURL: f.url(), Token: Secret(f.pat), Timeout: 100 * time.Millisecond, MaxRetries: 1}
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
	dead := newFakeGH(t)
	deadURL := dead.url()
	dead.srv.Close()
	cd, _ := New(Config{BaseURL: deadURL, Token: Secret(f.pat), MaxRetries: -1}, log)
	_, err = cd.UserSeat(ctx, "acme", "user0001")
	show(err)
	// a bad config
	bad := Config{Token: Secret("bad token " + f.pat)}
	show(bad.Validate(), bad)

	// App paths
	fa, acfg := newAppFake(t)
	fa.addOrg("acme", 3)
	fa.tokenTTL = 61 * time.Second
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
	fa.mu.Lock()
	fa.tokenFail = 1
	fa.tokens = map[string]time.Time{} // forget issued tokens: 401 on the API, then a refresh fails
	fa.mu.Unlock()
	time.Sleep(1100 * time.Millisecond)
	_, err = ca.UserSeat(ctx, "acme", "user0001")
	show(err)
	_, err = ca.UserSeat(ctx, "acme", "user0001")
	show(err)

	all := logBuf.String() + out.String()
	fa.mu.Lock()
	secrets := append([]string{f.pat}, fa.issued...)
	secrets = append(secrets, fa.jwts...)
	fa.mu.Unlock()
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
