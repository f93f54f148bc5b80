package ingest

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Metrics are the pipeline's Prometheus series. seatline_clickhouse_up and
// seatline_clickhouse_errors_total are the store's (timeline.Health).
type Metrics struct {
	Messages     prometheus.Counter     // messages read from the source
	Filtered     prometheus.Counter     // records that are not Copilot seat/policy events
	Rows         prometheus.Counter     // timeline rows acknowledged by ClickHouse
	Members      prometheus.Counter     // membership changes acknowledged by ClickHouse
	DeadLetters  *prometheus.CounterVec // by reason code
	BatchSeconds prometheus.Histogram   // ClickHouse write latency per batch, retries included
	WriteErrors  prometheus.Counter     // failed batch write attempts (every failed call: seatline_clickhouse_errors_total)
	Lag          prometheus.Gauge       // messages behind the end of the source (Kafka: sum over partitions)
	Committed    prometheus.Counter     // source commits done
	Enrichment   *prometheus.CounterVec // inline seat lookups by outcome: enriched, pending, failed
	Conflicts    prometheus.Counter     // copies of a known _document_id with other content (dead-lettered)
}

// NewMetrics registers the series on reg (nil: not registered anywhere).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg) // nil: registered nowhere
	m := &Metrics{
		Messages: f.NewCounter(prometheus.CounterOpts{Name: "seatline_ingest_messages_total",
			Help: "Messages read from the source."}),
		Filtered: f.NewCounter(prometheus.CounterOpts{Name: "seatline_ingest_filtered_total",
			Help: "Records skipped because they are not Copilot seat or policy events."}),
		Rows: f.NewCounter(prometheus.CounterOpts{Name: "seatline_ingest_rows_written_total",
			Help: "Timeline rows acknowledged by ClickHouse."}),
		Members: f.NewCounter(prometheus.CounterOpts{Name: "seatline_ingest_membership_rows_written_total",
			Help: "Membership changes (team, org, enterprise, deprovisioning) acknowledged by ClickHouse: the seat lifecycle's context."}),
		DeadLetters: f.NewCounterVec(prometheus.CounterOpts{Name: "seatline_ingest_dead_letters_total",
			Help: "Records written to ingest_errors, by reason."}, []string{"reason"}),
		BatchSeconds: f.NewHistogram(prometheus.HistogramOpts{Name: "seatline_ingest_batch_write_seconds",
			Help: "Time to get one batch acknowledged by ClickHouse, retries included.", Buckets: prometheus.ExponentialBuckets(0.005, 2, 14)}),
		WriteErrors: f.NewCounter(prometheus.CounterOpts{Name: "seatline_ingest_write_errors_total",
			Help: "Failed attempts to write a batch to ClickHouse (each is retried). Every failed ClickHouse call, checkpoints included, is in seatline_clickhouse_errors_total."}),
		Lag: f.NewGauge(prometheus.GaugeOpts{Name: "seatline_ingest_lag_messages",
			Help: "Messages between the consumer's position and the end of the source."}),
		Committed: f.NewCounter(prometheus.CounterOpts{Name: "seatline_ingest_commits_total",
			Help: "Source positions committed after ClickHouse acknowledged their rows."}),
		Enrichment: f.NewCounterVec(prometheus.CounterOpts{Name: "seatline_ingest_enrichment_total",
			Help: "Timeline rows by the outcome of their inline seat lookup."}, []string{"outcome"}),
		Conflicts: f.NewCounter(prometheus.CounterOpts{Name: "seatline_ingest_document_conflicts_total",
			Help: "Copies of a known _document_id that say something else than the first stored (corruption or forgery): dead-lettered as conflicting_copy, the first kept."}),
	}
	return m
}
