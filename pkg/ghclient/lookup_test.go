package ghclient

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seatline/seatline/internal/ghsim"
)

func logins(from, n int) []string {
	out := make([]string, n)
	for i := range n {
		out[i] = fmt.Sprintf("user%04d", from+i)
	}
	return out
}

// TestLookupBurst: 2,000 users of an org with 2,000 seats cost at most 20
// seat-list requests; users not in the list come back Absent; a second
// burst is free; a single user later costs one per-user GET.
func TestLookupBurst(t *testing.T) {
	s := startSim(t, ghsim.Options{})
	seatOrg(t, s, "acme", 2000)
	c := simClient(t, s, nil, nil)
	lk := NewLookup(c, LookupConfig{})
	ctx := context.Background()
	users := append(logins(0, 2000), "ghost1", "ghost2", "USER0007")
	res := lk.Seats(ctx, "acme", users, 0)
	if len(res) != len(users) {
		t.Fatalf("results %d", len(res))
	}
	for _, u := range users {
		r := res[u]
		want := SeatActive
		if strings.HasPrefix(u, "ghost") {
			want = SeatAbsent
		}
		if r.Status != want || r.FetchedAt.IsZero() || (want == SeatActive && (r.Seat == nil || !strings.EqualFold(r.Seat.Login, u))) {
			t.Fatalf("%s: %+v", u, r)
		}
	}
	n := apiCount(s)
	t.Logf("2,000-user burst: %d requests (%d list pages, %d per-user)", n, countPath(s, "/billing/seats"), countPath(s, "/members/"))
	if n > 20 || countPath(s, "/members/") != 0 {
		t.Fatalf("burst cost %d requests", n)
	}
	// all cached now
	res = lk.Seats(ctx, "acme", logins(500, 1000), 0)
	if apiCount(s) != n || res["user0999"].Status != SeatActive {
		t.Fatalf("cached burst cost %d requests", apiCount(s)-n)
	}
	lk2 := NewLookup(c, LookupConfig{}) // a cold cache: one user -> one GET
	r := lk2.Seat(ctx, "acme", "user1234")
	if r.Status != SeatActive || apiCount(s) != n+1 || countPath(s, "/members/user1234/copilot") != 1 {
		t.Fatalf("single user: %+v, %d requests", r, apiCount(s)-n)
	}
}

// TestLookupConcurrentBursts: several callers bursting on the same org share
// the listing.
func TestLookupConcurrentBursts(t *testing.T) {
	s := startSim(t, ghsim.Options{})
	seatOrg(t, s, "acme", 2000)
	s.SetFaults(ghsim.Faults{Latency: 2 * time.Millisecond})
	c := simClient(t, s, nil, nil)
	lk := NewLookup(c, LookupConfig{})
	var wg sync.WaitGroup
	for g := range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := lk.Seats(context.Background(), "acme", logins(g*100, 1500), 0)
			for u, r := range res {
				if r.Status != SeatActive {
					t.Errorf("%s: %+v", u, r)
					return
				}
			}
		}()
	}
	wg.Wait()
	if n := apiCount(s); n > 25 {
		t.Fatalf("concurrent bursts cost %d requests", n)
	}
}

func TestLookupCoalescing(t *testing.T) {
	s := startSim(t, ghsim.Options{})
	seatOrg(t, s, "acme", 300)
	s.SetFaults(ghsim.Faults{Latency: 50 * time.Millisecond})
	c := simClient(t, s, nil, nil)
	lk := NewLookup(c, LookupConfig{})
	var wg sync.WaitGroup
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r := lk.Seat(context.Background(), "acme", "user0042"); r.Status != SeatActive {
				t.Errorf("%+v", r)
			}
		}()
	}
	wg.Wait()
	if apiCount(s) != 1 {
		t.Fatalf("100 callers cost %d requests", apiCount(s))
	}
}

func TestLookupTTLAndAbsent(t *testing.T) {
	s := startSim(t, ghsim.Options{})
	seatOrg(t, s, "acme", 300)
	c := simClient(t, s, nil, nil)
	lk := NewLookup(c, LookupConfig{TTL: 300 * time.Millisecond, AbsentTTL: 100 * time.Millisecond})
	ctx := context.Background()
	if r := lk.Seat(ctx, "acme", "user0001"); r.Status != SeatActive {
		t.Fatal(r)
	}
	if r := lk.Seat(ctx, "acme", "ghost"); r.Status != SeatAbsent || r.Err != nil {
		t.Fatal(r)
	}
	first := lk.Seat(ctx, "acme", "user0001")
	lk.Seat(ctx, "acme", "ghost")
	if apiCount(s) != 2 {
		t.Fatalf("cached answers cost %d requests", apiCount(s)-2)
	}
	time.Sleep(150 * time.Millisecond) // absent expired, seat not
	lk.Seat(ctx, "acme", "ghost")
	again := lk.Seat(ctx, "acme", "user0001")
	if apiCount(s) != 3 || !again.FetchedAt.Equal(first.FetchedAt) {
		t.Fatalf("after AbsentTTL: %d requests", apiCount(s))
	}
	time.Sleep(200 * time.Millisecond) // seat expired
	if r := lk.Seat(ctx, "acme", "user0001"); r.Status != SeatActive || apiCount(s) != 4 || !r.FetchedAt.After(first.FetchedAt) {
		t.Fatalf("after TTL: %d requests", apiCount(s))
	}
	lk.Invalidate("acme", "user0001")
	lk.Seat(ctx, "acme", "user0001")
	if apiCount(s) != 5 {
		t.Fatalf("after Invalidate: %d requests", apiCount(s))
	}
}

func TestLookupPendingAndPolicy(t *testing.T) {
	s := startSim(t, ghsim.Options{})
	seatOrg(t, s, "acme", 10)
	if err := s.AddMember("acme", "leaving"); err != nil {
		t.Fatal(err)
	}
	if err := s.Assign("acme", "", "leaving"); err != nil {
		t.Fatal(err)
	}
	if err := s.Unassign("acme", "", "leaving"); err != nil { // pending cancellation to the cycle's end
		t.Fatal(err)
	}
	s.Fail(ghsim.Failure{Path: "/members/invited/", Status: 422, Message: "Copilot Business is not enabled for this organization"},
		ghsim.Failure{Path: "/orgs/off/", Status: 422, Message: "Copilot Business is not enabled for this organization"})
	c := simClient(t, s, nil, nil)
	lk := NewLookup(c, LookupConfig{})
	ctx := context.Background()
	if r := lk.Seat(ctx, "acme", "leaving"); r.Status != SeatPendingCancellation || r.Seat.PendingCancellation == nil {
		t.Fatal(r)
	}
	for range 3 {
		r := lk.Seat(ctx, "acme", "invited")
		if r.Status != SeatPolicyBlocked || !strings.Contains(r.Policy, "not enabled") || r.Err != nil {
			t.Fatal(r)
		}
	}
	// the seat, the 422 (not retried), and the org's setting (assign_selected:
	// the 422 is about this user)
	if apiCount(s) != 3 || countPath(s, "/copilot/billing") != 1 {
		t.Fatalf("422: %d requests", apiCount(s))
	}
	// an org whose seat list is 422: every user PolicyBlocked, and the org's state remembered
	res := lk.Seats(ctx, "off", []string{"a", "b", "c", "d"}, 0)
	res2 := lk.Seats(ctx, "off", []string{"e", "f", "g"}, 0)
	for _, m := range []map[string]Result{res, res2} {
		for u, r := range m {
			if r.Status != SeatPolicyBlocked {
				t.Fatalf("%s: %+v", u, r)
			}
		}
	}
	if apiCount(s) != 4 {
		t.Fatalf("org policy: %d requests", apiCount(s)-3)
	}
}

// TestLookupOrgSettings: a per-user 422 is explained by the org's
// seat_management_setting: Copilot disabled blocks the whole org (no more
// requests), assign_all means the seat list has the answers.
func TestLookupOrgSettings(t *testing.T) {
	s := startSim(t, ghsim.Options{})
	for org, setting := range map[string]string{"allin": ghsim.AssignAll, "dark": ghsim.Disabled} {
		if err := s.AddOrg(org, setting, ""); err != nil {
			t.Fatal(err)
		}
	}
	for _, u := range logins(0, 250) { // on assign_all, every member holds a seat
		if err := s.AddMember("allin", u); err != nil {
			t.Fatal(err)
		}
	}
	for _, u := range logins(0, 5) {
		if err := s.AddMember("dark", u); err != nil {
			t.Fatal(err)
		}
	}
	c := simClient(t, s, nil, nil)
	lk := NewLookup(c, LookupConfig{})
	ctx := context.Background()
	for _, u := range []string{"user0001", "user0002", "user0003"} {
		if r := lk.Seat(ctx, "dark", u); r.Status != SeatPolicyBlocked || r.Policy == "" {
			t.Fatalf("dark/%s: %+v", u, r)
		}
	}
	if apiCount(s) != 2 { // one 422, one billing; then the org is known to be off
		t.Fatalf("disabled org: %d requests", apiCount(s))
	}
	r := lk.Seat(ctx, "allin", "user0201")
	if r.Status != SeatActive || r.Seat == nil || r.Seat.Login != "user0201" {
		t.Fatalf("assign_all org: %+v", r)
	}
	// 422 + billing + 3 list pages
	if got := apiCount(s) - 2; got != 5 || countPath(s, "/orgs/allin/copilot/billing/seats") != 3 {
		t.Fatalf("assign_all org: %d requests", got)
	}
	if r := lk.Seat(ctx, "allin", "ghost"); r.Status != SeatAbsent || apiCount(s) != 7 {
		t.Fatalf("assign_all org, absent user: %+v after %d requests", r, apiCount(s)-7)
	}
}

// TestLookupBudgets: maxRequests, ctx deadlines and rate limits leave the
// rest Unknown with the reason; nothing blocks past ctx.
func TestLookupBudgets(t *testing.T) {
	s := startSim(t, ghsim.Options{})
	seatOrg(t, s, "acme", 2000)
	c := simClient(t, s, nil, nil)
	ctx := context.Background()

	// per-user only, capped at 10 requests
	lk := NewLookup(c, LookupConfig{ListThreshold: -1})
	res := lk.Seats(ctx, "acme", logins(0, 50), 10)
	var active, unknown int
	for _, r := range res {
		switch r.Status {
		case SeatActive:
			active++
		case SeatUnknown:
			unknown++
			if !errors.Is(r.Err, ErrRequestCap) || !Retryable(r.Err) {
				t.Fatalf("unknown reason %v", r.Err)
			}
		}
	}
	if active != 10 || unknown != 40 || apiCount(s) != 10 {
		t.Fatalf("cap 10: active %d unknown %d requests %d", active, unknown, apiCount(s))
	}

	// listing under a cap smaller than the pages: partial listing, rest Unknown
	lk = NewLookup(c, LookupConfig{})
	before := apiCount(s)
	res = lk.Seats(ctx, "acme", logins(0, 2000), 5)
	active, unknown = 0, 0
	for _, r := range res {
		switch r.Status {
		case SeatActive:
			active++
		case SeatUnknown:
			unknown++
		}
	}
	if apiCount(s)-before != 5 || active != 500 || unknown != 1500 {
		t.Fatalf("cap 5 listing: %d requests, active %d unknown %d", apiCount(s)-before, active, unknown)
	}

	// a deadline shorter than GitHub's answer
	s.SetFaults(ghsim.Faults{Latency: 300 * time.Millisecond})
	lk = NewLookup(c, LookupConfig{})
	dctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	start := time.Now()
	res = lk.Seats(dctx, "acme", []string{"user0001", "user0002"}, 0)
	cancel()
	if time.Since(start) > 200*time.Millisecond {
		t.Fatalf("blocked %v past a 50ms deadline", time.Since(start))
	}
	for _, r := range res {
		if r.Status != SeatUnknown || !errors.Is(r.Err, context.DeadlineExceeded) {
			t.Fatalf("deadline: %+v", r)
		}
	}
	s.SetFaults(ghsim.Faults{})

	// the primary budget at the reserve: Unknown with RateLimitedError, nothing sent
	s2 := startSim(t, ghsim.Options{})
	seatOrg(t, s2, "acme", 10)
	s2.SetRateLimit(simToken, 20, 9, time.Now().Add(time.Hour))
	c2 := simClient(t, s2, nil, nil)
	lk = NewLookup(c2, LookupConfig{ListThreshold: -1})
	res = lk.Seats(ctx, "acme", logins(0, 5), 0)
	var rl *RateLimitedError
	limited := 0
	for _, r := range res {
		if r.Status == SeatUnknown && errors.As(r.Err, &rl) {
			limited++
		}
	}
	if apiCount(s2) != 1 || limited != 4 || s2.LimitViolations() != 0 {
		t.Fatalf("at the reserve: %d requests, %d limited", apiCount(s2), limited)
	}
}

// TestLookupPlan: with the total known, the cheaper plan wins.
func TestLookupPlan(t *testing.T) {
	s := startSim(t, ghsim.Options{})
	seatOrg(t, s, "acme", 1000) // 10 pages
	c := simClient(t, s, nil, nil)
	lk := NewLookup(c, LookupConfig{TTL: time.Hour, AbsentTTL: time.Millisecond})
	ctx := context.Background()
	// unknown total, 2 users (< ListThreshold 3): per-user
	lk.Seats(ctx, "acme", []string{"user0001", "user0002"}, 0)
	if countPath(s, "/members/") != 2 || countPath(s, "/billing/seats") != 0 {
		t.Fatalf("two users: %v", s.RequestLog())
	}
	// unknown total, 5 users all on page 1: one page, then nothing left
	lk.Seats(ctx, "acme", logins(10, 5), 0)
	if countPath(s, "/billing/seats") != 1 || apiCount(s) != 3 {
		t.Fatalf("five users on page 1: %d requests", apiCount(s))
	}
	// total known (1000 -> 10 pages): 6 users on later pages: per-user (6 < 10)
	lk.Seats(ctx, "acme", []string{"user0500", "user0600", "user0700", "user0800", "user0900", "user0950"}, 0)
	if apiCount(s) != 9 || countPath(s, "/members/") != 8 {
		t.Fatalf("six users with the total known: %d requests", apiCount(s))
	}
	// 30 users spread across the org: listing from page 1 (10 < 30)
	spread := make([]string, 0, 30)
	for i := range 30 {
		spread = append(spread, fmt.Sprintf("user%04d", 101+i*29))
	}
	before := apiCount(s)
	lk = NewLookup(c, LookupConfig{})
	lk.Seats(ctx, "acme", spread[:1], 0)                         // learn nothing about the total (per-user)
	lk.Seats(ctx, "acme", append(spread, "ghost1", "ghost2"), 0) // unknown total, 31 users: list
	if got := apiCount(s) - before; got != 1+10 {
		t.Fatalf("spread: %d requests", got)
	}
}
