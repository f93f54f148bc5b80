package ghsim

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// TestMutationsAreRecorded: every change request that GitHub decided on is
// in Mutations with its names, status, seats_cancelled and request id, and
// the audit events it caused carry that request id.
func TestMutationsAreRecorded(t *testing.T) {
	s := startSim(t, Options{Seed: 3})
	smallEnterprise(t, s)
	must(t, s.Assign("octo", "", "alice", "bob", "erin"))
	s.Events()

	r := raw(t, s, http.MethodDelete, "/orgs/octo/copilot/billing/selected_users", testToken, APIVersion,
		map[string]any{"selected_usernames": []string{"alice", "bob"}})
	if r.status != http.StatusOK || !strings.Contains(string(r.body), `"seats_cancelled":2`) {
		t.Fatalf("DELETE selected_users: %d %s", r.status, r.body)
	}
	// Again: nothing left to cancel, still 200.
	r2 := raw(t, s, http.MethodDelete, "/orgs/octo/copilot/billing/selected_users", testToken, APIVersion,
		map[string]any{"selected_usernames": []string{"alice"}})
	if r2.status != http.StatusOK || !strings.Contains(string(r2.body), `"seats_cancelled":0`) {
		t.Fatalf("second DELETE: %d %s", r2.status, r2.body)
	}
	// An all-members org refuses: recorded with its 422.
	r3 := raw(t, s, http.MethodDelete, "/orgs/allorg/copilot/billing/selected_users", testToken, APIVersion,
		map[string]any{"selected_usernames": []string{"frank"}})
	if r3.status != http.StatusUnprocessableEntity {
		t.Fatalf("all-members org: %d %s", r3.status, r3.body)
	}
	ms := s.Mutations()
	if len(ms) != 3 {
		t.Fatalf("%d mutations: %+v", len(ms), ms)
	}
	if m := ms[0]; m.Endpoint != EndpointRemoveUsers || m.Scope != "octo" || !slices.Equal(m.Names, []string{"alice", "bob"}) ||
		m.Status != 200 || m.Result != 2 || m.RequestID != r.header.Get("X-GitHub-Request-Id") || m.RequestID == "" {
		t.Fatalf("first mutation: %+v (request id %q)", m, r.header.Get("X-GitHub-Request-Id"))
	}
	if ms[1].Result != 0 || ms[2].Status != 422 || ms[2].Scope != "allorg" {
		t.Fatalf("mutations: %+v", ms[1:])
	}
	unassigned := 0
	for _, e := range s.Events() {
		var m map[string]any
		if err := json.Unmarshal(e, &m); err != nil {
			t.Fatal(err)
		}
		if m["action"] == "copilot.cfb_seat_assignment_unassigned" {
			unassigned++
			if m["request_id"] != ms[0].RequestID {
				t.Errorf("unassignment of %v carries request_id %v, the request was %s", m["user"], m["request_id"], ms[0].RequestID)
			}
		}
	}
	if unassigned != 2 {
		t.Fatalf("%d unassignment events, want 2", unassigned)
	}
	s.ResetCounters()
	if len(s.Mutations()) != 0 {
		t.Fatal("ResetCounters kept the mutations")
	}
}

// TestRemoveTeamMembership: leaving the team that grants a seat makes it
// pending cancellation (204, team.remove_member); removing a non-member is
// 204 and changes nothing; an unknown team is 404. Enterprise teams alike.
func TestRemoveTeamMembership(t *testing.T) {
	s := startSim(t, Options{Seed: 4, MembershipEvents: true})
	smallEnterprise(t, s)
	must(t, s.AssignTeams("octo", "", "backend"))
	slug, err := s.AddEnterpriseTeam("champions", "zoe", "yan")
	must(t, err)
	must(t, s.AssignEnterpriseTeams("", slug))
	s.Events()

	var hooked []Mutation
	s.SetMutationHook(func(m Mutation) {
		// The change is made before the answer goes out.
		st, _ := s.Seat(m.Scope, m.Names[0])
		if m.Endpoint == EndpointRemoveTeamMember && m.Names[0] == "carol" && st.PendingCancellationDate == "" {
			t.Errorf("hook ran before the change: %+v", st)
		}
		hooked = append(hooked, m)
	})
	r := raw(t, s, http.MethodDelete, "/orgs/octo/teams/backend/memberships/carol", testToken, APIVersion, nil)
	if r.status != http.StatusNoContent || len(r.body) != 0 {
		t.Fatalf("remove carol: %d %q", r.status, r.body)
	}
	st, ok := s.Seat("octo", "carol")
	if !ok || st.PendingCancellationDate == "" {
		t.Fatalf("carol's seat after leaving the team: %+v %v", st, ok)
	}
	if r := raw(t, s, http.MethodDelete, "/orgs/octo/teams/backend/memberships/alice", testToken, APIVersion, nil); r.status != http.StatusNoContent {
		t.Fatalf("non-member: %d %s", r.status, r.body)
	}
	if r := raw(t, s, http.MethodDelete, "/orgs/octo/teams/nope/memberships/dave", testToken, APIVersion, nil); r.status != http.StatusNotFound {
		t.Fatalf("unknown team: %d %s", r.status, r.body)
	}
	if r := raw(t, s, http.MethodDelete, "/enterprises/acme-corp/teams/champions/memberships/zoe", testToken, APIVersion, nil); r.status != http.StatusNoContent {
		t.Fatalf("enterprise team: %d %s", r.status, r.body)
	}
	if st, ok := s.Seat(slug, "zoe"); !ok || st.PendingCancellationDate == "" {
		t.Fatalf("zoe's enterprise-team seat: %+v %v", st, ok)
	}
	var actions []string
	for _, e := range s.Events() {
		var m map[string]any
		must(t, json.Unmarshal(e, &m))
		actions = append(actions, m["action"].(string)+" "+m["user"].(string))
	}
	for _, want := range []string{"team.remove_member carol", "copilot.cfb_seat_assignment_unassigned carol", "enterprise_team.remove_member zoe"} {
		if !slices.Contains(actions, want) {
			t.Errorf("no %q among %q", want, actions)
		}
	}
	ms := s.Mutations()
	if len(ms) != 4 || len(hooked) != 4 || ms[0].Result != 1 || ms[1].Result != 0 || ms[2].Status != 404 ||
		ms[3].Endpoint != EndpointRemoveEntTeamMember || ms[3].Team != slug || ms[3].Result != 1 {
		t.Fatalf("mutations %+v, hooked %d", ms, len(hooked))
	}
}

// TestReadOnlyCredentials: a token without the write scopes reads seats but
// gets GitHub's 403 for changes, naming the scopes it has and those needed;
// nothing changes and no mutation is recorded. The App alike.
func TestReadOnlyCredentials(t *testing.T) {
	const ro = "ghp_readonly0000000000000000000000000000"
	s := startSim(t, Options{Seed: 5, Tokens: []string{testToken}, ReadOnlyTokens: []string{ro}})
	smallEnterprise(t, s)
	must(t, s.Assign("octo", "", "alice"))
	if r := raw(t, s, http.MethodGet, "/orgs/octo/members/alice/copilot", ro, APIVersion, nil); r.status != 200 {
		t.Fatalf("read with the read-only token: %d %s", r.status, r.body)
	}
	r := raw(t, s, http.MethodDelete, "/orgs/octo/copilot/billing/selected_users", ro, APIVersion,
		map[string]any{"selected_usernames": []string{"alice"}})
	if r.status != http.StatusForbidden || r.header.Get("X-OAuth-Scopes") != "read:org" ||
		!strings.Contains(r.header.Get("X-Accepted-OAuth-Scopes"), "manage_billing:copilot") ||
		!strings.Contains(r.apiErr(t).Message, "personal access token") || r.header.Get("Retry-After") != "" {
		t.Fatalf("read-only DELETE: %d %v %s", r.status, r.header, r.body)
	}
	if r := raw(t, s, http.MethodDelete, "/orgs/octo/teams/backend/memberships/carol", ro, APIVersion, nil); r.status != 403 ||
		r.header.Get("X-Accepted-OAuth-Scopes") != "admin:org" {
		t.Fatalf("read-only team removal: %d %v", r.status, r.header)
	}
	if st, _ := s.Seat("octo", "alice"); st.PendingCancellationDate != "" {
		t.Fatal("a refused request changed the seat")
	}
	if len(s.Mutations()) != 0 {
		t.Fatalf("refused requests recorded as mutations: %+v", s.Mutations())
	}
}
