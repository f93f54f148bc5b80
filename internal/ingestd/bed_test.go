package ingestd_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/seatline/seatline/internal/ingestd"
	"github.com/seatline/seatline/internal/kafkasrc"
	"github.com/seatline/seatline/internal/testenv"
	"github.com/seatline/seatline/internal/timeline"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.Shutdown()
	os.Exit(code)
}

// bed is one test's servers: the shared ClickHouse with a database of its
// own, a Kafka broker with one topic, and a store to read results.
type bed struct {
	ch    *testenv.ClickHouse
	db    string
	kafka *testenv.Kafka
	topic string
	store *timeline.Store
}

func newBed(t *testing.T, partitions int) *bed { return newBedWith(t, partitions) }

func newBedWith(t *testing.T, partitions int, kafkaOpts ...kfake.Opt) *bed {
	t.Helper()
	ch := testenv.SharedClickHouse(t)
	b := &bed{ch: ch, db: testenv.NewDatabase(t, ch), kafka: testenv.NewKafka(t, kafkaOpts...), topic: "audit"}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.kafka.CreateTopic(ctx, b.topic, partitions); err != nil {
		t.Fatal(err)
	}
	b.store = testenv.OpenTimeline(t, timeline.Config{Addrs: []string{ch.Addr()}, Database: b.db})
	return b
}

// config is args' configuration for a worker in this process.
func (b *bed) config(group string) ingestd.Config {
	cfg, err := ingestd.ParseArgs(append(b.args(group), "--log-level", "debug")...)
	if err != nil {
		panic(err)
	}
	cfg.Pipeline.RetryMaxInterval = time.Second
	return cfg
}

// args is config's command line for the ingest binary.
func (b *bed) args(group string) []string {
	return []string{
		"--kafka-brokers", b.kafka.Brokers()[0], "--kafka-topics", b.topic, "--kafka-group", group,
		"--kafka-session-timeout", "6s", "--clickhouse-addr", b.ch.Addr(), "--clickhouse-database", b.db,
		"--batch-wait", "100ms", "--http-addr", "",
	}
}

func (b *bed) produce(t *testing.T, payloads ...[]byte) {
	t.Helper()
	p := testenv.NewProducer(b.kafka.Brokers(), b.topic)
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := p.Write(ctx, payloads...); err != nil {
		t.Fatal(err)
	}
}

// run starts the worker in this process; the returned func stops it
// (SIGTERM's path) and returns Run's result.
func (b *bed) run(t *testing.T, cfg ingestd.Config, logTo io.Writer) func() error {
	t.Helper()
	if logTo == nil {
		logTo = testWriter{t}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- ingestd.Run(ctx, cfg, slog.New(slog.NewTextHandler(logTo, &slog.HandlerOptions{Level: slog.LevelDebug})))
	}()
	stopped := false
	var result error
	stop := func() error {
		if !stopped {
			stopped = true
			cancel()
			select {
			case result = <-done:
			case <-time.After(60 * time.Second):
				result = fmt.Errorf("ingest did not stop within 60s of its context ending")
			}
		}
		return result
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// waitCaughtUp waits until group has committed everything in the topic.
func (b *bed) waitCaughtUp(t *testing.T, group string, timeout time.Duration) {
	t.Helper()
	client := &kafka.Client{Addr: kafka.TCP(b.kafka.Brokers()...), Timeout: 10 * time.Second}
	deadline := time.Now().Add(timeout)
	var lag int64 = -1
	var err error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		lag, err = kafkasrc.GroupLag(ctx, client, group, []string{b.topic})
		cancel()
		if err == nil && lag == 0 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("group %s not caught up after %s: lag %d, err %v", group, timeout, lag, err)
}

func (b *bed) count(t *testing.T, query string, args ...any) uint64 {
	t.Helper()
	var n uint64
	if err := b.store.Conn().QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s", p)
	return len(p), nil
}
