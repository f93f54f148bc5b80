package enrichd_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/seatline/seatline/internal/ingestd"
	"github.com/seatline/seatline/internal/kafkasrc"
)

// ingestAll runs ingest with cfg until its consumer group has read all of
// topic "audit" on brokers, then stops it (SIGTERM's path: flush, commit,
// exit nil). It fails the test when that takes longer than limit, and
// returns how long it took.
func ingestAll(t *testing.T, cfg ingestd.Config, logger *slog.Logger, brokers []string, group string, limit time.Duration) time.Duration {
	t.Helper()
	ctx := context.Background()
	ictx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- ingestd.Run(ictx, cfg, logger) }()
	client := &kafka.Client{Addr: kafka.TCP(brokers...)}
	for {
		lag, err := kafkasrc.GroupLag(ctx, client, group, []string{"audit"})
		if err == nil && lag == 0 {
			break
		}
		if time.Since(start) > limit {
			stop()
			<-done
			t.Fatalf("ingest did not catch up in %s (lag %d, err %v)", limit, lag, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	took := time.Since(start)
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	return took
}
