// Package ingest runs the pipeline every source shares: records (already
// framed and checked by internal/records) → classify (pkg/events) → steps
// (inline enrichment) → ClickHouse, with commits after writes.
package ingest

import (
	"context"
	"errors"
	"strconv"

	"github.com/seatline/seatline/internal/records"
)

// Message is what a source delivers: one record with its place, or a bare
// position (Data and Fault nil) that moves the commit point past records
// the pre-filter dropped.
type Message struct {
	Stream string // a sequence with its own order: "topic/partition", an object key
	// Offset is the position Commit takes: the Kafka offset of the message
	// that held the record, or an object's record number (records.Loc.Seq).
	Offset int64
	// Unit is the Kafka offset of the message that held the record, or -1
	// for objects, whose records are named by their line.
	Unit int64
	// Partial: more records of the same Kafka message follow, so
	// committing this one must not acknowledge the message yet.
	Partial bool
	records.Loc

	// Data is the record's text, owned by the pipeline from here on.
	Data []byte
	// Fault, when set, makes the message a dead letter. An
	// *events.InvalidError's Reason becomes the reason code; any other
	// error (a source's own finding, such as an object that vanished) is
	// "source_error".
	Fault error
	// Original describes a dead letter's original when the records stage
	// knew it (its whole length and SHA-256 though Data keeps only the
	// start); nil: Data is the whole original.
	Original *Original
}

// Original is what the records stage knew of a dead letter's input.
type Original struct {
	Length     int64
	SHA256     [32]byte
	DocumentID string
}

// FromRecord makes the message of a record; data is the record's text,
// copied by the caller into memory it will not reuse.
func FromRecord(stream string, offset, unit int64, r *records.Record, data []byte) Message {
	m := Message{Stream: stream, Offset: offset, Unit: unit, Loc: r.Loc, Data: data}
	if r.Fault != nil {
		m.Fault, m.Original = r.Fault, &Original{Length: r.Length, SHA256: r.SHA256, DocumentID: r.DocumentID}
	}
	return m
}

// Position names the record for people: "topic/partition/offset[:line][#index]"
// for a Kafka message (the line only when the message holds several), or
// "key/line[#index]" for an object ("key" alone for the whole object).
func (m *Message) Position() string {
	if m.Unit < 0 && m.Line == 0 {
		return m.Stream
	}
	b := make([]byte, 0, len(m.Stream)+24)
	b = append(b, m.Stream...)
	b = append(b, '/')
	if m.Unit >= 0 {
		b = strconv.AppendInt(b, m.Unit, 10)
		if m.Line > 1 {
			b = append(b, ':')
			b = strconv.AppendInt(b, m.Line, 10)
		}
	} else {
		b = strconv.AppendInt(b, m.Line, 10)
	}
	if m.Index >= 0 {
		b = append(b, '#')
		b = strconv.AppendInt(b, int64(m.Index), 10)
	}
	return string(b)
}

// Source is where audit events come from. The pipeline calls Next from one
// goroutine and Commit from another, never concurrently with itself.
type Source interface {
	// Name is stored with every row: "kafka", "s3", "file".
	Name() string
	// Next blocks for the next message. It returns ErrEndOfInput when a
	// finite source is done, or ctx's error.
	Next(ctx context.Context) (Message, error)
	// Commit acknowledges, for each stream in last, every message up to and
	// including that one (for a Partial message: up to the one before its
	// Kafka message). The pipeline calls it only after ClickHouse has
	// acknowledged every row from those messages and all before them.
	Commit(ctx context.Context, last []Message) error
	Close() error
}

// ErrEndOfInput ends a finite source (a backfill, a set of files).
var ErrEndOfInput = errors.New("end of input")
