package timeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/prometheus/client_golang/prometheus"
)

// Op is the kind of a ClickHouse call, for Health.
type Op int

const (
	// OpRead: a query, a checkpoint read, a ping.
	OpRead Op = iota
	// OpWrite: an insert (rows, dead letters, checkpoints, periods), DDL.
	OpWrite
)

func (o Op) String() string {
	if o == OpWrite {
		return "write"
	}
	return "read"
}

// Health is what one process knows of ClickHouse from its own calls. Every
// call a Store makes reports its outcome here (healthconn.go), whoever made
// it: the pipeline's batch writes, the object sources' checkpoint reads and
// writes, the enrich worker's queries, Watch's pings. /readyz,
// seatline_clickhouse_up and the log lines of an outage all read it, so an
// outage looks the same whichever source is running.
//
// ClickHouse is down from the first failed call until it answers again:
//   - a call that got no answer (refused connection, reset, timeout) is
//     cleared by any later success, the pings included;
//   - a call the server refused (an exception) is cleared only by a success
//     of the same kind: a server that answers queries but refuses inserts
//     keeps the process unready, and a ping does not hide it;
//   - once nothing is failing, it is up after a second of answers with no
//     failure (recoverSettle), so a server half-way through shutting down
//     does not make the state flap.
type Health struct {
	now func() time.Time

	mu          sync.Mutex
	unreachable error     // the last call got no answer
	refused     [2]error  // by Op: the server refused the last call of that kind
	down        bool      // unreachable or refused
	cause       error     // what made it go down, for the log and /readyz
	since       time.Time // when it went down
	failed      int       // failed calls since
	okSince     time.Time // down, nothing failing: the first success since the last failure
	log         *slog.Logger
	hint        string // what the process does meanwhile (Watch)

	up       atomic.Bool
	lastCall atomic.Int64 // Unix ns of the last report: Watch pings an idle process
	failures [2]atomic.Uint64
}

// NewHealth is the health of a process that has not seen ClickHouse fail.
// Give it to Open (WithHealth); it logs nothing until Watch starts.
func NewHealth() *Health {
	h := &Health{now: time.Now}
	h.up.Store(true)
	return h
}

// Up reports whether ClickHouse answers this process's calls.
func (h *Health) Up() bool { return h.up.Load() }

// Err is why ClickHouse is down (nil while up).
func (h *Health) Err() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.down {
		return nil
	}
	return h.cause
}

// Failures counts the failed calls of kind op since the process started.
func (h *Health) Failures(op Op) uint64 { return h.failures[op].Load() }

// Report records the outcome of one ClickHouse call. err should be
// Explain's: it is what the log line and /readyz show.
func (h *Health) Report(op Op, err error) {
	now := h.now()
	h.lastCall.Store(now.UnixNano())
	if err == nil && h.up.Load() {
		return // the usual case: up, and nothing to clear
	}
	if err != nil {
		h.failures[op].Add(1)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case err == nil:
		h.unreachable, h.refused[op] = nil, nil
	case refusedByServer(err):
		h.refused[op] = err
	default:
		h.unreachable = err
	}
	if err != nil {
		h.okSince = time.Time{}
	}
	cause := err
	for _, e := range []error{h.unreachable, h.refused[OpWrite], h.refused[OpRead]} {
		if cause == nil {
			cause = e
		}
	}
	switch {
	case cause != nil && !h.down:
		h.down, h.cause, h.since, h.failed = true, cause, now, 1
		h.up.Store(false)
		if h.log != nil {
			h.log.Warn("ClickHouse is failing: "+h.hint, "op", op.String(), "err", err, "what_to_do", whatToDo(err))
		}
	case cause != nil:
		h.cause = cause // still down: the newest failure says most about why (for /readyz)
		if err != nil {
			h.failed++
		}
	case h.down:
		// Nothing is failing now; up once ClickHouse has answered for
		// recoverSettle with no failure in between: a server shutting down
		// still answers a ping between queries it drops, and that is no
		// recovery to announce.
		if h.okSince.IsZero() {
			h.okSince = now
		}
		if now.Sub(h.okSince) < recoverSettle {
			return
		}
		h.down = false
		h.up.Store(true)
		if h.log != nil {
			h.log.Info("ClickHouse is answering again", "down_for", now.Sub(h.since).Round(time.Millisecond).String(),
				"failed_calls", h.failed)
		}
		h.cause, h.failed, h.okSince = nil, 0, time.Time{}
	}
}

// recoverSettle: how long ClickHouse must answer without a failure before
// an outage counts as over (Watch pings every second meanwhile).
const recoverSettle = time.Second

// refusedByServer: ClickHouse answered with an exception (it is reachable).
func refusedByServer(err error) bool {
	var ex *clickhouse.Exception
	return errors.As(err, &ex)
}

func whatToDo(err error) string {
	if refusedByServer(err) {
		return "ClickHouse answered with an error: fix its cause on the server (see the error and the server's log); calls are retried meanwhile"
	}
	return "check that clickhouse-server is running and reachable at --clickhouse-addr; calls are retried meanwhile"
}

// Watch keeps the health current and logs each change of state (a WARN
// when ClickHouse starts failing, with the error, what to do and hint:
// what the process does meanwhile; an INFO when it answers again, with how
// long it was down) until ctx ends or the returned stop is called. Before
// Watch, a failure is the start-up's error, not an outage, and is not
// logged. While ClickHouse is down, Watch pings it every second, so
// recovery shows at once, not at a caller's next retry; while up, it pings
// when no call was made for 2 s, so an idle process still notices an outage.
func (h *Health) Watch(ctx context.Context, ping func(context.Context) error, log *slog.Logger, hint string) (stop func()) {
	h.mu.Lock()
	h.log, h.hint = log, hint
	h.mu.Unlock()
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(watchDown)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			idle := h.now().Sub(time.Unix(0, h.lastCall.Load()))
			if h.Up() && idle < watchIdle {
				continue
			}
			pctx, pcancel := context.WithTimeout(ctx, pingTimeout)
			_ = ping(pctx) // reported by the store's connection
			pcancel()
		}
	}()
	return func() { cancel(); <-done }
}

// watchDown: how often Watch pings while ClickHouse is down; watchIdle:
// how long a process may make no call before Watch pings; pingTimeout:
// how long a ping may wait (an answer later than that is a failure).
const (
	watchDown   = time.Second
	watchIdle   = 2 * time.Second
	pingTimeout = 5 * time.Second
)

// ServeHTTP answers /readyz: 200 while ClickHouse answers this process,
// 503 with the reason while it does not.
func (h *Health) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	if err := h.Err(); err != nil {
		http.Error(w, fmt.Sprintf("not ready: ClickHouse is failing: %v", err), http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ready")
}

// Register adds seatline_clickhouse_up and
// seatline_clickhouse_errors_total{operation} to reg.
func (h *Health) Register(reg prometheus.Registerer) {
	reg.MustRegister(healthCollector{h})
}

var (
	upDesc = prometheus.NewDesc("seatline_clickhouse_up",
		"1 while ClickHouse answers this process's calls (reads and writes), 0 from the first failed call until it answers again.", nil, nil)
	errorsDesc = prometheus.NewDesc("seatline_clickhouse_errors_total",
		"ClickHouse calls that failed, by operation: read (queries, checkpoint reads, pings) or write (inserts, DDL).", []string{"operation"}, nil)
)

type healthCollector struct{ h *Health }

func (c healthCollector) Describe(ch chan<- *prometheus.Desc) { ch <- upDesc; ch <- errorsDesc }

func (c healthCollector) Collect(ch chan<- prometheus.Metric) {
	up := 0.0
	if c.h.Up() {
		up = 1
	}
	ch <- prometheus.MustNewConstMetric(upDesc, prometheus.GaugeValue, up)
	for _, op := range []Op{OpRead, OpWrite} {
		ch <- prometheus.MustNewConstMetric(errorsDesc, prometheus.CounterValue, float64(c.h.Failures(op)), op.String())
	}
}
