// Package seatdata fills a timeline database with data for seatctl's
// tests, the Grafana dashboard test, the demo and the export benchmark:
//
//   - Demo: a realistic enterprise (internal/auditgen's Copilot stream,
//     parsed like ingest does, with duplicates and dead letters), seat
//     lookups (enrichment) for most seat changes and one seat-list snapshot
//     per org, so every view has rows: current, idle and never-used seats,
//     pending cancellations with billing dates.
//   - Synthetic: n plain timeline rows written in batches, fast (a million
//     in seconds), for export size and memory runs.
//
// Everything goes through timeline.Store.Write (and a seat_snapshots
// batch), the path ingest and enrich use.
package seatdata

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"time"

	"github.com/seatline/seatline/internal/auditgen"
	"github.com/seatline/seatline/internal/lifecycle"
	"github.com/seatline/seatline/internal/timeline"
	"github.com/seatline/seatline/pkg/events"
)

// seatKey is a seat of the demo: (org, user).
type seatKey struct{ org, user string }

// DemoOptions shapes Demo's data. Zero values take the defaults noted.
type DemoOptions struct {
	Events int           // audit events generated (all Copilot; a few duplicates and malformed); default 3000
	Users  int           // default 60
	Orgs   []string      // default auditgen's four orgs
	Span   time.Duration // the events cover [Now-Span, Now-1h); default 120 days
	Now    time.Time     // default time.Now()
	Seed   int64         // default 11
}

// DemoResult says what Demo wrote.
type DemoResult struct {
	Rows        int // distinct timeline events
	Duplicates  int // redelivered copies written too
	DeadLetters int
	Enriched    int // rows given a seat lookup (a second, higher version)
	Snapshot    int // seat_snapshots rows
	Orphans     int // holders removed from their org two hours ago, their seats orphaned
	Periods     int // seat periods derived
	First, Last time.Time
	State       map[[2]string]string // (org, user) → last transition name, from the generator
}

// Demo writes a realistic enterprise's seat timeline into store.
func Demo(ctx context.Context, store *timeline.Store, o DemoOptions) (DemoResult, error) {
	o = o.withDefaults()
	now := o.Now.UTC().Truncate(time.Second)
	start := now.Add(-o.Span)
	g := auditgen.New(auditgen.Config{
		Seed: o.Seed, Users: o.Users, Orgs: o.Orgs,
		SeatFraction: 1, DuplicateFraction: 0.01, MalformedFraction: 0.005,
		Start: start, Step: (o.Span - time.Hour) / time.Duration(o.Events),
	})
	d := &demo{now: now, rng: rand.New(rand.NewPCG(uint64(o.Seed), 77)),
		latest: map[seatKey]int{}, plans: map[string]string{}, uses: map[seatKey]usage{}}
	for i := 0; i < o.Events; i++ {
		d.add(g.Next(), "github-audit/"+strconv.Itoa(i%4)+"/"+strconv.Itoa(i/4))
	}
	if err := store.Write(ctx, d.rows, d.dead); err != nil {
		return d.res, err
	}
	d.res.DeadLetters = len(d.dead)
	d.res.State = g.State()

	keys := make([][2]string, 0, len(d.res.State))
	for k := range d.res.State {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		return keys[i][0] < keys[j][0] || keys[i][0] == keys[j][0] && keys[i][1] < keys[j][1]
	})
	snap := d.snapshot(keys)
	if err := store.WriteSnapshot(ctx, snap); err != nil {
		return d.res, err
	}
	d.res.Snapshot = len(snap)
	var err error
	if d.res.Orphans, err = orphanSome(ctx, store, keys, d.res.State, d.latest, d.rows, now); err != nil {
		return d.res, err
	}
	st, err := lifecycle.Update(ctx, store, time.Time{}, func() time.Time { return now })
	if err != nil {
		return d.res, err
	}
	d.res.Periods = st.Periods
	return d.res, nil
}

func (o DemoOptions) withDefaults() DemoOptions {
	if o.Events <= 0 {
		o.Events = 3000
	}
	if o.Users <= 0 {
		o.Users = 60
	}
	if o.Span <= 0 {
		o.Span = 120 * 24 * time.Hour
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	if o.Seed == 0 {
		o.Seed = 11
	}
	return o
}

// demo is the enterprise being made: its rows and dead letters so far.
type demo struct {
	now    time.Time
	rng    *rand.Rand
	res    DemoResult
	rows   []timeline.Row
	dead   []timeline.DeadLetter
	latest map[seatKey]int // index in rows of the last seat change per seat, for the snapshot
	plans  map[string]string
	uses   map[seatKey]usage
}

func (d *demo) useOf(k seatKey) usage {
	u, ok := d.uses[k]
	if !ok {
		u = newUsage(d.rng, d.now)
		d.uses[k] = u
	}
	return u
}

// add turns one generated record at pos into a row (and, for most seat
// changes, the superseding row of its lookup a little later) or a dead
// letter.
func (d *demo) add(rec auditgen.Record, pos string) {
	ev, err := events.Parse(rec.Line)
	if err != nil {
		reason, _ := events.ReasonOf(err)
		d.dead = append(d.dead, timeline.NewDeadLetter("kafka", pos, string(reason), err.Error(), rec.Line, d.now))
		return
	}
	ev.Raw = append([]byte(nil), ev.Raw...)
	row := timeline.NewRow(ev, "kafka", pos, ev.Timestamp.Add(2*time.Second))
	if rec.Kind == auditgen.KindDuplicate {
		d.res.Duplicates++
	} else {
		d.res.Rows++
		if d.res.First.IsZero() {
			d.res.First = ev.Timestamp
		}
		d.res.Last = ev.Timestamp
	}
	d.rows = append(d.rows, row)
	if row.Enrichment != timeline.EnrichmentPending || rec.Kind == auditgen.KindDuplicate {
		return
	}
	k := seatKey{ev.Org, ev.User}
	if d.plans[ev.Org] == "" {
		d.plans[ev.Org] = []string{"business", "enterprise"}[len(d.plans)%2]
	}
	// Most seat changes get looked up a little later: a superseding row.
	if d.rng.IntN(10) < 8 {
		er := row
		at := ev.Timestamp.Add(time.Duration(1+d.rng.IntN(600)) * time.Second)
		er.Enrichment, er.EnrichedAt, er.Attempts = timeline.EnrichmentEnriched, &at, 1
		er.Version = uint64(at.UnixMilli())
		er.Seat = seatDetail(d.rng, ev, d.plans[ev.Org], at, d.useOf(k))
		d.rows = append(d.rows, er)
		d.res.Enriched++
	}
	d.latest[k] = len(d.rows) - 1
}

// snapshot is one seat-list poll per org an hour ago: the seats the
// generator says are held (keys, sorted), with activity: recent, old, or
// never.
func (d *demo) snapshot(keys [][2]string) []timeline.SnapshotSeat {
	at := d.now.Add(-time.Hour)
	var snap []timeline.SnapshotSeat
	for _, k := range keys {
		last := d.res.State[k]
		held := last != "cancelled" && last != "cancelled_by_staff" && last != "access_revoked"
		if !held || k[1] == "" {
			continue
		}
		var userID uint64
		if i, ok := d.latest[seatKey{k[0], k[1]}]; ok {
			userID = uint64(d.rows[i].Event.UserID)
		}
		var billable *time.Time
		if last == "unassigned" {
			end := cycleEnd(at)
			billable = &end
		}
		created := at.Add(-time.Duration(40+d.rng.IntN(300)) * 24 * time.Hour)
		activity, editor := d.useOf(seatKey{k[0], k[1]}).activityAt(d.rng, at)
		team, teamName, kind := teamFor(d.rng, k[0])
		snap = append(snap, timeline.SnapshotSeat{At: at, Scope: timeline.ScopeOrg, ScopeName: k[0], Org: k[0], User: k[1], UserID: userID, AssigneeType: "User",
			Detail: timeline.SeatDetail{PlanType: d.plans[k[0]], TeamSlug: team, TeamName: teamName, TeamKind: timeline.TeamKind(kind),
				BillableUntil: billable, CreatedAt: &created, LastActivityAt: activity, LastActivityEditor: editor, LastAuthenticatedAt: activity}})
	}
	return snap
}

// orphanSome removes a few seat holders from their org two hours before
// now (org.remove_member, as GitHub streams it): their seats stay billable
// to the end of the cycle, orphaned.
func orphanSome(ctx context.Context, store *timeline.Store, keys [][2]string, state map[[2]string]string,
	latest map[seatKey]int, rows []timeline.Row, now time.Time) (int, error) {
	var members []timeline.Member
	for _, k := range keys {
		if len(members) == 3 {
			break
		}
		if s := state[k]; k[1] == "" || s == "cancelled" || s == "cancelled_by_staff" || s == "access_revoked" || s == "unassigned" {
			continue
		}
		i, ok := latest[seatKey{k[0], k[1]}]
		if !ok {
			continue
		}
		at := now.Add(-2 * time.Hour).Add(time.Duration(len(members)) * time.Second)
		raw := fmt.Sprintf(`{"@timestamp":%d,"_document_id":"demo-left-%s-%s","action":"org.remove_member","actor":"hr-sync","business":%q,"org":%q,"user":%q,"user_id":%d}`,
			at.UnixMilli(), k[0], k[1], rows[i].Event.Business, k[0], k[1], rows[i].Event.UserID)
		ev, err := events.Parse([]byte(raw))
		if err != nil {
			return 0, err
		}
		members = append(members, timeline.Member{Event: ev, Source: "kafka", SourcePosition: "github-audit/0/left-" + k[1], IngestedAt: now})
	}
	return len(members), store.WriteBatch(ctx, &timeline.Batch{Members: members})
}

// cycleEnd is the last day of t's month: when an unassigned seat stops
// being billed.
func cycleEnd(t time.Time) time.Time {
	y, m, _ := t.Date()
	return time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC)
}

// usage is how a seat holder uses Copilot, fixed per seat so lookups and
// snapshots agree: never, idle since a date, or active.
type usage struct {
	kind      int // 0 never, 1 idle, 2 active
	idleSince time.Time
	editor    string
}

func newUsage(rng *rand.Rand, now time.Time) usage {
	editors := []string{"vscode/1.90.0/copilot-chat/0.15.0", "JetBrains-IU/241.15989/copilot-intellij/1.5.6", "copilot-cli/1.0.3"}
	switch x := rng.IntN(10); {
	case x < 2:
		return usage{kind: 0}
	case x < 4:
		return usage{kind: 1, idleSince: now.Add(-time.Duration(35+rng.IntN(200)) * 24 * time.Hour), editor: "vscode/1.89.1/copilot/1.200.0"}
	default:
		return usage{kind: 2, editor: editors[rng.IntN(len(editors))]}
	}
}

// activityAt is the last activity GitHub would report at time at.
func (u usage) activityAt(rng *rand.Rand, at time.Time) (*time.Time, string) {
	var t time.Time
	switch {
	case u.kind == 0:
		return nil, ""
	case u.kind == 1 && u.idleSince.Before(at):
		t = u.idleSince
	default:
		t = at.Add(-time.Duration(1+rng.IntN(5*24*60)) * time.Minute)
	}
	return &t, u.editor
}

func teamFor(rng *rand.Rand, org string) (slug, name string, kind int8) {
	switch rng.IntN(3) {
	case 0:
		return "", "", 0 // assigned directly
	case 1:
		return "platform-eng", "Platform Eng", 1
	}
	return "ent:copilot-users", "Copilot Users", 2
}

// seatDetail is what a seat lookup at `at` would have said after ev.
func seatDetail(rng *rand.Rand, ev events.Event, plan string, at time.Time, use usage) timeline.SeatDetail {
	d := timeline.SeatDetail{PlanType: plan}
	created := ev.Timestamp.Add(-time.Duration(rng.IntN(90*24)) * time.Hour)
	switch ev.Transition {
	case events.TransitionCancelled, events.TransitionCancelledByStaff, events.TransitionAccessRevoked:
		d.Status = timeline.SeatAbsent
		d.PlanType = ""
		return d
	case events.TransitionUnassigned:
		d.Status = timeline.SeatPendingCancellation
		b := cycleEnd(at)
		d.BillableUntil = &b
	default:
		d.Status = timeline.SeatActive
	}
	d.CreatedAt = &created
	d.TeamSlug, d.TeamName, _ = teamFor(rng, ev.Org)
	if d.TeamSlug != "" {
		d.TeamKind = timeline.TeamOrg
	}
	if act, editor := use.activityAt(rng, at); act != nil && act.After(created) {
		d.LastActivityAt, d.LastActivityEditor = act, editor
		d.LastAuthenticatedAt = act
	}
	return d
}

// SyntheticStart is the first event time of Synthetic rows.
var SyntheticStart = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// SyntheticRow is row i of the synthetic timeline: seat changes 100 ms
// apart across 4 orgs and 5,000 users, every third one enriched.
func SyntheticRow(i int) timeline.Row {
	orgs := [...]string{"acme-platform", "acme-mobile", "acme-research", "acme-data"}
	trs := [...]events.Transition{events.TransitionAssigned, events.TransitionUnassigned, events.TransitionRefreshed,
		events.TransitionUpdated, events.TransitionUnassigned, events.TransitionCancelled}
	actions := map[events.Transition]string{
		events.TransitionAssigned: "copilot.cfb_seat_added", events.TransitionUnassigned: "copilot.cfb_seat_assignment_unassigned",
		events.TransitionRefreshed: "copilot.cfb_seat_assignment_refreshed", events.TransitionUpdated: "copilot.seat_assignment_updated",
		events.TransitionCancelled: "copilot.cfb_seat_cancelled",
	}
	ts := SyntheticStart.Add(time.Duration(i) * 100 * time.Millisecond)
	u := i % 5000
	tr := trs[(i/5000)%len(trs)]
	ev := events.Event{
		DocumentID: fmt.Sprintf("syn-%09d", i), Timestamp: ts, Action: actions[tr], Transition: tr,
		Actor: "it-ops-admin", ActorID: 9001, User: fmt.Sprintf("user-%04d", u), UserID: int64(100000 + u),
		Org: orgs[u%len(orgs)], OrgID: int64(7000 + u%len(orgs)), Business: "acme-corp", BusinessID: 4242,
		OperationType: "modify", ActorIP: "203.0.113.7", ActorCountry: "DE",
		UserAgent: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/124.0",
		RequestID: fmt.Sprintf("A1B2:%06X:%08X", u, i),
	}
	r := timeline.NewRow(ev, "kafka", fmt.Sprintf("github-audit/%d/%d", i%4, i/4), ts.Add(time.Second))
	if i%3 == 0 {
		at := ts.Add(time.Minute)
		r.Enrichment, r.EnrichedAt, r.Version = timeline.EnrichmentEnriched, &at, uint64(at.UnixMilli())
		r.Seat = timeline.SeatDetail{Status: timeline.SeatActive, PlanType: "business", TeamSlug: "platform-eng", TeamName: "Platform Eng", TeamKind: timeline.TeamOrg}
	}
	return r
}

// Synthetic writes rows [0, n) of SyntheticRow in batches of batch rows
// (default 50,000).
func Synthetic(ctx context.Context, store *timeline.Store, n, batch int) error {
	if batch <= 0 {
		batch = 50000
	}
	rows := make([]timeline.Row, 0, batch)
	for i := 0; i < n; i += batch {
		rows = rows[:0]
		for j := i; j < min(n, i+batch); j++ {
			rows = append(rows, SyntheticRow(j))
		}
		if err := store.Write(ctx, rows, nil); err != nil {
			return err
		}
	}
	return nil
}
