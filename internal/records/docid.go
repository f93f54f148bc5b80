package records

import (
	"unicode/utf8"

	"github.com/segmentio/encoding/json"
)

// peekDocumentID reads a top-level "_document_id" string from the start
// of a record that is a dead letter (oversize, unreadable, too deep), so
// the dead letter can name the event. Best effort: it stops at the first
// thing that is not JSON.
func peekDocumentID(rec []byte) string {
	t := json.NewTokenizer(rec)
	for t.Next() {
		if !t.IsKey || t.Depth != 1 || string(t.String()) != "_document_id" {
			continue
		}
		if !t.Next() || t.Delim != ':' || !t.Next() || !t.Value.String() {
			return ""
		}
		id := t.String()
		if !utf8.Valid(id) || len(id) > 256 {
			return ""
		}
		return string(id)
	}
	return ""
}
