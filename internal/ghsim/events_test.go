package ghsim

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/google/go-github/v93/github"

	"github.com/seatline/seatline/pkg/events"
)

func parseAll(t *testing.T, raw [][]byte) []events.Event {
	t.Helper()
	var out []events.Event
	for _, b := range raw {
		e, err := events.Parse(b)
		if err != nil {
			t.Fatalf("events.Parse rejected %s: %v", b, err)
		}
		out = append(out, e)
	}
	return out
}

func countActions(evs []events.Event) map[string]int {
	out := map[string]int{}
	for _, e := range evs {
		out[e.Action]++
	}
	return out
}

// checkStream checks what every emitted stream must satisfy.
func checkStream(t *testing.T, raw [][]byte) []events.Event {
	t.Helper()
	evs := parseAll(t, raw)
	ids := map[string]bool{}
	var last time.Time
	for i, e := range evs {
		if len(e.DocumentID) != 22 {
			t.Fatalf("_document_id %q", e.DocumentID)
		}
		if _, err := base64.RawURLEncoding.DecodeString(e.DocumentID); err != nil {
			t.Fatalf("_document_id %q: %v", e.DocumentID, err)
		}
		if ids[e.DocumentID] {
			t.Fatalf("duplicate _document_id %q", e.DocumentID)
		}
		ids[e.DocumentID] = true
		if !e.Timestamp.Equal(e.CreatedAt) || !e.Timestamp.After(last) {
			t.Fatalf("event %d: @timestamp %v created_at %v after %v", i, e.Timestamp, e.CreatedAt, last)
		}
		last = e.Timestamp
		if e.Business == "" || e.BusinessID == 0 || e.Actor == "" || e.ActorID == 0 || e.RequestID == "" ||
			e.OperationType == "" || e.ActorCountry == "" || e.UserAgent == "" {
			t.Fatalf("event %d lacks common fields: %s", i, e.Raw)
		}
		if e.Transition.SeatChange() && e.User != "" && e.UserID == 0 {
			t.Fatalf("user without user_id: %s", e.Raw)
		}
		var m map[string]any
		if err := json.Unmarshal(e.Raw, &m); err != nil {
			t.Fatal(err)
		}
		if _, ok := m["actor_location"].(map[string]any); !ok {
			t.Fatalf("actor_location: %s", e.Raw)
		}
	}
	return evs
}

func TestEventsParseEveryAction(t *testing.T) {
	s := startSim(t, Options{Seed: 30, Start: time.Date(2024, 6, 10, 12, 0, 0, 0, time.UTC)})
	smallEnterprise(t, s)
	gh := ghClient(t, s, testToken)
	ctx := context.Background()

	must(t, s.Assign("octo", "boss", "alice", "bob"))              // created + added ×2
	must(t, s.Assign("octo", "boss", "alice"))                     // reused
	must(t, s.Unassign("octo", "boss", "bob"))                     // unassigned
	must(t, s.Assign("octo", "boss", "bob"))                       // refreshed
	must(t, s.AssignTeams("octo", "boss", "backend"))              // created (team) + added ×2
	must(t, s.UnassignTeams("octo", "boss", "backend"))            // unassigned (team) + ×2
	must(t, s.SetSeatManagement("allorg", "boss", AssignSelected)) // management changed
	slug, err := s.AddEnterpriseTeam("pilots", "zoe", "alice")
	must(t, err)
	must(t, s.AssignEnterpriseTeams("boss", slug))
	must(t, s.UnassignEnterpriseTeams("boss", slug))
	// Through the API too.
	if _, _, err := gh.Copilot.AddCopilotUsers(ctx, "octo", []string{"erin"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := gh.Copilot.RemoveCopilotUsers(ctx, "octo", []string{"erin"}); err != nil {
		t.Fatal(err)
	}
	s.Advance(40 * 24 * time.Hour) // cancelled

	evs := checkStream(t, s.Events())
	got := countActions(evs)
	// smallEnterprise already gave alice and frank seats in allorg (assign_all).
	want := map[string]int{
		"copilot.cfb_seat_assignment_created":    5, // alice, bob, team backend, ent team, erin
		"copilot.cfb_seat_added":                 9, // 2 (allorg) + alice, bob, carol, dave, zoe, alice (ent), erin
		"copilot.cfb_seat_assignment_reused":     1, // alice
		"copilot.cfb_seat_assignment_refreshed":  1, // bob
		"copilot.cfb_seat_assignment_unassigned": 8, // bob, backend+carol+dave, ent team+alice+zoe, erin
		"copilot.cfb_seat_management_changed":    1,
		"copilot.cfb_seat_cancelled":             5, // carol, dave, zoe, alice (ent), erin
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("actions:\n got %v\nwant %v", got, want)
	}
	tr := map[string]events.Transition{
		"copilot.cfb_seat_assignment_created":    events.TransitionAssigned,
		"copilot.cfb_seat_added":                 events.TransitionAssigned,
		"copilot.cfb_seat_assignment_reused":     events.TransitionReused,
		"copilot.cfb_seat_assignment_refreshed":  events.TransitionRefreshed,
		"copilot.cfb_seat_assignment_unassigned": events.TransitionUnassigned,
		"copilot.cfb_seat_management_changed":    events.TransitionPolicyChanged,
		"copilot.cfb_seat_cancelled":             events.TransitionCancelled,
	}
	for _, e := range evs {
		if e.Transition != tr[e.Action] {
			t.Fatalf("%s classified %v", e.Action, e.Transition)
		}
		switch e.Action {
		case "copilot.cfb_seat_management_changed":
			if e.OldValue != AssignAll || e.NewValue != AssignSelected || e.Org != "allorg" || e.Owner != "allorg" {
				t.Fatalf("policy event %s", e.Raw)
			}
		case "copilot.cfb_seat_cancelled":
			if e.SeatAssignment != "user:"+e.User {
				t.Fatalf("cancelled event %s", e.Raw)
			}
		case "copilot.cfb_seat_added":
			if e.User == "" || e.OperationType != "create" {
				t.Fatalf("added event %s", e.Raw)
			}
		}
		if e.User == "erin" && e.Action != "copilot.cfb_seat_cancelled" {
			// API-made: attributed to the token's owner, with request data.
			if e.Actor != "acme-corp-admin" || e.ActorIP != "127.0.0.1" || e.HashedToken == "" ||
				e.ProgrammaticAccessType != "Personal access token (classic)" {
				t.Fatalf("API event %s", e.Raw)
			}
		}
	}
	if s.PendingEvents() != 0 {
		t.Fatal("Events did not drain")
	}
}

func TestPopulate(t *testing.T) {
	build := func() (*Server, Populated) {
		s := New(Options{Seed: 99})
		p, err := s.Populate(rand.New(rand.NewPCG(1, 2)), Population{Emit: true})
		must(t, err)
		return s, p
	}
	s1, p1 := build()
	s2, p2 := build()
	if !reflect.DeepEqual(p1, p2) || !reflect.DeepEqual(s1.AllSeats(), s2.AllSeats()) {
		t.Fatal("Populate is not deterministic")
	}
	e1, e2 := s1.Events(), s2.Events()
	if !reflect.DeepEqual(e1, e2) || len(e1) == 0 {
		t.Fatalf("events differ or none (%d, %d)", len(e1), len(e2))
	}
	checkStream(t, e1)

	if set, _ := s1.Setting(p1.AssignAllOrg); set != AssignAll || len(p1.Orgs) != 4 || len(p1.Users) != 200 {
		t.Fatalf("populated %+v", p1)
	}
	var nullActivity, pending, entSeats, teamSeats, deleted, invited int
	for _, st := range s1.AllSeats() {
		if st.LastActivityAt == nil {
			nullActivity++
		}
		if st.PendingCancellationDate != "" {
			pending++
		}
		if st.Org == "" {
			entSeats++
		}
		if st.AssigningTeam != "" && st.Org != "" {
			teamSeats++
		}
		if st.UserDeleted {
			deleted++
		}
		if st.PendingInvitation {
			invited++
		}
	}
	if nullActivity == 0 || pending == 0 || entSeats == 0 || teamSeats == 0 || deleted != 1 || invited == 0 {
		t.Fatalf("null activity %d, pending %d, ent %d, team %d, deleted %d, invited %d",
			nullActivity, pending, entSeats, teamSeats, deleted, invited)
	}
	if p1.Seats < 150 {
		t.Fatalf("only %d seats", p1.Seats)
	}

	// Default: the history is not in the stream.
	s3 := New(Options{Seed: 99})
	_, err := s3.Populate(rand.New(rand.NewPCG(1, 2)), Population{})
	must(t, err)
	if n := s3.PendingEvents(); n != 0 {
		t.Fatalf("%d events kept", n)
	}

	// go-github pages through the whole populated enterprise.
	must(t, s1.Start())
	defer s1.Close()
	gh := ghClient(t, s1, testToken)
	opts := &github.ListOptions{PerPage: 100}
	n, nulls := 0, 0
	for {
		res, resp, err := gh.Copilot.ListCopilotEnterpriseSeats(context.Background(), "acme-corp", opts)
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range res.Seats {
			if st.Assignee == nil {
				nulls++
			}
		}
		n += len(res.Seats)
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	if n != p1.Seats || nulls != 1 {
		t.Fatalf("listed %d of %d seats, %d null assignees", n, p1.Seats, nulls)
	}

	// Live changes: every event parses, the cycle end cancels seats.
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 600 {
		if s1.RandomChange(rng) == "" {
			t.Fatal("empty description")
		}
		if i%50 == 0 {
			s1.Advance(96 * time.Hour)
		}
	}
	evs := checkStream(t, s1.Events())
	c := countActions(evs)
	for _, a := range []string{"copilot.cfb_seat_assignment_created", "copilot.cfb_seat_added",
		"copilot.cfb_seat_assignment_unassigned", "copilot.cfb_seat_cancelled", "copilot.cfb_seat_assignment_refreshed"} {
		if c[a] == 0 {
			t.Fatalf("no %s in %v", a, c)
		}
	}
}

func TestConcurrentUse(t *testing.T) {
	s := startSim(t, Options{Seed: 40})
	p, err := s.Populate(rand.New(rand.NewPCG(5, 6)), Population{Users: 80})
	must(t, err)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			gh := ghClient(t, s, testToken)
			for i := range 25 {
				org := p.Orgs[(w+i)%len(p.Orgs)]
				if _, _, err := gh.Copilot.ListCopilotSeats(context.Background(), org, nil); err != nil {
					t.Error(err)
					return
				}
				_, _, _ = gh.Copilot.GetSeatDetails(context.Background(), org, p.Users[i])
			}
		})
	}
	wg.Go(func() {
		rng := rand.New(rand.NewPCG(7, 8))
		for i := range 300 {
			s.RandomChange(rng)
			if i%30 == 0 {
				s.Advance(72 * time.Hour)
			}
		}
	})
	wg.Wait()
	checkStream(t, s.Events())
}
