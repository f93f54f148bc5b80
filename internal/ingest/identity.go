package ingest

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/seatline/seatline/internal/timeline"
)

// ReasonConflictingCopy is the dead-letter code of a copy of a known
// _document_id that says something else than the copy stored first.
const ReasonConflictingCopy = "conflicting_copy"

// Documents looks up the first stored version of ids (*timeline.Store).
type Documents interface {
	Documents(ctx context.Context, ids []string) (map[string]timeline.Document, error)
}

// identity keeps one story per _document_id. GitHub's ids are unique and
// redelivery repeats an event byte for byte, so a second copy that says
// something else (another user, org, time or action) is corruption or
// forgery: it becomes a dead letter naming both versions, never a second
// timeline row (the tables' keys hold user, org and time) nor a silent
// replacement of the first (a same-key copy would replace it).
//
// Batches are checked in the order they were read, each before it is
// written, against what ClickHouse has stored and what the batches still
// being written claim: a copy in the next batch meets its first version
// even before that version's write is acknowledged.
type identity struct {
	store    Documents
	mu       sync.Mutex
	inflight map[string]timeline.Document // claimed by batches being written
}

func newIdentity(store Documents) *identity {
	return &identity{store: store, inflight: make(map[string]timeline.Document)}
}

// check moves b's conflicting copies to its dead letters and sets
// b.claims: the first versions b stores. It changes nothing when the
// lookup fails (the caller retries it).
func (id *identity) check(ctx context.Context, b *batch, deadLetter func(b *batch, pos string, raw []byte, docID, reason string)) error {
	ids := make([]string, 0, len(b.rows)+len(b.members))
	for i := range b.rows {
		if e := &b.rows[i].Event; !e.DocumentIDDerived {
			ids = append(ids, e.DocumentID)
		}
	}
	for i := range b.members {
		if e := &b.members[i].Event; !e.DocumentIDDerived {
			ids = append(ids, e.DocumentID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	id.mu.Lock()
	known := make(map[string]timeline.Document, len(ids))
	var ask []string
	for _, d := range ids {
		if doc, ok := id.inflight[d]; ok {
			known[d] = doc
		} else {
			ask = append(ask, d)
		}
	}
	id.mu.Unlock()
	stored, err := id.store.Documents(ctx, ask)
	if err != nil {
		return err
	}
	for d, doc := range stored {
		known[d] = doc
	}

	var claims []timeline.Document
	keep := func(doc timeline.Document, derived bool, pos string, raw []byte) bool {
		if derived {
			return true // the id is a hash of the bytes: it names its content
		}
		first, ok := known[doc.ID]
		if !ok {
			known[doc.ID] = doc
			claims = append(claims, doc)
			return true
		}
		if first.Same(doc) {
			return true // a redelivery: stored once, by the tables' keys
		}
		deadLetter(b, pos, raw, doc.ID, conflictReason(first, doc))
		return false
	}
	rows := b.rows[:0]
	for _, r := range b.rows {
		if keep(timeline.DocumentOf(&r.Event, r.Source, r.SourcePosition), r.Event.DocumentIDDerived, r.SourcePosition, r.Event.Raw) {
			rows = append(rows, r)
		}
	}
	clear(b.rows[len(rows):]) // drop the references the moved rows held
	b.rows = rows
	members := b.members[:0]
	for _, m := range b.members {
		if keep(timeline.DocumentOf(&m.Event, m.Source, m.SourcePosition), m.Event.DocumentIDDerived, m.SourcePosition, m.Event.Raw) {
			members = append(members, m)
		}
	}
	clear(b.members[len(members):])
	b.members = members

	b.claims = claims
	id.mu.Lock()
	for _, c := range claims {
		id.inflight[c.ID] = c
	}
	id.mu.Unlock()
	return nil
}

// written forgets b's claims once ClickHouse holds them.
func (id *identity) written(b *batch) {
	id.mu.Lock()
	for _, c := range b.claims {
		delete(id.inflight, c.ID)
	}
	id.mu.Unlock()
}

func conflictReason(first, copy timeline.Document) string {
	what := "fields outside the timeline's columns (request_id, plan, values, token, …)"
	if diff := first.Differences(copy); len(diff) > 0 {
		what = strings.Join(diff, ", ")
	}
	return fmt.Sprintf("conflicting copy of _document_id %q: first stored from %s %s, this copy differs in %s; the first is kept (GitHub's ids are unique: check the source for corruption or forged events)",
		copy.ID, first.Source, first.Position, what)
}
