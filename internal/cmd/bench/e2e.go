package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/seatline/seatline/internal/auditgen"
	"github.com/seatline/seatline/internal/benchkit"
	"github.com/seatline/seatline/internal/testenv"
	"github.com/seatline/seatline/internal/timeline"
)

// e2e produces a mixed 2% stream at --e2e-rate for --e2e-duration while
// bin/ingest (default batch settings) consumes it, and records, for every
// seat event, the time from just before the producer's write to the first
// poll of seat_events that returned it. It returns the p99 in ms.
func (b *bench) e2e(ctx context.Context) (float64, error) {
	const topic, group, db = e2eTopic, "bench-e2e", "bench_e2e"
	in, err := benchkit.StartIngest(b.bin, benchkit.IngestArgs(b.st, topic, group, db), filepath.Join(b.tmp, "ingest-e2e.log"))
	if err != nil {
		return 0, err
	}
	defer in.Close()
	p := testenv.NewProducer(b.st.Kafka.Brokers(), topic)
	defer p.Close()
	store, err := b.st.Store(ctx, db)
	if err != nil {
		return 0, err
	}
	defer store.Close()

	l := newLatencyRun(b.opt.e2eRate, b.opt.e2eDuration)
	if err := warmUp(ctx, in, store, p); err != nil {
		return 0, err
	}
	prodDone := make(chan error, 1)
	go func() { prodDone <- l.produce(ctx, p) }()
	if err := l.poll(ctx, in, store, prodDone); err != nil {
		return 0, err
	}
	if err := in.Stop(60 * time.Second); err != nil {
		return 0, err
	}
	return l.p99()
}

// latencyRun is one latency measurement: the stream to produce and, per
// seat event, when it was sent and first seen.
type latencyRun struct {
	rate   int
	dur    time.Duration
	lines  [][]byte
	seatAt map[int]string // index → document id

	mu      sync.Mutex
	sentAt  map[string]time.Time
	seenAt  map[string]time.Time
	pending map[string]bool // sent, not yet seen

	queries   int
	queryTime time.Duration
}

func newLatencyRun(rate int, dur time.Duration) *latencyRun {
	n := int(float64(rate) * dur.Seconds())
	g := auditgen.New(auditgen.Config{Seed: 3, SeatFraction: 0.02, Users: 2000,
		Start: time.Now().UTC(), Step: time.Second / time.Duration(rate)})
	l := &latencyRun{rate: rate, dur: dur, lines: make([][]byte, n), seatAt: map[int]string{},
		sentAt: map[string]time.Time{}, seenAt: map[string]time.Time{}, pending: map[string]bool{}}
	for i := range l.lines {
		r := g.Next()
		l.lines[i] = r.Line
		if r.Kind == auditgen.KindSeat {
			l.seatAt[i] = r.DocumentID
		}
	}
	return l
}

// warmUp waits until one seat event is visible, so process start,
// migrations and the group join are not measured.
func warmUp(ctx context.Context, in *benchkit.Ingest, store *timeline.Store, p *testenv.Producer) error {
	warm := auditgen.New(auditgen.Config{Seed: 4, SeatFraction: 1, Start: time.Now().UTC()}).Next()
	if err := p.Write(ctx, warm.Line); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for {
		if err := in.CheckAlive(); err != nil {
			return err
		}
		var c uint64
		qerr := store.Conn().QueryRow(wctx, "SELECT count() FROM seat_events WHERE document_id = ?", warm.DocumentID).Scan(&c)
		if qerr == nil && c > 0 {
			return nil
		}
		if err := benchkit.Sleep(wctx, 50*time.Millisecond); err != nil {
			return fmt.Errorf("e2e warm-up: the first event never became visible: %v (last query error %v)", err, qerr)
		}
	}
}

// produce writes the stream at the run's rate: a ticker paces writes; each
// tick sends what is due.
func (l *latencyRun) produce(ctx context.Context, p *testenv.Producer) error {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	t0 := time.Now()
	sent, n := 0, len(l.lines)
	for sent < n {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		due := min(n, int(time.Since(t0).Seconds()*float64(l.rate)))
		if due <= sent {
			continue
		}
		now := time.Now()
		l.mu.Lock()
		for i := sent; i < due; i++ {
			if id, ok := l.seatAt[i]; ok {
				l.sentAt[id] = now
				l.pending[id] = true
			}
		}
		l.mu.Unlock()
		if err := p.Write(ctx, l.lines[sent:due]...); err != nil {
			return err
		}
		sent = due
	}
	return nil
}

// poll asks for the pending seat events every 20 ms until every one is
// seen after the producer is done.
func (l *latencyRun) poll(ctx context.Context, in *benchkit.Ingest, store *timeline.Store, prodDone <-chan error) error {
	produced := false
	var doneAt time.Time
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-prodDone:
			if err != nil {
				return fmt.Errorf("e2e producer: %w", err)
			}
			produced, doneAt = true, time.Now()
		case <-tick.C:
		}
		ids := l.pendingIDs()
		if len(ids) == 0 {
			if produced {
				return nil
			}
			continue
		}
		if produced && time.Since(doneAt) > 30*time.Second {
			return fmt.Errorf("e2e: %d of %d seat events not visible 30s after the last was produced\n%s", len(ids), len(l.seatAt), in.LogTail(10))
		}
		if err := in.CheckAlive(); err != nil {
			return err
		}
		if err := l.look(ctx, store, ids); err != nil {
			return err
		}
	}
}

func (l *latencyRun) pendingIDs() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	ids := make([]string, 0, len(l.pending))
	for id := range l.pending {
		ids = append(ids, id)
	}
	return ids
}

// look runs one poll of seat_events for ids and marks those returned seen.
func (l *latencyRun) look(ctx context.Context, store *timeline.Store, ids []string) error {
	q0 := time.Now()
	rows, err := store.Conn().Query(ctx, "SELECT document_id FROM seat_events WHERE has(?, document_id)", ids)
	if err != nil {
		return fmt.Errorf("e2e poll: %w", err)
	}
	var got []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		got = append(got, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("e2e poll: %w", err)
	}
	now := time.Now()
	l.queries++
	l.queryTime += now.Sub(q0)
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, id := range got {
		if l.pending[id] {
			delete(l.pending, id)
			l.seenAt[id] = now
		}
	}
	return nil
}

// p99 prints the run's figures and returns its p99 in ms.
func (l *latencyRun) p99() (float64, error) {
	lat := make([]float64, 0, len(l.seenAt))
	for id, t := range l.seenAt {
		lat = append(lat, float64(t.Sub(l.sentAt[id]).Microseconds())/1000)
	}
	sort.Float64s(lat)
	if len(lat) == 0 {
		return 0, errors.New("e2e: no seat events measured")
	}
	fmt.Printf("# e2e: %d events at %d/s for %s, %d seat/policy events measured, ingest at default batch settings (batch-wait 500ms, batch-rows 10000)\n",
		len(l.lines), l.rate, l.dur, len(lat))
	fmt.Printf("# e2e: %d polls of seat_events, mean query %.1f ms; latency from before the producer's write to the end of the first poll that returned the row\n",
		l.queries, float64(l.queryTime.Microseconds())/1000/float64(max(1, l.queries)))
	fmt.Printf("# e2e_p50_ms %.1f  p90 %.1f  max %.1f\n", quantile(lat, 0.50), quantile(lat, 0.90), lat[len(lat)-1])
	return quantile(lat, 0.99), nil
}

// quantile of sorted xs, nearest rank.
func quantile(xs []float64, q float64) float64 {
	i := int(math.Ceil(q*float64(len(xs)))) - 1
	return xs[max(0, min(len(xs)-1, i))]
}
