package ghclient

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/go-github/v93/github"
)

// MaxNamesPerRequest: GitHub takes at most 100 usernames (or team slugs)
// in one selected_users (selected_teams) request.
const MaxNamesPerRequest = 100

// What each change needs, as PermissionError names it.
const (
	PermCopilotSeats = `the classic token scope manage_billing:copilot (or admin:org), or the GitHub App's "Copilot Business" organization permission (write)`
	PermTeamMembers  = `the classic token scope admin:org, or the GitHub App's "Members" organization permission (write)`
	PermEntTeams     = `the classic token scope admin:enterprise, or the GitHub App's "Enterprise teams" enterprise permission (write)`
)

// Change is GitHub's answer to one request that changed seats or team
// membership.
type Change struct {
	Status int // HTTP status (200, 204)
	// SeatsCancelled is GitHub's seats_cancelled (selected_users and
	// selected_teams): the seats this request put into pending
	// cancellation. A user already pending, or whose seat another grant
	// keeps, is not counted. The response names no user and no date: the
	// date billing stops is each seat's pending_cancellation_date (a seat
	// lookup).
	SeatsCancelled int
	RequestID      string    // X-GitHub-Request-Id; the audit events the change causes carry it as request_id
	At             time.Time // when the answer arrived
}

// Batches splits names, duplicates dropped and order kept, into requests
// of at most MaxNamesPerRequest.
func Batches(names []string) [][]string {
	seen := make(map[string]bool, len(names))
	var out [][]string
	var cur []string
	for _, n := range names {
		if seen[n] {
			continue
		}
		seen[n] = true
		cur = append(cur, n)
		if len(cur) == MaxNamesPerRequest {
			out = append(out, cur)
			cur = nil
		}
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// RemoveCopilotUsers unassigns users' Copilot seats in org
// (DELETE /orgs/{org}/copilot/billing/selected_users) in one request of at
// most MaxNamesPerRequest logins. Each seat goes pending cancellation: the
// user keeps it, and it is billed, until the end of the billing cycle.
// Errors: *PolicyError (422: the org assigns seats to all members, Copilot
// is off, a login is not a member), *PermissionError, *RateLimitedError,
// *OutcomeUnknownError.
func (c *Client) RemoveCopilotUsers(ctx context.Context, org string, logins []string) (Change, error) {
	return c.removeSelected(ctx, org, "selected_users", "selected_usernames", logins)
}

// RemoveCopilotTeams removes org teams from the Copilot subscription
// (DELETE /orgs/{org}/copilot/billing/selected_teams), at most
// MaxNamesPerRequest slugs: every seat the team granted (and nothing else
// grants) goes pending cancellation. Errors as RemoveCopilotUsers.
func (c *Client) RemoveCopilotTeams(ctx context.Context, org string, slugs []string) (Change, error) {
	return c.removeSelected(ctx, org, "selected_teams", "selected_teams", slugs)
}

func (c *Client) removeSelected(ctx context.Context, org, what, field string, names []string) (Change, error) {
	path := "orgs/" + url.PathEscape(org) + "/copilot/billing/" + what
	switch {
	case len(names) == 0:
		return Change{}, fmt.Errorf("ghclient: DELETE /%s: no names", path)
	case len(names) > MaxNamesPerRequest:
		return Change{}, fmt.Errorf("ghclient: DELETE /%s: %d names, GitHub takes at most %d a request (see Batches)", path, len(names), MaxNamesPerRequest)
	}
	var out struct {
		SeatsCancelled int `json:"seats_cancelled"`
	}
	resp, err := c.do(ctx, http.MethodDelete, path, map[string][]string{field: names}, &out)
	if err != nil {
		return Change{}, c.changeErr(err, resp, PermCopilotSeats, org)
	}
	ch := changeOf(resp)
	ch.SeatsCancelled = out.SeatsCancelled
	return ch, nil
}

// RemoveTeamMember removes login from org team teamSlug
// (DELETE /orgs/{org}/teams/{team_slug}/memberships/{username}). A Copilot
// seat the team granted (and nothing else grants) goes pending
// cancellation; the user also loses the team's repository access.
func (c *Client) RemoveTeamMember(ctx context.Context, org, teamSlug, login string) (Change, error) {
	path := "orgs/" + url.PathEscape(org) + "/teams/" + url.PathEscape(teamSlug) + "/memberships/" + url.PathEscape(login)
	resp, err := c.do(ctx, http.MethodDelete, path, nil, nil)
	if err != nil {
		return Change{}, c.changeErr(err, resp, PermTeamMembers, org)
	}
	return changeOf(resp), nil
}

// RemoveEnterpriseTeamMember removes login from enterprise team teamSlug
// (DELETE /enterprises/{enterprise}/teams/{enterprise_team}/memberships/{username}):
// a Copilot licence the team granted ends.
func (c *Client) RemoveEnterpriseTeamMember(ctx context.Context, enterprise, teamSlug, login string) (Change, error) {
	path := "enterprises/" + url.PathEscape(enterprise) + "/teams/" + url.PathEscape(teamSlug) + "/memberships/" + url.PathEscape(login)
	resp, err := c.do(ctx, http.MethodDelete, path, nil, nil)
	if err != nil {
		return Change{}, c.changeErr(err, resp, PermEntTeams, enterprise)
	}
	return changeOf(resp), nil
}

// Batch is one request of RemoveCopilotUsersInBatches.
type Batch struct {
	Org    string
	N      int      // 0-based
	Logins []string // at most MaxNamesPerRequest
	Change Change   // after: GitHub's answer
	Err    error    // after: why there is none
}

// RemoveCopilotUsersInBatches unassigns logins in org in requests of at
// most MaxNamesPerRequest (Batches), one after the other, each within the
// rate-limit budget. before runs ahead of each request (an error there
// sends nothing more: record the intent there), after once its outcome is
// known (record it there). The first failed request ends the run: its
// error is returned after after saw it.
func (c *Client) RemoveCopilotUsersInBatches(ctx context.Context, org string, logins []string, before, after func(Batch) error) error {
	for i, names := range Batches(logins) {
		b := Batch{Org: org, N: i, Logins: names}
		if before != nil {
			if err := before(b); err != nil {
				return err
			}
		}
		b.Change, b.Err = c.RemoveCopilotUsers(ctx, org, names)
		if after != nil {
			if err := after(b); err != nil {
				return err
			}
		}
		if b.Err != nil {
			return b.Err
		}
	}
	return nil
}

func changeOf(resp *github.Response) Change {
	ch := Change{At: time.Now()}
	if resp != nil && resp.Response != nil {
		ch.Status = resp.StatusCode
		ch.RequestID = resp.Header.Get("X-GitHub-Request-Id")
	}
	return ch
}

// changeErr names the org of a 422 and turns a 403 that is not a rate
// limit into a *PermissionError naming what the call needs.
func (c *Client) changeErr(err error, resp *github.Response, needed, org string) error {
	var pe *PolicyError
	if errors.As(err, &pe) {
		pe.Org = org
		return pe
	}
	var api *APIError
	if !errors.As(err, &api) || api.Status != http.StatusForbidden {
		return err
	}
	perm := &PermissionError{Method: api.Method, Path: api.Path, Status: api.Status, Message: api.Message, Needed: needed}
	if resp != nil && resp.Response != nil {
		h := resp.Header
		perm.TokenScopes = strings.TrimSpace(h.Get("X-OAuth-Scopes"))
		perm.AcceptedScopes = strings.TrimSpace(h.Get("X-Accepted-OAuth-Scopes"))
		perm.AcceptedPermissions = strings.TrimSpace(h.Get("X-Accepted-GitHub-Permissions"))
	}
	return perm
}

// undelivered: the request never reached the server (the connection could
// not be made), so sending it again cannot repeat a change.
func undelivered(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}
