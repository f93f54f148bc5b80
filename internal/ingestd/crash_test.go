package ingestd_test

import (
	"context"
	"io"
	"math/rand"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/seatline/seatline/internal/auditgen"
	"github.com/seatline/seatline/internal/kafkasrc"
	"github.com/seatline/seatline/internal/testenv"
)

// stream is a generated audit stream and what the timeline must hold after it.
type stream struct {
	lines     [][]byte
	seatIDs   map[string]bool // distinct seat-event document ids
	malformed int
}

func genStream(n int, seed int64, seatFraction float64) stream {
	g := auditgen.New(auditgen.Config{Seed: seed, SeatFraction: seatFraction, DuplicateFraction: 0.02, MalformedFraction: 0.002,
		Start: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), Step: 50 * time.Millisecond})
	s := stream{seatIDs: map[string]bool{}}
	for i := 0; i < n; i++ {
		r := g.Next()
		s.lines = append(s.lines, r.Line)
		switch r.Kind {
		case auditgen.KindSeat, auditgen.KindDuplicate:
			s.seatIDs[r.DocumentID] = true
		case auditgen.KindMalformed:
			s.malformed++
		}
	}
	return s
}

// checkExact asserts the deduplicated timeline holds exactly s's seat events
// and the dead letters exactly its malformed lines.
func (b *bed) checkExact(t *testing.T, s stream) {
	t.Helper()
	rows, err := b.store.Conn().Query(context.Background(), "SELECT document_id, count() FROM seat_timeline GROUP BY document_id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	seen := 0
	for rows.Next() {
		var id string
		var n uint64
		if err := rows.Scan(&id, &n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("document %s visible %d times", id, n)
		}
		if !s.seatIDs[id] {
			t.Errorf("document %s in the timeline was never produced", id)
		}
		seen++
	}
	if seen != len(s.seatIDs) {
		t.Fatalf("timeline holds %d events, produced %d: %d lost", seen, len(s.seatIDs), len(s.seatIDs)-seen)
	}
	if n := b.count(t, "SELECT count() FROM dead_letters"); n != uint64(s.malformed) {
		t.Fatalf("dead letters = %d, want %d", n, s.malformed)
	}
}

// TestKill9MidStream kills the ingest process with SIGKILL at random moments
// while a stream is being produced, restarts it each time, and checks that
// the deduplicated timeline ends up exactly right: nothing lost, nothing
// visible twice.
func TestKill9MidStream(t *testing.T) {
	if testing.Short() {
		t.Skip("long crash test: run without -short")
	}
	ch := testenv.SharedClickHouse(t)
	_ = ch
	b := newBedWith(t, 4, kfake.GroupMinSessionTimeout(time.Second))
	bin, err := testenv.Build(context.Background(), "./cmd/ingest", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	const total = 200_000
	s := genStream(total, 42, 0.3)
	t.Logf("stream: %d events, %d distinct seat events, %d malformed", total, len(s.seatIDs), s.malformed)

	// Produce in chunks over a few seconds while the worker runs.
	var wg sync.WaitGroup
	wg.Add(1)
	produced := make(chan struct{})
	go func() {
		defer wg.Done()
		defer close(produced)
		p := testenv.NewProducer(b.kafka.Brokers(), b.topic)
		defer p.Close()
		// About 25 s of stream, so every kill lands mid-stream.
		for i := 0; i < len(s.lines); i += 4_000 {
			if err := p.Write(context.Background(), s.lines[i:min(i+4_000, len(s.lines))]...); err != nil {
				t.Error(err)
				return
			}
			time.Sleep(500 * time.Millisecond)
		}
	}()

	args := append(b.args("crash"), "--kafka-session-timeout", "2s", "--batch-rows", "5000")
	rng := rand.New(rand.NewSource(7))
	kills := 0
	var last *testenv.Process
	for {
		proc, err := testenv.StartProcess(bin, args, nil)
		if err != nil {
			t.Fatal(err)
		}
		last = proc
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("output of pid %d:\n%s", proc.PID(), proc.Output())
			}
		})
		if kills >= 5 && closed(produced) || kills >= 10 {
			break // enough crashes; this one finishes the stream
		}
		// Kill only once this worker is writing, at a random moment after.
		before := b.count(t, "SELECT count() FROM seat_events")
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if b.count(t, "SELECT count() FROM seat_events") > before {
				break
			}
		}
		time.Sleep(time.Duration(rng.Intn(1500)) * time.Millisecond)
		if done, err := proc.Exited(); done {
			t.Fatalf("ingest exited by itself: %v\n%s", err, proc.Output())
		}
		proc.Kill()
		kills++
		t.Logf("kill -9 #%d (pid %d): %d raw rows stored before this worker, %d at the kill", kills, proc.PID(), before, b.count(t, "SELECT count() FROM seat_events"))
	}
	wg.Wait()
	t.Cleanup(func() {
		if t.Failed() {
			_ = syscall.Kill(last.PID(), syscall.SIGQUIT) // goroutine dump into its output
			time.Sleep(time.Second)
		}
	})
	// kfake sometimes keeps a SIGKILLed member in the group for good, so the
	// partitions it held get no reader (seen once in about ten runs; a real
	// broker evicts it after the session timeout). A worker joining again
	// makes the coordinator rebalance and drop it: restart the last worker
	// (cleanly) when the group makes no progress for 20 s.
	client := &kafka.Client{Addr: kafka.TCP(b.kafka.Brokers()...), Timeout: 10 * time.Second}
	lastLag, lastMove, rejoins := int64(-1), time.Now(), 0
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(100 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		lag, err := kafkasrc.GroupLag(ctx, client, "crash", []string{b.topic})
		cancel()
		if err == nil && lag == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("group not caught up after 3m: lag %d, err %v", lag, err)
		}
		if lag != lastLag {
			lastLag, lastMove = lag, time.Now()
			continue
		}
		if time.Since(lastMove) > 20*time.Second && rejoins < 3 {
			rejoins++
			t.Logf("no progress for 20 s at lag %d: restarting the last worker so the group rebalances (#%d)", lag, rejoins)
			if err := last.Stop(30 * time.Second); err != nil {
				t.Fatalf("clean stop: %v\n%s", err, last.Output())
			}
			if last, err = testenv.StartProcess(bin, args, nil); err != nil {
				t.Fatal(err)
			}
			lastMove = time.Now()
		}
	}
	// Stop it only past start-up (store open, migrations, source): a stop
	// before that is also clean but says "stopped during start-up", and the
	// group may already be caught up by the worker killed last.
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(last.Output(), "inline enrichment") && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	if err := last.Stop(30 * time.Second); err != nil {
		t.Fatalf("final clean stop: %v\n%s", err, last.Output())
	}
	if !strings.Contains(last.Output(), "stopped cleanly") {
		t.Errorf("final run did not report a clean stop:\n%s", last.Output())
	}
	b.checkExact(t, s)
	t.Logf("after %d kills: raw rows %d, visible %d", kills, b.count(t, "SELECT count() FROM seat_events"), len(s.seatIDs))
	b.checkReadModels(t)
}

// checkReadModels asserts every read model the materialized views kept
// while the worker wrote (and was killed) equals a rebuild of it from the
// timeline.
func (b *bed) checkReadModels(t *testing.T) {
	t.Helper()
	diffs, err := b.store.CheckReadModels(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range diffs {
		t.Errorf("read model %s", d)
	}
	if n := b.count(t, "SELECT count() FROM seat_state"); n == 0 {
		t.Error("seat_state is empty after the stream")
	}
}

func closed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// TestClickHouseOutage stops ClickHouse for 10 s in the middle of a stream:
// the worker holds the stream, commits nothing, resumes by itself, and the
// timeline ends up exact.
func TestClickHouseOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("long outage test: run without -short")
	}
	b := newBed(t, 4)
	s := genStream(60_000, 11, 0.2)
	var logs testenv.Buffer
	cfg := b.config("outage")
	cfg.HTTPAddr = freeAddr(t)
	stop := b.run(t, cfg, &logs)

	p := testenv.NewProducer(b.kafka.Brokers(), b.topic)
	defer p.Close()
	ctx := context.Background()
	chunk := len(s.lines) / 20
	restarted := make(chan struct{})
	for i := 0; i < 20; i++ {
		if err := p.Write(ctx, s.lines[i*chunk:(i+1)*chunk]...); err != nil {
			t.Fatal(err)
		}
		if i == 6 {
			t.Logf("%s stopping ClickHouse", time.Now().Format("15:04:05.000"))
			if err := b.ch.Stop(); err != nil {
				t.Fatal(err)
			}
			t.Logf("%s ClickHouse stopped", time.Now().Format("15:04:05.000"))
			stopped := time.Now()
			go func() {
				defer close(restarted)
				time.Sleep(10 * time.Second)
				if err := b.ch.Restart(context.Background()); err != nil {
					t.Error(err)
				}
				t.Logf("%s ClickHouse restarted", time.Now().Format("15:04:05.000"))
			}()
			waitReady(t, cfg.HTTPAddr, 503, 5*time.Second, stopped)
		}
		time.Sleep(500 * time.Millisecond)
	}
	if rest := s.lines[20*chunk:]; len(rest) > 0 {
		if err := p.Write(ctx, rest...); err != nil {
			t.Fatal(err)
		}
	}
	<-restarted
	waitReady(t, cfg.HTTPAddr, 200, 10*time.Second, time.Now())
	b.waitCaughtUp(t, "outage", 2*time.Minute)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	b.checkExact(t, s)
	b.checkReadModels(t)
	out := logs.String()
	if n := strings.Count(out, "ClickHouse is failing"); n != 1 {
		t.Errorf("want the outage logged once, got %d times:\n%s", n, out)
	}
	if n := strings.Count(out, "ClickHouse is answering again"); n != 1 {
		t.Errorf("want the recovery logged once, got %d times", n)
	}
	if testing.Verbose() {
		os.Stderr.WriteString(out)
	}
}

// waitReady waits until /readyz on addr answers want, with
// seatline_clickhouse_up to match, within d of since.
func waitReady(t *testing.T, addr string, want int, d time.Duration, since time.Time) {
	t.Helper()
	up := map[int]string{200: "1", 503: "0"}[want]
	for {
		code, metrics := 0, ""
		if resp, err := http.Get("http://" + addr + "/readyz"); err == nil {
			code = resp.StatusCode
			resp.Body.Close()
		}
		if resp, err := http.Get("http://" + addr + "/metrics"); err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			metrics = string(body)
		}
		if code == want && strings.Contains(metrics, "\nseatline_clickhouse_up "+up+"\n") {
			t.Logf("/readyz %d and seatline_clickhouse_up %s after %s", want, up, time.Since(since).Round(time.Millisecond))
			return
		}
		if time.Since(since) > d {
			t.Fatalf("/readyz %d (want %d) %s after the change", code, want, time.Since(since).Round(time.Millisecond))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
