package testenv_test

import (
	"context"
	"errors"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/seatline/seatline/internal/testenv"
)

func TestKafkaProduceConsumeGroup(t *testing.T) {
	const (
		topic = "seat-events"
		group = "testenv-group"
		n     = 10000
		parts = 4
	)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	k := testenv.NewKafka(t)
	brokers := k.Brokers()
	if len(brokers) != 1 {
		t.Fatalf("Brokers() = %v, want one", brokers)
	}
	if host, _, _ := net.SplitHostPort(brokers[0]); host != "127.0.0.1" {
		t.Fatalf("broker %s is not on 127.0.0.1", brokers[0])
	}
	if err := k.CreateTopic(ctx, topic, parts); err != nil {
		t.Fatal(err)
	}
	if err := k.CreateTopic(ctx, topic, parts); !errors.Is(err, kafka.TopicAlreadyExists) {
		t.Fatalf("second CreateTopic: %v, want TopicAlreadyExists", err)
	}
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second}
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		t.Fatal(err)
	}
	if len(md.Topics) != 1 || len(md.Topics[0].Partitions) != parts {
		t.Fatalf("metadata: %+v, want %d partitions", md.Topics, parts)
	}

	w := &kafka.Writer{
		Addr:         kafka.TCP(brokers...),
		Topic:        topic,
		Balancer:     &kafka.Hash{},
		RequiredAcks: kafka.RequireAll,
		BatchTimeout: 10 * time.Millisecond,
		BatchSize:    500,
	}
	msgs := make([]kafka.Message, n)
	for i := range msgs {
		msgs[i] = kafka.Message{Key: []byte("seat-" + strconv.Itoa(i)), Value: []byte(strconv.Itoa(i))}
	}
	t0 := time.Now()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("produced %d messages in %v", n, time.Since(t0))

	newReader := func() *kafka.Reader {
		return kafka.NewReader(kafka.ReaderConfig{
			Brokers:  brokers,
			GroupID:  group,
			Topic:    topic,
			MaxWait:  200 * time.Millisecond,
			MaxBytes: 10 << 20,
		})
	}

	t0 = time.Now()
	r := newReader()
	seen := make(map[string]bool, n)
	perPartition := map[int]int{}
	var batch []kafka.Message
	for len(seen) < n {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			t.Fatalf("after %d messages: %v", len(seen), err)
		}
		if seen[string(m.Value)] {
			t.Fatalf("message %s (partition %d offset %d) seen twice", m.Value, m.Partition, m.Offset)
		}
		seen[string(m.Value)] = true
		perPartition[m.Partition]++
		batch = append(batch, m)
		if len(batch) == 1000 {
			if err := r.CommitMessages(ctx, batch...); err != nil {
				t.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	if err := r.CommitMessages(ctx, batch...); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("consumed and committed %d messages in %v; per partition %v", n, time.Since(t0), perPartition)
	if len(perPartition) != parts {
		t.Errorf("messages landed in %d partitions, want %d", len(perPartition), parts)
	}

	// The group's committed offsets add up to everything produced.
	of, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: {0, 1, 2, 3}}})
	if err != nil {
		t.Fatal(err)
	}
	var committed int64
	for _, p := range of.Topics[topic] {
		if p.Error != nil {
			t.Fatalf("partition %d: %v", p.Partition, p.Error)
		}
		if int64(perPartition[p.Partition]) != p.CommittedOffset {
			t.Errorf("partition %d: committed offset %d, consumed %d", p.Partition, p.CommittedOffset, perPartition[p.Partition])
		}
		committed += p.CommittedOffset
	}
	if committed != n {
		t.Errorf("committed offsets add up to %d, want %d", committed, n)
	}

	// A new reader in the same group sees nothing old: the first message it
	// gets is one written after the commit.
	r = newReader()
	defer r.Close()
	short, cancelShort := context.WithTimeout(ctx, 3*time.Second)
	m, err := r.FetchMessage(short)
	cancelShort()
	if err == nil {
		t.Fatalf("reopened group reader got old message %s (partition %d offset %d)", m.Value, m.Partition, m.Offset)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatal(err)
	}
	w = &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: topic, RequiredAcks: kafka.RequireAll, BatchTimeout: 10 * time.Millisecond}
	defer w.Close()
	if err := w.WriteMessages(ctx, kafka.Message{Value: []byte("marker")}); err != nil {
		t.Fatal(err)
	}
	m, err = r.FetchMessage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if string(m.Value) != "marker" {
		t.Fatalf("reopened group reader got %q (partition %d offset %d), want the new marker", m.Value, m.Partition, m.Offset)
	}
}

func TestKafkaAutoCreateAndClose(t *testing.T) {
	k, err := testenv.StartKafka()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	w := &kafka.Writer{
		Addr:                   kafka.TCP(k.Brokers()...),
		Topic:                  "auto",
		RequiredAcks:           kafka.RequireAll,
		BatchTimeout:           10 * time.Millisecond,
		AllowAutoTopicCreation: true,
	}
	var werr error
	for range 10 { // the first metadata request creates the topic
		if werr = w.WriteMessages(ctx, kafka.Message{Value: []byte("x")}); werr == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if werr != nil {
		t.Fatal(werr)
	}
	w.Close()
	conn, err := kafka.DialContext(ctx, "tcp", k.Brokers()[0])
	if err != nil {
		t.Fatal(err)
	}
	ps, err := conn.ReadPartitions("auto")
	conn.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 4 {
		t.Errorf("auto-created topic has %d partitions, want 4", len(ps))
	}
	addr := k.Brokers()[0]
	k.Close()
	k.Close()
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Errorf("broker %s still accepts connections after Close", addr)
	}
}
