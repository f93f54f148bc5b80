// Package records is seatline's one way in: it turns the bytes of a source
// unit (a Kafka message, an S3 object, a local file) into records, the same
// way for every source.
//
// It owns, in this order:
//   - compression, recognised by magic bytes (never by name): gzip (every
//     member verified), zstd and bzip2; zip, xz, 7z, tar and the like are
//     recognised and refused as one unsupported_format dead letter;
//   - encodings: UTF-8 with or without a byte-order mark, UTF-16 LE/BE
//     (transcoded to UTF-8); anything else is a dead letter, never noise;
//   - framing: NDJSON lines, pretty-printed objects, JSON arrays streamed
//     element by element (any length in bounded memory);
//   - limits: one size limit and one nesting limit for every framing; a
//     record over a limit is a dead letter at its own position and its
//     neighbours are kept;
//   - the byte pre-filter, run on decoded, readable text only;
//   - integrity: no record of a gzip member (or zstd/bzip2 stream) whose
//     checksum fails is released as data; they become dead letters.
//
// A source only moves bytes and positions; the pipeline only parses the
// records this package releases.
package records

import (
	"strconv"

	"github.com/seatline/seatline/pkg/events"
)

// Loc is where a record sits in its unit.
type Loc struct {
	// Seq numbers the unit's records from 1, counting every record (kept,
	// filtered by the pre-filter, or dead): an object resumes after a Seq.
	Seq uint64
	// Line is the 1-based line of the decoded text where the record's
	// top-level value starts (for an array element: where the array starts).
	Line int64
	// Index is the element's 0-based number in a top-level JSON array, or -1.
	Index int
}

// Suffix renders Index as "#i" (empty when the record is not an array element).
func (l Loc) Suffix() string {
	if l.Index < 0 {
		return ""
	}
	return "#" + strconv.Itoa(l.Index)
}

// Record is one record of a unit: an event's text, or a dead letter.
type Record struct {
	Loc
	// Data is the record's text (UTF-8, trimmed of surrounding whitespace).
	// For a dead letter it is at most MaxKept bytes of the original. It is
	// valid only during the emit call that receives it.
	Data []byte
	// Fault, when set, makes the record a dead letter.
	Fault *events.InvalidError
	// Length is the whole original's length in bytes.
	Length int64
	// SHA256 of the whole original (streamed for oversize records); set for
	// dead letters only.
	SHA256 [32]byte
	// DocumentID of a dead letter, when it could be read from its text.
	DocumentID string
}

// MaxKept is how much of a dead letter's original is kept (the rest is
// described by Length and SHA256).
const MaxKept = 64 << 10
