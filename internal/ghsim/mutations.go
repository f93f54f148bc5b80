package ghsim

import (
	"net/http"
	"strconv"
	"time"
)

// Endpoints that change team membership (a seat granted through a team
// ends when its holder leaves the team).
const (
	EndpointRemoveTeamMember    = "DELETE /orgs/{org}/teams/{team_slug}/memberships/{username}"
	EndpointRemoveEntTeamMember = "DELETE /enterprises/{enterprise}/teams/{enterprise_team}/memberships/{username}"
)

const (
	docsTeams    = "https://docs.github.com/rest/teams/members#remove-team-membership-for-a-user"
	docsEntTeams = "https://docs.github.com/rest/enterprise-teams/enterprise-team-members#remove-team-membership"
)

func init() {
	addRoute(EndpointRemoveTeamMember, (*Server).hRemoveTeamMember, nil)
	addRoute(EndpointRemoveEntTeamMember, (*Server).hRemoveEntTeamMember, nil)
}

// Mutation is one request that asked to change seats or team membership
// and got as far as GitHub deciding on it (authenticated, permitted,
// admitted by the rate limits, not failed by an injected fault), whatever
// it answered then (a change, or 404/422): tests count what was really
// sent and applied.
type Mutation struct {
	Endpoint  string    // the endpoint pattern (EndpointRemoveUsers, …)
	Scope     string    // the org, or the enterprise
	Team      string    // membership removals: the team slug
	Names     []string  // the usernames or team slugs of the body, or the one username of a membership removal
	Status    int       // the HTTP status answered
	Result    int       // seats_cancelled (seats_created for POST)
	RequestID string    // X-GitHub-Request-Id, also the request_id of the audit events it caused
	At        time.Time // simulated time
}

// Mutations returns the mutations received since the start (or the last
// ResetCounters), in order.
func (s *Server) Mutations() []Mutation {
	s.rl.Lock()
	defer s.rl.Unlock()
	out := make([]Mutation, len(s.mutations))
	copy(out, s.mutations)
	return out
}

// SetMutationHook calls fn for every mutation after the change is made and
// before the response is written (nil: none): a test can kill its client
// there, so that GitHub has applied a change whose answer never arrives.
func (s *Server) SetMutationHook(fn func(Mutation)) {
	s.rl.Lock()
	defer s.rl.Unlock()
	s.mutationHook = fn
}

// finishMutation records m with its answer, runs the hook and writes the
// answer (v nil: no body, for 204 No Content).
func (s *Server) finishMutation(c *reqCtx, m Mutation, status int, v any) {
	m.Endpoint, m.Status, m.RequestID = c.key, status, c.reqID
	if m.At.IsZero() {
		m.At = s.Now()
	}
	s.rl.Lock()
	s.mutations = append(s.mutations, m)
	hook := s.mutationHook
	s.rl.Unlock()
	if hook != nil {
		hook(m)
	}
	s.writeRaw(c, status, v)
}

func apiErr(msg, doc string, status int) apiError {
	return apiError{Message: msg, DocumentationURL: doc, Status: strconv.Itoa(status)}
}

// ---- permissions ----

// writePerm is what a change needs: the classic token scopes that allow it
// and the GitHub App permission.
type writePerm struct {
	scopes  string // X-Accepted-OAuth-Scopes
	appPerm string // X-Accepted-GitHub-Permissions
}

var (
	permCopilotSeats = writePerm{scopes: "admin:org, manage_billing:copilot", appPerm: "organization_copilot_seat_management=write"}
	permTeamMembers  = writePerm{scopes: "admin:org", appPerm: "members=write"}
	permEntTeams     = writePerm{scopes: "admin:enterprise", appPerm: "enterprise_teams=write"}
)

// readOnlyScopes are the scopes a read-only classic token (Options.ReadOnlyTokens) has.
const readOnlyScopes = "read:org"

// mayWrite answers 403 as GitHub does when the request's credentials lack
// the permission for a change, and reports whether they have it.
func (s *Server) mayWrite(c *reqCtx, perm writePerm) bool {
	p := c.p
	switch {
	case p.kind == kindPAT && p.readOnly:
		h := c.w.Header()
		h.Set("X-OAuth-Scopes", readOnlyScopes)
		h.Set("X-Accepted-OAuth-Scopes", perm.scopes)
		s.writeError(c, http.StatusForbidden, "Resource not accessible by personal access token", docsRoot)
		return false
	case p.kind == kindInstallation && s.opts.AppReadOnly:
		c.w.Header().Set("X-Accepted-GitHub-Permissions", perm.appPerm)
		s.writeError(c, http.StatusForbidden, "Resource not accessible by integration", docsRoot)
		return false
	}
	return true
}

// ---- team membership ----

// hRemoveTeamMember: DELETE /orgs/{org}/teams/{team_slug}/memberships/{username}.
// 204 whether or not the user was a member (the membership is gone either
// way); team.remove_member and, when the team granted the user's seat and
// nothing else does, the seat goes pending cancellation (as RemoveTeamMember).
func (s *Server) hRemoveTeamMember(c *reqCtx) {
	if !s.mayWrite(c, permTeamMembers) {
		return
	}
	orgName, slug, login := c.params["org"], c.params["team_slug"], c.params["username"]
	m := Mutation{Scope: orgName, Team: slug, Names: []string{login}}
	s.mu.Lock()
	o, ok := s.orgs[orgName]
	var t *team
	if ok {
		t = o.teams[slug]
	}
	if t == nil {
		s.mu.Unlock()
		s.finishMutation(c, m, http.StatusNotFound, apiErr("Not Found", docsTeams, http.StatusNotFound))
		return
	}
	st := o.seats[login]
	pendingBefore := st != nil && !st.pending.IsZero()
	s.removeTeamMemberLocked(o, t, login, s.apiActor(c))
	if st != nil && !pendingBefore && !st.pending.IsZero() {
		m.Result = 1
	}
	m.At = s.now
	s.mu.Unlock()
	s.finishMutation(c, m, http.StatusNoContent, nil)
}

// hRemoveEntTeamMember: DELETE /enterprises/{enterprise}/teams/{enterprise_team}/memberships/{username}.
// 204; enterprise_team.remove_member, and the seat the team's licence
// granted ends (as RemoveEnterpriseTeamMember). The team may be named by
// its slug, with or without "ent:".
func (s *Server) hRemoveEntTeamMember(c *reqCtx) {
	if !s.mayWrite(c, permEntTeams) {
		return
	}
	slug, login := EntTeamSlug(c.params["enterprise_team"]), c.params["username"]
	m := Mutation{Scope: c.params["enterprise"], Team: slug, Names: []string{login}}
	s.mu.Lock()
	t := s.entTeams[slug]
	if c.params["enterprise"] != s.opts.Enterprise || t == nil {
		s.mu.Unlock()
		s.finishMutation(c, m, http.StatusNotFound, apiErr("Not Found", docsEntTeams, http.StatusNotFound))
		return
	}
	st := t.seats[login]
	pendingBefore := st != nil && !st.pending.IsZero()
	s.removeEntTeamMemberLocked(t, login, s.apiActor(c), true)
	if st != nil && !pendingBefore && !st.pending.IsZero() {
		m.Result = 1
	}
	m.At = s.now
	s.mu.Unlock()
	s.finishMutation(c, m, http.StatusNoContent, nil)
}
