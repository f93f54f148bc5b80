package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/seatline/seatline/internal/auditgen"
	"github.com/seatline/seatline/internal/testenv"
	"github.com/seatline/seatline/pkg/events"
)

// The audit stream the simulated enterprise writes to Kafka.

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
