package events

import (
	"errors"
	"fmt"
)

// Reason says why a record was rejected. The values are stored with dead
// letters (ingest_errors.reason): never change an existing one.
type Reason string

const (
	ReasonOversize         Reason = "oversize"          // record larger than the limit (records stage)
	ReasonInvalidUTF8      Reason = "invalid_utf8"      // not valid UTF-8 (records stage)
	ReasonMalformedJSON    Reason = "malformed_json"    // not parseable JSON (truncated, garbage, empty)
	ReasonNotObject        Reason = "not_an_object"     // valid JSON, but not an object
	ReasonWrongType        Reason = "wrong_type"        // a known field has the wrong JSON type
	ReasonMissingField     Reason = "missing_field"     // a required field is absent, null or empty
	ReasonInvalidTimestamp Reason = "invalid_timestamp" // a timestamp is not Unix ms in [2000, 2100)
	ReasonCorruptObject    Reason = "corrupt_object"    // a truncated or corrupt compressed object (S3, files)

	// ReasonMalformedBatch is a JSON-array message that does not parse, from
	// the legacy Records splitter. New input no longer produces it (the
	// records stage frames arrays element by element and reports what it
	// cannot read with its own reasons); the value stays because existing
	// ingest_errors rows carry it.
	ReasonMalformedBatch Reason = "malformed_batch"

	// ReasonTooDeep: the record nests objects/arrays deeper than the records
	// stage's depth limit (100 levels).
	ReasonTooDeep Reason = "too_deep"
	// ReasonUnsupportedFormat: the input is not in a format seatline reads
	// (neither NDJSON, a JSON array of events, nor one event per message).
	ReasonUnsupportedFormat Reason = "unsupported_format"
	// ReasonUnsupportedEncoding: the input's text encoding is not one seatline
	// reads (UTF-8, UTF-8 with a BOM, UTF-16 with a BOM).
	ReasonUnsupportedEncoding Reason = "unsupported_encoding"
	// ReasonAmbiguousField: a top-level field that decides the event's
	// identity or meaning (_document_id, @timestamp, created_at, action,
	// user, user_id, org, org_id, actor, actor_id, business, business_id)
	// appears more than once, so which value GitHub meant cannot be known.
	ReasonAmbiguousField Reason = "ambiguous_field"
)

// InvalidError is a record that must become a dead letter. Field names the
// offending JSON field (a dotted path for nested ones) when there is one.
type InvalidError struct {
	Reason Reason
	Field  string
	Detail string
}

func (e *InvalidError) Error() string {
	switch {
	case e.Field != "" && e.Detail != "":
		return fmt.Sprintf("%s: field %q: %s", e.Reason, e.Field, e.Detail)
	case e.Field != "":
		return fmt.Sprintf("%s: %q", e.Reason, e.Field)
	case e.Detail != "":
		return string(e.Reason) + ": " + e.Detail
	}
	return string(e.Reason)
}

// ErrNotSeatEvent is returned by Parse for a well-formed event whose action
// is not a Copilot seat or policy event (Classify reports !ok). It is not a
// dead letter: such records are counted as filtered.
var ErrNotSeatEvent = errors.New("events: not a Copilot seat or policy event")

// ReasonOf returns the Reason of an *InvalidError anywhere in err's chain.
func ReasonOf(err error) (Reason, bool) {
	var ie *InvalidError
	if errors.As(err, &ie) {
		return ie.Reason, true
	}
	return "", false
}
