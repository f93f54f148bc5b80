package enrichd_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/seatline/seatline/internal/enrichd"
	"github.com/seatline/seatline/internal/ghsim"
	"github.com/seatline/seatline/internal/ingestd"
	"github.com/seatline/seatline/internal/seatctl"
	"github.com/seatline/seatline/internal/testenv"
	"github.com/seatline/seatline/internal/timeline"
	"github.com/seatline/seatline/pkg/events"
)

// TestSeatLifecycleFromTheStream: months of seat-lifecycle changes in the
// simulator (teams, enterprise teams, all members, memberships, revocations,
// deprovisioning, plans), streamed through Kafka shuffled within a window
// and partly redelivered, ingested, enriched and derived by the enrich
// worker, answer the users' questions as the simulator's ground truth does:
// every seat period, who held a seat at 25 instants (seatctl seats --at),
// the orphaned seats (seatctl orphans) and the seat-days of every org and
// month (seatctl seat-days). Deriving again writes nothing.
func TestSeatLifecycleFromTheStream(t *testing.T) {
	ctx := context.Background()
	start := time.Date(2025, 4, 7, 9, 0, 0, 0, time.UTC)
	sim := ghsim.New(ghsim.Options{Tokens: []string{token}, Limit: 50000, Window: time.Hour, Seed: 11, Start: start,
		MembershipEvents: true, TeamUnassignEventRate: 0.2})
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	rng := rand.New(rand.NewPCG(11, 1))
	if _, err := sim.Populate(rng, ghsim.Population{Users: 150, Emit: true}); err != nil {
		t.Fatal(err)
	}
	for range 700 {
		sim.RandomLifecycleChange(rng)
	}
	activityEnd := sim.Now()
	if !activityEnd.Before(time.Now().Add(-24 * time.Hour)) {
		t.Fatalf("the simulated history ends %v, not in the past", activityEnd)
	}
	// The clock runs on to today: pending seats lapse as the worker, on
	// the wall clock, will see them.
	sim.Advance(time.Now().Add(-time.Minute).Sub(sim.Now()))
	stream := sim.Events()

	// Delivery: shuffled within windows of 40 events (partitions, late
	// producers), 3% delivered twice.
	var delivered [][]byte
	for i := 0; i < len(stream); i += 40 {
		w := slices.Clone(stream[i:min(i+40, len(stream))])
		rng.Shuffle(len(w), func(a, b int) { w[a], w[b] = w[b], w[a] })
		delivered = append(delivered, w...)
	}
	for _, e := range stream {
		if rng.Float64() < 0.03 {
			delivered = append(delivered, e)
		}
	}
	admitted := map[string]bool{}
	for _, b := range stream {
		e, err := events.Parse(b)
		if err != nil {
			t.Fatalf("the simulator wrote an event seatline cannot parse: %v: %s", err, b)
		}
		if events.Admitted(e.Action) {
			admitted[e.DocumentID] = true
		}
	}
	t.Logf("%d audit events (%d admitted) over %s, %d deliveries", len(stream), len(admitted),
		activityEnd.Sub(start).Round(24*time.Hour), len(delivered))

	ch := testenv.SharedClickHouse(t)
	db := testenv.NewDatabase(t, ch)
	k := testenv.NewKafka(t)
	if err := k.CreateTopic(ctx, "audit", 3); err != nil {
		t.Fatal(err)
	}
	p := testenv.NewProducer(k.Brokers(), "audit")
	if err := p.Write(ctx, delivered...); err != nil {
		t.Fatal(err)
	}
	p.Close()

	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	icfg, err := ingestd.ParseArgs("--kafka-brokers", k.Brokers()[0], "--kafka-topics", "audit", "--kafka-group", "lifecycle",
		"--clickhouse-addr", ch.Addr(), "--clickhouse-database", db, "--batch-wait", "200ms", "--http-addr", "")
	if err != nil {
		t.Fatal(err)
	}
	icfg.GitHub.BaseURL, icfg.GitHub.Token = sim.URL()+"/", token
	ingestAll(t, icfg, logger, k.Brokers(), "lifecycle", 90*time.Second)

	store, err := timeline.Open(ctx, timeline.Config{Addrs: []string{ch.Addr()}, Database: db})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	var stored []string
	rows, err := store.Conn().Query(ctx, "SELECT document_id FROM seat_timeline UNION ALL SELECT document_id FROM membership_timeline")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		stored = append(stored, id)
	}
	rows.Close()
	seen := map[string]bool{}
	for _, id := range stored {
		if seen[id] || !admitted[id] {
			t.Fatalf("event %s stored twice, or never sent", id)
		}
		seen[id] = true
	}
	if len(seen) != len(admitted) {
		t.Fatalf("%d events stored, %d admitted", len(seen), len(admitted))
	}

	// The enrich worker derives the periods (and enriches the seat events),
	// then checks them against GitHub's seat lists.
	ecfg := enrichd.Defaults()
	ecfg.Once, ecfg.Enterprises = true, []string{"acme-corp"}
	ecfg.ClickHouse.Addrs, ecfg.ClickHouse.Database = []string{ch.Addr()}, db
	ecfg.GitHub.BaseURL, ecfg.GitHub.Token = sim.URL()+"/", token
	if err := enrichd.Run(ctx, ecfg, logger); err != nil {
		t.Fatal(err)
	}

	var drift uint64
	if err := store.Conn().QueryRow(ctx, "SELECT count() FROM seat_drift WHERE kind IN ('seat_without_period', 'period_without_seat')").Scan(&drift); err != nil {
		t.Fatal(err)
	}
	if drift != 0 {
		var user, kind, detail string
		_ = store.Conn().QueryRow(ctx, "SELECT user, toString(kind), detail FROM seat_drift WHERE kind IN ('seat_without_period', 'period_without_seat') LIMIT 1").Scan(&user, &kind, &detail)
		t.Fatalf("%d differences between the seat periods held now and GitHub's seat lists, e.g. %s %s: %s", drift, user, kind, detail)
	}

	seatctlCSV := func(args ...string) [][]string {
		t.Helper()
		var out, errb bytes.Buffer
		args = append(args, "--format", "csv", "--clickhouse-addr", ch.Addr(), "--clickhouse-database", db)
		if code := seatctl.Main(ctx, args, &out, &errb); code != 0 {
			t.Fatalf("seatctl %s: exit %d: %s", strings.Join(args, " "), code, errb.String())
		}
		recs, err := csv.NewReader(&out).ReadAll()
		if err != nil {
			t.Fatalf("seatctl %s: %v", args[0], err)
		}
		return recs[1:] // the header
	}
	truth := sim.Periods()
	sec := func(tp *time.Time) string {
		if tp == nil {
			return "-"
		}
		return tp.UTC().Truncate(time.Second).Format(time.DateTime)
	}

	// Every period, as stored, equals the truth (times to the second).
	var want, got []string
	for _, p := range truth {
		want = append(want, fmt.Sprintf("%s %s %d %s via=%s team=%s by=%s from=%s pending=%s billable=%s end=%s %s orphan=%s %s plan=%s",
			p.ScopeKind, p.Scope, p.UserID, p.Login, p.Via, p.Team, p.GrantedBy, sec(&p.Start), sec(p.PendingFrom),
			sec(p.BillableUntil), sec(p.End), p.EndReason, sec(p.OrphanedSince), p.OrphanReason, p.Plan))
	}
	for _, r := range seatctlCSV("periods", "--all") {
		// kind scope user holder # via team granted_by held_from pending_from billable_until ended_at end_reason orphaned_since orphan_reason plan
		f := func(i int) string {
			if r[i] == "" {
				return "-"
			}
			ts, err := time.Parse(time.RFC3339, r[i])
			if err != nil {
				t.Fatalf("period time %q: %v", r[i], err)
			}
			return ts.UTC().Format(time.DateTime)
		}
		got = append(got, fmt.Sprintf("%s %s %s %s via=%s team=%s by=%s from=%s pending=%s billable=%s end=%s %s orphan=%s %s plan=%s",
			r[0], r[1], r[3], r[2], r[5], r[6], r[7], f(8), f(9), f(10), f(11), r[12], f(13), r[14], r[15]))
	}
	compareLines(t, "periods", want, got)

	vias, ends, orphans := map[string]int{}, map[string]int{}, map[string]int{}
	for _, p := range truth {
		vias[p.Via]++
		ends[p.EndReason]++
		orphans[p.OrphanReason]++
	}
	t.Logf("%d periods; via %v; ended %v; orphaned %v", len(truth), vias, ends, orphans)
	for _, c := range []int{vias[ghsim.ViaDirect], vias[ghsim.ViaTeam], vias[ghsim.ViaEnterpriseTeam], vias[ghsim.ViaAllMembers],
		ends[ghsim.EndCancelled], ends[ghsim.EndLeftOrg], ends[ghsim.EndAccessRevoked], ends[ghsim.EndScopeRevoked],
		ends[ghsim.EndLeftEnterpriseTeam], orphans[ghsim.OrphanDeprovisioned], orphans[ghsim.OrphanLeftTeam]} {
		if c == 0 {
			t.Fatal("the history lacks a kind of grant, end or orphan: the comparison would not cover it")
		}
	}

	// Who held a seat, and which seats were orphaned: 25 instants across
	// the history, at .999 of a second so that no event falls between the
	// instant and its stored second.
	span := activityEnd.Sub(start)
	held, orphaned := 0, 0
	for i := range 25 {
		at := start.Add(span * time.Duration(i+1) / 26).Truncate(time.Second).Add(999 * time.Millisecond)
		var want, got []string
		for _, h := range sim.HoldersAt(at) {
			want = append(want, fmt.Sprintf("%s %s %d %s %s %s", h.ScopeKind, h.Scope, h.UserID, h.Login, h.Via, h.Team))
		}
		// kind scope user holder via team granted_by since status billable_until orphaned plan
		for _, r := range seatctlCSV("seats", "--at", at.Format(time.RFC3339Nano)) {
			got = append(got, fmt.Sprintf("%s %s %s %s %s %s", r[0], r[1], r[3], r[2], r[4], r[5]))
		}
		if i == 0 && len(want) == 0 {
			t.Fatal("nobody held a seat at the first instant: the comparison would prove nothing")
		}
		compareLines(t, "holders at "+at.Format(time.RFC3339Nano), want, got)
		held += len(want)
		orphaned += compareOrphans(t, sim, at, seatctlCSV("orphans", "--at", at.Format(time.RFC3339Nano)))
	}
	orphaned += compareOrphans(t, sim, time.Now(), seatctlCSV("orphans"))
	if held == 0 || orphaned == 0 {
		t.Fatalf("%d holders and %d orphaned seats at the instants: the comparison proves nothing", held, orphaned)
	}
	t.Logf("%d holders and %d orphaned seats at 25 instants agree with the truth", held, orphaned)

	// Seat-days of every scope and month of the history.
	first := time.Date(start.Year(), start.Month(), 1, 0, 0, 0, 0, time.UTC)
	last := time.Date(activityEnd.Year(), activityEnd.Month(), 1, 0, 0, 0, 0, time.UTC)
	days := map[string]uint64{}
	// month kind scope team plan seat_days holders
	for _, r := range seatctlCSV("seat-days", "--since", first.Format("2006-01"), "--until", last.Format("2006-01")) {
		n, err := strconv.ParseUint(r[5], 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		days[r[0]+" "+r[2]] += n
	}
	scopes := map[string]bool{}
	for _, p := range truth {
		scopes[p.Scope] = true
	}
	want, got = nil, nil
	for m := first; !m.After(last); m = m.AddDate(0, 1, 0) {
		for sc := range scopes {
			if n := sim.SeatDays(sc, m); n > 0 {
				want = append(want, fmt.Sprintf("%s %s %d", m.Format("2006-01"), sc, n))
			}
			if n := days[m.Format("2006-01")+" "+sc]; n > 0 {
				got = append(got, fmt.Sprintf("%s %s %d", m.Format("2006-01"), sc, n))
			}
		}
	}
	compareLines(t, "seat-days", want, got)

	// Deriving again changes nothing.
	var out, errb bytes.Buffer
	if code := seatctl.Main(ctx, []string{"derive", "--clickhouse-addr", ch.Addr(), "--clickhouse-database", db}, &out, &errb); code != 0 ||
		!strings.Contains(out.String(), " 0 written, 0 removed") {
		t.Fatalf("seatctl derive again: exit %d: %s%s", code, out.String(), errb.String())
	}
}

// compareOrphans compares seatctl orphans' rows (kind scope user holder
// orphaned_since orphan_reason …) with the truth's orphans at t.
func compareOrphans(t *testing.T, sim *ghsim.Server, at time.Time, rows [][]string) int {
	t.Helper()
	var want, got []string
	for _, p := range sim.Orphans(at) {
		want = append(want, fmt.Sprintf("%s %d %s %s", p.Scope, p.UserID, p.OrphanReason,
			p.OrphanedSince.UTC().Truncate(time.Second).Format(time.DateTime)))
	}
	for _, r := range rows {
		ts, err := time.Parse(time.RFC3339, r[4])
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s %s %s %s", r[1], r[3], r[5], ts.UTC().Format(time.DateTime)))
	}
	compareLines(t, "orphans at "+at.Format(time.RFC3339Nano), want, got)
	return len(want)
}

// compareLines compares two sets of lines, reporting the first differences.
func compareLines(t *testing.T, what string, want, got []string) {
	t.Helper()
	slices.Sort(want)
	slices.Sort(got)
	if slices.Equal(want, got) {
		return
	}
	var missing, extra []string
	for _, w := range want {
		if _, ok := slices.BinarySearch(got, w); !ok {
			missing = append(missing, w)
		}
	}
	for _, g := range got {
		if _, ok := slices.BinarySearch(want, g); !ok {
			extra = append(extra, g)
		}
	}
	t.Fatalf("%s: %d lines, the truth has %d\nmissing:\n  %s\nnot in the truth:\n  %s", what, len(got), len(want),
		strings.Join(missing[:min(len(missing), 8)], "\n  "), strings.Join(extra[:min(len(extra), 8)], "\n  "))
}
