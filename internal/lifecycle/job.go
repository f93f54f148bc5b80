package lifecycle

import (
	"context"
	"fmt"
	"reflect"
	"time"
)

// Store is where the derivation reads events and keeps periods
// (*timeline.Store).
type Store interface {
	// ChangedBusinesses lists the businesses with events ingested at or
	// after since (all when zero), and those with a seat pending
	// cancellation whose billable date is not after now (it lapsed: its
	// period ends without an event).
	ChangedBusinesses(ctx context.Context, since, now time.Time) ([]string, error)
	LifecycleEvents(ctx context.Context, business string) ([]Event, error)
	StoredPeriods(ctx context.Context, business string) ([]Stored, error)
	WritePeriods(ctx context.Context, rows []Row) error
}

// Stored is a period as last written, with its version.
type Stored struct {
	Period
	Version uint64
}

// Row is a period to write, or a tombstone (Deleted) for one that no
// longer exists.
type Row struct {
	Period
	Deleted   bool
	Version   uint64
	DerivedAt time.Time
}

// Stats says what one derivation pass did.
type Stats struct {
	Businesses int
	Events     int
	Periods    int
	Written    int // periods new or changed
	Removed    int // periods that no longer exist (tombstones)
}

// Update derives the periods of every business with events ingested at or
// after since (every business when since is zero), or with a pending seat
// that lapsed, as of now, and writes what changed.
// Running it again writes nothing: the derivation is deterministic and
// only differences are written.
func Update(ctx context.Context, st Store, since time.Time, now func() time.Time) (Stats, error) {
	var stats Stats
	at := now()
	businesses, err := st.ChangedBusinesses(ctx, since, at)
	if err != nil {
		return stats, err
	}
	for _, b := range businesses {
		if err := ctx.Err(); err != nil {
			return stats, err
		}
		evs, err := st.LifecycleEvents(ctx, b)
		if err != nil {
			return stats, fmt.Errorf("reading the events of %q: %w", b, err)
		}
		derived := Derive(evs, at)
		stored, err := st.StoredPeriods(ctx, b)
		if err != nil {
			return stats, fmt.Errorf("reading the periods of %q: %w", b, err)
		}
		rows := diff(derived, stored, at)
		if err := st.WritePeriods(ctx, rows); err != nil {
			return stats, fmt.Errorf("writing the periods of %q: %w", b, err)
		}
		stats.Businesses++
		stats.Events += len(evs)
		stats.Periods += len(derived)
		for _, r := range rows {
			if r.Deleted {
				stats.Removed++
			} else {
				stats.Written++
			}
		}
	}
	return stats, nil
}

type periodKey struct {
	kind, scope, holder string
	no                  uint32
}

// diff is what to write so that the stored periods become derived: new or
// changed periods with a version above the stored one, and tombstones.
// Times are compared at the second (seat_periods keeps DateTime), the
// start exactly (started_ms).
func diff(derived []Period, stored []Stored, now time.Time) []Row {
	old := make(map[periodKey]Stored, len(stored))
	for _, s := range stored {
		old[periodKey{s.ScopeKind, s.Scope, s.Holder, s.No}] = s
	}
	version := func(k periodKey) uint64 {
		v := uint64(now.UnixMilli())
		if s, ok := old[k]; ok && s.Version >= v {
			v = s.Version + 1
		}
		return v
	}
	var rows []Row
	for _, p := range derived {
		p = toSeconds(p)
		k := periodKey{p.ScopeKind, p.Scope, p.Holder, p.No}
		s, ok := old[k]
		delete(old, k)
		if ok && reflect.DeepEqual(toSeconds(s.Period), p) {
			continue
		}
		rows = append(rows, Row{Period: p, Version: version(k), DerivedAt: now})
	}
	for k, s := range old {
		rows = append(rows, Row{Period: s.Period, Deleted: true, Version: version(k), DerivedAt: now})
	}
	return rows
}

// toSeconds is p as seat_periods stores it.
func toSeconds(p Period) Period {
	for _, t := range []**time.Time{&p.PendingFrom, &p.BillableUntil, &p.End, &p.OrphanedSince} {
		if *t != nil {
			u := (*t).UTC().Truncate(time.Second)
			*t = &u
		}
	}
	p.Start = p.Start.UTC()
	return p
}
