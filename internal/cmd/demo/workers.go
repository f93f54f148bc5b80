package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/seatline/seatline/internal/benchkit"
	"github.com/seatline/seatline/internal/ghsim"
)

// Running ingest and enrich.

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
