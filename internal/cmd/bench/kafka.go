package main

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"runtime"
	"time"

	"github.com/seatline/seatline/internal/auditgen"
	"github.com/seatline/seatline/internal/benchkit"
	"github.com/seatline/seatline/internal/kafkasrc"
	"github.com/seatline/seatline/internal/testenv"
	"github.com/segmentio/kafka-go"
)

// kafka measures the Kafka throughput runs (mixed and 100% seat streams
// against a fetch-only ceiling), end-to-end latency and peak memory.
func (b *bench) kafka(ctx context.Context) error {
	mixed, err := b.produce(ctx, mixedTopic, b.opt.events, auditgen.Config{Seed: 1, SeatFraction: 0.02, Users: 5000})
	if err != nil {
		return err
	}
	seat, err := b.produce(ctx, seatTopic, b.opt.seatEvents, auditgen.Config{Seed: 2, SeatFraction: 1, Users: 20000})
	if err != nil {
		return err
	}

	// Ceiling: fetch only.
	drainRate, err := b.drain(ctx, mixedTopic, mixed.n)
	if err != nil {
		return err
	}
	figure("kafka_drain_events_per_s", fmt.Sprintf("%.0f", drainRate), "events/s")

	// The real worker on the same topic.
	r, err := b.ingestRun(ctx, "mixed", mixedTopic, mixed.n)
	if err != nil {
		return err
	}
	if int(r.rows) < mixed.seat || int(r.members) < mixed.members {
		return fmt.Errorf("mixed run wrote %.0f rows and %.0f membership rows, want %d and %d (one per event)", r.rows, r.members, mixed.seat, mixed.members)
	}
	mixedRate := (float64(mixed.n) - r.firstSeen) / r.elapsed.Seconds()
	fmt.Printf("# mixed: %d messages, %.0f rows and %.0f membership rows written, %.0f dead letters; %.0f messages in %s from the first /metrics poll seeing any (%.0f by then, not counted) to lag 0\n",
		mixed.n, r.rows, r.members, r.dead, float64(mixed.n)-r.firstSeen, r.elapsed.Round(time.Millisecond), r.firstSeen)
	figure("kafka_mixed_events_per_s", fmt.Sprintf("%.0f", mixedRate), "events/s")
	ratio := mixedRate / drainRate
	figure("kafka_mixed_ratio_to_drain", fmt.Sprintf("%.3f", ratio), "ratio")
	b.target("kafka_mixed_ratio_to_drain", math.Round(ratio*1000)/1000, ratio >= 0.8, "≥ 0.8")

	// 100% seat events.
	s, err := b.ingestRun(ctx, "seat", seatTopic, seat.n)
	if err != nil {
		return err
	}
	if int(s.rows) < seat.seat {
		return fmt.Errorf("seat run wrote %.0f rows, want %d", s.rows, seat.seat)
	}
	seatRate := (s.rows - s.firstRows) / s.elapsed.Seconds()
	fmt.Printf("# seat: %d messages, %.0f rows written; %.0f rows in %s from the first /metrics poll seeing a message (%.0f messages read, %.0f rows written by then) to lag 0\n",
		seat.n, s.rows, s.rows-s.firstRows, s.elapsed.Round(time.Millisecond), s.firstSeen, s.firstRows)
	figure("kafka_seat_rows_per_s", fmt.Sprintf("%.0f", seatRate), "rows/s")
	b.target("kafka_seat_rows_per_s", math.Round(seatRate), seatRate >= 50000, "≥ 50000")

	// Latency at a steady rate.
	p99, err := b.e2e(ctx)
	if err != nil {
		return err
	}
	figure("e2e_p99_ms", fmt.Sprintf("%.1f", p99), "ms")
	b.target("e2e_p99_ms", math.Round(p99*10)/10, p99 <= 1000, "≤ 1000")

	fmt.Printf("# peak_rss_mb: VmHWM of the ingest process at the end of the mixed run, just before SIGTERM (then: %s)\n", rssParts(r.mem))
	figure("peak_rss_mb", fmt.Sprintf("%.1f", r.mem.Peak), "MiB")
	b.target("peak_rss_mb", math.Round(r.mem.Peak*10)/10, r.mem.Peak <= 256, "≤ 256")
	fmt.Printf("# peak_rss_seat_mb: VmHWM of the ingest process at the end of the 100%% seat run, just before SIGTERM (then: %s)\n", rssParts(s.mem))
	figure("peak_rss_seat_mb", fmt.Sprintf("%.1f", s.mem.Peak), "MiB")
	b.target("peak_rss_seat_mb", math.Round(s.mem.Peak*10)/10, s.mem.Peak <= 256, "≤ 256")
	return nil
}

// rssParts says what resident memory was made of: anonymous (what the
// memory limit bounds) and file pages (the binary's, which a bigger binary
// raises without any more heap).
func rssParts(m testenv.Memory) string {
	return fmt.Sprintf("RssAnon %.1f MiB: heap, stacks, runtime; RssFile %.1f MiB: pages of the binary", m.Anon, m.File)
}

type stream struct {
	n, seat int
	members int // membership changes (org, team, enterprise): admitted, kept apart
}

// produce writes n generated events to topic.
func (b *bench) produce(ctx context.Context, topic string, n int, cfg auditgen.Config) (stream, error) {
	g := auditgen.New(cfg)
	p := testenv.NewProducer(b.st.Kafka.Brokers(), topic)
	defer p.Close()
	s := stream{n: n}
	minLen, maxLen, sum, outside := math.MaxInt, 0, 0, 0
	t0 := time.Now()
	const chunk = 20000
	lines := make([][]byte, 0, chunk)
	for i := 0; i < n; i += chunk {
		lines = lines[:0]
		for j := i; j < min(n, i+chunk); j++ {
			r := g.Next()
			switch r.Kind {
			case auditgen.KindSeat:
				s.seat++
			case auditgen.KindMembership:
				s.members++
			}
			l := len(r.Line)
			minLen, maxLen, sum = min(minLen, l), max(maxLen, l), sum+l
			if l < 400 || l > 900 {
				outside++
			}
			lines = append(lines, r.Line)
		}
		if err := p.Write(ctx, lines...); err != nil {
			return s, err
		}
	}
	fmt.Printf("# topic %s: %d events (%d seat/policy, %.1f%%; %d membership changes), %d–%d bytes (mean %d, %d outside 400–900), produced in %s\n",
		topic, n, s.seat, 100*float64(s.seat)/float64(n), s.members, minLen, maxLen, sum/n, outside, time.Since(t0).Round(time.Millisecond))
	return s, p.Close()
}

// ---- drain ----

// drain reads the whole topic with a consumer-group reader configured like
// internal/kafkasrc, fetching only, and returns events per second from the
// first message to the last.
func (b *bench) drain(ctx context.Context, topic string, n int) (float64, error) {
	kc := kafkasrc.Defaults()
	kc.Brokers, kc.Topics, kc.GroupID = b.st.Kafka.Brokers(), []string{topic}, "bench-drain"
	if err := kc.Validate(); err != nil {
		return 0, err
	}
	dialer, err := kc.Dialer()
	if err != nil {
		return 0, err
	}
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:               kc.Brokers,
		GroupID:               kc.GroupID,
		GroupTopics:           kc.Topics,
		Dialer:                dialer,
		MinBytes:              kc.MinBytes, // 1
		MaxBytes:              kc.MaxBytes, // kafkasrc's default
		MaxWait:               kc.MaxWait,  // 250 ms
		QueueCapacity:         1000,
		CommitInterval:        0,
		StartOffset:           kafka.FirstOffset,
		SessionTimeout:        kc.SessionTimeout,
		HeartbeatInterval:     3 * time.Second,
		RebalanceTimeout:      kc.SessionTimeout,
		WatchPartitionChanges: true,
		ReadBackoffMin:        50 * time.Millisecond,
		ReadBackoffMax:        time.Second,
	})
	defer r.Close()
	rctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	var first, last time.Time
	var bytes int
	for i := 0; i < n; i++ {
		m, err := r.FetchMessage(rctx)
		if err != nil {
			return 0, fmt.Errorf("drain: after %d of %d messages: %w", i, n, err)
		}
		bytes += len(m.Value)
		if i == 0 {
			first = time.Now()
		}
	}
	last = time.Now()
	el := last.Sub(first)
	fmt.Printf("# drain: %d messages (%.0f MB) fetched in %s by a kafka-go group reader (MinBytes 1, MaxBytes %d MiB, MaxWait 250ms, QueueCapacity 1000: kafkasrc's settings)\n",
		n, float64(bytes)/1e6, el.Round(time.Millisecond), kc.MaxBytes>>20)
	return float64(n-1) / el.Seconds(), nil
}

// ---- ingest runs ----

type runResult struct {
	elapsed   time.Duration
	rows      float64
	members   float64 // membership rows written
	dead      float64
	mem       testenv.Memory // at the end of the run, before SIGTERM
	messages  float64
	firstSeen float64 // messages_total at the first poll that saw > 0 (the clock's start)
	firstRows float64 // rows_written_total at that poll
	// readRate is messages per second between the first poll that saw
	// messages and the first that saw all of them; tail is the time from
	// the latter to lag 0 (the last batch's wait, write and commit).
	readRate float64
	tail     time.Duration
	// CPU seconds used while the clock ran (ingest: since it started).
	cpuIngest, cpuClickHouse, cpuBench float64
	batches, batchSeconds              float64
}

// ingestRun starts bin/ingest (default batch settings) on topic with a new
// group and database, and times it from its first consumed message to
// everything consumed and committed (messages_total ≥ n and group lag 0).
func (b *bench) ingestRun(ctx context.Context, name, topic string, n int) (runResult, error) {
	var res runResult
	group, db := "bench-"+name, "bench_"+name
	args := benchkit.IngestArgs(b.st, topic, group, db)
	if b.opt.profileDir != "" {
		args = append(args, "--cpu-profile", filepath.Join(b.opt.profileDir, "ingest-"+name+".pprof"))
	}
	in, err := benchkit.StartIngest(b.bin, args, filepath.Join(b.tmp, "ingest-"+name+".log"))
	if err != nil {
		return res, err
	}
	defer in.Close() // no-op once stopped

	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var firstAt, readAt time.Time
	var chCPU0, selfCPU0 float64
	// 10 minutes, more for a big topic (the reads part: at least 2,000
	// messages a second).
	limit := max(10*time.Minute, time.Duration(n/2000)*time.Second)
	deadline := time.Now().Add(limit)
	scrapeFails := 0
	for {
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-tick.C:
		}
		if err := in.CheckAlive(); err != nil {
			return res, err
		}
		if time.Now().After(deadline) {
			return res, fmt.Errorf("%s run: not caught up after %s\n%s", name, limit, in.LogTail(10))
		}
		m, err := in.Metrics(ctx)
		now := time.Now()
		if err != nil {
			// The HTTP server comes up after migrations; later failures count.
			if !firstAt.IsZero() {
				if scrapeFails++; scrapeFails > 20 {
					return res, fmt.Errorf("%s run: /metrics: %w", name, err)
				}
			}
			continue
		}
		scrapeFails = 0
		if firstAt.IsZero() {
			if m.Messages == 0 {
				continue
			}
			// The clock starts at the first poll that sees a consumed
			// message; what was consumed by then is not counted.
			firstAt = now
			res.firstSeen, res.firstRows = m.Messages, m.Rows
			chCPU0, selfCPU0 = benchkit.CPUSeconds(b.st.CH.PID()), benchkit.CPUSeconds(-1)
		}
		if m.Messages < float64(n) {
			continue
		}
		if readAt.IsZero() {
			readAt = now
			if d := readAt.Sub(firstAt); d > 0 {
				res.readRate = (m.Messages - res.firstSeen) / d.Seconds()
			}
		}
		lag, err := b.st.Lag(ctx, group, topic)
		if err != nil || lag > 0 {
			continue
		}
		res.elapsed, res.tail = time.Since(firstAt), time.Since(readAt)
		res.cpuIngest = benchkit.CPUSeconds(in.Proc.PID())
		res.cpuClickHouse = benchkit.CPUSeconds(b.st.CH.PID()) - chCPU0
		res.cpuBench = benchkit.CPUSeconds(-1) - selfCPU0
		break
	}
	if res.mem, err = in.Proc.Memory(); err != nil {
		return res, err
	}
	m, err := in.Metrics(ctx)
	if err != nil {
		return res, err
	}
	res.rows, res.members, res.dead, res.messages = m.Rows, m.Members, m.DeadLetters, m.Messages
	res.batches, res.batchSeconds = m.BatchCount, m.BatchSum
	if err := in.Stop(60 * time.Second); err != nil {
		return res, err
	}
	fmt.Printf("# %s: read phase %.0f messages/s (first /metrics poll seeing messages → first seeing all %d); then %s to lag 0 (last batch's batch-wait, write, commit)\n",
		name, res.readRate, n, res.tail.Round(time.Millisecond))
	fmt.Printf("# %s: %.0f ClickHouse batch writes, mean %.0f ms; CPU while timed: ingest %.2fs (incl. start-up), clickhouse-server %.2fs, bench+kfake %.2fs, over %.2fs wall on %d cores\n",
		name, res.batches, 1000*res.batchSeconds/max(1, res.batches), res.cpuIngest, res.cpuClickHouse, res.cpuBench, res.elapsed.Seconds(), runtime.NumCPU())
	fmt.Printf("# %s: ingest (pid %d) exited 0 on SIGTERM, logged \"stopped cleanly\"\n", name, in.Proc.PID())
	return res, nil
}
