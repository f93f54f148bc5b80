package enrichd

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/seatline/seatline/internal/enrich"
	"github.com/seatline/seatline/internal/lifecycle"
	"github.com/seatline/seatline/internal/timeline"
	"github.com/seatline/seatline/pkg/ghclient"
)

// SnapshotAndReconcile polls the seat list of every configured org (or
// every org in the timeline) and enterprise into seat_snapshots, then
// compares each org's list with the timeline's seat_state and records the
// differences in seat_drift.
func (w *Worker) SnapshotAndReconcile(ctx context.Context) error {
	orgs := w.cfg.Orgs
	if len(orgs) == 0 {
		var err error
		if orgs, err = w.timelineOrgs(ctx); err != nil {
			return err
		}
	}
	var firstErr error
	for _, org := range orgs {
		seats, err := w.snapshot(ctx, "org", org, func(fn func(ghclient.Seat) error) (int, error) { return w.gh.OrgSeats(ctx, org, fn) })
		if err != nil {
			if everyListFails(err) {
				return errors.Join(firstErr, fmt.Errorf("org %s seat list (the other seat lists were not asked for this pass): %w", org, err))
			}
			w.log.Warn("org seat list failed", "org", org, "err", err)
			firstErr = keep(firstErr, err)
			continue
		}
		if err := w.reconcile(ctx, org, lifecycle.ScopeOrg, org, seats); err != nil {
			firstErr = keep(firstErr, err)
		}
	}
	for _, ent := range w.cfg.Enterprises {
		seats, err := w.snapshot(ctx, "enterprise", ent, func(fn func(ghclient.Seat) error) (int, error) { return w.gh.EnterpriseSeats(ctx, ent, fn) })
		if err != nil {
			if everyListFails(err) {
				return errors.Join(firstErr, fmt.Errorf("enterprise %s seat list (the other seat lists were not asked for this pass): %w", ent, err))
			}
			w.log.Warn("enterprise seat list failed", "enterprise", ent, "err", err)
			firstErr = keep(firstErr, err)
			continue
		}
		// Seats granted by enterprise teams belong to no org; their events
		// carry no org either: reconcile them as the timeline's org "".
		var teamSeats []ghclient.Seat
		for _, s := range seats {
			if s.Org == "" {
				teamSeats = append(teamSeats, s)
			}
		}
		if err := w.reconcile(ctx, "", lifecycle.ScopeEnterprise, ent, teamSeats); err != nil {
			firstErr = keep(firstErr, err)
		}
	}
	return firstErr
}

// everyListFails: after this error the other seat lists of the pass would
// fail the same way (GitHub refusing the credentials or not answering,
// ClickHouse failing), so asking for them would only spend time and
// requests.
func everyListFails(err error) bool {
	return ghclient.CredentialsRefused(err) || ghclient.Unavailable(err) || timeline.IsClickHouseError(err)
}

func keep(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

func (w *Worker) timelineOrgs(ctx context.Context) ([]string, error) {
	rs, err := w.store.Conn().Query(ctx, "SELECT DISTINCT org FROM seat_events WHERE org != '' ORDER BY org")
	if err != nil {
		return nil, timeline.Explain(w.store.Config(), err)
	}
	defer rs.Close()
	var orgs []string
	for rs.Next() {
		var o string
		if err := rs.Scan(&o); err != nil {
			return nil, err
		}
		orgs = append(orgs, o)
	}
	return orgs, rs.Err()
}

// snapshot lists one scope's seats and writes them as one poll.
func (w *Worker) snapshot(ctx context.Context, scope, name string, list func(func(ghclient.Seat) error) (int, error)) ([]ghclient.Seat, error) {
	at := w.now().UTC().Truncate(time.Second)
	var seats []ghclient.Seat
	if _, err := list(func(s ghclient.Seat) error { seats = append(seats, s); return nil }); err != nil {
		return nil, err
	}
	scopeEnum := timeline.ScopeOrg
	if scope == "enterprise" {
		scopeEnum = timeline.ScopeEnterprise
	}
	rows := make([]timeline.SnapshotSeat, len(seats))
	for i, s := range seats {
		org := s.Org
		if org == "" && scope == "org" {
			org = name
		}
		rows[i] = timeline.SnapshotSeat{At: at, Scope: scopeEnum, ScopeName: name, Org: org, User: s.Login, UserID: uint64(s.UserID), AssigneeType: s.AssigneeType}
		enrich.SeatColumns(&rows[i].Detail, s)
	}
	if err := w.store.WriteSnapshot(ctx, rows); err != nil {
		return nil, err
	}
	w.metrics.snapshots.Add(float64(len(seats)))
	w.log.Info("seat list polled", "scope", scope, "name", name, "seats", len(seats))
	return seats, nil
}

// Drift is one reconciliation finding.
type Drift struct {
	At            time.Time // detected_at: when written
	Org, User     string
	Kind          string // a Basis's Missing or Extra
	TimelineState string // what the basis says: seat_state.state, a period's state, or "none"
	APIState      string // active | pending_cancellation | absent
	Detail        string
}

// driftTable is seat_drift's insert.
var driftTable = timeline.NewTable("seat_drift",
	timeline.Col("detected_at", func(d *Drift) time.Time { return d.At }),
	timeline.Col("org", func(d *Drift) string { return d.Org }),
	timeline.Col("user", func(d *Drift) string { return d.User }),
	timeline.Col("kind", func(d *Drift) string { return d.Kind }),
	timeline.Col("timeline_state", func(d *Drift) string { return d.TimelineState }),
	timeline.Col("api_state", func(d *Drift) string { return d.APIState }),
	timeline.Col("detail", func(d *Drift) string { return d.Detail }),
)

// Basis is what GitHub's seat list is checked against, and the names of
// its findings.
type Basis struct {
	Name    string // in the finding's detail
	Missing string // GitHub lists a seat the basis does not hold
	Extra   string // the basis holds a seat GitHub does not list
	// Revoked is the basis's state of a user whose access is revoked: the
	// assignment stays, so GitHub still lists the seat.
	Revoked string
}

var (
	// ByTimeline: the timeline's last seat change per user (seat_state).
	ByTimeline = Basis{"the timeline's last seat change", "seat_without_assignment", "assignment_without_seat", "revoked"}
	// ByPeriods: the seat periods held now (derived from seat and
	// membership events: a check of the derivation).
	ByPeriods = Basis{"the seat periods", "seat_without_period", "period_without_seat", "access_revoked"}
)

// reconcile compares a seat list (an org's, or an enterprise's seats of no
// org, as the timeline's org "") with the timeline's current seat states
// and with the seat periods held now in scope (kind, name), and writes what
// disagrees to seat_drift.
func (w *Worker) reconcile(ctx context.Context, org, kind, name string, seats []ghclient.Seat) error {
	api := map[string]string{}
	deleted := 0
	for _, s := range seats {
		if s.Login == "" {
			deleted++ // null assignee (deleted user): nothing to match on
			continue
		}
		state := "active"
		if s.PendingCancellation != nil {
			state = "pending_cancellation"
		}
		api[s.Login] = state
	}
	tl, err := w.states(ctx, "SELECT user, state FROM seat_state WHERE org = ?", org)
	if err != nil {
		return err
	}
	// Each holder's latest period: held now; ended but billed to the cycle's
	// end (a removal: GitHub lists the seat pending cancellation till then);
	// ended by a revocation still in force (a later reinstatement would have
	// started a period); or ended.
	held, err := w.states(ctx, `SELECT argMax(user, started_ms), argMax(state, started_ms) FROM (
			SELECT holder, user, started_ms, multiIf(
				started_at <= now() AND access_end > now(), if(ifNull(pending_from <= now(), 0), 'pending_cancellation', 'active'),
				started_at <= now() AND billable_end > now(), 'pending_cancellation',
				end_reason = 'access_revoked', 'access_revoked', 'ended') AS state
			FROM periods WHERE scope_kind = ? AND scope = ?)
		GROUP BY holder`, kind, name)
	if err != nil {
		return err
	}
	drift := append(Reconcile(org, api, tl, deleted, ByTimeline), Reconcile(org, api, held, deleted, ByPeriods)...)
	if len(drift) == 0 {
		w.log.Info("reconciled: timeline, seat periods and seat list agree", "org", org, "seats", len(api))
		return nil
	}
	at := w.now().UTC().Truncate(time.Second)
	for i := range drift {
		drift[i].At = at
	}
	if err := driftTable.Insert(ctx, w.store.Conn(), drift); err != nil {
		return timeline.Explain(w.store.Config(), err)
	}
	for _, d := range drift {
		w.metrics.drift.WithLabelValues(d.Kind).Inc()
	}
	w.log.Warn("seat drift between seatline and GitHub's seat list", "org", org, "findings", len(drift),
		"example", drift[0].User+": "+drift[0].Detail)
	return nil
}

// states reads user → state pairs.
func (w *Worker) states(ctx context.Context, q string, args ...any) (map[string]string, error) {
	out := map[string]string{}
	rs, err := w.store.Conn().Query(ctx, q, args...)
	if err != nil {
		return nil, timeline.Explain(w.store.Config(), err)
	}
	defer rs.Close()
	for rs.Next() {
		var u, s string
		if err := rs.Scan(&u, &s); err != nil {
			return nil, err
		}
		out[u] = s
	}
	return out, rs.Err()
}

// Reconcile lists the disagreements between the API's seats (login →
// active | pending_cancellation) and the basis's seat states (login →
// state; "active" and "pending_cancellation" hold a seat) for one org,
// sorted by user. deleted is the number of seats GitHub lists with a null
// assignee (deleted accounts, billable to the cycle's end): a seat missing
// from the list may be one of them.
func Reconcile(org string, api, ours map[string]string, deleted int, b Basis) []Drift {
	var out []Drift
	for u, a := range api {
		t, ok := ours[u]
		if !ok {
			t = "none"
		}
		if t != "active" && t != "pending_cancellation" && t != b.Revoked {
			out = append(out, Drift{Org: org, User: u, Kind: b.Missing, TimelineState: t, APIState: a,
				Detail: fmt.Sprintf("GitHub lists a %s seat; %s says %q", a, b.Name, t)})
		}
	}
	for u, t := range ours {
		if (t == "active" || t == "pending_cancellation") && api[u] == "" {
			d := Drift{Org: org, User: u, Kind: b.Extra, TimelineState: t, APIState: "absent",
				Detail: fmt.Sprintf("%s says %s; GitHub's seat list has no seat", b.Name, t)}
			if deleted > 0 {
				d.Detail += fmt.Sprintf(" under this login (it lists %d seat(s) of deleted accounts, which may include this one)", deleted)
			}
			out = append(out, d)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].User+out[i].Kind < out[j].User+out[j].Kind })
	return out
}
