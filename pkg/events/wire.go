package events

import (
	"bytes"
	"errors"
	"math"
	"strconv"

	"github.com/segmentio/encoding/json"
)

// jsonKind is what a wireInt saw on the wire.
type jsonKind uint8

const (
	kindAbsent jsonKind = iota
	kindNull
	kindInt      // an integer (or an integral float such as 1.692655003441e12) in int64 range
	kindFraction // a number with a fractional part
	kindRange    // an integral number outside int64
	kindString
	kindBool
	kindObject
	kindArray
	kindNumber // any number, where a string is expected
)

var kindNames = [...]string{
	kindAbsent:   "nothing",
	kindNull:     "null",
	kindInt:      "integer",
	kindFraction: "number with a fraction",
	kindRange:    "number out of 64-bit range",
	kindString:   "string",
	kindBool:     "boolean",
	kindObject:   "object",
	kindArray:    "array",
	kindNumber:   "number",
}

// wireInt decodes a JSON integer field without ever failing the decode, so
// that validation can report the field by name and precisely.
type wireInt struct {
	v    int64
	kind jsonKind
	many uint32 // wireIntOrOne only: the elements of an array of more than one
	lit  string // the literal, kept for messages only when it is not a valid integer
}

func (w *wireInt) UnmarshalJSON(b []byte) error {
	*w = wireInt{}
	if len(b) == 0 {
		w.kind = kindNull
		return nil
	}
	switch b[0] {
	case 'n':
		w.kind = kindNull
	case '"':
		w.kind = kindString
	case 't', 'f':
		w.kind = kindBool
	case '{':
		w.kind = kindObject
	case '[':
		w.kind = kindArray
	default:
		if v, ok := parseSmallInt(b); ok {
			w.v, w.kind = v, kindInt
			return nil
		}
		w.lit = string(b)
		if v, err := strconv.ParseInt(w.lit, 10, 64); err == nil {
			w.v, w.kind = v, kindInt
			return nil
		}
		f, err := strconv.ParseFloat(w.lit, 64)
		switch {
		case err != nil && !errors.Is(err, strconv.ErrRange):
			w.kind = kindFraction // not reachable for valid JSON numbers
		case math.IsInf(f, 0) || f < -(1<<63) || f >= 1<<63:
			w.kind = kindRange
		case f != math.Trunc(f):
			w.kind = kindFraction
		default:
			w.v, w.kind = int64(f), kindInt
		}
	}
	return nil
}

// parseSmallInt parses an optionally negative decimal of up to 18 digits,
// the common case, without allocating.
func parseSmallInt(b []byte) (int64, bool) {
	neg := false
	if len(b) > 0 && b[0] == '-' {
		neg, b = true, b[1:]
	}
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var v int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int64(c-'0')
	}
	if neg {
		v = -v
	}
	return v, true
}

// User-scope events send org and org_id as JSON arrays: "org": [] or
// ["acme"], "org_id": [] or [163237012]. wireStringOrOne and wireIntOrOne
// decode them: an empty array is the field absent, a one-element array is
// that element, and more elements set kind to kindArray and many to their
// number (validation reports wrong_type). many lives in the padding after
// kind, so wireEvent stays in its allocation size class.
type (
	wireStringOrOne wireString
	wireIntOrOne    wireInt
)

func (w *wireStringOrOne) UnmarshalJSON(b []byte) error {
	*w = wireStringOrOne{}
	elem, n, err := unwrapOne(b)
	switch {
	case err != nil:
		return err
	case n == 1:
		return (*wireString)(w).UnmarshalJSON(elem)
	case n > 1:
		w.kind, w.many = kindArray, uint32(n)
	}
	return nil
}

func (w *wireIntOrOne) UnmarshalJSON(b []byte) error {
	*w = wireIntOrOne{}
	elem, n, err := unwrapOne(b)
	switch {
	case err != nil:
		return err
	case n == 1:
		return (*wireInt)(w).UnmarshalJSON(elem)
	case n > 1:
		w.kind, w.many = kindArray, uint32(n)
	}
	return nil
}

// unwrapOne returns b itself when it is not an array, else the array's only
// element (n == 1) or its number of elements.
func unwrapOne(b []byte) (elem []byte, n int, err error) {
	if len(b) == 0 || b[0] != '[' {
		return b, 1, nil
	}
	var elems []json.RawMessage // rare: only user-scope events have arrays here
	if err := json.Unmarshal(b, &elems); err != nil {
		return nil, 0, err
	}
	if len(elems) == 1 {
		return elems[0], 1, nil
	}
	return nil, len(elems), nil
}

// wireString decodes a string field without ever failing the decode, so
// that validation can report it by name (like wireInt).
type wireString struct {
	s    string
	kind jsonKind
	many uint32 // wireStringOrOne only: the elements of an array of more than one
}

func (w *wireString) UnmarshalJSON(b []byte) error {
	*w = wireString{}
	if len(b) == 0 {
		w.kind = kindNull
		return nil
	}
	switch b[0] {
	case '"':
		w.kind = kindString
		if bytes.IndexByte(b, '\\') < 0 && len(b) >= 2 {
			w.s = string(b[1 : len(b)-1])
			return nil
		}
		return json.Unmarshal(b, &w.s)
	case 'n':
		w.kind = kindNull
	case 't', 'f':
		w.kind = kindBool
	case '{':
		w.kind = kindObject
	case '[':
		w.kind = kindArray
	default:
		w.kind = kindNumber
	}
	return nil
}

// wireText decodes a detail field leniently: a string as itself, any other
// JSON value as its JSON text, null as "". Action-specific fields
// (seat_assignment, old_value, plan, …) are not documented precisely enough
// to reject an event over their type.
type wireText string

func (t *wireText) UnmarshalJSON(b []byte) error {
	switch {
	case len(b) == 0 || b[0] == 'n':
		*t = ""
	case b[0] == '"':
		if bytes.IndexByte(b, '\\') < 0 && len(b) >= 2 {
			*t = wireText(b[1 : len(b)-1])
			return nil
		}
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			*t = wireText(b)
			return nil
		}
		*t = wireText(s)
	default:
		var buf bytes.Buffer
		if json.Compact(&buf, b) == nil {
			*t = wireText(buf.String())
		} else {
			*t = wireText(b)
		}
	}
	return nil
}

// wireEvent is the private decode target: every field typed, one pass.
type wireEvent struct {
	DocumentID string  `json:"_document_id"`
	Timestamp  wireInt `json:"@timestamp"`
	CreatedAt  wireInt `json:"created_at"`
	Action     string  `json:"action"`

	Actor         string  `json:"actor"`
	ActorID       wireInt `json:"actor_id"`
	ActorIsBot    bool    `json:"actor_is_bot"`
	ActorIsAgent  bool    `json:"actor_is_agent"`
	ActorLocation struct {
		CountryCode string `json:"country_code"`
	} `json:"actor_location"`
	User       string          `json:"user"`
	UserID     wireInt         `json:"user_id"`
	Org        wireStringOrOne `json:"org"`    // also [] / ["acme"]
	OrgID      wireIntOrOne    `json:"org_id"` // also [] / [163237012]
	Business   string          `json:"business"`
	BusinessID wireInt         `json:"business_id"`
	RepoID     wireInt         `json:"repo_id"`
	Owner      wireText        `json:"owner"`
	OwnerType  wireText        `json:"owner_type"`

	OperationType          string  `json:"operation_type"`
	ActorIP                string  `json:"actor_ip"`
	UserAgent              string  `json:"user_agent"`
	HashedToken            string  `json:"hashed_token"`
	TokenID                wireInt `json:"token_id"`
	ProgrammaticAccessType string  `json:"programmatic_access_type"`
	RequestID              string  `json:"request_id"`
	ExternalIdentityNameID string  `json:"external_identity_nameid"`

	SeatAssignment wireText `json:"seat_assignment"`
	OldValue       wireText `json:"old_value"`
	NewValue       wireText `json:"new_value"`
	PreviousValue  wireText `json:"previous_value"`
	CurrentValue   wireText `json:"current_value"`
	OldPlan        wireText `json:"old_plan"`
	Plan           wireText `json:"plan"`
	CurrentPlan    wireText `json:"current_plan"`
	ScheduledPlan  wireText `json:"scheduled_plan"`
	Reason         wireText `json:"reason"`

	Team           wireText `json:"team"`
	EnterpriseTeam wireText `json:"enterprise_team"`
	OldLogin       wireText `json:"old_login"`
}
