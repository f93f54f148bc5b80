package enrichd

import (
	"context"
	"time"

	"github.com/seatline/seatline/internal/lifecycle"
)

// ingestSlack: rows carry the time their batch started (ingested_at), which
// can be this long before the batch is visible; a pass looks back by it so
// a batch written while the previous pass ran is not missed.
const ingestSlack = 5 * time.Minute

// DerivePeriods brings seat_periods up to date for every business with
// events ingested since since (all of them when zero) and returns where the
// next pass should start.
func (w *Worker) DerivePeriods(ctx context.Context, since time.Time) (time.Time, error) {
	started := w.now()
	st, err := lifecycle.Update(ctx, w.store, since, w.now)
	if err != nil {
		return since, err
	}
	w.metrics.periods.WithLabelValues("written").Add(float64(st.Written))
	w.metrics.periods.WithLabelValues("removed").Add(float64(st.Removed))
	if st.Written+st.Removed > 0 {
		w.log.Info("seat periods derived", "businesses", st.Businesses, "events", st.Events, "periods", st.Periods,
			"written", st.Written, "removed", st.Removed)
	}
	return started.Add(-ingestSlack), nil
}
