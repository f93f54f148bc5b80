// Command demo is `make demo`: it starts a private ClickHouse, Kafka and
// GitHub API simulator on loopback, makes seat changes in the simulator's
// fictional enterprise, streams the audit events they emitted (mixed into
// ordinary audit noise, with redeliveries and malformed lines) through the
// real ingest binary with inline enrichment, runs the enrich worker once,
// and prints what ended up in the timeline: seat history, GitHub's seat
// details on each row, reconciliation and what it cost in GitHub requests,
// the seat lifecycle, and a seat reclamation (plan, apply, confirmed).
// Everything it starts is stopped, and its temp directory removed, before it
// exits (also on Ctrl-C).
package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/seatline/seatline/internal/auditgen"
	"github.com/seatline/seatline/internal/benchkit"
	"github.com/seatline/seatline/internal/ghsim"
	"github.com/seatline/seatline/internal/testenv"
	"github.com/seatline/seatline/internal/timeline"
	"github.com/seatline/seatline/pkg/events"
)

const (
	topic      = "github-audit"
	group      = "seatline-demo"
	database   = "seatline"
	enterprise = "acme-corp"
	noiseTotal = 20000 // auditgen lines (other audit activity and malformed lines)
	// ghToken is a made-up token that only the local simulator accepts.
	ghToken = "ghp_seatlineDemoSimulatorOnly00000000000"
)

var orgs = []string{"acme-platform", "acme-mobile", "acme-research"} // the last assigns seats to all members

func main() {
	// Output piped into head must not kill us before we clean up.
	signal.Ignore(syscall.SIGPIPE)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	d := &demo{t0: time.Now()}
	err := d.run(ctx)
	interrupted := ctx.Err() != nil
	if interrupted {
		fmt.Println("\ninterrupted: stopping ingest, the GitHub simulator, Kafka and ClickHouse …")
	}
	keepLogs := err != nil && !interrupted && d.ingest != nil
	d.cleanup.Run()
	switch {
	case d.tmp == "":
	case keepLogs:
		// Keep the ingest and enrich logs, remove the rest (ClickHouse's data).
		entries, _ := os.ReadDir(d.tmp)
		for _, e := range entries {
			if !strings.HasSuffix(e.Name(), ".log") {
				os.RemoveAll(filepath.Join(d.tmp, e.Name()))
			}
		}
	default:
		os.RemoveAll(d.tmp)
	}
	switch {
	case interrupted:
		fmt.Println("interrupted: everything the demo started is stopped and its temp directory removed")
		os.Exit(130)
	case err != nil:
		fmt.Fprintf(os.Stderr, "\ndemo failed: %v\n", err)
		if keepLogs {
			fmt.Fprintf(os.Stderr, "logs: %s\n", filepath.Join(d.tmp, "*.log"))
		}
		os.Exit(1)
	}
}

type demo struct {
	t0        time.Time
	tmp       string
	cleanup   benchkit.Cleanup
	stack     *benchkit.Stack
	ingest    *benchkit.Ingest
	store     *timeline.Store
	enrichBin string
	sc        *scenario

	// what was produced
	total, noise, malformed, dups int
	simEvents, simUser            int // simulator seat events; those naming a user (seat changes)
	simMember                     int // simulator membership events (org, team, enterprise team)
	pairs                         map[[2]string]bool
	lines                         [][]byte // the stream, in order
	half                          int      // lines[:half] go out while GitHub is down

	// enrichment
	inline       enrichCounts // after ingest
	final        enrichCounts // after enrich --once
	inlineReqs   map[string]int
	outageReqs   int // requests answered 5xx while GitHub was down
	enrichPasses int
	enrichTook   time.Duration
	snapshots    uint64
}

func step(format string, args ...any) { fmt.Printf("▸ "+format+"\n", args...) }

func (d *demo) run(ctx context.Context) error {
	fmt.Println("seatline demo: a GitHub audit stream → Copilot seat timeline in ClickHouse, enriched from GitHub's API")
	fmt.Println()
	if names := benchkit.ScrubEnv(); len(names) > 0 {
		step("ignoring %s for this private stack", strings.Join(names, ", "))
	}
	var err error
	if d.tmp, err = os.MkdirTemp("", "seatline-demo-"); err != nil {
		return err
	}

	bin, built, err := benchkit.Binary(ctx, "ingest", d.tmp)
	if err != nil {
		return fmt.Errorf("ingest binary: %w", err)
	}
	if built {
		step("bin/ingest not found: built ./cmd/ingest into the temp dir")
	}
	if d.enrichBin, built, err = benchkit.Binary(ctx, "enrich", d.tmp); err != nil {
		return fmt.Errorf("enrich binary: %w", err)
	}
	if built {
		step("bin/enrich not found: built ./cmd/enrich into the temp dir")
	}

	if err := d.startStack(ctx); err != nil {
		return err
	}
	if err := d.startSimulator(); err != nil {
		return err
	}
	if err := d.produce(ctx); err != nil {
		return err
	}
	if err := d.runIngest(ctx, bin); err != nil {
		return err
	}
	if d.store, err = d.stack.Store(ctx, database); err != nil {
		return err
	}
	d.cleanup.Add(func() { d.store.Close() })
	if err := d.runEnrich(ctx); err != nil {
		return err
	}

	var checks []error
	for _, section := range []func(context.Context) error{d.summary, d.enrichment, d.timelines, d.seatState, d.lifecycle, d.reclaim, d.deadLetters} {
		fmt.Println()
		if err := section(ctx); err != nil {
			var ce checkError
			if !errors.As(err, &ce) {
				return err
			}
			checks = append(checks, err)
		}
	}
	fmt.Println()
	if err := runS3Demo(ctx, bin, d.tmp, d.stack.CH.Addr(), "seatline_s3"); err != nil {
		return err
	}
	fmt.Println()
	if err := seatctlDemo(ctx, d.stack.CH.Addr(), database, d.tmp); err != nil {
		return err
	}
	fmt.Println()
	if err := d.stop(); err != nil {
		return err
	}
	if len(checks) > 0 {
		return errors.Join(checks...)
	}
	fmt.Printf("\nDone in %.1fs. Run it yourself: see README.md (\"Querying the timeline\").\n", time.Since(d.t0).Seconds())
	return nil
}

// checkError is a result that differs from what was produced: reported
// after everything is printed.
type checkError struct{ msg string }

func (e checkError) Error() string { return e.msg }

func checkf(format string, args ...any) error { return checkError{fmt.Sprintf(format, args...)} }

func (d *demo) startStack(ctx context.Context) error {
	s, err := benchkit.StartStack(ctx, filepath.Join(d.tmp, "clickhouse"))
	if err != nil {
		if errors.Is(err, testenv.ErrNoClickHouse) {
			return fmt.Errorf("%w\n(make demo installs it: it runs scripts/deps.sh first)", err)
		}
		return err
	}
	d.stack = s
	d.cleanup.Add(func() { s.Close() })
	step("ClickHouse %s on %s, Kafka (kfake) on %s: ready in %.1fs",
		s.ClickHouseVersion(ctx), s.CH.Addr(), s.Broker(), s.Started.Seconds())
	return s.Kafka.CreateTopic(ctx, topic, 4)
}

// ---- the GitHub side: a simulated enterprise and its seat changes ----

// featured is a seat whose timeline the demo prints.
type featured struct {
	org, user string // org "": a seat granted by an enterprise team
	title     string
}

// scenario is what was done in the simulator.
type scenario struct {
	sim                             *ghsim.Server
	pop                             ghsim.Populated
	start, cycleEnd, nextCycle, end time.Time
	events                          [][]byte
	changes                         int
	featured                        []featured
}

// Featured users: new accounts, so that no team built by Populate grants
// them anything and the random changes leave them alone.
const (
	u1      = "ines-moreau"    // direct seat: cancelled at a cycle end, re-assigned, now pending cancellation
	u2      = "kofi-asante"    // new hire: seat through an org team, never used (idle)
	u3      = "hana-kobayashi" // seat through an enterprise team, in use
	u4      = "tomas-novak"    // joins the org team (a lead adds them: the real actor), leaves it: seat lost, orphaned
	u5      = "rosa-jimenez"   // direct seat, then the user's Copilot access is revoked
	u6      = "dmitri-volkov"  // direct seat, then removed from the org: orphaned, billed to the cycle's end
	lead    = "lena-team-lead" // adds u4 to the org team
	entTeam = "ai-champions"   // enterprise team made by the demo
	orgTeam = "ai-pilots"      // org team (in acme-mobile) made by the demo
)

var (
	champions = []string{u3, "pablo-ruiz", "aisha-bello", "mei-lin-wu"}
	actors    = []string{"", "", "it-ops-okafor", "amara-silva-owner"} // "": the enterprise admin
)

// startSimulator builds the enterprise and drives five weeks of seat
// changes, ending a few minutes before now (so lookup lag is real time),
// with a billing-cycle end (the 1st: Copilot bills by calendar month, UTC)
// at least 6 days ago. The stream carries the membership changes too.
func (d *demo) startSimulator() error {
	end := time.Now().UTC().Add(-5 * time.Minute).Truncate(time.Second)
	c := end.AddDate(0, 0, -6)
	cycleEnd := time.Date(c.Year(), c.Month(), 1, 0, 0, 0, 0, time.UTC)
	sc := &scenario{cycleEnd: cycleEnd, nextCycle: cycleEnd.AddDate(0, 1, 0), end: end,
		start: cycleEnd.AddDate(0, 0, -24).Add(9 * time.Hour)}
	sim := ghsim.New(ghsim.Options{Enterprise: enterprise, Tokens: []string{ghToken}, Seed: 7,
		Start: sc.start, MembershipEvents: true, TeamUnassignEventRate: -1}) // GitHub promises no event when a member leaves a team
	if err := sim.Start(); err != nil {
		return err
	}
	sc.sim = sim
	d.sc = sc
	d.cleanup.Add(sim.Close)
	if err := sc.drive(); err != nil {
		return fmt.Errorf("simulator: %w", err)
	}
	step("GitHub API simulator on %s: enterprise %s, %d orgs (%s assigns all members), %d users to start, %d enterprise teams",
		sim.URL(), enterprise, len(orgs), sc.pop.AssignAllOrg, len(sc.pop.Users), len(sc.pop.EnterpriseTeams))
	step("drove %d seat changes %s → %s (billing cycle ended %s): %s audit events",
		sc.changes, sc.start.Format(time.DateOnly), sc.end.Format(time.DateOnly), sc.cycleEnd.Format(time.DateOnly), num(len(sc.events)))
	return nil
}

type action struct {
	at time.Time
	fn func() error
}

func (sc *scenario) drive() error {
	sim := sc.sim
	rng := rand.New(rand.NewPCG(7, 7))
	var err error
	if sc.pop, err = sim.Populate(rng, ghsim.Population{Orgs: orgs, Users: 60, Emit: true}); err != nil {
		return err
	}
	platform, mobile := orgs[0], orgs[1]
	for _, m := range [][2]string{{platform, u1}, {mobile, u4}, {platform, u5}, {platform, u6}} {
		if err := sim.AddMember(m[0], m[1]); err != nil {
			return err
		}
	}
	ent := ghsim.EntTeamSlug(entTeam)
	editor := func(i int) string { return ghsim.Editors[i%len(ghsim.Editors)] }
	used := func(scope, login string, ago time.Duration, i int) func() error {
		return func() error { return sim.SetActivity(scope, login, sim.Now().Add(-ago), editor(i)) }
	}
	day := 24 * time.Hour
	S, B, E := sc.start, sc.cycleEnd, sc.end
	// late(f): a time in the last few days before E, within E's calendar
	// month, so that what happens then is still pending (or billable) now.
	recent := time.Date(E.Year(), E.Month(), 1, 0, 0, 0, 0, time.UTC)
	if r := E.Add(-4 * day); r.After(recent) {
		recent = r
	}
	late := func(f float64) time.Time {
		return recent.Add(time.Duration(f * float64(E.Sub(recent)))).Truncate(time.Second)
	}
	var plan []action
	add := func(at time.Time, fn func() error) { plan = append(plan, action{at, fn}) }

	// u1: direct seat, used, unassigned; cancelled at the cycle end (B);
	// assigned again, used, unassigned yesterday: pending cancellation.
	add(S.Add(day+time.Hour), func() error { return sim.Assign(platform, "it-ops-okafor", u1) })
	add(S.Add(2*day+6*time.Hour), used(platform, u1, 40*time.Minute, 0))
	add(S.Add(4*day+2*time.Hour), func() error { return sim.Unassign(platform, "amara-silva-owner", u1) })
	add(B.Add(day+10*time.Hour), func() error { return sim.Assign(platform, "", u1) })
	add(B.Add(2*day+14*time.Hour), used(platform, u1, 15*time.Minute, 2))
	add(E.Add(-day-3*time.Hour), used(platform, u1, 5*time.Minute, 3))
	add(late(0.9), func() error { return sim.Unassign(platform, "amara-silva-owner", u1) })

	// u3 and other new accounts: an enterprise team assigned to Copilot,
	// unassigned a week later by mistake, re-assigned the next day.
	add(S.Add(5*day), func() error {
		if _, err := sim.AddEnterpriseTeam(entTeam, champions...); err != nil {
			return err
		}
		return sim.AssignEnterpriseTeams("", ent)
	})
	add(S.Add(6*day+3*time.Hour), used(ent, u3, time.Hour, 1))
	add(S.Add(6*day+5*time.Hour), used(ent, champions[1], 2*time.Hour, 4))
	add(S.Add(12*day+7*time.Hour), func() error { return sim.UnassignEnterpriseTeams("amara-silva-owner", ent) })
	add(S.Add(13*day+1*time.Hour), func() error { return sim.AssignEnterpriseTeams("it-ops-okafor", ent) })
	add(E.Add(-3*time.Hour), used(ent, u3, 20*time.Minute, 1))

	// u2: a new hire in acme-mobile, given a seat through a new org team,
	// then directly as well; never used.
	add(B.Add(2*day+9*time.Hour), func() error {
		ms := sim.Members(mobile)
		if err := sim.AddTeam(mobile, orgTeam, u2, ms[0], ms[len(ms)/2]); err != nil {
			return err
		}
		return sim.AssignTeams(mobile, "", orgTeam)
	})
	add(B.Add(3*day+11*time.Hour), func() error { return sim.Assign(mobile, "it-ops-okafor", u2) })

	// The seat lifecycle: u4 added to the team by its lead (the seat's real
	// grantor), removed from it three days before the end with no Copilot
	// event (GitHub does not promise one) in the last days: pending,
	// orphaned. u5's access revoked; u6 removed from the org; acme-research's
	// Copilot revoked org-wide (billing).
	add(B.Add(4*day+10*time.Hour), func() error { return sim.AddTeamMember(mobile, orgTeam, u4, lead) })
	add(late(0.7), func() error { return sim.RemoveTeamMember(mobile, orgTeam, u4) })
	add(S.Add(3*day+2*time.Hour), func() error { return sim.Assign(platform, "it-ops-okafor", u5) })
	add(B.Add(5*day+9*time.Hour), func() error { return sim.RevokeUserAccess(platform, u5, "security-lead") })
	add(S.Add(2*day+4*time.Hour), func() error { return sim.Assign(platform, "", u6) })
	add(late(0.75), func() error { return sim.RemoveMember(platform, u6, "hr-offboarding") })
	add(late(0.8), func() error { return sim.RevokeOrgAccess(orgs[2], "billing", "") })

	// Everything else: random changes to the other seats of the two
	// assign_selected orgs, before and after the cycle end.
	scope := ghsim.ChangeScope{Orgs: []string{platform, mobile}, Actors: actors, Keep: []string{u1, u2, u3, u4, u5, u6, orgTeam}}
	background := func(r *rand.Rand) func() error {
		return func() error { sim.RandomChangeIn(r, scope); return nil }
	}
	spread := func(from, to time.Time, n int) {
		span := to.Sub(from)
		for i := range n {
			at := from.Add(span * time.Duration(i) / time.Duration(n)).Add(time.Duration(rng.Int64N(int64(span / time.Duration(n)))))
			add(at.Truncate(time.Second), background(rng))
		}
	}
	spread(S.Add(2*time.Hour), B.Add(-6*time.Hour), 110)
	spread(B.Add(6*time.Hour), E.Add(-time.Hour), 50)

	sort.SliceStable(plan, func(i, j int) bool { return plan[i].at.Before(plan[j].at) })
	for _, a := range plan {
		if d := a.at.Sub(sim.Now()); d > 0 {
			sim.Advance(d) // past B: pending seats are cancelled, each at B
		}
		if err := a.fn(); err != nil {
			return err
		}
	}
	sc.changes = len(plan)
	if d := E.Sub(sim.Now()); d > 0 {
		sim.Advance(d)
	}
	sc.events = sim.Events()
	sc.featured = []featured{
		{platform, u1, "direct seat cancelled at a cycle end, assigned again, now pending cancellation"},
		{mobile, u2, "a new hire's seat through org team " + orgTeam + ": idle, never used"},
		{"", u3, "seat through enterprise team " + ent + " (an enterprise-level seat: no org)"},
	}
	return nil
}

// ---- the stream ----

type line struct {
	ms   int64
	data []byte
}

// produce mixes the simulator's events into auditgen's noise by time, adds
// redeliveries of some of them, and writes the lot to Kafka.
func (d *demo) produce(ctx context.Context) error {
	sc := d.sc
	span := sc.end.Sub(sc.start)
	g := auditgen.New(auditgen.Config{
		Seed: 7, Enterprise: enterprise, BusinessID: sc.sim.EnterpriseID(), Orgs: orgs, Users: 60,
		SeatFraction: -1, MembershipFraction: -1, MalformedFraction: 0.003, // seat and membership events come from the simulator
		Start: sc.start, Step: span / noiseTotal,
	})
	startMs, stepMs := sc.start.UnixMilli(), float64(span/noiseTotal)/float64(time.Millisecond)
	all := make([]line, 0, noiseTotal+len(sc.events)+64)
	for i := range noiseTotal {
		r := g.Next()
		switch r.Kind {
		case auditgen.KindMalformed:
			d.malformed++
		default:
			d.noise++
		}
		all = append(all, line{startMs + int64(float64(i)*stepMs), r.Line})
	}
	rng := rand.New(rand.NewPCG(7, 8))
	d.pairs = map[[2]string]bool{}
	for _, raw := range sc.events {
		ev, err := events.Parse(raw)
		if err != nil {
			return fmt.Errorf("the simulator emitted an event that does not parse: %v\n%s", err, raw)
		}
		switch {
		case ev.Membership != events.MembershipNone:
			d.simMember++
		default:
			d.simEvents++
		}
		if ev.User != "" && ev.Membership == events.MembershipNone {
			d.simUser++
			d.pairs[[2]string{ev.Org, ev.User}] = true
		}
		ms := ev.Timestamp.UnixMilli()
		all = append(all, line{ms, raw})
		if rng.IntN(100) < 2 { // GitHub delivers at least once: a redelivery, minutes to a day later
			d.dups++
			all = append(all, line{min(ms+rng.Int64N(86_400_000), sc.end.UnixMilli()), raw})
		}
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].ms < all[j].ms })
	d.lines = make([][]byte, len(all))
	for i, l := range all {
		d.lines[i] = l.data
	}
	d.total, d.half = len(d.lines), len(d.lines)/2
	if err := d.write(ctx, d.lines[:d.half]); err != nil {
		return err
	}
	step("mixed in %d redeliveries and %s other audit events (%d malformed): %s in all; the first %s produced to topic %s (4 partitions)",
		d.dups, num(noiseTotal), d.malformed, num(d.total), num(d.half), topic)
	return nil
}

func (d *demo) write(ctx context.Context, lines [][]byte) error {
	p := testenv.NewProducer(d.stack.Kafka.Brokers(), topic)
	err := p.Write(ctx, lines...)
	if cerr := p.Close(); err == nil {
		err = cerr
	}
	return err
}

// ---- running ingest and enrich ----

// runIngest runs bin/ingest with inline enrichment from the simulator: the
// first half of the stream while GitHub is down (every request answered
// 5xx: rows are written pending, ingest does not wait for GitHub), the
// second half once it is back.
func (d *demo) runIngest(ctx context.Context, bin string) error {
	sim := d.sc.sim
	sim.SetFaults(ghsim.Faults{ErrorRate: 1})
	args := benchkit.IngestArgs(d.stack, topic, group, database, "--batch-wait", "200ms")
	args = append(args, benchkit.GitHubArgs(sim, ghToken)...)
	in, err := benchkit.StartIngest(bin, args, filepath.Join(d.tmp, "ingest.log"))
	if err != nil {
		return err
	}
	d.ingest = in
	d.cleanup.Add(in.Close) // no-op after d.stop's Stop
	step("started bin/ingest (pid %d, metrics on http://%s/metrics) with inline enrichment, while GitHub is down (5xx to every request)",
		in.Proc.PID(), in.HTTPAddr)
	if err := d.waitIngest(ctx, d.half); err != nil {
		return err
	}
	for code, n := range sim.Statuses() {
		if code >= 500 {
			d.outageReqs += n
		}
	}
	sim.SetFaults(ghsim.Faults{})
	if err := d.write(ctx, d.lines[d.half:]); err != nil {
		return err
	}
	step("GitHub is back (%d requests failed meanwhile); produced the other %s audit events", d.outageReqs, num(d.total-d.half))
	if err := d.waitIngest(ctx, d.total); err != nil {
		return err
	}
	d.inlineReqs = sim.Requests()
	return nil
}

// waitIngest prints progress until ingest has read n messages and
// committed everything.
func (d *demo) waitIngest(ctx context.Context, n int) error {
	in := d.ingest
	t0 := time.Now()
	lastPrint := t0
	deadline := t0.Add(2 * time.Minute)
	for {
		if err := benchkit.Sleep(ctx, 200*time.Millisecond); err != nil {
			return err
		}
		if err := in.CheckAlive(); err != nil {
			return err
		}
		lag, lerr := d.stack.Lag(ctx, group, topic)
		m, merr := in.Metrics(ctx)
		done := lerr == nil && lag == 0 && merr == nil && int(m.Messages) >= n
		if done || time.Since(lastPrint) >= time.Second {
			lastPrint = time.Now()
			if merr == nil {
				status := "lag " + num(int(lag))
				if done {
					status = "caught up (lag 0)"
				} else if lerr != nil {
					status = "lag ?"
				}
				fmt.Printf("    %4.1fs  read %6s / %s   rows written %3s (enriched %3s, pending %3s)   dead letters %2s   %s\n",
					time.Since(t0).Seconds(), num(int(m.Messages)), num(n), num(int(m.Rows)), num(int(m.EnrichEnriched)), num(int(m.EnrichPending)),
					num(int(m.DeadLetters)), status)
			}
		}
		if done {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("ingest did not catch up within 2 minutes (lag %d, lag error %v, metrics error %v)", lag, lerr, merr)
		}
	}
}

// enrichCounts are the seat rows (events naming a user) by enrichment state.
type enrichCounts struct{ enriched, pending, failed, notApplicable uint64 }

func (d *demo) enrichCounts(ctx context.Context) (enrichCounts, error) {
	var c enrichCounts
	err := d.store.Conn().QueryRow(ctx, `SELECT countIf(enrichment = 'enriched'), countIf(enrichment = 'pending'),
		countIf(enrichment = 'failed'), countIf(enrichment = 'not_applicable') FROM seat_timeline`).
		Scan(&c.enriched, &c.pending, &c.failed, &c.notApplicable)
	return c, err
}

// runEnrich runs bin/enrich --once (again while rows are left pending, at
// most 3 times): it completes pending rows, polls the org and enterprise
// seat lists into seat_snapshots and reconciles them with the timeline.
func (d *demo) runEnrich(ctx context.Context) error {
	var err error
	if d.inline, err = d.enrichCounts(ctx); err != nil {
		return err
	}
	args := benchkit.EnrichArgs(d.stack, database, "--orgs", strings.Join(orgs, ","), "--enterprises", enterprise)
	args = append(args, benchkit.GitHubArgs(d.sc.sim, ghToken)...)
	t0 := time.Now()
	for d.enrichPasses < 3 {
		d.enrichPasses++
		if _, err := benchkit.RunOnce(ctx, d.enrichBin, args, filepath.Join(d.tmp, "enrich.log"), 2*time.Minute); err != nil {
			return err
		}
		if d.final, err = d.enrichCounts(ctx); err != nil {
			return err
		}
		if d.final.pending+d.final.failed == 0 {
			break
		}
	}
	d.enrichTook = time.Since(t0)
	if d.snapshots, err = d.count(ctx, "SELECT count() FROM seat_snapshots"); err != nil {
		return err
	}
	step("bin/enrich --once (%s): completed the %s rows ingest left pending; polled %d org seat lists and enterprise %s (%s seats); reconciled",
		plural(d.enrichPasses, "pass", "passes"), num(int(d.final.enriched)-int(d.inline.enriched)), len(orgs), enterprise, u64(d.snapshots))
	return nil
}

func (d *demo) count(ctx context.Context, q string, args ...any) (uint64, error) {
	var n uint64
	err := d.store.Conn().QueryRow(ctx, q, args...).Scan(&n)
	return n, err
}

// ---- sections ----

func mark(ok bool) string {
	if ok {
		return "✓"
	}
	return "✗"
}

func (d *demo) summary(ctx context.Context) error {
	rows, err := d.count(ctx, "SELECT count() FROM seat_timeline")
	if err != nil {
		return err
	}
	raw, err := d.count(ctx, "SELECT count() FROM seat_events")
	if err != nil {
		return err
	}
	members, err := d.count(ctx, "SELECT count() FROM membership_timeline")
	if err != nil {
		return err
	}
	dead, err := d.count(ctx, "SELECT count() FROM dead_letters")
	if err != nil {
		return err
	}
	q, err := d.store.Conn().Query(ctx, "SELECT reason_code, count() AS n FROM dead_letters GROUP BY reason_code ORDER BY n DESC, reason_code")
	if err != nil {
		return err
	}
	var reasons []string
	for q.Next() {
		var code string
		var n uint64
		if err := q.Scan(&code, &n); err != nil {
			q.Close()
			return err
		}
		reasons = append(reasons, fmt.Sprintf("%s %d", code, n))
	}
	q.Close()
	if err := q.Err(); err != nil {
		return err
	}

	fmt.Println("Summary")
	t := [][]string{
		{"audit events produced", num(d.total), ""},
		{"  Copilot seat events (simulator)", num(d.simEvents), fmt.Sprintf("%s seat changes of a user, %s team/policy changes", num(d.simUser), num(d.simEvents-d.simUser))},
		{"  membership changes (simulator)", num(d.simMember), "org, team and enterprise-team members, removals"},
		{"  duplicates (redelivered)", num(d.dups), "same _document_id as an earlier event"},
		{"  malformed lines", num(d.malformed), ""},
		{"  other audit activity", num(d.noise), "git.*, repo.*, workflows.* …: skipped unparsed"},
		{"timeline rows (seat_timeline)", num(int(rows)), mark(int(rows) == d.simEvents) + " each simulator event exactly once"},
		{"  stored copies (seat_events)", num(int(raw)), "redeliveries and enrichment versions collapse on read (FINAL)"},
		{"membership rows (membership_timeline)", num(int(members)), mark(int(members) == d.simMember) + " each membership change exactly once: the seat lifecycle's context"},
		{"dead letters (dead_letters)", num(int(dead)), mark(int(dead) == d.malformed) + " each malformed line, with its reason"},
	}
	printTable("  ", "lrl", nil, t)
	if len(reasons) > 0 {
		fmt.Printf("    %s\n", strings.Join(reasons, " · "))
	}
	var errs []error
	if int(rows) != d.simEvents {
		errs = append(errs, checkf("seat_timeline holds %d rows, but the simulator emitted %d events", rows, d.simEvents))
	}
	if int(members) != d.simMember {
		errs = append(errs, checkf("membership_timeline holds %d rows, but the simulator emitted %d membership events", members, d.simMember))
	}
	if int(dead) != d.malformed {
		errs = append(errs, checkf("dead_letters holds %d rows, but %d malformed lines were produced", dead, d.malformed))
	}
	return errors.Join(errs...)
}

// truth is the simulator's seat per (org, user): active or
// pending_cancellation; org "" is the enterprise teams' seats (active if
// any team's seat is). Pairs in the stream with no seat now were cancelled.
func (d *demo) truth() map[[2]string]string {
	sim := d.sc.sim
	want := map[[2]string]string{}
	set := func(k [2]string, s ghsim.SeatState) {
		state := "active"
		if s.PendingCancellationDate != "" {
			state = "pending_cancellation"
		}
		if want[k] != "active" {
			want[k] = state
		}
	}
	for _, o := range sim.Orgs() {
		for _, s := range sim.Seats(o) {
			set([2]string{o, s.Login}, s)
		}
	}
	for _, t := range sim.EnterpriseTeams() {
		for _, s := range sim.Seats(t) {
			set([2]string{"", s.Login}, s)
		}
	}
	for k := range d.pairs {
		if _, ok := want[k]; !ok {
			want[k] = "cancelled"
		}
	}
	return want
}

func (d *demo) enrichment(ctx context.Context) error {
	sim := d.sc.sim
	var errs []error
	fin := d.final
	left := fin.pending + fin.failed
	drift, err := d.count(ctx, "SELECT count() FROM seat_drift")
	if err != nil {
		return err
	}
	// The latest enrichment of each (org, user) against the simulator.
	q, err := d.store.Conn().Query(ctx, `SELECT org, user, toString(argMax(seat_status, (event_ms, document_id)))
		FROM seat_timeline WHERE user != '' AND enrichment = 'enriched' GROUP BY org, user`)
	if err != nil {
		return err
	}
	want := d.truth()
	agree, seen := 0, 0
	var bad []string
	for q.Next() {
		var org, user, status string
		if err := q.Scan(&org, &user, &status); err != nil {
			q.Close()
			return err
		}
		seen++
		w := want[[2]string{org, user}]
		if w == "cancelled" {
			w = "absent"
		}
		if status == w {
			agree++
		} else if len(bad) < 3 {
			bad = append(bad, fmt.Sprintf("%s/%s: enriched %s, simulator %s", org, user, status, w))
		}
	}
	q.Close()
	if err := q.Err(); err != nil {
		return err
	}
	inlineAPI := benchkit.APIRequests(d.inlineReqs)
	reqs := sim.Requests()
	api := benchkit.APIRequests(reqs)
	viol := sim.LimitViolations()
	seatRows := int(fin.enriched + left)

	fmt.Println("Enrichment (GitHub's seat details on each seat row; the simulator answers as GitHub's REST API does)")
	t := [][]string{
		{"enriched inline by bin/ingest", num(int(d.inline.enriched)), fmt.Sprintf("of %s seat rows, with %s GitHub requests; the rest were written pending while GitHub was down", num(seatRows), num(inlineAPI-d.outageReqs))},
		{"completed by bin/enrich --once", num(int(fin.enriched - d.inline.enriched)), fmt.Sprintf("then seat lists polled: %s rows in seat_snapshots", u64(d.snapshots))},
		{"left pending or failed", u64(left), mark(left == 0) + fmt.Sprintf(" (%s team/policy rows: not applicable)", u64(fin.notApplicable))},
		{"seat status vs the API", fmt.Sprintf("%d/%d", agree, seen), mark(agree == seen && seen > 0) + " each seat's latest enrichment matches the simulator's seat"},
		{"reconciliation (seat_drift)", u64(drift), mark(drift == 0) + " timeline and GitHub's seat lists agree"},
		{"GitHub requests", num(api - d.outageReqs), fmt.Sprintf("%.3f per seat event (one lookup each would be %s) · +%d failed in the outage · %d limit violations %s",
			float64(api-d.outageReqs)/float64(max(1, d.simUser)), num(d.simUser), d.outageReqs, viol, mark(viol == 0))},
	}
	printTable("  ", "lrl", nil, t)
	var parts []string
	for _, k := range sortedKeys(reqs) {
		parts = append(parts, fmt.Sprintf("%s %d", strings.TrimPrefix(k, "GET "), reqs[k]))
	}
	fmt.Printf("    %s (simulator: %d in all)\n", strings.Join(parts, " · "), sim.TotalRequests())

	if left > 0 {
		errs = append(errs, checkf("%d seat rows still pending or failed after bin/enrich --once", left))
	}
	if agree != seen || seen == 0 {
		errs = append(errs, checkf("enriched seat status differs from the simulator for %d of %d seats, e.g. %s", seen-agree, seen, strings.Join(bad, "; ")))
	}
	if drift != 0 {
		var user, kind, detail string
		_ = d.store.Conn().QueryRow(ctx, "SELECT user, toString(kind), detail FROM seat_drift ORDER BY user LIMIT 1").Scan(&user, &kind, &detail)
		errs = append(errs, checkf("reconciliation recorded %d findings in seat_drift (e.g. %s %s: %s); the timeline was built from the simulator's own events",
			drift, user, kind, detail))
	}
	if viol != 0 {
		errs = append(errs, checkf("%d requests were sent into an exhausted rate limit", viol))
	}
	return errors.Join(errs...)
}

type erow struct {
	ms                               uint64
	transition, actor, enrichment    string
	status, plan, teamSlug, teamKind string
	billable, lastActivity           *time.Time
	editor                           string
	lag                              int64
}

func (d *demo) timelines(ctx context.Context) error {
	fmt.Println("Seat timelines, enriched (seat_timeline; the seat as GitHub described it at lookup, lag after the event)")
	var errs []error
	for i, f := range d.sc.featured {
		q, err := d.store.Conn().Query(ctx, `SELECT event_ms, toString(transition), actor, toString(enrichment),
			toString(seat_status), plan_type, assigning_team_slug, toString(assigning_team_kind),
			billable_until, last_activity_at, last_activity_editor, enrichment_lag_s
			FROM seat_timeline WHERE org = ? AND user = ? ORDER BY event_ms, document_id`, f.org, f.user)
		if err != nil {
			return err
		}
		var rs []erow
		for q.Next() {
			var r erow
			if err := q.Scan(&r.ms, &r.transition, &r.actor, &r.enrichment, &r.status, &r.plan, &r.teamSlug, &r.teamKind,
				&r.billable, &r.lastActivity, &r.editor, &r.lag); err != nil {
				q.Close()
				return err
			}
			rs = append(rs, r)
		}
		q.Close()
		if err := q.Err(); err != nil {
			return err
		}
		if i > 0 {
			fmt.Println()
		}
		where := "in " + f.org
		if f.org == "" {
			where = "(enterprise)"
		}
		fmt.Printf("  %s %s: %s\n", f.user, where, f.title)
		t := [][]string{}
		for _, r := range rs {
			t = append(t, []string{time.UnixMilli(int64(r.ms)).UTC().Format("2006-01-02 15:04"), r.transition, r.actor,
				statusCell(r), dash(r.plan), teamCell(r), dateCell(r.billable), activityCell(r), lagCell(r)})
		}
		printTable("    ", "lllllllll", []string{"time", "transition", "actor", "seat", "plan", "team", "billable until", "last activity", "lag"}, t)
		if i == 0 {
			fmt.Println("    (a direct assignment emits two events: copilot.cfb_seat_assignment_created and copilot.cfb_seat_added)")
		}
		if err := d.checkFeatured(f, rs); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// checkFeatured compares the latest row of a featured seat with the simulator.
func (d *demo) checkFeatured(f featured, rs []erow) error {
	if len(rs) == 0 {
		return checkf("%s: no rows in seat_timeline", f.user)
	}
	for _, r := range rs {
		if r.enrichment != "enriched" {
			return checkf("%s: a %s row is %s, not enriched", f.user, r.transition, r.enrichment)
		}
	}
	r := rs[len(rs)-1]
	scope := f.org
	if scope == "" {
		scope = ghsim.EntTeamSlug(entTeam)
	}
	s, ok := d.sc.sim.Seat(scope, f.user)
	if !ok {
		return checkf("%s: the simulator has no seat in %s", f.user, scope)
	}
	wantStatus, wantBillable := "active", "—"
	if s.PendingCancellationDate != "" {
		wantStatus, wantBillable = "pending_cancellation", s.PendingCancellationDate
	}
	wantTeam, wantKind := s.AssigningTeam, "none"
	if wantTeam != "" {
		wantKind = "org"
		if strings.HasPrefix(wantTeam, "ent:") {
			wantKind = "enterprise"
		}
	}
	wantActivity := s.LastActivityAt != nil
	got := fmt.Sprintf("%s billable %s team %s/%s plan %s used %v", r.status, dateCell(r.billable), r.teamSlug, r.teamKind, r.plan, r.lastActivity != nil)
	want := fmt.Sprintf("%s billable %s team %s/%s plan %s used %v", wantStatus, wantBillable, wantTeam, wantKind, s.PlanType, wantActivity)
	if got != want {
		return checkf("%s: latest enrichment says %q, the simulator %q", f.user, got, want)
	}
	return nil
}

func statusCell(r erow) string {
	if r.enrichment != "enriched" {
		return "(" + r.enrichment + ")"
	}
	return r.status
}

func teamCell(r erow) string {
	if r.teamSlug == "" {
		return "—"
	}
	return r.teamSlug + " (" + r.teamKind + ")"
}

func dateCell(t *time.Time) string {
	if t == nil {
		return "—"
	}
	return t.UTC().Format(time.DateOnly)
}

func activityCell(r erow) string {
	if r.enrichment != "enriched" {
		return ""
	}
	if r.lastActivity == nil {
		return "never"
	}
	ed, _, _ := strings.Cut(r.editor, "/")
	return strings.TrimSpace(r.lastActivity.UTC().Format("2006-01-02 15:04") + " " + ed)
}

func lagCell(r erow) string {
	if r.enrichment != "enriched" {
		return ""
	}
	s := r.lag
	switch {
	case s < 0:
		return "-" + strconv.FormatInt(-s, 10) + "s"
	case s < 120:
		return fmt.Sprintf("%ds", s)
	case s < 2*3600:
		return fmt.Sprintf("%dm", s/60)
	case s < 86400:
		return fmt.Sprintf("%dh %dm", s/3600, s%3600/60)
	}
	return fmt.Sprintf("%dd %dh", s/86400, s%86400/3600)
}

func dash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

func (d *demo) seatState(ctx context.Context) error {
	q, err := d.store.Conn().Query(ctx, `SELECT org, user, state FROM seat_state`)
	if err != nil {
		return err
	}
	got := map[[2]string]string{}
	for q.Next() {
		var org, user, state string
		if err := q.Scan(&org, &user, &state); err != nil {
			q.Close()
			return err
		}
		got[[2]string{org, user}] = state
	}
	q.Close()
	if err := q.Err(); err != nil {
		return err
	}
	// seat_state is each seat's last Copilot event: a revocation shows as
	// revoked (GitHub still lists a revoked user's assignment), and a team
	// leave with no Copilot event leaves the seat as it was (the seat
	// periods, below, know better).
	want := d.truth()
	for k, state := range want {
		if state == "cancelled" && d.sc.sim.OrgAccessRevoked(k[0]) {
			want[k] = "revoked" // the org-wide revocation came after the seat's last change
		}
	}
	want[[2]string{orgs[0], u5}] = "revoked"
	want[[2]string{orgs[1], u4}] = "active"
	counts := map[string]*[4]int{}
	var sum [4]int
	var diff []string
	for k, state := range got {
		c := counts[k[0]]
		if c == nil {
			c = &[4]int{}
			counts[k[0]] = c
		}
		i := map[string]int{"active": 0, "pending_cancellation": 1, "cancelled": 2}[state]
		if _, known := map[string]bool{"active": true, "pending_cancellation": true, "cancelled": true}[state]; !known {
			i = 3
		}
		c[i]++
		sum[i]++
		if want[k] != state {
			diff = append(diff, fmt.Sprintf("%s/%s: timeline %s, simulator %s", k[0], k[1], state, orNone(want[k])))
		}
	}
	for k, state := range want {
		if _, ok := got[k]; !ok {
			diff = append(diff, fmt.Sprintf("%s/%s: timeline none, simulator %s", k[0], k[1], state))
		}
	}
	sort.Strings(diff)
	var t [][]string
	for _, org := range sortedKeys(counts) {
		c := counts[org]
		name := org
		if org == "" {
			name = "(enterprise teams)"
		}
		t = append(t, []string{name, num(c[0]), num(c[1]), num(c[2])})
	}
	note := "✓ matches the simulator's seats, user for user"
	if len(diff) > 0 {
		note = fmt.Sprintf("✗ %d seats differ from the simulator", len(diff))
	}
	t = append(t, []string{"all", num(sum[0]), num(sum[1]), num(sum[2]), note})
	fmt.Println("Current seats (seat_state)")
	printTable("  ", "lrrrl", []string{"org", "active", "pending_cancellation", "cancelled", ""}, t)
	if sum[3] > 0 {
		fmt.Printf("  (%d in another state: revoked or unknown)\n", sum[3])
	}
	fmt.Printf("  seat_state is each seat's last Copilot event: %s's access and all of %s's are revoked; %s left his\n"+
		"  team with no Copilot event, so his last event still says active (the seat periods below know better)\n", u5, orgs[2], u4)
	if len(diff) > 0 {
		return checkf("seat_state differs from the simulator for %d seats: %s", len(diff), strings.Join(diff[:min(3, len(diff))], "; "))
	}
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func (d *demo) deadLetters(ctx context.Context) error {
	q, err := d.store.Conn().Query(ctx, `SELECT reason_code, min(position) AS pos, argMin(reason, position), count()
		FROM dead_letters GROUP BY reason_code ORDER BY pos`)
	if err != nil {
		return err
	}
	var t [][]string
	for q.Next() {
		var code, pos, reason string
		var n uint64
		if err := q.Scan(&code, &pos, &reason, &n); err != nil {
			q.Close()
			return err
		}
		t = append(t, []string{pos, code, clip(strings.TrimPrefix(reason, code+": "), 68)})
	}
	q.Close()
	if err := q.Err(); err != nil {
		return err
	}
	fmt.Println("Dead letters (dead_letters: the first of each reason; raw bytes, length and SHA-256 are kept)")
	printTable("  ", "lll", []string{"position", "reason_code", "reason"}, t)
	return nil
}

func (d *demo) stop() error {
	fmt.Println("Stopping")
	in := d.ingest
	if err := in.Stop(30 * time.Second); err != nil {
		return err
	}
	fmt.Printf("  ✓ ingest (pid %d) got SIGTERM and exited 0: %q\n", in.Proc.PID(), logMsg(in.CleanLine()))
	d.cleanup.Run() // the query connection, the simulator, Kafka, ClickHouse
	if err := os.RemoveAll(d.tmp); err != nil {
		return err
	}
	fmt.Printf("  ✓ GitHub simulator, Kafka and ClickHouse stopped; %s removed\n", d.tmp)
	return nil
}

// logMsg is the msg of a text-format slog line.
func logMsg(line string) string {
	const key = `msg="`
	i := strings.Index(line, key)
	if i < 0 {
		return line
	}
	s, err := strconv.QuotedPrefix(line[i+len(key)-1:])
	if err != nil {
		return line
	}
	u, err := strconv.Unquote(s)
	if err != nil {
		return line
	}
	return u
}

// ---- formatting ----

func num(n int) string {
	s := strconv.Itoa(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func u64(n uint64) string { return num(int(n)) }

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// printTable prints rows in aligned columns; align has one 'l' or 'r' per
// column. The last column is not padded.
func printTable(indent, align string, header []string, rows [][]string) {
	all := rows
	if header != nil {
		all = append([][]string{header}, rows...)
	}
	width := make([]int, len(align))
	for _, r := range all {
		for i, c := range r {
			if i < len(width) {
				width[i] = max(width[i], len([]rune(c)))
			}
		}
	}
	for _, r := range all {
		var b strings.Builder
		b.WriteString(indent)
		for i, c := range r {
			pad := strings.Repeat(" ", width[i]-len([]rune(c)))
			if i > 0 {
				b.WriteString("  ")
			}
			if align[i] == 'r' {
				b.WriteString(pad + c)
			} else if i < len(r)-1 {
				b.WriteString(c + pad)
			} else {
				b.WriteString(c)
			}
		}
		fmt.Println(strings.TrimRight(b.String(), " "))
	}
}
