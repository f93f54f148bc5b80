package ghclient

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/seatline/seatline/internal/ghsim"
)

// Each way GitHub can fail a call, on the simulator or a closed port,
// falls in exactly one class: the credentials refused (fix them),
// unavailable (try later), or neither (the call's own answer).
func TestFailureClasses(t *testing.T) {
	const noScope = "ghp_simNOSCOPEtoken0123456789abcdefABCDE"
	key, pemKey := testKey(t)
	s := startSim(t, ghsim.Options{Tokens: []string{simToken}, ForbiddenTokens: []string{noScope},
		AppID: 99, AppPublicKey: &key.PublicKey, InstallationID: 5})
	seatOrg(t, s, "acme", 3)
	down := startSim(t, ghsim.Options{})
	seatOrg(t, down, "acme", 3)
	down.SetFaults(ghsim.Faults{ErrorRate: 1})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()

	type class int
	const (
		neither class = iota
		refused
		unavailable
	)
	ctx := context.Background()
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	for _, tc := range []struct {
		name string
		call func() error
		want class
	}{
		{"401 bad token", func() error {
			_, err := simClient(t, s, func(c *Config) { c.Token = "ghp_wrong" }, nil).UserSeat(ctx, "acme", "user0001")
			return err
		}, refused},
		{"403 token without the permission", func() error {
			_, err := simClient(t, s, func(c *Config) { c.Token = noScope }, nil).OrgSeats(ctx, "acme", func(Seat) error { return nil })
			return err
		}, refused},
		{"App token exchange refused (wrong App ID)", func() error {
			c, err := New(Config{BaseURL: s.URL() + "/", AppID: 100, InstallationID: 5, PrivateKeyPEM: pemKey}, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.UserSeat(ctx, "acme", "user0001")
			return err
		}, refused},
		{"connection refused", func() error {
			_, err := simClient(t, s, func(c *Config) { c.BaseURL = "http://" + closed + "/" }, nil).UserSeat(ctx, "acme", "user0001")
			return err
		}, unavailable},
		{"5xx after the retries", func() error {
			_, err := simClient(t, down, nil, nil).UserSeat(ctx, "acme", "user0001")
			return err
		}, unavailable},
		{"no seat (404)", func() error {
			_, err := simClient(t, s, nil, nil).UserSeat(ctx, "acme", "nobody")
			return err
		}, neither},
		{"cancelled by the caller", func() error {
			_, err := simClient(t, s, nil, nil).UserSeat(cancelled, "acme", "user0001")
			return err
		}, neither},
		// Last: the pause holds for every client of the credential.
		{"rate limit beyond the wait", func() error {
			c := simClient(t, s, nil, nil)
			c.budget.pauseAt(time.Now().Add(time.Hour), true)
			_, err := c.UserSeat(ctx, "acme", "user0001")
			return err
		}, unavailable},
	} {
		err := tc.call()
		if err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		got := neither
		if CredentialsRefused(err) {
			got = refused
		}
		if Unavailable(err) {
			if got != neither {
				t.Errorf("%s: %v is both refused and unavailable", tc.name, err)
			}
			got = unavailable
		}
		if got != tc.want {
			t.Errorf("%s: %v: class %d, want %d", tc.name, err, got, tc.want)
		}
		if got == refused && Retryable(err) {
			t.Errorf("%s: refused credentials must not be retried: %v", tc.name, err)
		}
	}
	if CredentialsRefused(nil) || Unavailable(nil) || Unavailable(ErrRequestCap) || Unavailable(errors.New("other")) {
		t.Error("nil, a spent allowance or another error is in neither class")
	}
}
