package auditgen

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/seatline/seatline/pkg/events"
)

func TestDeterministic(t *testing.T) {
	cfg := Config{Seed: 42, DuplicateFraction: 0.01, MalformedFraction: 0.01, SeatFraction: 0.05}
	a, b := New(cfg), New(cfg)
	for i := 0; i < 20000; i++ {
		ra, rb := a.Next(), b.Next()
		if !bytes.Equal(ra.Line, rb.Line) || ra.Kind != rb.Kind || ra.DocumentID != rb.DocumentID {
			t.Fatalf("record %d differs:\n%s\n%s", i, ra.Line, rb.Line)
		}
	}
	if c := New(Config{Seed: 43}).Next(); bytes.Equal(c.Line, New(Config{Seed: 42}).Next().Line) {
		t.Errorf("different seeds gave the same first record")
	}
}

func TestStream(t *testing.T) {
	const n = 200000
	cfg := Config{Seed: 7, DuplicateFraction: 0.005, MalformedFraction: 0.005}
	g := New(cfg)
	counts := map[Kind]int{}
	seatDocs := map[string]bool{}
	allDocs := map[string]bool{}
	actions := map[string]int{}
	malReasons := map[events.Reason]int{}
	falsePositives := 0
	minSize, maxSize := math.MaxInt, 0
	start := g.Config().Start.UnixMilli()
	step := g.Config().Step.Milliseconds()
	for i := 0; i < n; i++ {
		rec := g.Next()
		counts[rec.Kind]++
		if bytes.IndexByte(rec.Line, '\n') >= 0 {
			t.Fatalf("record %d contains a newline", i)
		}
		if rec.Kind == KindSeat || rec.Kind == KindNoise {
			minSize, maxSize = min(minSize, len(rec.Line)), max(maxSize, len(rec.Line))
			if allDocs[rec.DocumentID] || len(rec.DocumentID) != 22 {
				t.Fatalf("record %d: document id %q duplicated or not 22 chars", i, rec.DocumentID)
			}
			allDocs[rec.DocumentID] = true
		}
		ev, err := events.Parse(rec.Line)
		switch rec.Kind {
		case KindSeat:
			if err != nil {
				t.Fatalf("seat record %d rejected: %v\n%s", i, err, rec.Line)
			}
			if !events.MaybeSeatEvent(rec.Line) {
				t.Fatalf("seat record %d fails the pre-filter", i)
			}
			if ev.DocumentID != rec.DocumentID || ev.Action != rec.Action || ev.User != rec.User || ev.Org != rec.Org {
				t.Fatalf("record %d: metadata %+v does not match event %+v", i, rec, ev)
			}
			if want := start + int64(i)*step; ev.Timestamp.UnixMilli() != want || ev.CreatedAt.UnixMilli() != want {
				t.Fatalf("record %d: timestamp %d, want %d", i, ev.Timestamp.UnixMilli(), want)
			}
			seatDocs[rec.DocumentID] = true
			actions[rec.Action]++
		case KindDuplicate:
			if !seatDocs[rec.DocumentID] || err != nil || ev.DocumentID != rec.DocumentID {
				t.Fatalf("duplicate %d (%s) is not an earlier seat record: %v", i, rec.DocumentID, err)
			}
		case KindMalformed:
			if !utf8.Valid(rec.Line) {
				// The records stage rejects invalid UTF-8 before Parse runs
				// (Parse's precondition); stand in for it here.
				err = &events.InvalidError{Reason: events.ReasonInvalidUTF8}
			}
			reason, ok := events.ReasonOf(err)
			if !ok {
				t.Fatalf("malformed record %d: err = %v, want an InvalidError\n%q", i, err, rec.Line)
			}
			malReasons[reason]++
			if !events.MaybeSeatEvent(rec.Line) || !bytes.Contains(rec.Line, []byte("copilot.")) {
				t.Fatalf("malformed record %d would be pre-filtered: %q", i, rec.Line)
			}
			if rec.DocumentID != "" {
				t.Fatalf("malformed record %d has a DocumentID", i)
			}
		case KindNoise:
			if events.MaybeSeatEvent(rec.Line) {
				falsePositives++
				if !errors.Is(err, events.ErrNotSeatEvent) {
					t.Fatalf("noise record %d passes the pre-filter and gives %v\n%s", i, err, rec.Line)
				}
			}
			if err != nil && !errors.Is(err, events.ErrNotSeatEvent) {
				t.Fatalf("noise record %d is not a valid event: %v\n%s", i, err, rec.Line)
			}
		}
	}
	if minSize < 400 || maxSize > 900 {
		t.Errorf("good event sizes in [%d, %d], want within [400, 900]", minSize, maxSize)
	}
	seatFrac := float64(counts[KindSeat]) / n
	if math.Abs(seatFrac-0.02) > 0.002 {
		t.Errorf("seat fraction %.4f, want 0.02±0.002", seatFrac)
	}
	for k, want := range map[Kind]float64{KindDuplicate: 0.005, KindMalformed: 0.005} {
		if f := float64(counts[k]) / n; math.Abs(f-want) > 0.001 {
			t.Errorf("%v fraction %.4f, want %v", k, f, want)
		}
	}
	for _, a := range []string{
		"copilot.cfb_seat_added", "copilot.cfb_seat_assignment_created", "copilot.seat_assignment_created",
		"copilot.cfb_seat_assignment_unassigned", "copilot.cfb_seat_cancelled", "copilot.cfb_seat_assignment_refreshed",
		"copilot.cfb_seat_assignment_reused", "copilot.cfb_seat_management_changed", "copilot.plan_changed",
	} {
		if actions[a] == 0 {
			t.Errorf("no %s events generated", a)
		}
	}
	for _, r := range []events.Reason{events.ReasonMalformedJSON, events.ReasonWrongType, events.ReasonInvalidUTF8,
		events.ReasonMissingField, events.ReasonInvalidTimestamp} {
		if malReasons[r] == 0 {
			t.Errorf("no malformed lines with reason %s (got %v)", r, malReasons)
		}
	}
	if falsePositives == 0 {
		t.Errorf("no noise event exercised the pre-filter's false-positive path")
	}
	t.Logf("kinds %v, sizes [%d, %d], pre-filter false positives %d, malformed %v", counts, minSize, maxSize, falsePositives, malReasons)
}

// TestLifecycle replays the seat events per (org, user) and checks that the
// sequence is coherent and that State reports the last transition.
func TestLifecycle(t *testing.T) {
	g := New(Config{Seed: 3, Users: 20, SeatFraction: 0.5})
	last := map[[2]string]events.Transition{}
	policy, plan := 0, 0
	for i := 0; i < 20000; i++ {
		rec := g.Next()
		if rec.Kind != KindSeat {
			continue
		}
		ev, err := events.Parse(rec.Line)
		if err != nil {
			t.Fatal(err)
		}
		switch ev.Transition {
		case events.TransitionPolicyChanged:
			policy++
			if ev.Org == "" || ev.User != "" || ev.OldValue == ev.NewValue {
				t.Fatalf("policy event %+v", ev)
			}
			continue
		case events.TransitionPlanChanged:
			plan++
			if ev.OldValue == "" || ev.NewValue == "" || ev.OldValue == ev.NewValue || ev.User != "" {
				t.Fatalf("plan event %+v", ev)
			}
			continue
		}
		key := [2]string{ev.Org, ev.User}
		prev, seen := last[key]
		active := seen && (prev == events.TransitionAssigned || prev == events.TransitionRefreshed ||
			prev == events.TransitionReused || prev == events.TransitionUpdated)
		pending := seen && prev == events.TransitionUnassigned
		ok := false
		switch ev.Transition {
		case events.TransitionAssigned:
			ok = !active && !pending
		case events.TransitionUnassigned, events.TransitionReused, events.TransitionUpdated:
			ok = active
		case events.TransitionRefreshed, events.TransitionCancelled, events.TransitionCancelledByStaff:
			ok = pending
		}
		if !ok {
			t.Fatalf("%v after %v (seen %v) for %v", ev.Transition, prev, seen, key)
		}
		last[key] = ev.Transition
	}
	state := g.State()
	if len(state) != len(last) {
		t.Errorf("State has %d keys, replay %d", len(state), len(last))
	}
	for k, tr := range last {
		if state[k] != tr.String() {
			t.Errorf("State[%v] = %q, want %q", k, state[k], tr)
		}
	}
	if policy == 0 || plan == 0 {
		t.Errorf("policy %d plan %d", policy, plan)
	}
}

func TestDefaultsAndWrite(t *testing.T) {
	g := New(Config{})
	c := g.Config()
	if c.Enterprise != "acme-corp" || c.Users != 200 || c.SeatFraction != 0.02 || len(c.Orgs) == 0 || c.Step != 100*time.Millisecond {
		t.Errorf("defaults: %+v", c)
	}
	var buf bytes.Buffer
	if err := New(Config{Seed: 1}).WriteNDJSON(&buf, 1000); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 1000 {
		t.Fatalf("%d lines", len(lines))
	}
	g2 := New(Config{Seed: 1})
	for i, l := range lines {
		if r := g2.Next(); string(r.Line) != l {
			t.Fatalf("line %d differs from Next", i)
		}
	}
	if none := New(Config{SeatFraction: -1, MembershipFraction: -1}); true {
		for i := 0; i < 1000; i++ {
			if none.Next().Kind != KindNoise {
				t.Fatal("SeatFraction and MembershipFraction < 0 still produced seat or membership events")
			}
		}
	}
	mem := New(Config{Seed: 4, MembershipFraction: 0.5})
	n := 0
	for i := 0; i < 1000; i++ {
		r := mem.Next()
		if r.Kind != KindMembership {
			continue
		}
		n++
		ev, err := events.Parse(r.Line)
		if err != nil || ev.Membership == events.MembershipNone || !events.MaybeSeatEvent(r.Line) || ev.User != r.User || ev.Org != r.Org {
			t.Fatalf("membership record: %v %+v\n%s", err, ev, r.Line)
		}
		if ev.Membership == events.TeamMemberAdded && !strings.HasPrefix(ev.Team, ev.Org+"/") {
			t.Fatalf("team %q of org %q", ev.Team, ev.Org)
		}
	}
	if n < 400 || n > 600 {
		t.Errorf("%d membership records of 1000 at fraction 0.5", n)
	}
}

func TestRecordsOwnTheirLines(t *testing.T) {
	g := New(Config{Seed: 9, SeatFraction: 0.5, DuplicateFraction: 0.3})
	var seats []Record
	for i := 0; i < 2000; i++ {
		r := g.Next()
		if r.Kind == KindSeat {
			seats = append(seats, Record{Line: bytes.Clone(r.Line), DocumentID: r.DocumentID})
			for j := range r.Line {
				r.Line[j] = 'X' // the caller scribbles on its copy
			}
		}
		if r.Kind == KindDuplicate {
			if _, err := events.Parse(r.Line); err != nil {
				t.Fatalf("duplicate corrupted: %v", err)
			}
		}
	}
	if len(seats) == 0 {
		t.Fatal("no seats")
	}
}

func BenchmarkNext(b *testing.B) {
	g := New(Config{Seed: 1, DuplicateFraction: 0.001, MalformedFraction: 0.001})
	var n int64
	for b.Loop() {
		n += int64(len(g.Next().Line))
	}
	b.SetBytes(n / int64(b.N))
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
