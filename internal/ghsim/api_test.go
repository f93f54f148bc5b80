package ghsim

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-github/v93/github"
)

func TestPaginationLinks(t *testing.T) {
	s := startSim(t, Options{Seed: 1})
	must(t, s.AddOrg("big", AssignSelected, ""))
	var users []string
	for i := range 230 {
		u := fmt.Sprintf("user%03d", i)
		must(t, s.AddMember("big", u))
		users = append(users, u)
	}
	must(t, s.Assign("big", "", users[:100]...))
	must(t, s.Assign("big", "", users[100:200]...))
	must(t, s.Assign("big", "", users[200:]...))

	ctx := context.Background()
	gh := ghClient(t, s, testToken)
	seen := map[string]bool{}
	opts := &github.ListOptions{PerPage: 100}
	pages := 0
	for {
		res, resp, err := gh.Copilot.ListCopilotSeats(ctx, "big", opts)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if res.TotalSeats != 230 {
			t.Fatalf("total_seats = %d", res.TotalSeats)
		}
		if resp.LastPage != 0 && resp.LastPage != 3 {
			t.Fatalf("LastPage = %d", resp.LastPage)
		}
		switch opts.Page {
		case 0, 1:
			if resp.NextPage != 2 || resp.LastPage != 3 || resp.PrevPage != 0 || resp.FirstPage != 0 {
				t.Fatalf("page 1 links: %+v (%s)", resp, resp.Header.Get("Link"))
			}
		case 2:
			if resp.NextPage != 3 || resp.PrevPage != 1 || resp.FirstPage != 1 || resp.LastPage != 3 {
				t.Fatalf("page 2 links: next %d prev %d first %d last %d", resp.NextPage, resp.PrevPage, resp.FirstPage, resp.LastPage)
			}
		case 3:
			if resp.NextPage != 0 || resp.PrevPage != 2 || resp.FirstPage != 1 || len(res.Seats) != 30 {
				t.Fatalf("page 3: next %d prev %d first %d, %d seats", resp.NextPage, resp.PrevPage, resp.FirstPage, len(res.Seats))
			}
		}
		for _, st := range res.Seats {
			u, ok := st.GetUser()
			if !ok {
				t.Fatalf("assignee not a user: %#v", st.Assignee)
			}
			if seen[u.GetLogin()] {
				t.Fatalf("%s listed twice", u.GetLogin())
			}
			seen[u.GetLogin()] = true
		}
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	if pages != 3 || len(seen) != 230 {
		t.Fatalf("%d pages, %d seats", pages, len(seen))
	}

	// Absolute URLs on the server's own address, per_page kept, page last.
	r := get(t, s, "/orgs/big/copilot/billing/seats?per_page=100&page=2")
	want := fmt.Sprintf(`<%s/orgs/big/copilot/billing/seats?per_page=100&page=1>; rel="prev", `+
		`<%[1]s/orgs/big/copilot/billing/seats?per_page=100&page=3>; rel="next", `+
		`<%[1]s/orgs/big/copilot/billing/seats?per_page=100&page=3>; rel="last", `+
		`<%[1]s/orgs/big/copilot/billing/seats?per_page=100&page=1>; rel="first"`, s.URL())
	if got := r.header.Get("Link"); got != want {
		t.Fatalf("Link:\n got %s\nwant %s", got, want)
	}
	// Default 50 per page; per_page above 100 is clamped.
	var list struct {
		TotalSeats int              `json:"total_seats"`
		Seats      []map[string]any `json:"seats"`
	}
	get(t, s, "/orgs/big/copilot/billing/seats").json(t, &list)
	if len(list.Seats) != 50 {
		t.Fatalf("default page size %d", len(list.Seats))
	}
	r = get(t, s, "/orgs/big/copilot/billing/seats?per_page=500")
	r.json(t, &list)
	if len(list.Seats) != 100 || !strings.Contains(r.header.Get("Link"), `per_page=500&page=3>; rel="last"`) {
		t.Fatalf("clamp: %d seats, Link %s", len(list.Seats), r.header.Get("Link"))
	}
	// A page past the end is empty, total_seats still set.
	get(t, s, "/orgs/big/copilot/billing/seats?per_page=100&page=9").json(t, &list)
	if len(list.Seats) != 0 || list.TotalSeats != 230 {
		t.Fatalf("past the end: %d seats, total %d", len(list.Seats), list.TotalSeats)
	}
	// A single page has no Link header.
	must(t, s.AddOrg("tiny", AssignSelected, ""))
	must(t, s.AddMember("tiny", "solo"))
	must(t, s.Assign("tiny", "", "solo"))
	if l := get(t, s, "/orgs/tiny/copilot/billing/seats").header.Get("Link"); l != "" {
		t.Fatalf("single page Link: %s", l)
	}
}

func TestNullAssigneeDecodes(t *testing.T) {
	s := startSim(t, Options{Seed: 2})
	smallEnterprise(t, s)
	must(t, s.Assign("octo", "", "alice", "bob", "erin"))
	must(t, s.DeleteUser("bob"))

	r := get(t, s, "/orgs/octo/copilot/billing/seats")
	if !strings.Contains(string(r.body), `"assignee":null`) {
		t.Fatalf("no null assignee in %s", r.body)
	}
	res, _, err := ghClient(t, s, testToken).Copilot.ListCopilotSeats(context.Background(), "octo", nil)
	if err != nil {
		t.Fatalf("go-github v84 failed on a page with a null assignee: %v", err)
	}
	nulls := 0
	for _, st := range res.Seats {
		if st.Assignee == nil {
			nulls++
			if st.PendingCancellationDate == nil || *st.PendingCancellationDate != "2024-07-01" {
				t.Fatalf("deleted user's seat: pending %v", st.PendingCancellationDate)
			}
		}
	}
	if nulls != 1 || res.TotalSeats != 3 {
		t.Fatalf("%d null assignees, total %d", nulls, res.TotalSeats)
	}
	// The deleted user cannot be looked up.
	if r := get(t, s, "/orgs/octo/members/bob/copilot"); r.status != 404 {
		t.Fatalf("deleted user: %d", r.status)
	}
}

func TestEnterpriseSeatsAndTeams(t *testing.T) {
	s := startSim(t, Options{Seed: 3, Enterprise: "acme"})
	smallEnterprise(t, s)
	must(t, s.AddMember("octo", "frank"))
	must(t, s.Assign("octo", "", "alice", "frank"))
	slug, err := s.AddEnterpriseTeam("platform-team", "alice", "zed")
	must(t, err)
	if slug != "ent:platform-team" {
		t.Fatalf("slug %q", slug)
	}
	must(t, s.AssignEnterpriseTeams("", slug))

	ctx := context.Background()
	gh := ghClient(t, s, testToken)
	res, _, err := gh.Copilot.ListCopilotEnterpriseSeats(ctx, "acme", nil)
	if err != nil {
		t.Fatal(err)
	}
	// alice: octo, allorg (assign_all), ent team; frank: octo, allorg; zed: ent team.
	count := map[string]int{}
	var entSeat *github.CopilotSeatDetails
	for _, st := range res.Seats {
		u, ok := st.GetUser()
		if !ok {
			t.Fatalf("assignee %#v", st.Assignee)
		}
		count[u.GetLogin()]++
		if st.AssigningTeam != nil && u.GetLogin() == "zed" {
			entSeat = st
		}
	}
	if count["alice"] != 3 || count["frank"] != 2 || count["zed"] != 1 || len(res.Seats) != 6 {
		t.Fatalf("seat objects per user: %v (%d)", count, len(res.Seats))
	}
	if res.TotalSeats != 3 {
		t.Fatalf("total_seats = %d, want each user once (3)", res.TotalSeats)
	}
	if entSeat == nil || entSeat.AssigningTeam.GetSlug() != "ent:platform-team" ||
		entSeat.AssigningTeam.GetName() != "Platform Team" || entSeat.AssigningTeam.GetID() == 0 {
		t.Fatalf("enterprise-team assigning_team: %+v", entSeat)
	}
	if entSeat.GetPlanType() != PlanEnterprise {
		t.Fatalf("plan %q", entSeat.GetPlanType())
	}
	r := get(t, s, "/enterprises/acme/copilot/billing/seats")
	if !strings.Contains(string(r.body), `"organization_selection_type":"disabled"`) ||
		!strings.Contains(string(r.body), `"organization":null`) {
		t.Fatalf("enterprise team shape: %s", r.body)
	}
	if st, ok := s.Seat("ent:platform-team", "zed"); !ok || st.AssigningTeam != "ent:platform-team" || st.Org != "" {
		t.Fatalf("truth: %+v %v", st, ok)
	}
	if r := get(t, s, "/enterprises/other/copilot/billing/seats"); r.status != 404 {
		t.Fatalf("unknown enterprise: %d", r.status)
	}

	// An org team seat.
	must(t, s.AssignTeams("octo", "", "backend"))
	sd, _, err := gh.Copilot.GetSeatDetails(ctx, "octo", "carol")
	if err != nil {
		t.Fatal(err)
	}
	if sd.AssigningTeam.GetSlug() != "backend" || sd.AssigningTeam.GetName() != "Backend" {
		t.Fatalf("org team assigning_team %+v", sd.AssigningTeam)
	}
	if sd.LastActivityAt != nil || sd.LastActivityEditor != nil {
		t.Fatalf("never used, but activity %v %v", sd.LastActivityAt, sd.LastActivityEditor)
	}
	// Activity.
	at := s.Now().Add(-time.Hour)
	must(t, s.SetActivity("octo", "carol", at, "vscode/1.89.1/copilot/1.196.0"))
	sd, _, err = gh.Copilot.GetSeatDetails(ctx, "octo", "carol")
	if err != nil {
		t.Fatal(err)
	}
	if !sd.LastActivityAt.Time.Equal(at) || sd.GetLastActivityEditor() != "vscode/1.89.1/copilot/1.196.0" {
		t.Fatalf("activity %v %q", sd.LastActivityAt, sd.GetLastActivityEditor())
	}
	// A new team member gets a seat through the team.
	must(t, s.AddTeam("octo", "backend", "erin"))
	if st, ok := s.Seat("octo", "erin"); !ok || st.AssigningTeam != "backend" {
		t.Fatalf("new team member: %+v %v", st, ok)
	}
}

func TestBilling(t *testing.T) {
	s := startSim(t, Options{Seed: 4})
	smallEnterprise(t, s)
	must(t, s.Assign("octo", "", "alice", "bob", "ivan"))
	must(t, s.Unassign("octo", "", "bob"))
	must(t, s.SetActivity("octo", "alice", s.Now(), "vscode"))
	d, _, err := ghClient(t, s, testToken).Copilot.GetCopilotBilling(context.Background(), "octo")
	if err != nil {
		t.Fatal(err)
	}
	b := d.SeatBreakdown
	if d.SeatManagementSetting != AssignSelected || b.Total != 3 || b.PendingCancellation != 1 ||
		b.PendingInvitation != 1 || b.ActiveThisCycle != 1 || b.InactiveThisCycle != 2 || b.AddedThisCycle != 3 {
		t.Fatalf("billing %+v %+v", d, b)
	}
	var m map[string]any
	get(t, s, "/orgs/allorg/copilot/billing").json(t, &m)
	for _, k := range []string{"ide_chat", "platform_chat", "cli", "public_code_suggestions", "plan_type"} {
		if _, ok := m[k]; !ok {
			t.Fatalf("billing lacks %s: %v", k, m)
		}
	}
	if m["plan_type"] != "enterprise" || m["seat_management_setting"] != "assign_all" {
		t.Fatalf("billing %v", m)
	}
	if r := get(t, s, "/orgs/nope/copilot/billing"); r.status != 404 {
		t.Fatalf("unknown org: %d", r.status)
	}
}

func TestSeatDetailsStatuses(t *testing.T) {
	s := startSim(t, Options{Seed: 5})
	smallEnterprise(t, s)
	must(t, s.Assign("octo", "", "alice", "ivan"))
	cases := []struct {
		path   string
		status int
		msg    string
	}{
		{"/orgs/octo/members/alice/copilot", 200, ""},
		{"/orgs/octo/members/bob/copilot", 404, "Not Found"},           // member without a seat
		{"/orgs/octo/members/nobody/copilot", 404, "Not Found"},        // no such user
		{"/orgs/nope/members/alice/copilot", 404, "Not Found"},         // no such org
		{"/orgs/octo/members/ivan/copilot", 422, "pending invitation"}, // invited, even with a seat
		{"/orgs/allorg/members/alice/copilot", 422, "all members"},     // assign_all
		{"/orgs/off/members/gina/copilot", 422, "not enabled"},         // disabled
	}
	for _, c := range cases {
		r := get(t, s, c.path)
		if r.status != c.status {
			t.Fatalf("%s: %d %s", c.path, r.status, r.body)
		}
		if c.status != 200 {
			e := r.apiErr(t)
			if !strings.Contains(e.Message, c.msg) || !strings.HasPrefix(e.DocumentationURL, "https://docs.github.com/") ||
				e.Status != fmt.Sprint(c.status) {
				t.Fatalf("%s: error body %s", c.path, r.body)
			}
		}
	}
	// go-github sees a 404 as an *ErrorResponse.
	_, resp, err := ghClient(t, s, testToken).Copilot.GetSeatDetails(context.Background(), "octo", "bob")
	var er *github.ErrorResponse
	if !errors.As(err, &er) || resp.StatusCode != 404 {
		t.Fatalf("go-github 404: %v", err)
	}
}

func TestSelectedUsersAndTeams(t *testing.T) {
	s := startSim(t, Options{Seed: 6})
	smallEnterprise(t, s)
	ctx := context.Background()
	gh := ghClient(t, s, testToken)

	a, resp, err := gh.Copilot.AddCopilotUsers(ctx, "octo", []string{"alice", "bob"})
	if err != nil || a.SeatsCreated != 2 || resp.StatusCode != 201 {
		t.Fatalf("add: %+v %v", a, err)
	}
	a, _, err = gh.Copilot.AddCopilotUsers(ctx, "octo", []string{"alice"}) // reused
	if err != nil || a.SeatsCreated != 0 {
		t.Fatalf("re-add: %+v %v", a, err)
	}
	c, resp, err := gh.Copilot.RemoveCopilotUsers(ctx, "octo", []string{"bob", "erin"})
	if err != nil || c.SeatsCancelled != 1 || resp.StatusCode != 200 {
		t.Fatalf("remove: %+v %v", c, err)
	}
	st, ok := s.Seat("octo", "bob")
	if !ok || st.PendingCancellationDate != "2024-07-01" {
		t.Fatalf("pending: %+v %v", st, ok)
	}
	sd, _, err := gh.Copilot.GetSeatDetails(ctx, "octo", "bob")
	if err != nil || sd.GetPendingCancellationDate() != "2024-07-01" {
		t.Fatalf("seat pending cancellation still listed: %+v %v", sd, err)
	}
	a, _, err = gh.Copilot.AddCopilotUsers(ctx, "octo", []string{"bob"}) // refresh
	if err != nil || a.SeatsCreated != 1 {
		t.Fatalf("refresh: %+v %v", a, err)
	}
	if st, _ := s.Seat("octo", "bob"); st.PendingCancellationDate != "" {
		t.Fatalf("refresh left %q", st.PendingCancellationDate)
	}

	// Teams.
	a, _, err = gh.Copilot.AddCopilotTeams(ctx, "octo", []string{"backend"})
	if err != nil || a.SeatsCreated != 2 {
		t.Fatalf("add team: %+v %v", a, err)
	}
	for _, u := range []string{"carol", "dave"} {
		if st, ok := s.Seat("octo", u); !ok || st.AssigningTeam != "backend" {
			t.Fatalf("%s: %+v", u, st)
		}
	}
	must(t, s.Assign("octo", "", "carol")) // carol also direct
	c, _, err = gh.Copilot.RemoveCopilotTeams(ctx, "octo", []string{"backend"})
	if err != nil || c.SeatsCancelled != 1 { // dave only: carol keeps her direct seat
		t.Fatalf("remove team: %+v %v", c, err)
	}
	if st, _ := s.Seat("octo", "carol"); st.PendingCancellationDate != "" || st.AssigningTeam != "" {
		t.Fatalf("carol %+v", st)
	}
	if st, _ := s.Seat("octo", "dave"); st.PendingCancellationDate == "" {
		t.Fatalf("dave %+v", st)
	}

	// 422s.
	expect422 := func(what string, err error, resp *github.Response, substr string) {
		t.Helper()
		var er *github.ErrorResponse
		if !errors.As(err, &er) || resp == nil || resp.StatusCode != 422 || !strings.Contains(er.Message, substr) {
			t.Fatalf("%s: want 422 %q, got %v", what, substr, err)
		}
	}
	_, resp, err = gh.Copilot.AddCopilotUsers(ctx, "allorg", []string{"alice"})
	expect422("add users on assign_all", err, resp, "assign_all")
	_, resp, err = gh.Copilot.RemoveCopilotUsers(ctx, "allorg", []string{"alice"})
	expect422("remove users on assign_all", err, resp, "assign_all")
	_, resp, err = gh.Copilot.AddCopilotTeams(ctx, "allorg", []string{"x"})
	expect422("add teams on assign_all", err, resp, "assign_all")
	_, resp, err = gh.Copilot.RemoveCopilotTeams(ctx, "allorg", []string{"x"})
	expect422("remove teams on assign_all", err, resp, "assign_all")
	_, resp, err = gh.Copilot.AddCopilotUsers(ctx, "off", []string{"gina"})
	expect422("add users on disabled", err, resp, "not enabled")
	many := make([]string, 101)
	for i := range many {
		many[i] = fmt.Sprintf("u%d", i)
	}
	_, resp, err = gh.Copilot.AddCopilotUsers(ctx, "octo", many)
	expect422("101 users", err, resp, "Maximum is 100")
	_, resp, err = gh.Copilot.RemoveCopilotUsers(ctx, "octo", many)
	expect422("101 users (delete)", err, resp, "Maximum is 100")
	_, resp, err = gh.Copilot.AddCopilotTeams(ctx, "octo", many)
	expect422("101 teams", err, resp, "Maximum is 100")
	_, resp, err = gh.Copilot.AddCopilotUsers(ctx, "octo", []string{"frank"})
	expect422("non-member", err, resp, "frank")
	_, resp, err = gh.Copilot.AddCopilotTeams(ctx, "octo", []string{"nosuchteam"})
	expect422("unknown team", err, resp, "nosuchteam")
	_, resp, err = gh.Copilot.AddCopilotUsers(ctx, "octo", []string{})
	expect422("empty", err, resp, "selected_usernames")
	// Exactly 100 is fine (all members).
	must(t, s.AddOrg("hundred", AssignSelected, ""))
	for _, u := range many[:100] {
		must(t, s.AddMember("hundred", u))
	}
	if a, _, err := gh.Copilot.AddCopilotUsers(ctx, "hundred", many[:100]); err != nil || a.SeatsCreated != 100 {
		t.Fatalf("100 users: %+v %v", a, err)
	}
	// The invited user can be assigned a seat.
	if a, _, err := gh.Copilot.AddCopilotUsers(ctx, "octo", []string{"ivan"}); err != nil || a.SeatsCreated != 1 {
		t.Fatalf("invited: %+v %v", a, err)
	}
	// Unknown org → 404; bad JSON → 400.
	if r := raw(t, s, http.MethodPost, "/orgs/nope/copilot/billing/selected_users", testToken, APIVersion,
		map[string]any{"selected_usernames": []string{"a"}}); r.status != 404 {
		t.Fatalf("unknown org: %d", r.status)
	}
	if r := raw(t, s, http.MethodPost, "/orgs/octo/copilot/billing/selected_users", testToken, APIVersion,
		"not an object"); r.status != 400 {
		t.Fatalf("bad JSON: %d %s", r.status, r.body)
	}
}

func TestPendingCancellationCycleEnd(t *testing.T) {
	s := startSim(t, Options{Seed: 7, Start: time.Date(2024, 6, 20, 15, 0, 0, 0, time.UTC)})
	smallEnterprise(t, s)
	must(t, s.Assign("octo", "boss", "alice", "bob"))
	s.Events()
	must(t, s.Unassign("octo", "boss", "alice"))
	st, _ := s.Seat("octo", "alice")
	if st.PendingCancellationDate != "2024-07-01" {
		t.Fatalf("pending %q", st.PendingCancellationDate)
	}
	s.Advance(5 * 24 * time.Hour) // 25 June: still there
	if _, ok := s.Seat("octo", "alice"); !ok {
		t.Fatal("seat gone before the cycle ended")
	}
	if r := get(t, s, "/orgs/octo/members/alice/copilot"); r.status != 200 {
		t.Fatalf("before cycle end: %d", r.status)
	}
	s.Advance(10 * 24 * time.Hour) // 5 July
	if _, ok := s.Seat("octo", "alice"); ok {
		t.Fatal("seat still there after the cycle ended")
	}
	if r := get(t, s, "/orgs/octo/members/alice/copilot"); r.status != 404 {
		t.Fatalf("after cycle end: %d", r.status)
	}
	if _, ok := s.Seat("octo", "bob"); !ok {
		t.Fatal("bob's active seat vanished")
	}
	evs := parseAll(t, s.Events())
	var cancelled []string
	for _, e := range evs {
		if e.Action == "copilot.cfb_seat_cancelled" {
			cancelled = append(cancelled, e.User)
			if e.SeatAssignment != "user:alice" || e.Org != "octo" || e.Actor != "boss" ||
				!e.Timestamp.Equal(time.Date(2024, 7, 1, 0, 0, 0, 0, time.UTC)) {
				t.Fatalf("cancelled event %+v", e)
			}
		}
	}
	if len(cancelled) != 1 || cancelled[0] != "alice" {
		t.Fatalf("cancelled events for %v", cancelled)
	}
	if got := s.Now(); !got.Equal(time.Date(2024, 7, 5, 15, 0, 0, 0, time.UTC)) {
		t.Fatalf("Now %v", got)
	}
	// A billing cycle starting on the 15th.
	s2 := New(Options{Start: time.Date(2024, 6, 20, 0, 0, 0, 0, time.UTC), BillingCycleDay: 15})
	must(t, s2.AddOrg("o", AssignSelected, ""))
	must(t, s2.AddMember("o", "u"))
	must(t, s2.Assign("o", "", "u"))
	must(t, s2.Unassign("o", "", "u"))
	if st, _ := s2.Seat("o", "u"); st.PendingCancellationDate != "2024-07-15" {
		t.Fatalf("cycle day 15: %q", st.PendingCancellationDate)
	}
}

func TestSeatManagementChanges(t *testing.T) {
	s := startSim(t, Options{Seed: 8})
	smallEnterprise(t, s)
	must(t, s.Assign("octo", "", "alice"))
	s.Events()
	must(t, s.SetSeatManagement("octo", "boss", AssignAll))
	for _, u := range []string{"alice", "bob", "carol", "dave", "erin"} {
		if _, ok := s.Seat("octo", u); !ok {
			t.Fatalf("assign_all: %s has no seat", u)
		}
	}
	evs := parseAll(t, s.Events())
	if evs[0].Action != "copilot.cfb_seat_management_changed" || evs[0].OldValue != AssignSelected || evs[0].NewValue != AssignAll {
		t.Fatalf("first event %+v", evs[0])
	}
	if n := countActions(evs)["copilot.cfb_seat_added"]; n != 4 {
		t.Fatalf("seat_added %d", n)
	}
	must(t, s.SetSeatManagement("octo", "boss", AssignSelected))
	if st, _ := s.Seat("octo", "bob"); !st.Direct || st.PendingCancellationDate != "" {
		t.Fatalf("after assign_all → assign_selected: %+v", st)
	}
	must(t, s.SetSeatManagement("octo", "boss", Disabled))
	for _, st := range s.Seats("octo") {
		if st.PendingCancellationDate == "" {
			t.Fatalf("disabled: %+v still active", st)
		}
	}
	if n := countActions(parseAll(t, s.Events()))["copilot.cfb_seat_assignment_unassigned"]; n != 5 {
		t.Fatalf("unassigned events %d", n)
	}
	if err := s.SetSeatManagement("octo", "", "bogus"); !errors.Is(err, ErrInvalidSetting) {
		t.Fatal(err)
	}
}

func TestAuthVersionAndRouting(t *testing.T) {
	s := startSim(t, Options{Seed: 9, Tokens: []string{testToken}})
	smallEnterprise(t, s)
	checkRL := func(r rawResp) {
		t.Helper()
		for _, h := range []string{"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "X-RateLimit-Used", "X-RateLimit-Resource", "X-GitHub-Request-Id"} {
			if r.header.Get(h) == "" {
				t.Fatalf("status %d lacks %s", r.status, h)
			}
		}
	}
	r := raw(t, s, "GET", "/orgs/octo/copilot/billing", "", APIVersion, nil)
	if r.status != 401 || r.apiErr(t).Message != "Requires authentication" {
		t.Fatalf("no token: %d %s", r.status, r.body)
	}
	checkRL(r)
	if r := raw(t, s, "GET", "/orgs/octo/copilot/billing", "wrong", APIVersion, nil); r.status != 401 || r.apiErr(t).Message != "Bad credentials" {
		t.Fatalf("bad token: %d %s", r.status, r.body)
	}
	r = raw(t, s, "GET", "/orgs/octo/copilot/billing", testToken, "", nil)
	if r.status != 400 || !strings.Contains(r.apiErr(t).Message, "X-GitHub-Api-Version") {
		t.Fatalf("no version: %d %s", r.status, r.body)
	}
	checkRL(r)
	if r := raw(t, s, "GET", "/orgs/octo/copilot/billing", testToken, "2021-01-01", nil); r.status != 400 {
		t.Fatalf("bad version: %d", r.status)
	}
	r = get(t, s, "/orgs/octo/copilot/usage-not-here")
	if r.status != 404 || r.apiErr(t).Message != "Not Found" {
		t.Fatalf("unknown route: %d %s", r.status, r.body)
	}
	checkRL(r)
	if r := raw(t, s, "PUT", "/orgs/octo/copilot/billing", testToken, APIVersion, nil); r.status != 404 {
		t.Fatalf("wrong method: %d", r.status)
	}
	// "token" scheme works too.
	req, _ := http.NewRequest("GET", s.URL()+"/orgs/octo/copilot/billing", nil)
	req.Header.Set("Authorization", "token "+testToken)
	req.Header.Set("X-GitHub-Api-Version", APIVersion)
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("token scheme: %d", resp.StatusCode)
	}
	req = req.Clone(context.Background())
	req.Header.Set("Authorization", "Basic "+testToken)
	resp, err = http.DefaultClient.Do(req)
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("basic scheme: %d", resp.StatusCode)
	}

	// /rate_limit is not counted.
	before := get(t, s, "/orgs/octo/copilot/billing").header.Get("X-RateLimit-Remaining")
	rl, _, err := ghClient(t, s, testToken).RateLimit.Get(context.Background())
	must(t, err)
	after := get(t, s, "/orgs/octo/copilot/billing").header.Get("X-RateLimit-Remaining")
	if rl.Core.Limit != 5000 || fmt.Sprint(rl.Core.Remaining) != before || fmt.Sprint(rl.Core.Remaining-1) != after {
		t.Fatalf("rate_limit: core %+v, before %s after %s", rl.Core, before, after)
	}
	reqs := s.Requests()
	if reqs[EndpointRateLimit] != 1 || reqs[EndpointBilling] < 5 || reqs[EndpointUnknown] != 2 {
		t.Fatalf("requests %v", reqs)
	}
	if s.TotalRequests() < 10 {
		t.Fatalf("total %d", s.TotalRequests())
	}
}

// A token without the Copilot permission authenticates (its rate limit is
// counted, /rate_limit answers it) but every Copilot endpoint refuses it
// with 403, as GitHub does; it is not a rate limit (no Retry-After, budget
// left).
func TestForbiddenToken(t *testing.T) {
	const noScope = "ghp_noscope000000000000000000000000000000"
	s := startSim(t, Options{Seed: 9, Tokens: []string{testToken}, ForbiddenTokens: []string{noScope}})
	smallEnterprise(t, s)
	for _, path := range []string{"/orgs/octo/copilot/billing", "/orgs/octo/copilot/billing/seats", "/orgs/octo/members/alice/copilot",
		"/enterprises/acme-corp/copilot/billing/seats"} {
		r := raw(t, s, "GET", path, noScope, APIVersion, nil)
		if r.status != 403 || r.apiErr(t).Message != "Resource not accessible by personal access token" {
			t.Fatalf("%s: %d %s", path, r.status, r.body)
		}
		if r.header.Get("Retry-After") != "" || r.header.Get("X-RateLimit-Remaining") == "0" || r.header.Get("X-RateLimit-Remaining") == "" {
			t.Fatalf("%s: a refusal must not look like a rate limit: %v", path, r.header)
		}
	}
	if r := raw(t, s, "GET", "/rate_limit", noScope, APIVersion, nil); r.status != 200 {
		t.Fatalf("/rate_limit: %d %s", r.status, r.body)
	}
	if r := get(t, s, "/orgs/octo/copilot/billing"); r.status != 200 {
		t.Fatalf("the permitted token: %d %s", r.status, r.body)
	}
}
