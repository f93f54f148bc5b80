package reclaim

import (
	"strings"
	"testing"
	"time"

	"github.com/seatline/seatline/pkg/ghclient"
)

// TestRecheck: apply's last look before acting. A seat changes hands
// (now from a team, or another team), stops being orphaned in the
// timeline, or is used again: skipped with the reason; an orphaned seat
// that is also idle stays a candidate when its holder is back.
func TestRecheck(t *testing.T) {
	now := time.Date(2026, 5, 20, 12, 0, 0, 0, time.UTC)
	old := now.Add(-50 * 24 * time.Hour)
	a := &Applier{Plan: &Plan{Rules: Rules{IdleDays: 30, NeverUsedDays: 14, Orphaned: true}}}
	active := ghclient.Result{Status: ghclient.SeatActive}
	idle := &GitHubEvidence{Status: "active", LastActivityAt: &old, CreatedAt: &old}
	fromTeam := &GitHubEvidence{Status: "active", LastActivityAt: &old, CreatedAt: &old, AssigningTeam: "ml"}
	orphan := &Candidate{Scope: "o", User: "u", Why: []string{WhyOrphaned}, Action: ActUnassign}
	orphanIdle := &Candidate{Scope: "o", User: "v", Why: []string{WhyIdle, WhyOrphaned}, Action: ActUnassign}
	leave := &Candidate{Scope: "o", User: "w", Why: []string{WhyIdle}, Action: ActLeaveTeam, Team: "data"}
	cases := []struct {
		c        *Candidate
		r        ghclient.Result
		g        *GitHubEvidence
		orphaned map[Key]bool
		want     string
	}{
		{orphan, active, idle, map[Key]bool{orphan.Key(): true}, ""},
		{orphan, active, idle, map[Key]bool{}, "no longer orphaned"},
		{orphanIdle, active, idle, map[Key]bool{}, ""},
		{orphan, active, fromTeam, map[Key]bool{orphan.Key(): true}, "now comes from team ml"},
		{leave, active, fromTeam, nil, "from team ml, the plan removes the user from team data"},
		{leave, active, idle, nil, "now assigned directly"},
		{orphan, ghclient.Result{Status: ghclient.SeatPendingCancellation}, &GitHubEvidence{PendingCancellationDate: "2026-06-01"}, nil, "already pending cancellation before this apply (billing stops 2026-06-01)"},
		{orphan, ghclient.Result{Status: ghclient.SeatAbsent}, &GitHubEvidence{}, nil, "no seat"},
	}
	for i, c := range cases {
		got := a.recheck(c.c, c.r, c.g, c.orphaned, now)
		if (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
			t.Errorf("case %d: %q, want %q", i, got, c.want)
		}
	}
}
