package kafkasrc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/seatline/seatline/internal/ingest"
)

// Source is a consumer-group reader. kafka-go fetches every assigned
// partition concurrently; the pipeline sees one ordered stream per
// partition and commits per partition.
type Source struct {
	cfg     Config
	reader  *kafka.Reader
	client  *kafka.Client
	mu      sync.Mutex
	streams map[streamKey]string // "topic/partition", made once per partition
	parts   map[string]streamKey // and back, for Commit

	lastKey  streamKey // Next's goroutine only
	lastName string
}

type streamKey struct {
	topic     string
	partition int
}

// Open validates cfg and joins the consumer group (lazily, on the first Next).
func Open(cfg Config, log *slog.Logger) (*Source, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	dialer, err := cfg.Dialer()
	if err != nil {
		return nil, err
	}
	transport, err := cfg.Transport()
	if err != nil {
		return nil, err
	}
	start := kafka.FirstOffset
	if cfg.StartOffset == "last" {
		start = kafka.LastOffset
	}
	if log == nil {
		log = slog.Default()
	}
	rc := kafka.ReaderConfig{
		Brokers:               cfg.Brokers,
		GroupID:               cfg.GroupID,
		GroupTopics:           cfg.Topics,
		Dialer:                dialer,
		MinBytes:              cfg.MinBytes,
		MaxBytes:              cfg.MaxBytes,
		MaxWait:               cfg.MaxWait,
		QueueCapacity:         1000,
		CommitInterval:        0, // synchronous: a commit returns once the broker has it
		StartOffset:           start,
		SessionTimeout:        cfg.SessionTimeout,
		HeartbeatInterval:     min(3*time.Second, cfg.SessionTimeout/10),
		RebalanceTimeout:      cfg.SessionTimeout,
		WatchPartitionChanges: true,
		ReadBackoffMin:        50 * time.Millisecond,
		ReadBackoffMax:        time.Second,
		ErrorLogger: kafka.LoggerFunc(func(msg string, args ...any) {
			log.Warn("kafka: " + fmt.Sprintf(msg, args...))
		}),
	}
	if err := rc.Validate(); err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	return &Source{
		cfg:     cfg,
		reader:  kafka.NewReader(rc),
		client:  &kafka.Client{Addr: kafka.TCP(cfg.Brokers...), Timeout: 10 * time.Second, Transport: transport},
		streams: map[streamKey]string{},
		parts:   map[string]streamKey{},
	}, nil
}

// Name implements ingest.Source.
func (s *Source) Name() string { return "kafka" }

// Next implements ingest.Source.
func (s *Source) Next(ctx context.Context) (ingest.Message, error) {
	m, err := s.reader.FetchMessage(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return ingest.Message{}, ctx.Err()
		}
		return ingest.Message{}, fmt.Errorf("kafka brokers %v: %w", s.cfg.Brokers, err)
	}
	return ingest.Message{Stream: s.stream(m.Topic, m.Partition), Offset: m.Offset, Payload: m.Value}, nil
}

// stream names a partition without allocating per message. Next and Commit
// run on different goroutines, hence the lock.
func (s *Source) stream(topic string, partition int) string {
	k := streamKey{topic, partition}
	if k == s.lastKey { // Next's goroutine only: consecutive messages share a partition
		return s.lastName
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	name, ok := s.streams[k]
	if !ok {
		name = topic + "/" + strconv.Itoa(partition)
		s.streams[k], s.parts[name] = name, k
	}
	s.lastKey, s.lastName = k, name
	return name
}

// Commit implements ingest.Source.
func (s *Source) Commit(ctx context.Context, last []ingest.Message) error {
	msgs := make([]kafka.Message, 0, len(last))
	s.mu.Lock()
	for _, m := range last {
		k, ok := s.parts[m.Stream]
		if !ok {
			s.mu.Unlock()
			return fmt.Errorf("kafka commit: %s is not a partition this source read", m.Position())
		}
		msgs = append(msgs, kafka.Message{Topic: k.topic, Partition: k.partition, Offset: m.Offset})
	}
	s.mu.Unlock()
	return s.reader.CommitMessages(ctx, msgs...)
}

// Close leaves the group.
func (s *Source) Close() error { return s.reader.Close() }

// Lag is how many messages the group has not committed yet, summed over
// every partition of the source's topics.
func (s *Source) Lag(ctx context.Context) (int64, error) {
	return GroupLag(ctx, s.client, s.cfg.GroupID, s.cfg.Topics)
}

// GroupLag sums, over every partition of topics, the distance between the
// partition's end and group's committed offset (a partition with no commit
// counts from its first offset). 0 means the group has caught up.
func GroupLag(ctx context.Context, client *kafka.Client, group string, topics []string) (int64, error) {
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
	if err != nil {
		return 0, fmt.Errorf("kafka metadata: %w", err)
	}
	parts := map[string][]int{}
	offReq := map[string][]kafka.OffsetRequest{}
	for _, t := range md.Topics {
		if t.Error != nil {
			return 0, fmt.Errorf("kafka topic %s: %w", t.Name, t.Error)
		}
		for _, p := range t.Partitions {
			parts[t.Name] = append(parts[t.Name], p.ID)
			offReq[t.Name] = append(offReq[t.Name], kafka.FirstOffsetOf(p.ID), kafka.LastOffsetOf(p.ID))
		}
	}
	ends, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: offReq})
	if err != nil {
		return 0, fmt.Errorf("kafka list offsets: %w", err)
	}
	committed, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: parts})
	if err != nil {
		return 0, fmt.Errorf("kafka offset fetch for group %s: %w", group, err)
	}
	if committed.Error != nil {
		return 0, fmt.Errorf("kafka offset fetch for group %s: %w", group, committed.Error)
	}
	done := map[string]map[int]int64{}
	for topic, ps := range committed.Topics {
		done[topic] = map[int]int64{}
		for _, p := range ps {
			if p.Error != nil {
				return 0, fmt.Errorf("kafka offset fetch %s/%d: %w", topic, p.Partition, p.Error)
			}
			done[topic][p.Partition] = p.CommittedOffset
		}
	}
	var lag int64
	for topic, ps := range ends.Topics {
		for _, p := range ps {
			if p.Error != nil {
				return 0, fmt.Errorf("kafka offsets %s/%d: %w", topic, p.Partition, p.Error)
			}
			c, ok := done[topic][p.Partition]
			if !ok || c < 0 {
				c = p.FirstOffset
			}
			if p.LastOffset > c {
				lag += p.LastOffset - c
			}
		}
	}
	return lag, nil
}

// ErrNoTopics is returned by WaitCaughtUp when the topics do not exist.
var ErrNoTopics = errors.New("kafka: no such topics")
