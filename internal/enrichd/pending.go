package enrichd

import (
	"context"
	"fmt"
	"time"

	"github.com/seatline/seatline/internal/timeline"
	"github.com/seatline/seatline/pkg/events"
	"github.com/seatline/seatline/pkg/ghclient"
)

// CompletePending looks up seats for rows that ingest left pending (and,
// every RetryFailedEvery passes, rows marked failed), writing a
// superseding version of each row it processed. It works in rounds of
// PendingBatch rows until none are left, a round makes no progress (GitHub
// down or its budget spent), or ctx ends. When GitHub refused the
// credentials or could not answer for any row, it returns that error
// (ghclient.CredentialsRefused, ghclient.Unavailable) once it stops; a
// round with no progress for another reason returns errNoProgress.
func (w *Worker) CompletePending(ctx context.Context) error {
	w.passes++
	states := "'pending'"
	if w.passes%w.cfg.RetryFailedEvery == 0 || w.cfg.Once {
		states = "'pending', 'failed'"
	}
	done := map[string]bool{} // rows already tried this pass: next rounds take others
	var github error          // GitHub's failure that left rows pending this pass
	left := 0
	gave := func() error {
		return fmt.Errorf("%d rows left pending: %w", left, github)
	}
	for ctx.Err() == nil {
		rows, err := w.loadPending(ctx, states, done)
		if err != nil {
			return err
		}
		if len(rows) == 0 {
			if github != nil {
				return gave()
			}
			return nil
		}
		st := w.enricher.Enrich(ctx, rows)
		w.metrics.rows.WithLabelValues("enriched").Add(float64(st.Enriched))
		w.metrics.rows.WithLabelValues("pending").Add(float64(st.StillPending))
		w.metrics.rows.WithLabelValues("failed").Add(float64(st.Failed))
		w.metrics.remaining.Set(float64(w.gh.Budget().Remaining))
		if err := w.store.Write(ctx, rows, nil); err != nil {
			return err
		}
		w.log.Info("completed pending rows", "rows", len(rows), "enriched", st.Enriched, "still_pending", st.StillPending, "failed", st.Failed)
		if ghclient.CredentialsRefused(st.Err) || ghclient.Unavailable(st.Err) {
			if github == nil || ghclient.CredentialsRefused(st.Err) {
				github = st.Err
			}
			left += st.StillPending + st.Failed
		}
		if st.Enriched == 0 {
			if github != nil {
				return gave()
			}
			if st.Err != nil {
				return fmt.Errorf("%w: %w", errNoProgress, st.Err)
			}
			return errNoProgress
		}
	}
	return ctx.Err()
}

// loadPending reads the rows to complete, oldest first, rebuilding each
// from its raw event (which holds every typed column, PII already applied).
func (w *Worker) loadPending(ctx context.Context, states string, skip map[string]bool) ([]timeline.Row, error) {
	q := fmt.Sprintf(`SELECT document_id, raw, source, source_position, ingested_at, enrichment_attempts, toString(enrichment)
		FROM seat_timeline WHERE enrichment IN (%s) ORDER BY event_ms LIMIT %d`, states, w.cfg.PendingBatch+len(skip))
	rs, err := w.store.Conn().Query(ctx, q)
	if err != nil {
		return nil, timeline.Explain(w.store.Config(), err)
	}
	defer rs.Close()
	var rows []timeline.Row
	for rs.Next() {
		var id, raw, src, pos, state string
		var ingested time.Time
		var attempts uint8
		if err := rs.Scan(&id, &raw, &src, &pos, &ingested, &attempts, &state); err != nil {
			return nil, err
		}
		if skip[id] {
			continue
		}
		skip[id] = true
		ev, err := events.Parse([]byte(raw))
		if err != nil {
			w.log.Warn("stored event no longer parses; leaving it pending", "document_id", id, "err", err)
			continue
		}
		r := timeline.Row{Event: ev, Source: src, SourcePosition: pos, IngestedAt: ingested, Attempts: attempts, Enrichment: timeline.EnrichmentPending}
		if state == "failed" {
			r.Enrichment = timeline.EnrichmentFailed
		}
		rows = append(rows, r)
	}
	return rows, rs.Err()
}
