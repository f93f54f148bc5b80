package timeline_test

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/seatline/seatline/internal/lifecycle"
	"github.com/seatline/seatline/internal/timeline"
	"github.com/seatline/seatline/pkg/events"
)

// TestPeriodsRoundTrip: seat and membership events written as ingest
// writes them, periods derived and stored, the views answering on 18.16:
// held at an instant, seat-days, orphans; a second derivation writes nothing.
func TestPeriodsRoundTrip(t *testing.T) {
	s, _, _ := open(t)
	ctx := context.Background()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	at := func(day, hour int) int64 { return time.Date(2026, 3, day, hour, 0, 0, 0, time.UTC).UnixMilli() }
	raw := func(ms int64, id, action string, extra string) []byte {
		return []byte(fmt.Sprintf(`{"@timestamp":%d,"_document_id":%q,"action":%q,"business":"acme-corp"%s}`, ms, id, action, extra))
	}
	var b timeline.Batch
	add := func(ms int64, id, action, extra string) {
		ev, err := events.Parse(raw(ms, id, action, extra))
		if err != nil {
			t.Fatal(err)
		}
		if ev.Membership != events.MembershipNone {
			b.Members = append(b.Members, timeline.Member{Event: ev, Source: "test", SourcePosition: id, IngestedAt: time.Now()})
		} else {
			b.Rows = append(b.Rows, timeline.NewRow(ev, "test", id, time.Now()))
		}
	}
	add(at(1, 9), "p1", "copilot.plan_changed", `,"org":"acme","old_plan":"","plan":"enterprise"`)
	add(at(1, 10), "a1", "copilot.cfb_seat_assignment_created", `,"org":"acme","team":"acme/devs","actor":"it-ops"`)
	add(at(2, 10), "m1", "team.add_member", `,"org":"acme","team":"acme/devs","user":"ann","user_id":1,"actor":"lead"`)
	add(at(2, 10)+1, "s1", "copilot.cfb_seat_added", `,"org":"acme","user":"ann","user_id":1,"actor":"it-ops"`)
	add(at(3, 10), "a2", "copilot.cfb_seat_assignment_created", `,"org":"acme","user":"bob","user_id":2,"actor":"it-ops"`)
	add(at(10, 10), "m2", "org.remove_member", `,"org":"acme","user":"bob","user_id":2,"actor":"hr"`)
	add(at(12, 10), "m3", "team.remove_member", `,"org":"acme","team":"acme/devs","user":"ann","user_id":1`)
	// An orphan now: assigned two days ago, removed from the org an hour ago.
	real := time.Now().UTC().Truncate(time.Millisecond)
	add(real.Add(-48*time.Hour).UnixMilli(), "a3", "copilot.cfb_seat_assignment_created", `,"org":"acme","user":"cy","user_id":3`)
	add(real.Add(-time.Hour).UnixMilli(), "m4", "org.remove_member", `,"org":"acme","user":"cy","user_id":3`)
	if err := s.WriteBatch(ctx, &b); err != nil {
		t.Fatal(err)
	}
	now := func() time.Time { return time.Date(2026, 3, 20, 0, 0, 0, 0, time.UTC) }
	st, err := lifecycle.Update(ctx, s, time.Time{}, now)
	if err != nil {
		t.Fatal(err)
	}
	if st.Businesses != 1 || st.Periods != 3 || st.Written != 3 || st.Removed != 0 {
		t.Fatalf("first derivation: %+v", st)
	}
	if st, err := lifecycle.Update(ctx, s, time.Time{}, now); err != nil || st.Written+st.Removed != 0 {
		t.Fatalf("second derivation wrote %+v (%v)", st, err)
	}
	stored, err := s.StoredPeriods(ctx, "acme-corp")
	if err != nil || len(stored) != 3 {
		t.Fatalf("stored %+v, %v", stored, err)
	}
	ann := stored[0]
	if ann.User != "ann" || ann.Via != lifecycle.ViaTeam || ann.GrantedBy != "lead" || ann.Plan != "enterprise" ||
		ann.PendingFrom == nil || ann.OrphanReason != lifecycle.OrphanLeftTeam || ann.Start.UnixMilli() != at(2, 10) {
		t.Errorf("ann: %+v", ann)
	}
	q := func(sql string, args ...any) string {
		t.Helper()
		rows, err := s.Conn().Query(ctx, sql, args...)
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		defer rows.Close()
		var out []string
		cols := rows.ColumnTypes()
		for rows.Next() {
			vals := make([]any, len(cols))
			for i, c := range cols {
				vals[i] = newOf(c.ScanType())
			}
			if err := rows.Scan(vals...); err != nil {
				t.Fatal(err)
			}
			var cells []string
			for _, v := range vals {
				cells = append(cells, fmt.Sprint(deref(v)))
			}
			out = append(out, strings.Join(cells, " "))
		}
		return strings.Join(out, "\n")
	}
	held := "SELECT user, toString(via) FROM periods WHERE started_ms <= ? AND access_end > ? ORDER BY user"
	tm := func(ms int64) time.Time { return time.UnixMilli(ms).UTC() }
	if got := q(held, uint64(at(5, 0)), tm(at(5, 0))); got != "ann team\nbob direct" {
		t.Errorf("held on 5 March: %q", got)
	}
	if got := q(held, uint64(at(11, 0)), tm(at(11, 0))); got != "ann team" {
		t.Errorf("held on 11 March (bob removed on the 10th): %q", got)
	}
	if got := q(held, uint64(at(15, 0)), tm(at(15, 0))); got != "ann team" {
		t.Errorf("held on 15 March (ann pending to April): %q", got)
	}
	// ann: 2 March to 1 April (exclusive) = 30 days; bob: 3 March to 1 April
	// (removed on the 10th, billed for the cycle) = 29 days.
	if got := q("SELECT scope, team, plan, toString(month), seat_days, holders FROM seat_days WHERE month = '2026-03-01' ORDER BY team"); got != "acme  enterprise 2026-03-01 29 1\nacme acme/devs enterprise 2026-03-01 30 1" {
		t.Errorf("seat_days: %q", got)
	}
	if got := q("SELECT user, orphan_reason, monthly_cost_usd FROM orphaned_seats ORDER BY user"); got != "cy left_org 39" {
		t.Errorf("orphaned_seats: %q", got)
	}
}

func newOf(t reflect.Type) any { return reflect.New(t).Interface() }

func deref(v any) any {
	r := reflect.ValueOf(v).Elem()
	if r.Kind() == reflect.Pointer {
		if r.IsNil() {
			return "NULL"
		}
		return r.Elem().Interface()
	}
	return r.Interface()
}
