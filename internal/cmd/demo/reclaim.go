package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"time"

	"github.com/seatline/seatline/internal/ghsim"
	"github.com/seatline/seatline/internal/reclaim"
)

// reclaim shows seat reclamation on the demo's timeline: seatctl reclaim
// plan (the candidates, what would end each seat as GitHub says now, the
// saving), apply with the plan's SHA-256, the audit events the changes
// caused streamed through Kafka and bin/ingest, and status, where every
// change is confirmed by its event; checked against the simulator.
func (d *demo) reclaim(ctx context.Context) error {
	sim := d.sc.sim
	ch := []string{"--clickhouse-addr", d.stack.CH.Addr(), "--clickhouse-database", database}
	gh := []string{"--github-base-url", sim.URL() + "/", "--github-token", ghToken}
	path := filepath.Join(d.tmp, "reclaim-plan.json")
	fmt.Println("Seat reclamation: plan (read-only) → approve it by its SHA-256 → apply → confirmed by the audit log")
	// GitHub's clock is the wall clock: the changes below happen now.
	sim.Advance(time.Now().Add(-time.Second).Sub(sim.Now()))

	scope := orgs[0] + "," + orgs[1]
	args := append([]string{"reclaim", "plan", "--org", scope, "--idle", "45d", "--never-used", "14d", "--out", path, "--format", "table"}, ch...)
	if code, _ := seatctlShow(ctx, "reclaim plan --org "+scope+" --idle 45d --never-used 14d --out reclaim-plan.json", append(args, gh...)...); code != 0 {
		return fmt.Errorf("seatctl reclaim plan exited %d", code)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	plan, err := reclaim.Decode(b)
	if err != nil {
		return err
	}
	sum := reclaim.Sum(b)
	var acting []reclaim.Candidate
	for _, c := range plan.Candidates {
		if reclaim.Acts(c.Action) {
			acting = append(acting, c)
		}
	}
	if len(acting) == 0 {
		return checkf("the reclamation plan has no seat to reclaim")
	}

	sim.ResetCounters()
	args = append([]string{"reclaim", "apply", path, "--approve", sum}, ch...)
	if code, _ := seatctlShow(ctx, "reclaim apply reclaim-plan.json --approve "+sum[:16]+"…", append(args, gh...)...); code != 0 {
		return fmt.Errorf("seatctl reclaim apply exited %d", code)
	}
	var errs []error
	reqs := sim.Requests()
	pending := 0
	for _, c := range acting {
		scopeName := c.Scope
		if c.ScopeKind == reclaim.KindEnterprise {
			scopeName = c.Team
		}
		if st, ok := sim.Seat(scopeName, c.User); ok && st.PendingCancellationDate != "" {
			pending++
		}
	}
	ok := pending == len(acting)
	fmt.Printf("  %s GitHub (the simulator) shows all %d seats pending cancellation: %d DELETE selected_users, %d team removal(s), %d requests in all\n",
		mark(ok), len(acting), reqs[ghsim.EndpointRemoveUsers], reqs[ghsim.EndpointRemoveTeamMember]+reqs[ghsim.EndpointRemoveEntTeamMember], sim.TotalRequests())
	if !ok {
		errs = append(errs, checkf("%d of the %d reclaimed seats are pending cancellation in the simulator", pending, len(acting)))
	}

	// The audit events the changes caused reach the timeline like any other.
	evs := sim.Events()
	if err := d.write(ctx, evs); err != nil {
		return err
	}
	d.total += len(evs)
	fmt.Printf("  the %d audit events GitHub wrote for them, streamed to Kafka and read by bin/ingest:\n", len(evs))
	if err := d.waitIngest(ctx, d.total); err != nil {
		return err
	}
	code, out := seatctlShow(ctx, "reclaim status reclaim-plan.json", append([]string{"reclaim", "status", path, "--format", "table"}, ch...)...)
	if code != 0 {
		return fmt.Errorf("seatctl reclaim status exited %d", code)
	}
	confirmed, waiting := -1, -1
	if m := statusCounts.FindStringSubmatch(out); m != nil {
		confirmed, _ = strconv.Atoi(m[1])
		waiting, _ = strconv.Atoi(m[2])
	}
	ok = confirmed == len(acting) && waiting == 0
	fmt.Printf("  %s every reclaimed seat is confirmed by its audit event (%d of %d); billing stops %s, saving %s a month\n",
		mark(ok), confirmed, len(acting), plan.SavingFrom, reclaim.USD(plan.Totals.MonthlySavingCents))
	if !ok {
		errs = append(errs, checkf("%d of %d reclaimed seats confirmed by audit events", confirmed, len(acting)))
	}
	return errors.Join(errs...)
}

// statusCounts reads seatctl reclaim status's summary line.
var statusCounts = regexp.MustCompile(`(\d+) confirmed by audit events .*?, (\d+) waiting for their event`)
