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
	"github.com/seatline/seatline/internal/records"
	"github.com/seatline/seatline/internal/source"
)

func init() {
	source.Register(source.Kind{Name: "kafka", Help: "a Kafka topic or Azure Event Hubs",
		New: func(common *source.Common) source.Config { return &sourceConfig{Config: Defaults(), common: common} }})
}

// sourceConfig is Config as a registered kind: it refuses the common
// flags Kafka has no use for.
type sourceConfig struct {
	Config
	common *source.Common
}

func (c *sourceConfig) Validate() error {
	if c.common.Shard != "" {
		return fmt.Errorf("shard: only for object sources (Kafka workers share partitions through --kafka-group)")
	}
	if c.common.Since != "" || c.common.Until != "" {
		return fmt.Errorf("since, until: only for object sources (Kafka starts at --kafka-start-offset)")
	}
	return c.Config.Validate()
}

func (c *sourceConfig) Open(ctx context.Context, deps source.Deps) (ingest.Source, error) {
	return Open(c.Config, deps)
}

func (c *sourceConfig) Describe() []any {
	return []any{"brokers", c.Brokers, "topics", c.Topics, "group", c.GroupID, "sasl", c.SASLMechanism, "kafka_tls", c.tlsOn()}
}

// Source is a consumer-group reader. kafka-go fetches every assigned
// partition concurrently; the pipeline sees one ordered stream per
// partition and commits per partition. Each message goes through the
// records stage: one event, an NDJSON or JSON-array batch, compressed or
// re-encoded, all become records.
type Source struct {
	cfg     Config
	reader  *kafka.Reader
	client  *kafka.Client
	dec     *records.Decoder
	slab    records.Slab
	mu      sync.Mutex
	streams map[streamKey]string // "topic/partition", made once per partition
	parts   map[string]streamKey // and back, for Commit

	lastKey  streamKey // Next's goroutine only
	lastName string
	pend     []ingest.Message // records of the current message not yet returned
	next     int
	curName  string // the current message's partition and offset, for onRecord
	curOff   int64
	emit     func(*records.Record) error // onRecord, bound once (a closure per message would allocate)
}

type streamKey struct {
	topic     string
	partition int
}

// Open checks cfg and makes the consumer; it joins the group on the
// first Next.
func Open(cfg Config, deps source.Deps) (*Source, error) {
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
	dec, err := records.NewDecoder(deps.Records)
	if err != nil {
		return nil, err
	}
	start := kafka.FirstOffset
	if cfg.StartOffset == "last" {
		start = kafka.LastOffset
	}
	log := deps.Log
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
	s := &Source{
		cfg:     cfg,
		reader:  kafka.NewReader(rc),
		client:  &kafka.Client{Addr: kafka.TCP(cfg.Brokers...), Timeout: 10 * time.Second, Transport: transport},
		dec:     dec,
		streams: map[streamKey]string{},
		parts:   map[string]streamKey{},
	}
	s.emit = s.onRecord
	return s, nil
}

// onRecord keeps a record of the current message for Next.
func (s *Source) onRecord(r *records.Record) error {
	s.pend = append(s.pend, ingest.FromRecord(s.curName, s.curOff, s.curOff, r, s.slab.Copy(r.Data)))
	return nil
}

// Name implements ingest.Source.
func (s *Source) Name() string { return "kafka" }

// Next implements ingest.Source: the next record of the current message,
// or of the next message. A message whose records the pre-filter all
// dropped is one bare position, so its offset is still committed.
func (s *Source) Next(ctx context.Context) (ingest.Message, error) {
	if s.next < len(s.pend) {
		m := s.pend[s.next]
		s.pend[s.next] = ingest.Message{}
		s.next++
		return m, nil
	}
	m, err := s.reader.FetchMessage(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return ingest.Message{}, ctx.Err()
		}
		return ingest.Message{}, fmt.Errorf("kafka brokers %v: %w", s.cfg.Brokers, err)
	}
	stream := s.stream(m.Topic, m.Partition)
	s.pend, s.next = s.pend[:0], 0
	s.curName, s.curOff = stream, m.Offset
	if _, err := s.dec.DecodeBytes(m.Value, s.emit); err != nil {
		return ingest.Message{}, fmt.Errorf("kafka message %s/%d: %w", stream, m.Offset, err)
	}
	if len(s.pend) == 0 {
		return ingest.Message{Stream: stream, Offset: m.Offset, Unit: m.Offset}, nil
	}
	for i := range len(s.pend) - 1 {
		s.pend[i].Partial = true
	}
	s.next = 1
	first := s.pend[0]
	s.pend[0] = ingest.Message{}
	return first, nil
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

// Commit implements ingest.Source. A Partial message's Kafka message still
// has records to come: only the message before it is acknowledged.
func (s *Source) Commit(ctx context.Context, last []ingest.Message) error {
	msgs := make([]kafka.Message, 0, len(last))
	s.mu.Lock()
	for _, m := range last {
		k, ok := s.parts[m.Stream]
		if !ok {
			s.mu.Unlock()
			return fmt.Errorf("kafka commit: %s is not a partition this source read", m.Position())
		}
		off := m.Offset
		if m.Partial {
			off--
		}
		if off >= 0 {
			msgs = append(msgs, kafka.Message{Topic: k.topic, Partition: k.partition, Offset: off})
		}
	}
	s.mu.Unlock()
	if len(msgs) == 0 {
		return nil
	}
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
