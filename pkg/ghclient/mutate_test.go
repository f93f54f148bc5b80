package ghclient

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/seatline/seatline/internal/ghsim"
)

func TestBatches(t *testing.T) {
	names := logins(0, 250)
	names = append(names, names[7], names[120]) // repeated: sent once
	bs := Batches(names)
	if len(bs) != 3 || len(bs[0]) != 100 || len(bs[1]) != 100 || len(bs[2]) != 50 || bs[2][49] != "user0249" || bs[1][0] != "user0100" {
		t.Fatalf("batches of %v", []int{len(bs[0]), len(bs[1]), len(bs[2])})
	}
	if Batches(nil) != nil {
		t.Fatal("batches of nothing")
	}
}

// TestRemoveUsersInBatches: 250 seats are unassigned in 3 DELETE requests
// of at most 100 (the hooks see each before it goes and after its answer),
// their seats_cancelled add up to 250, every seat is pending cancellation,
// and each answer's request id is the simulator's. Asking for more than
// 100 in one request is refused before anything is sent.
func TestRemoveUsersInBatches(t *testing.T) {
	s := startSim(t, ghsim.Options{})
	users := seatOrg(t, s, "acme", 250)
	c := simClient(t, s, nil, nil)
	ctx := context.Background()
	if _, err := c.RemoveCopilotUsers(ctx, "acme", users[:101]); err == nil || !strings.Contains(err.Error(), "at most 100") {
		t.Fatalf("101 names: %v", err)
	}
	s.ResetCounters()
	var seen []string
	cancelled := 0
	var ids []string
	err := c.RemoveCopilotUsersInBatches(ctx, "acme", users, func(b Batch) error {
		seen = append(seen, "before")
		if n := len(s.Mutations()); n != b.N {
			t.Errorf("before batch %d: %d requests already sent", b.N, n)
		}
		return nil
	}, func(b Batch) error {
		seen = append(seen, "after")
		if b.Err != nil {
			t.Errorf("batch %d: %v", b.N, b.Err)
		}
		cancelled += b.Change.SeatsCancelled
		ids = append(ids, b.Change.RequestID)
		if b.Change.Status != 200 {
			t.Errorf("batch %d: status %d", b.N, b.Change.Status)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	ms := s.Mutations()
	if got := s.Requests()[ghsim.EndpointRemoveUsers]; got != 3 || len(ms) != 3 || cancelled != 250 {
		t.Fatalf("%d DELETE requests, %d mutations, %d cancelled", got, len(ms), cancelled)
	}
	for i, m := range ms {
		if len(m.Names) > 100 || m.RequestID != ids[i] {
			t.Fatalf("request %d: %d names, request id %s (client saw %s)", i, len(m.Names), m.RequestID, ids[i])
		}
	}
	if strings.Join(seen, ",") != "before,after,before,after,before,after" {
		t.Fatalf("hooks: %v", seen)
	}
	for _, u := range users {
		if st, _ := s.Seat("acme", u); st.PendingCancellationDate == "" {
			t.Fatalf("%s is not pending cancellation", u)
		}
	}
}

// TestRemoveUsers429: GitHub answers 429 with Retry-After to requests in
// the middle of the run: the client waits the announced time and sends the
// refused request again; every user is in exactly one request GitHub acted
// on, and none goes out during the pause (startSim checks the violations).
func TestRemoveUsers429(t *testing.T) {
	s := startSim(t, ghsim.Options{Use429: true})
	users := seatOrg(t, s, "acme", 250)
	c := simClient(t, s, func(c *Config) { c.MaxWait = 10 * time.Second }, nil)
	s.ResetCounters()
	s.SetFaults(ghsim.Faults{Burst429Every: 1, Burst429Len: 1, RetryAfter: time.Second})
	start := time.Now()
	if err := c.RemoveCopilotUsersInBatches(context.Background(), "acme", users, nil, nil); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	if s.Statuses()[429] == 0 || took < time.Second {
		t.Fatalf("no 429 was waited for: statuses %v, took %v", s.Statuses(), took)
	}
	applied := map[string]int{}
	for _, m := range s.Mutations() {
		for _, n := range m.Names {
			applied[n]++
		}
	}
	for _, u := range users {
		if applied[u] != 1 {
			t.Fatalf("%s in %d applied requests", u, applied[u])
		}
	}
	t.Logf("3 batches with %d 429s answered in %v", s.Statuses()[429], took.Round(time.Millisecond))
}

// TestRemoveUsersOutcomeUnknown: GitHub acts on the request but its answer
// never arrives (the client times out): the error says the outcome is
// unknown, and the request is not sent again.
func TestRemoveUsersOutcomeUnknown(t *testing.T) {
	s := startSim(t, ghsim.Options{})
	users := seatOrg(t, s, "acme", 3)
	c := simClient(t, s, func(c *Config) { c.Timeout = 300 * time.Millisecond }, nil)
	s.SetMutationHook(func(ghsim.Mutation) { time.Sleep(time.Second) })
	_, err := c.RemoveCopilotUsers(context.Background(), "acme", users)
	var unknown *OutcomeUnknownError
	if !errors.As(err, &unknown) {
		t.Fatalf("want an unknown outcome, got %v", err)
	}
	time.Sleep(800 * time.Millisecond) // the handler finishes
	if n := len(s.Mutations()); n != 1 {
		t.Fatalf("%d requests acted on, want 1 (no blind resend)", n)
	}
	if st, _ := s.Seat("acme", users[0]); st.PendingCancellationDate == "" {
		t.Fatal("GitHub did not act on it")
	}

	// A request that never left (nothing listens) is safe to send again:
	// it is retried and fails as a transport error, not an unknown outcome.
	s.Close()
	c2 := simClient(t, s, func(c *Config) { c.MaxRetries = 1 }, nil)
	_, err = c2.RemoveCopilotUsers(context.Background(), "acme", users)
	var te *TransportError
	if errors.As(err, &unknown) || !errors.As(err, &te) {
		t.Fatalf("connection refused: %v", err)
	}
}

// TestRemoveUsersRefused: a token without the scope gets a PermissionError
// that names manage_billing:copilot and the App permission and never the
// token; an all-members org gets a PolicyError naming the org. Neither is
// sent twice.
func TestRemoveUsersRefused(t *testing.T) {
	const ro = "ghp_readonlyTOKEN0000000000000000000000"
	s := startSim(t, ghsim.Options{Tokens: []string{simToken}, ReadOnlyTokens: []string{ro}})
	users := seatOrg(t, s, "acme", 2)
	if err := s.AddOrg("everyone", ghsim.AssignAll, ""); err != nil {
		t.Fatal(err)
	}
	if err := s.AddMember("everyone", "user0000"); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s.ResetCounters()
	c := simClient(t, s, func(c *Config) { c.Token = ro }, nil)
	_, err := c.RemoveCopilotUsers(ctx, "acme", users)
	var perm *PermissionError
	if !errors.As(err, &perm) || Retryable(err) {
		t.Fatalf("read-only token: %v", err)
	}
	msg := err.Error()
	for _, want := range []string{"manage_billing:copilot", `"Copilot Business" organization permission (write)`, "the token's scopes: read:org"} {
		if !strings.Contains(msg, want) {
			t.Errorf("%q does not say %q", msg, want)
		}
	}
	if strings.Contains(msg, ro) || strings.Contains(msg, "readonlyTOKEN") {
		t.Fatalf("the token is in the error: %s", msg)
	}
	_, err = c.RemoveTeamMember(ctx, "acme", "backend", "user0000")
	if !errors.As(err, &perm) || !strings.Contains(err.Error(), "admin:org") {
		t.Fatalf("team removal with a read-only token: %v", err)
	}

	c = simClient(t, s, nil, nil)
	_, err = c.RemoveCopilotUsers(ctx, "everyone", []string{"user0000"})
	var pol *PolicyError
	if !errors.As(err, &pol) || pol.Org != "everyone" || !strings.Contains(pol.Message, "assign_all") {
		t.Fatalf("all-members org: %v", err)
	}
	if got := s.Requests()[ghsim.EndpointRemoveUsers]; got != 2 {
		t.Fatalf("%d DELETE requests, want 2 (one each, no retry)", got)
	}
}

// TestRemoveTeamMembers: leaving the granting org team or enterprise team
// ends the seat (204).
func TestRemoveTeamMembers(t *testing.T) {
	s := startSim(t, ghsim.Options{})
	seatOrg(t, s, "acme", 1)
	if err := s.AddTeam("acme", "backend", "tina"); err != nil {
		t.Fatal(err)
	}
	if err := s.AssignTeams("acme", "", "backend"); err != nil {
		t.Fatal(err)
	}
	slug, err := s.AddEnterpriseTeam("pilots", "ezra")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AssignEnterpriseTeams("", slug); err != nil {
		t.Fatal(err)
	}
	c := simClient(t, s, nil, nil)
	ctx := context.Background()
	ch, err := c.RemoveTeamMember(ctx, "acme", "backend", "tina")
	if err != nil || ch.Status != 204 || ch.RequestID == "" {
		t.Fatalf("team: %+v %v", ch, err)
	}
	if ch, err := c.RemoveEnterpriseTeamMember(ctx, s.Options().Enterprise, slug, "ezra"); err != nil || ch.Status != 204 {
		t.Fatalf("enterprise team: %+v %v", ch, err)
	}
	for _, k := range [][2]string{{"acme", "tina"}, {slug, "ezra"}} {
		if st, _ := s.Seat(k[0], k[1]); st.PendingCancellationDate == "" {
			t.Fatalf("%s's seat in %s is not pending", k[1], k[0])
		}
	}
	ms := s.Mutations()
	if len(ms) != 2 || !slices.Equal(ms[0].Names, []string{"tina"}) || ms[1].Team != slug {
		t.Fatalf("mutations %+v", ms)
	}
}
