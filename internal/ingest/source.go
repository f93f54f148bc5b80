// Package ingest runs the source → decode → classify → ClickHouse pipeline
// shared by every source (Kafka, S3, local files).
package ingest

import (
	"context"
	"errors"
	"strconv"
)

// Message is one unit a source delivers: a Kafka message, one line of an
// S3 object. A message may hold several events (NDJSON or a JSON array).
type Message struct {
	Stream  string // a sequence with its own order: "topic/partition", an object key
	Offset  int64  // position within Stream (Kafka offset, line number)
	Payload []byte
	// Fault, when set, makes the message a dead letter instead of input:
	// a source's own finding such as a truncated gzip stream (Payload then
	// holds whatever raw bytes are worth keeping, possibly none). An
	// *events.InvalidError's Reason becomes the reason code; any other error
	// is "source_error".
	Fault error
}

// Position names the message for dead letters and the timeline:
// "topic/partition/offset" or "key/line".
func (m *Message) Position() string { return m.Stream + "/" + strconv.FormatInt(m.Offset, 10) }

// Source is where audit events come from. The pipeline calls Next from one
// goroutine and Commit from another, never concurrently with itself.
type Source interface {
	// Name is stored with every row: "kafka", "s3", "file".
	Name() string
	// Next blocks for the next message. It returns ErrEndOfInput when a
	// finite source is done, or ctx's error.
	Next(ctx context.Context) (Message, error)
	// Commit acknowledges, for each stream in last, every message up to and
	// including that one. The pipeline calls it only after ClickHouse has
	// acknowledged every row from those messages and all before them.
	Commit(ctx context.Context, last []Message) error
	Close() error
}

// ErrEndOfInput ends a finite source (a backfill, a set of files).
var ErrEndOfInput = errors.New("end of input")
