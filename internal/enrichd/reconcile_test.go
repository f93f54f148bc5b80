package enrichd_test

import (
	"testing"

	"github.com/seatline/seatline/internal/enrichd"
)

func TestReconcile(t *testing.T) {
	api := map[string]string{"ann": "active", "bob": "pending_cancellation", "cy": "active", "dee": "active"}
	tl := map[string]string{"ann": "active", "bob": "pending_cancellation", "cy": "cancelled", "eve": "active", "fay": "cancelled"}
	got := enrichd.Reconcile("acme", api, tl, 0, enrichd.ByTimeline)
	want := []enrichd.Drift{
		{Org: "acme", User: "cy", Kind: "seat_without_assignment", TimelineState: "cancelled", APIState: "active"},
		{Org: "acme", User: "dee", Kind: "seat_without_assignment", TimelineState: "none", APIState: "active"},
		{Org: "acme", User: "eve", Kind: "assignment_without_seat", TimelineState: "active", APIState: "absent"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for i := range want {
		g := got[i]
		g.Detail = ""
		if g != want[i] {
			t.Errorf("finding %d: got %+v, want %+v", i, got[i], want[i])
		}
		if got[i].Detail == "" {
			t.Errorf("finding %d has no detail", i)
		}
	}
}

// A revoked user keeps the assignment: GitHub lists the seat, the periods
// hold none, and that is no finding; a period GitHub does not list is one.
func TestReconcileByPeriods(t *testing.T) {
	api := map[string]string{"ann": "active", "bob": "active"}
	held := map[string]string{"ann": "active", "bob": "access_revoked", "cy": "pending_cancellation", "dee": "ended"}
	got := enrichd.Reconcile("acme", api, held, 0, enrichd.ByPeriods)
	if len(got) != 1 || got[0].User != "cy" || got[0].Kind != "period_without_seat" || got[0].APIState != "absent" {
		t.Fatalf("got %+v", got)
	}
}
