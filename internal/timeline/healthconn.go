package timeline

import (
	"context"
	"errors"
	"sync"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// healthConn is the Store's connection: every call reports its outcome to
// the Store's Health, whoever makes it (the Store's own methods, or callers
// of Conn()). Methods not listed here (ServerVersion, Stats, Close) make no
// call to the server worth reporting, and are forwarded as they are.
type healthConn struct {
	driver.Conn
	cfg Config
	h   *Health
}

// report tells the health how a call went. A call whose caller gave up
// (its context cancelled) says nothing about ClickHouse.
func (c *healthConn) report(ctx context.Context, op Op, err error) {
	if err != nil && errors.Is(ctx.Err(), context.Canceled) {
		return
	}
	c.h.Report(op, Explain(c.cfg, err))
}

func (c *healthConn) Select(ctx context.Context, dest any, query string, args ...any) error {
	err := c.Conn.Select(ctx, dest, query, args...)
	c.report(ctx, OpRead, err)
	return err
}

func (c *healthConn) Query(ctx context.Context, query string, args ...any) (driver.Rows, error) {
	rows, err := c.Conn.Query(ctx, query, args...)
	c.report(ctx, OpRead, err)
	if err != nil {
		return rows, err
	}
	return &healthRows{Rows: rows, ctx: ctx, c: c}, nil
}

// QueryRow reports the query's own error; an error while reading its row
// comes with Scan, mixed with conversion errors that are not ClickHouse's,
// and is not reported.
func (c *healthConn) QueryRow(ctx context.Context, query string, args ...any) driver.Row {
	row := c.Conn.QueryRow(ctx, query, args...)
	c.report(ctx, OpRead, row.Err())
	return row
}

func (c *healthConn) Exec(ctx context.Context, query string, args ...any) error {
	err := c.Conn.Exec(ctx, query, args...)
	c.report(ctx, OpWrite, err)
	return err
}

// PrepareBatch reports a failure to start the insert; its success is
// reported when the batch is sent.
func (c *healthConn) PrepareBatch(ctx context.Context, query string, opts ...driver.PrepareBatchOption) (driver.Batch, error) {
	b, err := c.Conn.PrepareBatch(ctx, query, opts...)
	if err != nil {
		c.report(ctx, OpWrite, err)
		return b, err
	}
	return &healthBatch{Batch: b, ctx: ctx, c: c}, nil
}

func (c *healthConn) AsyncInsert(ctx context.Context, query string, wait bool, args ...any) error {
	err := c.Conn.AsyncInsert(ctx, query, wait, args...) //nolint:staticcheck // forwarded for completeness
	c.report(ctx, OpWrite, err)
	return err
}

func (c *healthConn) Ping(ctx context.Context) error {
	err := c.Conn.Ping(ctx)
	c.report(ctx, OpRead, err)
	return err
}

// healthRows reports an error met while the rows stream in (once).
type healthRows struct {
	driver.Rows
	ctx  context.Context
	c    *healthConn
	once sync.Once
}

func (r *healthRows) Err() error {
	err := r.Rows.Err()
	if err != nil {
		r.once.Do(func() { r.c.report(r.ctx, OpRead, err) })
	}
	return err
}

// healthBatch reports the insert's outcome when it is sent.
type healthBatch struct {
	driver.Batch
	ctx context.Context
	c   *healthConn
}

func (b *healthBatch) Send() error {
	err := b.Batch.Send()
	b.c.report(b.ctx, OpWrite, err)
	return err
}
