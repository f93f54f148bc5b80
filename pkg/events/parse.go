package events

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	stdjson "encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	// A drop-in for encoding/json, 4.5x faster on audit events (2.0 µs vs
	// 9.2 µs for a 600-byte event, BenchmarkParse), same error types.
	"github.com/segmentio/encoding/json"
)

// DefaultMaxEventBytes is the default record size limit of the ingest
// pipeline (GitHub's audit events are well under 10 KiB). Parse itself does
// not apply a limit: the records stage does, before Parse is called.
const DefaultMaxEventBytes = 1 << 20

// Timestamps must be Unix milliseconds in [2000-01-01, 2100-01-01) UTC.
const (
	minTimestampMs = 946684800000  // 2000-01-01T00:00:00Z
	maxTimestampMs = 4102444800000 // 2100-01-01T00:00:00Z (exclusive)
)

// Parse decodes, validates and classifies one record (one JSON object).
//
// Errors: *InvalidError for a record that must become a dead letter (its
// Reason and Field say why), or ErrNotSeatEvent for a valid event whose
// action is not a Copilot seat/policy one. A record whose action decodes as
// a non-Copilot string is ErrNotSeatEvent even when other fields are broken:
// seatline does not dead-letter events it would not keep (unless action
// itself is repeated with a Copilot copy: ambiguous_field). On
// ErrNotSeatEvent the returned Event carries only Action and Raw.
//
// Field names are exact: a field is GitHub's lowercase key, after JSON
// unescaping ("\u0075ser" is user); a key that differs only in case
// ("User", "ACTION", "Country_Code") is not the field and stays in Raw. A
// top-level key that decides the event's identity or meaning (_document_id,
// @timestamp, created_at, action, user, user_id, org, org_id, actor,
// actor_id, business, business_id) must appear at most once, else the
// record is ambiguous_field naming it, whatever the copies hold. Other
// repeated keys are the decoder's business: the last copy wins, and a
// repeated object (actor_location) is merged into the first.
//
// With an *InvalidError the returned Event carries Raw and, whenever the
// record's _document_id could be read, DocumentID (for the dead letter):
// a wrong-type or out-of-range field, a missing action or an ambiguous
// field other than _document_id itself still names the event. For
// malformed JSON it is best effort: a top-level "_document_id" string
// that ends before the syntax error is reported. A repeated _document_id
// (ambiguous) or one that is not a string gives none.
//
// Precondition: rec is one record from the records stage, which has
// already checked that it is valid UTF-8 without control characters, within
// the size limit and within the nesting-depth limit. Parse does not repeat
// those checks (it does not panic on other input, but invalid UTF-8 in a
// string is decoded as U+FFFD rather than rejected).
//
// Required: action (a non-empty string; empty or null counts as missing)
// and @timestamp (integer Unix ms in [2000, 2100)); an event without
// @timestamp (absent or null) takes its Timestamp from created_at, as
// exports before 2021 carry only that; with neither it is missing_field
// "@timestamp". _document_id must be a non-empty string when present (null
// or empty is missing_field); an event without it (older exports) gets an
// id derived from its content, "derived:" + base64url (no padding) of the
// first 16 bytes of the SHA-256 of the trimmed record, with
// DocumentIDDerived set: a redelivery of the same bytes collapses, but the
// same event re-encoded (other key order or spacing) does not.
//
// User-scope events send org and org_id as arrays: [] is the field absent,
// a one-element array is that element, more elements are wrong_type.
// Unknown fields are ignored (they stay in Raw). Integer fields accept
// integral JSON floats such as 1.692655003441e12; null is accepted for every
// optional field.
//
// Event.Raw is a sub-slice of rec (trimmed of surrounding JSON whitespace):
// a caller that reuses rec's buffer must copy Raw first.
func Parse(rec []byte) (Event, error) {
	rec = trimSpace(rec)
	if len(rec) == 0 {
		return Event{}, &InvalidError{Reason: ReasonMalformedJSON, Detail: "empty record"}
	}
	if rec[0] != '{' {
		if stdjson.Valid(rec) { // rare path: the standard library's exact answer
			return Event{Raw: rec}, &InvalidError{Reason: ReasonNotObject, Detail: "got " + jsonTypeName(rec[0])}
		}
		return malformed(rec)
	}

	// Exact field names: GitHub's keys are lowercase, and a key that differs
	// only in case ("User", "ACTION", actor_location's "Country_Code") is
	// not the field; it stays in Raw. encoding/json (and segmentio's default)
	// would match it case-insensitively, the last one winning.
	var w wireEvent
	rest, decErr := json.Parse(rec, &w, json.DontMatchCaseInsensitiveStructFields)
	var typeErr *json.UnmarshalTypeError
	if len(rest) != 0 || decErr != nil && !errors.As(decErr, &typeErr) {
		// json.Parse, unlike Unmarshal, leaves trailing data to the caller.
		return malformed(rec)
	}
	// Filter before reporting other problems: a record with a valid
	// non-Copilot action is not ours to dead-letter.
	actionOK := typeErr == nil || typeErr.Field != "action"
	if actionOK && w.Action != "" {
		if !Admitted(w.Action) {
			var tk topKeys
			if seatActionCopy(rec, &tk) {
				return failed(rec, &w, &tk), ambiguousField(keyAction, tk.n[keyAction])
			}
			return Event{Action: w.Action, Raw: rec}, ErrNotSeatEvent
		}
	}

	// One pass over the top-level keys: a field that decides the event's
	// identity or meaning must appear once (the decoder keeps the last copy
	// and says nothing).
	var tk topKeys
	scanTopKeys(rec, &tk)
	if !tk.complete {
		// Not reached: the decoder accepted rec, and the scan is exact for
		// valid JSON (FuzzParse checks it). Fail closed all the same.
		return Event{Raw: rec}, &InvalidError{Reason: ReasonMalformedJSON, Detail: "top-level keys unreadable"}
	}
	if err := tk.ambiguous(); err != nil {
		return failed(rec, &w, &tk), err
	}
	if typeErr != nil {
		return failed(rec, &w, &tk), wrongType(typeErr)
	}

	// Required fields. An absent _document_id is derived below (exports
	// before 2021 have none); a null or empty one is missing.
	if w.DocumentID == "" && tk.n[keyDocumentID] != 0 {
		return failed(rec, &w, &tk), &InvalidError{Reason: ReasonMissingField, Field: "_document_id"}
	}
	if w.Action == "" {
		return failed(rec, &w, &tk), &InvalidError{Reason: ReasonMissingField, Field: "action"}
	}
	ts, err := timestampField("@timestamp", &w.Timestamp, false)
	if err != nil {
		return failed(rec, &w, &tk), err
	}
	created, err := timestampField("created_at", &w.CreatedAt, false)
	if err != nil {
		return failed(rec, &w, &tk), err
	}
	if ts.IsZero() {
		// Exports before 2021 carry created_at only.
		if created.IsZero() {
			_, err := timestampField("@timestamp", &w.Timestamp, true) // missing_field
			return failed(rec, &w, &tk), err
		}
		ts = created
	}
	if err := oneElement("org", "string", w.Org.many); err != nil {
		return failed(rec, &w, &tk), err
	}
	if err := oneElement("org_id", "integer", w.OrgID.many); err != nil {
		return failed(rec, &w, &tk), err
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
			return failed(rec, &w, &tk), err
		}
	}
	if err := stringField("org", (*wireString)(&w.Org)); err != nil {
		return failed(rec, &w, &tk), err
	}

	tr, _ := Classify(w.Action)
	mem, _ := ClassifyMembership(w.Action)
	ev := Event{
		DocumentID: w.DocumentID,
		Timestamp:  ts,
		CreatedAt:  created,
		Action:     w.Action,
		Transition: tr,
		Membership: mem,

		Actor:        w.Actor,
		ActorID:      w.ActorID.v,
		ActorIsBot:   w.ActorIsBot,
		ActorIsAgent: w.ActorIsAgent,
		User:         w.User,
		UserID:       w.UserID.v,
		Org:          w.Org.s,
		OrgID:        w.OrgID.v,
		Business:     w.Business,
		BusinessID:   w.BusinessID.v,
		Owner:        string(w.Owner),
		OwnerType:    string(w.OwnerType),

		OperationType:          w.OperationType,
		ActorIP:                w.ActorIP,
		ActorCountry:           w.ActorLocation.CountryCode,
		UserAgent:              w.UserAgent,
		HashedToken:            w.HashedToken,
		TokenID:                w.TokenID.v,
		ProgrammaticAccessType: w.ProgrammaticAccessType,
		RequestID:              w.RequestID,
		ExternalIdentityNameID: w.ExternalIdentityNameID,

		SeatAssignment: string(w.SeatAssignment),
		OldValue:       firstOf(w.OldValue, w.PreviousValue),
		NewValue:       firstOf(w.NewValue, w.CurrentValue),
		Plan:           string(w.Plan),
		Reason:         string(w.Reason),
		Team:           string(w.Team),
		EnterpriseTeam: string(w.EnterpriseTeam),
		OldLogin:       string(w.OldLogin),

		Raw: rec,
	}
	if ev.DocumentID == "" {
		ev.DocumentID, ev.DocumentIDDerived = derivedDocumentID(rec), true
	}
	if tr == TransitionPlanChanged {
		// copilot.plan_changed: old_plan/plan; copilot.plan_downgrade_scheduled:
		// current_plan/scheduled_plan. The generic before/after follows them.
		ev.OldPlan = firstOf(w.OldPlan, w.CurrentPlan)
		ev.NewPlan = firstOf(w.ScheduledPlan, w.Plan)
		if ev.OldValue == "" {
			ev.OldValue = ev.OldPlan
		}
		if ev.NewValue == "" {
			ev.NewValue = ev.NewPlan
		}
	}
	return ev, nil
}

// firstOf is the first non-empty of two spellings of a field.
func firstOf(a, b wireText) string {
	if a != "" {
		return string(a)
	}
	return string(b)
}

// seatActionCopy runs on the filter path only, for a record whose decoded
// action (the last copy) is not a Copilot one: it reports whether action
// appears more than once with some copy a seat or policy action (then the
// record is ambiguous, not filtered), filling tk. MaybeSeatEvent first
// keeps this as cheap as the filter was: without it no copy can be a
// Copilot action.
func seatActionCopy(rec []byte, tk *topKeys) bool {
	if !MaybeSeatEvent(rec) {
		return false
	}
	tk.collect = keyAction
	scanTopKeys(rec, tk)
	if tk.n[keyAction] < 2 {
		return false
	}
	for _, v := range tk.vals {
		if _, ok := Classify(stringValue(v)); ok {
			return true
		}
	}
	return false
}

// failed is the Event returned with an *InvalidError once the record has
// been decoded and scanned: Raw, and DocumentID when there is exactly one
// top-level _document_id and it is a string. The decoder stops at the first
// wrong-type field, so when that came before _document_id, the id is read
// from the scan.
func failed(rec []byte, w *wireEvent, tk *topKeys) Event {
	ev := Event{Raw: rec}
	if tk.n[keyDocumentID] == 1 {
		ev.DocumentID = w.DocumentID
		if ev.DocumentID == "" {
			ev.DocumentID = stringValue(tk.docID)
		}
	}
	return ev
}

// stringValue decodes a raw JSON string value; anything else is "".
func stringValue(v []byte) string {
	if len(v) < 2 || v[0] != '"' {
		return ""
	}
	if bytes.IndexByte(v, '\\') < 0 {
		return string(v[1 : len(v)-1])
	}
	var s string
	if stdjson.Unmarshal(v, &s) != nil {
		return ""
	}
	return s
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

// derivedDocumentID is the identity of an event without _document_id:
// "derived:" and the base64url (unpadded) first 16 bytes of the SHA-256 of
// the trimmed record, so that a redelivery of the same bytes collapses.
func derivedDocumentID(rec []byte) string {
	sum := sha256.Sum256(rec)
	return "derived:" + base64.RawURLEncoding.EncodeToString(sum[:16])
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

// malformed describes why rec is not JSON. It runs only for bad input, so
// it can afford the standard library's decoder, whose syntax errors carry
// the exact byte offset (the fast decoder's do not). The Event carries Raw
// and, best effort, the _document_id of an object whose top-level
// "_document_id" string ends before the syntax error (and is not repeated
// before the scan loses its way).
func malformed(rec []byte) (Event, error) {
	ev := Event{Raw: rec}
	err := stdjson.Unmarshal(rec, new(any))
	var se *stdjson.SyntaxError
	if !errors.As(err, &se) {
		if err == nil {
			return ev, &InvalidError{Reason: ReasonMalformedJSON}
		}
		return ev, &InvalidError{Reason: ReasonMalformedJSON, Detail: err.Error()}
	}
	if rec[0] == '{' {
		var tk topKeys
		scanTopKeys(rec, &tk)
		if tk.n[keyDocumentID] == 1 && int64(tk.docIDEnd) <= se.Offset {
			ev.DocumentID = stringValue(tk.docID)
		}
	}
	return ev, &InvalidError{Reason: ReasonMalformedJSON,
		Detail: fmt.Sprintf("%s (at byte offset %d)", se.Error(), se.Offset)}
}

func jsonTypeName(c byte) string {
	switch c {
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// trimSpace trims JSON whitespace (space, tab, CR, LF) from both ends.
func trimSpace(b []byte) []byte {
	i, j := 0, len(b)
	for i < j && (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t') {
		i++
	}
	for j > i && (b[j-1] == ' ' || b[j-1] == '\n' || b[j-1] == '\r' || b[j-1] == '\t') {
		j--
	}
	return b[i:j]
}
