package objsrc

import (
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/schollz/progressbar/v3"
)

// progress counts a source's work. A finite source (backfill, files)
// reports it as a progress bar on a terminal, or as a log line every
// interval otherwise; follow mode logs a line after a listing that found
// something.
type progress struct {
	kind     string
	w        io.Writer // bar output; nil: log lines
	interval time.Duration
	finite   bool
	t0       time.Time

	objectsTotal, bytesTotal, skipped atomic.Int64
	totalsKnown                       atomic.Bool
	objectsDone, damaged              atomic.Int64
	bytesRead, events                 atomic.Int64

	once     sync.Once
	stop     chan struct{}
	stopped  chan struct{}
	bar      *progressbar.ProgressBar
	lastLog  Progress
	finished bool
}

func newProgress(kind string, w io.Writer, interval time.Duration, finite bool) *progress {
	return &progress{kind: kind, w: w, interval: interval, finite: finite, t0: time.Now(),
		stop: make(chan struct{}), stopped: make(chan struct{})}
}

func (p *progress) snapshot() Progress {
	return Progress{
		ObjectsTotal: p.objectsTotal.Load(), ObjectsSkipped: p.skipped.Load(),
		ObjectsDone: p.objectsDone.Load(), ObjectsDamaged: p.damaged.Load(),
		BytesTotal: p.bytesTotal.Load(), BytesRead: p.bytesRead.Load(), Events: p.events.Load(),
	}
}

func (p *progress) objectDone(damaged bool) {
	p.objectsDone.Add(1)
	if damaged {
		p.damaged.Add(1)
	}
}

// setTotals is called by a finite source once it has listed everything; it
// starts the reporting.
func (p *progress) setTotals(log *slog.Logger, objects, bytes, skipped int64) {
	p.objectsTotal.Store(objects)
	p.bytesTotal.Store(bytes)
	p.skipped.Store(skipped)
	p.totalsKnown.Store(true)
	p.t0 = time.Now()
	log.Info(p.kind+" backfill: listed", "objects_to_read", objects, "bytes_to_read", bytes, "objects_already_done", skipped)
	p.once.Do(func() { go p.report(log, objects, bytes) })
}

// report draws the bar (a terminal) or logs a line every interval.
func (p *progress) report(log *slog.Logger, objects, bytes int64) {
	defer close(p.stopped)
	if objects == 0 {
		<-p.stop
		return
	}
	if p.w != nil {
		p.bar = progressbar.NewOptions64(bytes,
			progressbar.OptionSetWriter(p.w),
			progressbar.OptionShowBytes(true),
			progressbar.OptionShowTotalBytes(true),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionSetElapsedTime(true),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionSetWidth(24),
			progressbar.OptionShowDescriptionAtLineEnd(),
			progressbar.OptionSetDescription(p.describe()),
		)
	}
	every := p.interval
	if p.bar != nil {
		every = 200 * time.Millisecond
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			if p.bar != nil {
				p.bar.Describe(p.describe())
				_ = p.bar.Set64(min(p.bytesRead.Load(), bytes))
			} else {
				log.Info(p.kind+" backfill progress", p.attrs()...)
			}
		}
	}
}

func (p *progress) describe() string {
	return fmt.Sprintf("objects %d/%d · events %s", p.objectsDone.Load(), p.objectsTotal.Load(), human(p.events.Load()))
}

func (p *progress) attrs() []any {
	s := p.snapshot()
	elapsed := time.Since(p.t0)
	attrs := []any{
		"objects_done", s.ObjectsDone, "objects_total", s.ObjectsTotal, "objects_already_done", s.ObjectsSkipped,
		"bytes_read", s.BytesRead, "bytes_total", s.BytesTotal, "events", s.Events,
		"elapsed", elapsed.Round(time.Second).String(),
	}
	if s.ObjectsDamaged > 0 {
		attrs = append(attrs, "objects_damaged", s.ObjectsDamaged)
	}
	if s.BytesRead > 0 && s.BytesTotal > s.BytesRead {
		rate := float64(s.BytesRead) / elapsed.Seconds()
		eta := time.Duration(float64(s.BytesTotal-s.BytesRead) / rate * float64(time.Second))
		attrs = append(attrs, "eta", eta.Round(time.Second).String())
	}
	return attrs
}

// logFollow logs what follow mode did since the last line, if anything.
func (p *progress) logFollow(log *slog.Logger, startAfter string) {
	s := p.snapshot()
	if s.ObjectsDone == p.lastLog.ObjectsDone && s.Events == p.lastLog.Events {
		return
	}
	if time.Since(p.t0) < p.interval && p.lastLog.ObjectsDone > 0 {
		return
	}
	p.t0 = time.Now()
	log.Info(p.kind+" follow progress", "objects_done", s.ObjectsDone, "objects_damaged", s.ObjectsDamaged,
		"events", s.Events, "bytes_read", s.BytesRead, "listing_from", startAfter)
	p.lastLog = s
}

// finish stops reporting and prints the totals (Close calls it).
func (p *progress) finish(log *slog.Logger) {
	if p.finished {
		return
	}
	p.finished = true
	close(p.stop)
	if !p.totalsKnown.Load() {
		return
	}
	p.once.Do(func() { close(p.stopped) })
	<-p.stopped
	if p.bar != nil {
		p.bar.Describe(p.describe())
		_ = p.bar.Set64(min(p.bytesRead.Load(), p.bytesTotal.Load()))
		_ = p.bar.Finish()
		fmt.Fprintln(p.w)
	}
	s := p.snapshot()
	if !p.finite {
		return
	}
	msg := p.kind + " backfill finished"
	if s.ObjectsDone < s.ObjectsTotal {
		msg = p.kind + " backfill stopped before the end (a rerun resumes from the checkpoints)"
	}
	log.Info(msg, p.attrs()...)
}

func human(n int64) string {
	switch {
	case n >= 10_000_000:
		return strconv.FormatInt(n/1_000_000, 10) + "M"
	case n >= 10_000:
		return strconv.FormatInt(n/1_000, 10) + "k"
	}
	return strconv.FormatInt(n, 10)
}
