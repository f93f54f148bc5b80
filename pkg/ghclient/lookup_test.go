package ghclient

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
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
	f := newFakeGH(t)
	f.addOrg("acme", 2000)
	c := newTestClient(t, f, nil, nil)
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
	n := f.count()
	t.Logf("2,000-user burst: %d requests (%d list pages, %d per-user)", n, f.countPath("/billing/seats"), f.countPath("/members/"))
	if n > 20 || f.countPath("/members/") != 0 {
		t.Fatalf("burst cost %d requests", n)
	}
	// all cached now
	res = lk.Seats(ctx, "acme", logins(500, 1000), 0)
	if f.count() != n || res["user0999"].Status != SeatActive {
		t.Fatalf("cached burst cost %d requests", f.count()-n)
	}
	lk2 := NewLookup(c, LookupConfig{}) // a cold cache: one user -> one GET
	r := lk2.Seat(ctx, "acme", "user1234")
	if r.Status != SeatActive || f.count() != n+1 || f.countPath("/members/user1234/copilot") != 1 {
		t.Fatalf("single user: %+v, %d requests", r, f.count()-n)
	}
}

// TestLookupConcurrentBursts: several callers bursting on the same org share
// the listing.
func TestLookupConcurrentBursts(t *testing.T) {
	f := newFakeGH(t)
	f.addOrg("acme", 2000)
	f.setLatency(2 * time.Millisecond)
	c := newTestClient(t, f, nil, nil)
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
	if n := f.count(); n > 25 {
		t.Fatalf("concurrent bursts cost %d requests", n)
	}
}

func TestLookupCoalescing(t *testing.T) {
	f := newFakeGH(t)
	f.addOrg("acme", 300)
	f.setLatency(50 * time.Millisecond)
	c := newTestClient(t, f, nil, nil)
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
	if f.count() != 1 {
		t.Fatalf("100 callers cost %d requests", f.count())
	}
}

func TestLookupTTLAndAbsent(t *testing.T) {
	f := newFakeGH(t)
	f.addOrg("acme", 300)
	c := newTestClient(t, f, nil, nil)
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
	if f.count() != 2 {
		t.Fatalf("cached answers cost %d requests", f.count()-2)
	}
	time.Sleep(150 * time.Millisecond) // absent expired, seat not
	lk.Seat(ctx, "acme", "ghost")
	again := lk.Seat(ctx, "acme", "user0001")
	if f.count() != 3 || !again.FetchedAt.Equal(first.FetchedAt) {
		t.Fatalf("after AbsentTTL: %d requests", f.count())
	}
	time.Sleep(200 * time.Millisecond) // seat expired
	if r := lk.Seat(ctx, "acme", "user0001"); r.Status != SeatActive || f.count() != 4 || !r.FetchedAt.After(first.FetchedAt) {
		t.Fatalf("after TTL: %d requests", f.count())
	}
	lk.Invalidate("acme", "user0001")
	lk.Seat(ctx, "acme", "user0001")
	if f.count() != 5 {
		t.Fatalf("after Invalidate: %d requests", f.count())
	}
}

func TestLookupPendingAndPolicy(t *testing.T) {
	f := newFakeGH(t)
	f.addRawSeat("acme", string(seatJSON("leaving", 5, map[string]any{"pending_cancellation_date": "2030-01-31"})))
	f.addOrg("acme", 10)
	f.setHook(func(w http.ResponseWriter, r *http.Request, n int) bool {
		if strings.Contains(r.URL.Path, "/members/invited/") || strings.HasPrefix(r.URL.Path, "/orgs/off/") {
			writeJSON(w, 422, map[string]string{"message": "Copilot Business is not enabled for this organization"})
			return true
		}
		return false
	})
	c := newTestClient(t, f, nil, nil)
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
	if f.count() != 3 || f.countPath("/copilot/billing") != 1 {
		t.Fatalf("422: %d requests", f.count())
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
	if f.count() != 4 {
		t.Fatalf("org policy: %d requests", f.count()-3)
	}
}

// TestLookupOrgSettings: a per-user 422 is explained by the org's
// seat_management_setting: Copilot disabled blocks the whole org (no more
// requests), assign_all means the seat list has the answers.
func TestLookupOrgSettings(t *testing.T) {
	f := newFakeGH(t)
	f.addOrg("allin", 250)
	f.addOrg("dark", 5)
	f.settings = map[string]string{"allin": "assign_all", "dark": "disabled"}
	f.setHook(func(w http.ResponseWriter, r *http.Request, n int) bool {
		if strings.Contains(r.URL.Path, "/members/") && (strings.HasPrefix(r.URL.Path, "/orgs/allin/") || strings.HasPrefix(r.URL.Path, "/orgs/dark/")) {
			writeJSON(w, 422, map[string]string{"message": "per-user details unavailable"})
			return true
		}
		return false
	})
	c := newTestClient(t, f, nil, nil)
	lk := NewLookup(c, LookupConfig{})
	ctx := context.Background()
	for _, u := range []string{"user0001", "user0002", "user0003"} {
		if r := lk.Seat(ctx, "dark", u); r.Status != SeatPolicyBlocked || r.Policy == "" {
			t.Fatalf("dark/%s: %+v", u, r)
		}
	}
	if f.count() != 2 { // one 422, one billing; then the org is known to be off
		t.Fatalf("disabled org: %d requests", f.count())
	}
	r := lk.Seat(ctx, "allin", "user0201")
	if r.Status != SeatActive || r.Seat == nil || r.Seat.Login != "user0201" {
		t.Fatalf("assign_all org: %+v", r)
	}
	// 422 + billing + 3 list pages
	if got := f.count() - 2; got != 5 || f.countPath("/orgs/allin/copilot/billing/seats") != 3 {
		t.Fatalf("assign_all org: %d requests", got)
	}
	if r := lk.Seat(ctx, "allin", "ghost"); r.Status != SeatAbsent || f.count() != 7 {
		t.Fatalf("assign_all org, absent user: %+v after %d requests", r, f.count()-7)
	}
}

// TestLookupBudgets: maxRequests, ctx deadlines and rate limits leave the
// rest Unknown with the reason; nothing blocks past ctx.
func TestLookupBudgets(t *testing.T) {
	f := newFakeGH(t)
	f.addOrg("acme", 2000)
	c := newTestClient(t, f, nil, nil)
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
	if active != 10 || unknown != 40 || f.count() != 10 {
		t.Fatalf("cap 10: active %d unknown %d requests %d", active, unknown, f.count())
	}

	// listing under a cap smaller than the pages: partial listing, rest Unknown
	lk = NewLookup(c, LookupConfig{})
	before := f.count()
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
	if f.count()-before != 5 || active != 500 || unknown != 1500 {
		t.Fatalf("cap 5 listing: %d requests, active %d unknown %d", f.count()-before, active, unknown)
	}

	// a deadline shorter than GitHub's answer
	f.setLatency(300 * time.Millisecond)
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
	f.setLatency(0)

	// the primary budget at the reserve: Unknown with RateLimitedError, nothing sent
	f2 := newFakeGH(t)
	f2.addOrg("acme", 10)
	f2.setWindow(20, 9, time.Hour)
	c2 := newTestClient(t, f2, nil, nil)
	lk = NewLookup(c2, LookupConfig{ListThreshold: -1})
	res = lk.Seats(ctx, "acme", logins(0, 5), 0)
	var rl *RateLimitedError
	limited := 0
	for _, r := range res {
		if r.Status == SeatUnknown && errors.As(r.Err, &rl) {
			limited++
		}
	}
	if f2.count() != 1 || limited != 4 || f2.nViolations() != 0 {
		t.Fatalf("at the reserve: %d requests, %d limited", f2.count(), limited)
	}
}

// TestLookupPlan: with the total known, the cheaper plan wins.
func TestLookupPlan(t *testing.T) {
	f := newFakeGH(t)
	f.addOrg("acme", 1000) // 10 pages
	c := newTestClient(t, f, nil, nil)
	lk := NewLookup(c, LookupConfig{TTL: time.Hour, AbsentTTL: time.Millisecond})
	ctx := context.Background()
	// unknown total, 2 users (< ListThreshold 3): per-user
	lk.Seats(ctx, "acme", []string{"user0001", "user0002"}, 0)
	if f.countPath("/members/") != 2 || f.countPath("/billing/seats") != 0 {
		t.Fatalf("two users: %v", f.requests())
	}
	// unknown total, 5 users all on page 1: one page, then nothing left
	lk.Seats(ctx, "acme", logins(10, 5), 0)
	if f.countPath("/billing/seats") != 1 || f.count() != 3 {
		t.Fatalf("five users on page 1: %d requests", f.count())
	}
	// total known (1000 -> 10 pages): 6 users on later pages: per-user (6 < 10)
	lk.Seats(ctx, "acme", []string{"user0500", "user0600", "user0700", "user0800", "user0900", "user0950"}, 0)
	if f.count() != 9 || f.countPath("/members/") != 8 {
		t.Fatalf("six users with the total known: %d requests", f.count())
	}
	// 30 users spread across the org: listing from page 1 (10 < 30)
	spread := make([]string, 0, 30)
	for i := range 30 {
		spread = append(spread, fmt.Sprintf("user%04d", 101+i*29))
	}
	before := f.count()
	lk = NewLookup(c, LookupConfig{})
	lk.Seats(ctx, "acme", spread[:1], 0)                         // learn nothing about the total (per-user)
	lk.Seats(ctx, "acme", append(spread, "ghost1", "ghost2"), 0) // unknown total, 31 users: list
	if got := f.count() - before; got != 1+10 {
		t.Fatalf("spread: %d requests", got)
	}
}
