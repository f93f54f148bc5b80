package testenv

import (
	"context"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
)

// Producer writes test streams to the Kafka test bed (kafka-go, acks from
// the broker, small batch timeout so synchronous writes do not wait).
type Producer struct {
	w *kafka.Writer
}

// NewProducer writes to topic on brokers. Messages are spread over
// partitions round-robin (GitHub's streams carry no key).
func NewProducer(brokers []string, topic string) *Producer {
	return &Producer{w: &kafka.Writer{
		Addr:         kafka.TCP(brokers...),
		Topic:        topic,
		Balancer:     &kafka.RoundRobin{},
		RequiredAcks: kafka.RequireOne,
		BatchSize:    1000,
		BatchBytes:   32 << 20,
		BatchTimeout: 5 * time.Millisecond,
		Compression:  kafka.Lz4,
	}}
}

// Write sends every payload as one message, in chunks, and returns when the
// broker has acknowledged all of them.
func (p *Producer) Write(ctx context.Context, payloads ...[]byte) error {
	const chunk = 5000
	msgs := make([]kafka.Message, 0, chunk)
	for i := 0; i < len(payloads); i += chunk {
		msgs = msgs[:0]
		for _, v := range payloads[i:min(i+chunk, len(payloads))] {
			msgs = append(msgs, kafka.Message{Value: v})
		}
		if err := p.w.WriteMessages(ctx, msgs...); err != nil {
			return fmt.Errorf("testenv: producing to %s: %w", p.w.Topic, err)
		}
	}
	return nil
}

// Close flushes and closes the writer.
func (p *Producer) Close() error { return p.w.Close() }
