package timeline

import (
	"context"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/ext"
	chcolumn "github.com/ClickHouse/clickhouse-go/v2/lib/column"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/seatline/seatline/pkg/events"
)

// Document is the first stored version of a _document_id (the documents
// table): what the ingest pipeline compares a later copy with.
type Document struct {
	ID             string
	ContentHash    uint64 // events.Event.ContentHash; 0 when stored before the documents table existed
	Action         string
	EventMs        uint64
	Business       string
	Org            string
	User           string
	Actor          string
	Team           string
	EnterpriseTeam string
	Source         string
	Position       string
}

// DocumentOf describes ev as read at source/position.
func DocumentOf(ev *events.Event, source, position string) Document {
	return Document{ID: ev.DocumentID, ContentHash: ev.ContentHash(), Action: ev.Action, EventMs: uint64(ev.Timestamp.UnixMilli()),
		Business: ev.Business, Org: ev.Org, User: ev.User, Actor: ev.Actor, Team: ev.Team, EnterpriseTeam: ev.EnterpriseTeam,
		Source: source, Position: position}
}

// Same reports whether d and o say the same: their content hashes when
// both have one, else the columns the documents table keeps.
func (d Document) Same(o Document) bool {
	if d.ContentHash != 0 && o.ContentHash != 0 {
		return d.ContentHash == o.ContentHash
	}
	return len(d.Differences(o)) == 0
}

// Differences names the kept columns in which o differs from d, each as
// `field "d's" → "o's"` (quoted, so control characters show).
func (d Document) Differences(o Document) []string {
	var out []string
	for _, f := range [...]struct{ name, a, b string }{
		{"action", d.Action, o.Action},
		{"time", msTime(d.EventMs), msTime(o.EventMs)},
		{"business", d.Business, o.Business},
		{"org", d.Org, o.Org},
		{"user", d.User, o.User},
		{"actor", d.Actor, o.Actor},
		{"team", d.Team, o.Team},
		{"enterprise_team", d.EnterpriseTeam, o.EnterpriseTeam},
	} {
		if f.a != f.b {
			out = append(out, fmt.Sprintf("%s %q → %q", f.name, f.a, f.b))
		}
	}
	return out
}

func msTime(ms uint64) string {
	return time.UnixMilli(int64(ms)).UTC().Format("2006-01-02T15:04:05.000Z")
}

// documentTable is the documents insert and lookup (id_hash is the
// table's default).
var documentTable = newTable("documents",
	field("document_id", func(d *Document) *string { return &d.ID }),
	field("content_hash", func(d *Document) *uint64 { return &d.ContentHash }),
	field("action", func(d *Document) *string { return &d.Action }),
	field("event_ms", func(d *Document) *uint64 { return &d.EventMs }),
	field("business", func(d *Document) *string { return &d.Business }),
	field("org", func(d *Document) *string { return &d.Org }),
	field("user", func(d *Document) *string { return &d.User }),
	field("actor", func(d *Document) *string { return &d.Actor }),
	field("team", func(d *Document) *string { return &d.Team }),
	field("enterprise_team", func(d *Document) *string { return &d.EnterpriseTeam }),
	field("source", func(d *Document) *string { return &d.Source }),
	field("source_position", func(d *Document) *string { return &d.Position }),
)

// ExternalTable is a one-column table sent with a query (in binary, not as
// a literal list ClickHouse would parse).
type ExternalTable struct{ Name, Column, Type string }

func (t ExternalTable) new() (*ext.Table, error) {
	return ext.NewTable(t.Name, ext.Column(t.Column, chcolumn.Type(t.Type)))
}

// The external tables of a documents lookup.
var (
	batchIDs    = ExternalTable{"seatline_batch_ids", "id", "String"}         // the batch's ids
	foundHashes = ExternalTable{"seatline_found_hashes", "id_hash", "UInt64"} // those of them known
)

// DocumentLookupTables are the external tables Documents sends its ids
// and their known hashes in, for a test lane that replays its captured
// queries on tables of the same names and columns.
func DocumentLookupTables() (ids, hashes ExternalTable) { return batchIDs, foundHashes }

// The lookup is two queries. The first reads only the key column of the
// granules the ids' hashes fall in and answers which are known: usually
// none (new events), and then that is all. The second reads the other
// columns of those granules only. One query reading every column for all
// of a batch's ids took 5x as long at millions of documents.
var (
	selectKnownHashes = `SELECT DISTINCT id_hash
FROM documents
WHERE id_hash IN (SELECT cityHash64(` + batchIDs.Column + `) FROM ` + batchIDs.Name + `)`
	selectDocuments = "SELECT " + documentTable.columns() + `
FROM documents
WHERE id_hash IN ` + foundHashes.Name + ` AND document_id IN ` + batchIDs.Name
)

// Documents returns the stored first version of each of ids that has one.
func (s *Store) Documents(ctx context.Context, ids []string) (map[string]Document, error) {
	out := make(map[string]Document)
	if len(ids) == 0 {
		return out, nil
	}
	idTable, err := batchIDs.new()
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		if err := idTable.Append(id); err != nil {
			return nil, err
		}
	}
	fail := func(err error) error {
		return Explain(s.cfg, fmt.Errorf("looking up %d document ids: %w", len(ids), err))
	}
	hashes, err := s.conn.Query(clickhouse.Context(ctx, clickhouse.WithExternalTable(idTable)), selectKnownHashes)
	if err != nil {
		return nil, fail(err)
	}
	hashTable, err := foundHashes.new()
	if err != nil {
		hashes.Close()
		return nil, err
	}
	found := 0
	for hashes.Next() {
		var h uint64
		if err := hashes.Scan(&h); err != nil {
			hashes.Close()
			return nil, err
		}
		if err := hashTable.Append(h); err != nil {
			hashes.Close()
			return nil, err
		}
		found++
	}
	hashes.Close()
	if err := hashes.Err(); err != nil {
		return nil, fail(err)
	}
	if found == 0 {
		return out, nil
	}
	rows, err := s.conn.Query(clickhouse.Context(ctx, clickhouse.WithExternalTable(idTable, hashTable)), selectDocuments)
	if err != nil {
		return nil, fail(err)
	}
	defer rows.Close()
	for rows.Next() {
		var d Document
		if err := rows.Scan(documentTable.scan(&d)...); err != nil {
			return nil, err
		}
		// Rows stored before content hashes (0) and a later copy of the same
		// content may both be there until a merge: keep the one with a hash.
		if prev, ok := out[d.ID]; !ok || prev.ContentHash == 0 {
			out[d.ID] = d
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fail(err)
	}
	return out, nil
}

// writeDocuments stores the first versions a batch claims (Batch.Claims).
func (s *Store) writeDocuments(ctx context.Context, docs []Document) error {
	if len(docs) == 0 {
		return nil
	}
	return s.send(ctx, documentTable.insert, func(b driver.Batch) error { return documentTable.appendTo(b, docs) })
}
