package events

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/encoding/json"
)

// Timestamps must be Unix milliseconds in [2000-01-01, 2100-01-01) UTC.
const (
	minTimestampMs = 946684800000  // 2000-01-01T00:00:00Z
	maxTimestampMs = 4102444800000 // 2100-01-01T00:00:00Z (exclusive)
)

// validate checks a decoded record's fields and returns its timestamps:
// the event's (@timestamp, else created_at) and created_at.
func validate(w *wireEvent, tk *topKeys, typeErr *json.UnmarshalTypeError) (ts, created time.Time, err error) {
	if err := tk.ambiguous(); err != nil {
		return ts, created, err
	}
	if typeErr != nil {
		return ts, created, wrongType(typeErr)
	}

	// Required fields. An absent _document_id is derived below (exports
	// before 2021 have none); a null or empty one is missing.
	if w.DocumentID == "" && tk.n[keyDocumentID] != 0 {
		return ts, created, &InvalidError{Reason: ReasonMissingField, Field: "_document_id"}
	}
	if w.Action == "" {
		return ts, created, &InvalidError{Reason: ReasonMissingField, Field: "action"}
	}
	if ts, err = timestampField("@timestamp", &w.Timestamp, false); err != nil {
		return ts, created, err
	}
	if created, err = timestampField("created_at", &w.CreatedAt, false); err != nil {
		return ts, created, err
	}
	if ts.IsZero() {
		// Exports before 2021 carry created_at only.
		if created.IsZero() {
			_, err := timestampField("@timestamp", &w.Timestamp, true) // missing_field
			return ts, created, err
		}
		ts = created
	}
	if err := oneElement("org", "string", w.Org.many); err != nil {
		return ts, created, err
	}
	if err := oneElement("org_id", "integer", w.OrgID.many); err != nil {
		return ts, created, err
	}
	for _, f := range [...]struct {
		name string
		v    *wireInt
	}{
		{"actor_id", &w.ActorID},
		{"user_id", &w.UserID},
		{"org_id", (*wireInt)(&w.OrgID)},
		{"business_id", &w.BusinessID},
		{"repo_id", &w.RepoID},
		{"token_id", &w.TokenID},
	} {
		if err := intField(f.name, f.v); err != nil {
			return ts, created, err
		}
	}
	return ts, created, stringField("org", (*wireString)(&w.Org))
}

// ambiguous reports the first identity key (in identityKeyNames order) that
// appears more than once.
func (tk *topKeys) ambiguous() error {
	for k := keyNone + 1; k < numKeys; k++ {
		if tk.n[k] > 1 {
			return ambiguousField(k, tk.n[k])
		}
	}
	return nil
}

func ambiguousField(k identityKey, n int) error {
	return &InvalidError{Reason: ReasonAmbiguousField, Field: identityKeyNames[k],
		Detail: fmt.Sprintf("appears %d times", n)}
}

func timestampField(name string, w *wireInt, required bool) (time.Time, error) {
	switch w.kind {
	case kindAbsent, kindNull:
		if required {
			if w.kind == kindNull {
				return time.Time{}, &InvalidError{Reason: ReasonMissingField, Field: name, Detail: "null"}
			}
			return time.Time{}, &InvalidError{Reason: ReasonMissingField, Field: name}
		}
		return time.Time{}, nil
	case kindInt:
		if w.v < minTimestampMs || w.v >= maxTimestampMs {
			lit := w.lit
			if lit == "" {
				lit = strconv.FormatInt(w.v, 10)
			}
			return time.Time{}, &InvalidError{Reason: ReasonInvalidTimestamp, Field: name,
				Detail: lit + " is not a Unix time in milliseconds between 2000 and 2100"}
		}
		return time.UnixMilli(w.v).UTC(), nil
	}
	return time.Time{}, wrongKind(name, w)
}

func stringField(name string, w *wireString) error {
	switch w.kind {
	case kindAbsent, kindNull, kindString:
		return nil
	}
	return &InvalidError{Reason: ReasonWrongType, Field: name, Detail: "expected string, got " + kindNames[w.kind]}
}

// oneElement rejects an identity field sent as an array of n > 1 elements.
func oneElement(name, want string, n uint32) error {
	if n <= 1 {
		return nil
	}
	return &InvalidError{Reason: ReasonWrongType, Field: name,
		Detail: fmt.Sprintf("expected %s or an array of at most one, got an array of %d elements", want, n)}
}

func intField(name string, w *wireInt) error {
	switch w.kind {
	case kindAbsent, kindNull, kindInt:
		return nil
	}
	return wrongKind(name, w)
}

func wrongKind(name string, w *wireInt) error {
	got := kindNames[w.kind]
	if w.lit != "" && (w.kind == kindFraction || w.kind == kindRange) {
		got += " " + truncate(w.lit, 40)
	}
	return &InvalidError{Reason: ReasonWrongType, Field: name, Detail: "expected integer, got " + got}
}

func wrongType(e *json.UnmarshalTypeError) error {
	got, _, _ := strings.Cut(e.Value, " ") // "number 1e999" → "number"
	switch got {
	case "bool":
		got = "boolean"
	case "string", "number", "object", "array", "null":
	default:
		// Some decoders (segmentio/encoding) put the offending JSON text,
		// Go-quoted, in Value.
		v := e.Value
		if u, err := strconv.Unquote(v); err == nil {
			v = u
		}
		if v = strings.TrimLeft(v, " \t\r\n"); v != "" {
			if v[0] == '{' {
				got = "object"
			} else {
				got = jsonTypeName(v[0])
			}
		}
	}
	want := "a different type"
	if e.Type != nil {
		switch e.Type.Kind() {
		case reflect.String:
			want = "string"
		case reflect.Bool:
			want = "boolean"
		case reflect.Struct, reflect.Map:
			want = "object"
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			want = "integer"
		case reflect.Slice, reflect.Array:
			want = "array"
		}
	}
	return &InvalidError{Reason: ReasonWrongType, Field: e.Field, Detail: "expected " + want + ", got " + got}
}
