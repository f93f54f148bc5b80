package main

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/seatline/seatline/internal/benchkit"
	"github.com/seatline/seatline/internal/ghsim"
	"github.com/seatline/seatline/internal/testenv"
)

// gh measures GitHub requests per event for a burst, and rate-limit
// violations.
func (b *bench) gh(ctx context.Context) error {
	// GitHub: requests per event for a burst, and rate-limit violations.
	burst, err := b.ghBurst(ctx)
	if err != nil {
		return err
	}
	perEvent := float64(burst.requests) / float64(burst.events)
	figure("gh_requests_per_event", fmt.Sprintf("%.4f", perEvent), "ratio")
	fmt.Printf("# gh_requests_per_event naive: 1.0 (one per-user lookup per event: %d requests for %d events)\n", burst.events, burst.events)
	b.target("gh_requests_per_event", math.Round(perEvent*10000)/10000, burst.requests <= burst.events/80, "≤ 0.0125")
	limited, err := b.ghLimited(ctx)
	if err != nil {
		return err
	}
	violations := burst.violations + limited.violations
	fmt.Printf("# gh_limit_violations: %d in the burst run (5000 requests/hour), %d in the run at 100 requests/minute with 429 bursts\n",
		burst.violations, limited.violations)
	figure("gh_limit_violations", strconv.Itoa(violations), "count")
	b.target("gh_limit_violations", float64(violations), violations == 0, "= 0")
	return nil
}

// ghResult is what one GitHub run measured.
type ghResult struct {
	events     int // seat events produced
	requests   int // API requests (not GET /rate_limit, not App token exchanges)
	violations int // the simulator's LimitViolations
}

// ghSim starts a GitHub API simulator that accepts ghToken; cleanup stops it.
func (b *bench) ghSim(opts ghsim.Options) (*ghsim.Server, error) {
	opts.Tokens = []string{ghToken}
	sim := ghsim.New(opts)
	if err := sim.Start(); err != nil {
		return nil, err
	}
	b.cleanup.Add(sim.Close)
	return sim, nil
}

var (
	ghFirst = []string{"maria", "james", "wei", "priya", "ahmed", "olga", "kenji", "fatima", "lucas", "chloe", "diego", "amara", "noah", "ingrid", "ravi", "sofia"}
	ghLast  = []string{"lopez", "chen", "patel", "kowalski", "okafor", "nguyen", "schmidt", "rossi", "tanaka", "silva", "kim", "dubois", "ivanova", "haddad"}
)

// ghLogins returns n distinct realistic logins.
func ghLogins(n int) []string {
	out := make([]string, n)
	per := len(ghFirst) * len(ghLast)
	for i := range out {
		out[i] = ghFirst[i%len(ghFirst)] + "-" + ghLast[(i/len(ghFirst))%len(ghLast)]
		if k := i / per; k > 0 {
			out[i] += strconv.Itoa(k + 1)
		}
	}
	return out
}

func (b *bench) produceLines(ctx context.Context, topic string, lines [][]byte) error {
	p := testenv.NewProducer(b.st.Kafka.Brokers(), topic)
	err := p.Write(ctx, lines...)
	if cerr := p.Close(); err == nil {
		err = cerr
	}
	return err
}

// ghIngest runs bin/ingest with inline enrichment from sim on topic until
// it has read n messages and committed them, then stops it.
func (b *bench) ghIngest(ctx context.Context, name, topic string, n int, sim *ghsim.Server) (benchkit.Metrics, time.Duration, error) {
	group, db := "bench-"+name, "bench_"+name
	args := append(benchkit.IngestArgs(b.st, topic, group, db), benchkit.GitHubArgs(sim, ghToken)...)
	in, err := benchkit.StartIngest(b.bin, args, filepath.Join(b.tmp, "ingest-"+name+".log"))
	if err != nil {
		return benchkit.Metrics{}, 0, err
	}
	defer in.Close()
	t0 := time.Now()
	deadline := t0.Add(5 * time.Minute)
	for {
		if err := benchkit.Sleep(ctx, 100*time.Millisecond); err != nil {
			return benchkit.Metrics{}, 0, err
		}
		if err := in.CheckAlive(); err != nil {
			return benchkit.Metrics{}, 0, err
		}
		if time.Now().After(deadline) {
			return benchkit.Metrics{}, 0, fmt.Errorf("%s run: ingest not caught up after 5 minutes\n%s", name, in.LogTail(10))
		}
		m, err := in.Metrics(ctx)
		if err != nil || m.Messages < float64(n) {
			continue
		}
		if lag, err := b.st.Lag(ctx, group, topic); err != nil || lag > 0 {
			continue
		}
		took := time.Since(t0)
		if err := in.Stop(60 * time.Second); err != nil {
			return m, took, err
		}
		return m, took, nil
	}
}

// ghCounts are timeline rows by enrichment state.
type ghCounts struct{ rows, enriched, pending, failed uint64 }

func ghCount(ctx context.Context, st *benchkit.Stack, db string) (ghCounts, error) {
	store, err := st.Store(ctx, db)
	if err != nil {
		return ghCounts{}, err
	}
	defer store.Close()
	var c ghCounts
	err = store.Conn().QueryRow(ctx, `SELECT count(), countIf(enrichment = 'enriched'), countIf(enrichment = 'pending'),
		countIf(enrichment = 'failed') FROM seat_timeline`).Scan(&c.rows, &c.enriched, &c.pending, &c.failed)
	return c, err
}

// ghEnrich runs bin/enrich --once against sim on database bench_<name>
// until no row is pending or failed (at most maxPasses passes).
func (b *bench) ghEnrich(ctx context.Context, name string, sim *ghsim.Server, maxPasses int, extra ...string) (passes int, took time.Duration, c ghCounts, err error) {
	db := "bench_" + name
	args := append(benchkit.EnrichArgs(b.st, db, extra...), benchkit.GitHubArgs(sim, ghToken)...)
	t0 := time.Now()
	for passes < maxPasses {
		passes++
		if _, err := benchkit.RunOnce(ctx, b.enrichBin, args, filepath.Join(b.tmp, "enrich-"+name+".log"), 10*time.Minute); err != nil {
			return passes, time.Since(t0), c, err
		}
		if c, err = ghCount(ctx, b.st, db); err != nil {
			return passes, time.Since(t0), c, err
		}
		if c.pending+c.failed == 0 {
			break
		}
	}
	return passes, time.Since(t0), c, nil
}

// ghBreakdown formats per-endpoint request counts.
func ghBreakdown(reqs map[string]int) string {
	keys := make([]string, 0, len(reqs))
	for k := range reqs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, reqs[k]))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// ghStatuses formats the simulator's rate-limit and error answers.
func ghStatuses(sim *ghsim.Server) string {
	st := sim.Statuses()
	var parts []string
	for _, code := range []int{403, 429, 500, 502, 503} {
		if st[code] > 0 {
			parts = append(parts, fmt.Sprintf("%d×%d", st[code], code))
		}
	}
	if len(parts) == 0 {
		return "no 403/429/5xx answers"
	}
	return strings.Join(parts, ", ")
}

// ghBurst: 10,000 seat events over the 2,000 users of one org, made by the
// simulator; ingest with inline enrichment, then enrich --once until
// nothing is pending.
func (b *bench) ghBurst(ctx context.Context) (ghResult, error) {
	const org, users, n, name = "acme-burst", 2000, 10000, "gh"
	var res ghResult
	sim, err := b.ghSim(ghsim.Options{Seed: 11, Start: time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)})
	if err != nil {
		return res, err
	}
	if err := sim.AddOrg(org, ghsim.AssignSelected, ghsim.PlanBusiness); err != nil {
		return res, err
	}
	logins := ghLogins(users)
	for _, u := range logins {
		if err := sim.AddMember(org, u); err != nil {
			return res, err
		}
	}
	for i := 0; i < users; i += 100 {
		if err := sim.Assign(org, "", logins[i:i+100]...); err != nil {
			return res, err
		}
		sim.Advance(time.Duration(1+i%7) * time.Second)
	}
	assigned := sim.PendingEvents()
	// Then one event per change: unassign an active seat, refresh a
	// pending one, re-assign an active one (reused).
	rng := rand.New(rand.NewPCG(11, 11))
	for sim.PendingEvents() < n {
		u := logins[rng.IntN(users)]
		sim.Advance(time.Duration(100+rng.IntN(900)) * time.Millisecond)
		st, _ := sim.Seat(org, u)
		if st.PendingCancellationDate != "" || rng.IntN(4) == 0 {
			err = sim.Assign(org, "", u)
		} else {
			err = sim.Unassign(org, "", u)
		}
		if err != nil {
			return res, err
		}
	}
	evs := sim.Events()
	if len(evs) != n {
		return res, fmt.Errorf("gh burst: the simulator emitted %d events, want %d", len(evs), n)
	}
	res.events = n
	seats := sim.Seats(org)
	fmt.Printf("# gh burst: simulator org %s (assign_selected, %d seats: %d seat-list pages); %d seat events made through it (%d from assigning all, then unassign / refresh / reuse)\n",
		org, len(seats), (len(seats)+ghPerPage-1)/ghPerPage, n, assigned)
	if err := b.produceLines(ctx, ghTopic, evs); err != nil {
		return res, err
	}

	m, took, err := b.ghIngest(ctx, name, ghTopic, n, sim)
	if err != nil {
		return res, err
	}
	inline, err := ghCount(ctx, b.st, "bench_"+name)
	if err != nil {
		return res, err
	}
	afterIngest := sim.Requests()
	fmt.Printf("# gh burst: bin/ingest (inline enrichment, default budget 300ms and 25 requests a batch): %d messages in %s, %.0f batches; %d rows enriched inline, %d pending; requests: %s\n",
		n, took.Round(time.Millisecond), m.BatchCount, inline.enriched, inline.pending+inline.failed, ghBreakdown(afterIngest))

	passes, took, c, err := b.ghEnrich(ctx, name, sim, 5, "--orgs", org)
	if err != nil {
		return res, err
	}
	fmt.Printf("# gh burst: bin/enrich --once, %d pass(es) in %s: completed pending rows, polled the seat list, reconciled; requests: %s\n",
		passes, took.Round(time.Millisecond), ghBreakdown(benchkit.DiffRequests(sim.Requests(), afterIngest)))
	if c.rows != n || c.enriched != n {
		return res, fmt.Errorf("gh burst: %d of %d events enriched (%d timeline rows, %d pending, %d failed): every event must end enriched",
			c.enriched, n, c.rows, c.pending, c.failed)
	}
	if err := b.ghAgree(ctx, "bench_"+name, org, seats); err != nil {
		return res, err
	}
	res.requests, res.violations = benchkit.APIRequests(sim.Requests()), sim.LimitViolations()
	fmt.Printf("# gh burst: %d/%d events enriched, the seat status of all %d users matches the simulator; %d API requests in all (%d with GET /rate_limit), %s, %d limit violations\n",
		c.enriched, n, users, res.requests, sim.TotalRequests(), ghStatuses(sim), res.violations)
	return res, nil
}

const ghPerPage = 100

// ghAgree checks each user's latest enriched seat status against the
// simulator's seats of org.
func (b *bench) ghAgree(ctx context.Context, db, org string, seats []ghsim.SeatState) error {
	want := map[string]string{}
	for _, s := range seats {
		want[s.Login] = "active"
		if s.PendingCancellationDate != "" {
			want[s.Login] = "pending_cancellation"
		}
	}
	store, err := b.st.Store(ctx, db)
	if err != nil {
		return err
	}
	defer store.Close()
	rows, err := store.Conn().Query(ctx, `SELECT user, toString(argMax(seat_status, (event_ms, document_id)))
		FROM seat_timeline WHERE org = ? GROUP BY user`, org)
	if err != nil {
		return err
	}
	defer rows.Close()
	bad, n := 0, 0
	var example string
	for rows.Next() {
		var user, status string
		if err := rows.Scan(&user, &status); err != nil {
			return err
		}
		n++
		w := want[user]
		if w == "" {
			w = "absent"
		}
		if status != w {
			if bad++; example == "" {
				example = fmt.Sprintf("%s: enriched %s, simulator %s", user, status, w)
			}
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if bad > 0 || n != len(want) {
		return fmt.Errorf("%s: the enriched seat status differs from the simulator for %d of %d users (simulator: %d seats), e.g. %s", org, bad, n, len(want), example)
	}
	return nil
}

// ghLimited: 60 orgs of 20 seats under a rate limit of 100 requests a
// minute with bursts of 429s: more lookups and seat-list polls than one
// window allows, so the enrich worker has to wait for the limit.
func (b *bench) ghLimited(ctx context.Context) (ghResult, error) {
	const orgsN, perOrg, name = 60, 20, "gh_limit"
	var res ghResult
	sim, err := b.ghSim(ghsim.Options{Seed: 12, Limit: 100, Window: time.Minute, Start: time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)})
	if err != nil {
		return res, err
	}
	logins := ghLogins(orgsN * perOrg)
	for i := range orgsN {
		org := fmt.Sprintf("acme-unit-%02d", i+1)
		if err := sim.AddOrg(org, ghsim.AssignSelected, ghsim.PlanBusiness); err != nil {
			return res, err
		}
		us := logins[i*perOrg : (i+1)*perOrg]
		for _, u := range us {
			if err := sim.AddMember(org, u); err != nil {
				return res, err
			}
		}
		if err := sim.Assign(org, "", us...); err != nil {
			return res, err
		}
		sim.Advance(time.Minute)
		if err := sim.Unassign(org, "", us[:2]...); err != nil {
			return res, err
		}
		sim.Advance(time.Minute)
	}
	evs := sim.Events()
	res.events = len(evs)
	faults := ghsim.Faults{Burst429Every: 30, Burst429Len: 2, RetryAfter: time.Second}
	sim.SetFaults(faults)
	fmt.Printf("# gh limit: simulator at 100 requests/minute per token, %d×429 (Retry-After 1s) after every %d requests; %d orgs of %d seats, %d seat events\n",
		faults.Burst429Len, faults.Burst429Every, orgsN, perOrg, len(evs))
	if err := b.produceLines(ctx, ghLimitTopic, evs); err != nil {
		return res, err
	}
	_, took, err := b.ghIngest(ctx, name, ghLimitTopic, len(evs), sim)
	if err != nil {
		return res, err
	}
	inline, err := ghCount(ctx, b.st, "bench_"+name)
	if err != nil {
		return res, err
	}
	afterIngest := benchkit.APIRequests(sim.Requests())
	fmt.Printf("# gh limit: bin/ingest in %s: %d rows enriched inline, %d left pending (ingest never waits for a rate limit); %d requests\n",
		took.Round(time.Millisecond), inline.enriched, inline.pending+inline.failed, afterIngest)
	// A Retry-After the token got in ingest's process is unknown to a new
	// process (GET /rate_limit does not tell it): start enrich after any
	// such window has passed, as a worker started later would.
	if err := benchkit.Sleep(ctx, 2*faults.RetryAfter); err != nil {
		return res, err
	}
	passes, took, c, err := b.ghEnrich(ctx, name, sim, 10)
	if err != nil {
		return res, err
	}
	res.requests, res.violations = benchkit.APIRequests(sim.Requests()), sim.LimitViolations()
	fmt.Printf("# gh limit: bin/enrich --once, %d pass(es): %d requests in %s, more than the window had left after ingest, so it waited for the window's reset; in all %s, %d limit violations\n",
		passes, res.requests-afterIngest, took.Round(time.Second), ghStatuses(sim), res.violations)
	if c.enriched != uint64(len(evs)) {
		return res, fmt.Errorf("gh limit: %d of %d events enriched after %d enrich passes (%d pending, %d failed)", c.enriched, len(evs), passes, c.pending, c.failed)
	}
	return res, nil
}
