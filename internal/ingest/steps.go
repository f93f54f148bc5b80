package ingest

import (
	"context"

	"github.com/seatline/seatline/internal/enrich"
	"github.com/seatline/seatline/internal/timeline"
)

// Enricher completes the seat details of rows within its own budget
// (*enrich.Enricher); rows it cannot complete stay pending for cmd/enrich.
type Enricher interface {
	Enrich(ctx context.Context, rows []timeline.Row) enrich.Stats
}

// EnrichStep is inline enrichment as a pipeline step; it counts outcomes
// in m.
func EnrichStep(e Enricher, m *Metrics) Step { return enrichStep{e, m} }

type enrichStep struct {
	e Enricher
	m *Metrics
}

func (enrichStep) Name() string { return "enrich" }

func (s enrichStep) Apply(ctx context.Context, rows []timeline.Row) {
	st := s.e.Enrich(ctx, rows)
	s.m.Enrichment.WithLabelValues("enriched").Add(float64(st.Enriched))
	s.m.Enrichment.WithLabelValues("pending").Add(float64(st.StillPending))
	s.m.Enrichment.WithLabelValues("failed").Add(float64(st.Failed))
}
