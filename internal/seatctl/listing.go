package seatctl

import (
	"context"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/seatline/seatline/internal/timeline"
)

// listing is a query whose rows a command prints: the view it reads (named
// in errors), the output columns, and how one row becomes their cells.
type listing struct {
	view string
	q    Stmt
	cols []column
	scan func(driver.Rows) ([]string, error)
	// total, if set, is one more row after the others when there were
	// any (seats --summary's totals), written once every row has been read.
	total func() []string
}

// resolveFormat defaults the output format and checks it.
func resolveFormat(e *env, f string) (string, error) {
	if f == "" {
		f = defaultFormat(e.stdout)
	}
	return f, checkFormat(f)
}

// connectListing resolves a listing's --format (resolveFormat), then
// connects: a bad format is found before any connection.
func connectListing(ctx context.Context, e *env, cfg timeline.Config, format *string) (*timeline.Store, error) {
	var err error
	if *format, err = resolveFormat(e, *format); err != nil {
		return nil, err
	}
	return connect(ctx, cfg, e.stderr)
}

// render runs l's query and writes its rows in format (output.go: the
// table's escaping, the csv cell guard). It returns how many rows there
// were. Nothing reaches stdout when the query fails.
func render(ctx context.Context, e *env, store *timeline.Store, l listing, format string) (int, error) {
	out, err := newRowWriter(e.stdout, format, l.cols)
	if err != nil {
		return 0, err
	}
	n, err := eachRow(ctx, store, l.view, l.q, func(rows driver.Rows) error {
		cells, err := l.scan(rows)
		if err != nil {
			return err
		}
		return out.Row(cells)
	})
	if err != nil {
		return n, err
	}
	if l.total != nil && n > 0 {
		if err := out.Row(l.total()); err != nil {
			return n, err
		}
	}
	return n, out.Close()
}

// eachRow runs q and calls fn for every row: the one query loop of
// seatctl's listings and of History. It returns how many rows there were;
// a failed query or cursor is a queryError naming view.
func eachRow(ctx context.Context, store *timeline.Store, view string, q Stmt, fn func(driver.Rows) error) (int, error) {
	rows, err := store.Conn().Query(ctx, q.SQL, q.Args()...)
	if err != nil {
		return 0, queryError(store, view, err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		n++
		if err := fn(rows); err != nil {
			return n, err
		}
	}
	if err := rows.Err(); err != nil {
		return n, queryError(store, view, err)
	}
	return n, nil
}
