package reclaim

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/seatline/seatline/pkg/ghclient"
)

// Seat management settings (GitHub's seat_management_setting).
const (
	AssignAll      = "assign_all"
	AssignSelected = "assign_selected"
)

// AllMembersReason is what blocks a seat in an org that assigns Copilot to
// all members, and what the admin must change.
const AllMembersReason = "the org assigns Copilot seats to all members (seat_management_setting assign_all): GitHub refuses to unassign one user (422). " +
	"An org owner must switch Copilot access to selected members (org Settings > Copilot > Access), which keeps every current seat as a direct assignment; then plan again"

// Checker asks GitHub, through the budgeted client, what would end each
// candidate's seat now.
type Checker struct {
	GH     *ghclient.Client
	Lookup *ghclient.Lookup
	Rules  Rules
	Prices map[string]int64
	Now    func() time.Time
}

// Live is GitHub's answer about one seat.
type Live struct {
	Result ghclient.Result
	// Teams: enterprise seats: every enterprise team granting the licence.
	Teams []string
}

// Check fills in each candidate's GitHub evidence, action, reason, plan
// type and saving, and returns each org's policy. Candidates already
// decided (excluded) are left alone. Per org: one billing request (its
// seat management policy), then the cheaper of seat-list pages and
// per-user lookups; enterprise-team seats: the enterprise seat list.
func (k *Checker) Check(ctx context.Context, cands []Candidate) ([]Policy, error) {
	byScope := map[[2]string][]*Candidate{}
	var order [][2]string
	for i := range cands {
		c := &cands[i]
		if c.Action != "" {
			continue
		}
		key := [2]string{c.ScopeKind, c.Scope}
		if _, ok := byScope[key]; !ok {
			order = append(order, key)
		}
		byScope[key] = append(byScope[key], c)
	}
	var policies []Policy
	for _, key := range order {
		cs := byScope[key]
		if key[0] == KindEnterprise {
			live, err := k.enterpriseSeats(ctx, key[1])
			if err != nil {
				if fatal(err) {
					return nil, err
				}
				for _, c := range cs {
					k.unchecked(c, err)
				}
				continue
			}
			for _, c := range cs {
				k.decide(c, live[c.User])
			}
			continue
		}
		org := key[1]
		setting, live, err := k.orgSeats(ctx, org, usersOf(cs))
		if err != nil {
			if fatal(err) {
				return nil, err
			}
			for _, c := range cs {
				k.unchecked(c, err)
			}
			continue
		}
		policies = append(policies, Policy{Org: org, Setting: setting})
		for _, c := range cs {
			switch setting {
			case AssignSelected:
				k.decide(c, live[c.User])
			case AssignAll:
				c.GitHub = &GitHubEvidence{Status: "policy_blocked", Message: "seat_management_setting " + setting, CheckedAt: k.Now()}
				c.Action, c.Reason = ActBlocked, AllMembersReason
			default:
				c.GitHub = &GitHubEvidence{Status: "absent", Message: "seat_management_setting " + setting, CheckedAt: k.Now()}
				c.Action, c.Reason = ActNone, "Copilot is "+setting+" in the org: no seat is billed there"
			}
		}
	}
	return policies, nil
}

// fatal errors stop a plan or an apply: the credentials are refused.
func fatal(err error) bool {
	var perm *ghclient.PermissionError
	var api *ghclient.APIError
	return errors.As(err, &perm) || (errors.As(err, &api) && (api.Status == 401 || api.Status == 403))
}

func usersOf(cs []*Candidate) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.User
	}
	return out
}

// orgSeats: the org's policy, and (for assign_selected) each user's seat.
func (k *Checker) orgSeats(ctx context.Context, org string, users []string) (string, map[string]Live, error) {
	b, err := k.GH.OrgBilling(ctx, org)
	if err != nil {
		return "", nil, err
	}
	if b.SeatManagementSetting != AssignSelected {
		return b.SeatManagementSetting, nil, nil
	}
	live, err := k.userSeats(ctx, org, users)
	return b.SeatManagementSetting, live, err
}

// userSeats: each user's seat in org, through the lookup (the cheaper of
// seat-list pages and per-user requests).
func (k *Checker) userSeats(ctx context.Context, org string, users []string) (map[string]Live, error) {
	res := k.Lookup.Seats(ctx, org, users, 0)
	live := make(map[string]Live, len(res))
	for u, r := range res {
		if r.Status == ghclient.SeatUnknown && r.Err != nil && fatal(r.Err) {
			return nil, r.Err
		}
		live[u] = Live{Result: r}
	}
	return live, nil
}

// enterpriseSeats: the enterprise seat list's licences granted by
// enterprise teams, by user.
func (k *Checker) enterpriseSeats(ctx context.Context, enterprise string) (map[string]Live, error) {
	live := map[string]Live{}
	now := k.Now()
	_, err := k.GH.EnterpriseSeats(ctx, enterprise, func(s ghclient.Seat) error {
		if s.AssigningTeam == nil || !s.AssigningTeam.Enterprise || s.Login == "" {
			return nil
		}
		l := live[s.Login]
		l.Teams = append(l.Teams, s.AssigningTeam.Slug)
		if l.Result.Seat == nil || (l.Result.Status == ghclient.SeatPendingCancellation && s.PendingCancellation == nil) {
			st := s
			l.Result = ghclient.Result{Status: ghclient.SeatActive, Seat: &st, FetchedAt: now}
			if s.PendingCancellation != nil {
				l.Result.Status = ghclient.SeatPendingCancellation
			}
		}
		live[s.Login] = l
		return nil
	})
	if err != nil {
		return nil, err
	}
	return live, nil
}

func (k *Checker) unchecked(c *Candidate, err error) {
	c.GitHub = &GitHubEvidence{Status: "unknown", Message: err.Error(), CheckedAt: k.Now()}
	c.Action, c.Reason = ActUnchecked, "GitHub could not be asked: "+err.Error()
}

// Evidence turns a lookup's answer into the plan's evidence.
func Evidence(l Live, now time.Time) *GitHubEvidence {
	r := l.Result
	g := &GitHubEvidence{Status: r.Status.String(), CheckedAt: r.FetchedAt}
	if g.CheckedAt.IsZero() {
		g.CheckedAt = now
	}
	switch {
	case r.Status == ghclient.SeatPolicyBlocked:
		g.Message = r.Policy
	case r.Status == ghclient.SeatUnknown && r.Err != nil:
		g.Message = r.Err.Error()
	case r.Status == ghclient.SeatUnknown:
		g.Message = "not looked up"
	}
	if s := r.Seat; s != nil {
		g.LastActivityAt, g.LastActivityEditor, g.PlanType = s.LastActivityAt, s.LastActivityEditor, s.PlanType
		if !s.CreatedAt.IsZero() {
			t := s.CreatedAt
			g.CreatedAt = &t
		}
		if s.AssigningTeam != nil {
			g.AssigningTeam, g.AssigningTeamKind = s.AssigningTeam.Slug, KindOrg
			if s.AssigningTeam.Enterprise {
				g.AssigningTeamKind = KindEnterprise
			}
		}
		if s.PendingCancellation != nil {
			g.PendingCancellationDate = s.PendingCancellation.UTC().Format(time.DateOnly)
		}
	}
	return g
}

// decide sets c's action from GitHub's answer about its seat.
func (k *Checker) decide(c *Candidate, l Live) {
	now := k.Now()
	g := Evidence(l, now)
	c.GitHub = g
	if g.PlanType != "" {
		c.PlanType = g.PlanType
	}
	switch l.Result.Status {
	case ghclient.SeatUnknown:
		c.Action, c.Reason = ActUnchecked, "GitHub could not be asked: "+g.Message
		return
	case ghclient.SeatPolicyBlocked:
		c.Action, c.Reason = ActBlocked, "GitHub refuses to describe this seat (422): "+g.Message
		return
	case ghclient.SeatAbsent:
		c.Action, c.Reason = ActNone, "GitHub lists no seat for the user now"
		return
	case ghclient.SeatPendingCancellation:
		c.Action, c.Reason = ActAlreadyPending, "already pending cancellation: billing stops "+g.PendingCancellationDate
		return
	}
	if ok, why := StillCandidate(c, g, k.Rules, now); !ok {
		c.Action, c.Reason = ActNone, why
		return
	}
	if g.AssigningTeam != "" && slices.Contains(k.Rules.ExcludeTeams, g.AssigningTeam) {
		c.Action, c.Team, c.Reason = ActExcluded, g.AssigningTeam, "team "+g.AssigningTeam+" is excluded"
		return
	}
	switch {
	case c.ScopeKind == KindEnterprise && len(l.Teams) > 1:
		c.Action, c.Reason = ActBlocked, fmt.Sprintf("the licence comes from %d enterprise teams (%s): leaving one does not end it; remove the user from each, or exclude them",
			len(l.Teams), strings.Join(l.Teams, ", "))
	case g.AssigningTeam == "":
		c.Action, c.Reason = ActUnassign, "assigned directly: unassigning ends it"
	case !k.Rules.IncludeTeamSeats:
		c.Action, c.Team = ActBlocked, g.AssigningTeam
		c.Reason = teamBlocked(g)
	case g.AssigningTeamKind == KindEnterprise:
		c.Action, c.Team, c.Reason = ActLeaveEnterpriseTeam, g.AssigningTeam, "granted by enterprise team "+g.AssigningTeam+": removing the user from it ends the licence"
	default:
		c.Action, c.Team, c.Reason = ActLeaveTeam, g.AssigningTeam, "granted by team "+g.AssigningTeam+": removing the user from it ends the seat (and the team's repository access)"
	}
	if Acts(c.Action) {
		c.MonthlySavingCents = PriceCents(k.Prices, c.PlanType)
	}
}

func teamBlocked(g *GitHubEvidence) string {
	what := "team " + g.AssigningTeam
	if g.AssigningTeamKind == KindEnterprise {
		what = "enterprise team " + g.AssigningTeam
	}
	return "from " + what + ": unassigning the user would not end it; --include-team-seats removes them from the team (and what it grants)"
}

// StillCandidate reports whether the seat GitHub describes (active) is
// still a candidate by any of c's reasons, and if not, why: GitHub's
// activity is fresher than the timeline's. Orphaned seats stay candidates
// whatever their activity (the timeline, not GitHub, knows the holder
// left: apply checks the timeline again). The grace period protects new
// seats from the idle and never-used rules.
func StillCandidate(c *Candidate, g *GitHubEvidence, r Rules, now time.Time) (bool, string) {
	if slices.Contains(c.Why, WhyOrphaned) {
		return true, ""
	}
	if g.CreatedAt != nil && r.GraceDays > 0 && now.Sub(*g.CreatedAt) < days(r.GraceDays) {
		return false, fmt.Sprintf("seat created %s, within the %d-day grace period for new seats", g.CreatedAt.UTC().Format(time.DateOnly), r.GraceDays)
	}
	for _, why := range c.Why {
		switch why {
		case WhyIdle:
			if g.LastActivityAt != nil && r.IdleDays > 0 && now.Sub(*g.LastActivityAt) >= days(r.IdleDays) {
				return true, ""
			}
		case WhyNeverUsed:
			if g.LastActivityAt == nil && r.NeverUsedDays > 0 && (g.CreatedAt == nil || now.Sub(*g.CreatedAt) >= days(r.NeverUsedDays)) {
				return true, ""
			}
		}
	}
	if g.LastActivityAt != nil {
		editor := ""
		if g.LastActivityEditor != "" {
			editor = " (" + g.LastActivityEditor + ")"
		}
		return false, "used Copilot on " + g.LastActivityAt.UTC().Format(time.DateOnly) + editor + " (GitHub, now): no longer idle by the plan's rule"
	}
	return false, "not idle by the plan's rule any more"
}

func days(n int) time.Duration { return time.Duration(n) * 24 * time.Hour }
