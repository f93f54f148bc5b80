package seatctl

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// TimeRange is a half-open interval [Since, Until) of event times. A zero
// Since means "from the first event"; Until is always set (default: now).
type TimeRange struct {
	Since time.Time
	Until time.Time
}

// ParseTime reads a time bound: RFC 3339 ("2025-03-01T09:30:00Z",
// fractional seconds and offsets allowed), a date ("2025-03-01", UTC), a
// date-time without zone ("2025-03-01 09:30:00" or "2025-03-01T09:30",
// UTC), "now", or a time before now ("30d", "12h", "2w", "90m", "45s",
// also Go durations like "1h30m"). endOfDay makes a plain date mean the
// end of that day (the start of the next), so "--until 2025-03-31" includes
// March 31.
func ParseTime(s string, now time.Time, endOfDay bool) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, fmt.Errorf("empty time")
	}
	if strings.EqualFold(s, "now") {
		return now.UTC(), nil
	}
	if d, ok := parseAgo(s); ok {
		return now.Add(-d).UTC(), nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		if endOfDay {
			t = t.AddDate(0, 0, 1)
		}
		return t.UTC(), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999Z0700"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	for _, layout := range []string{"2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999", "2006-01-02T15:04", "2006-01-02 15:04"} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time: use RFC 3339 (2025-03-01T09:30:00Z), a date (2025-03-01), now, or a time ago (30d, 12h, 2w)", s)
}

// parseAgo reads "30d", "2w", "12h", "90m", "45s" and Go durations.
func parseAgo(s string) (time.Duration, bool) {
	d, err := ParseWindow(s)
	return d, err == nil
}

// ParseWindow reads a length of time: "30d", "2w", "12h", "90m", "45s" or
// a Go duration ("1h30m"). It must be positive.
func ParseWindow(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	bad := fmt.Errorf("%q is not a length of time: use e.g. 30d, 2w, 12h", s)
	if len(s) < 2 {
		return 0, bad
	}
	unit := s[len(s)-1]
	if unit == 'd' || unit == 'w' {
		n, err := strconv.ParseFloat(s[:len(s)-1], 64)
		if err != nil || n <= 0 || n > 100*366 {
			return 0, bad
		}
		day := 24 * time.Hour
		if unit == 'w' {
			day *= 7
		}
		return time.Duration(n * float64(day)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, bad
	}
	return d, nil
}

// ParseRange reads --since and --until (either may be empty: since then
// means the beginning, until means now) and checks since < until.
func ParseRange(since, until string, now time.Time) (TimeRange, error) {
	var r TimeRange
	var err error
	if since != "" {
		if r.Since, err = ParseTime(since, now, false); err != nil {
			return r, fmt.Errorf("since: %w", err)
		}
	}
	r.Until = now.UTC()
	if until != "" {
		if r.Until, err = ParseTime(until, now, true); err != nil {
			return r, fmt.Errorf("until: %w", err)
		}
	}
	if !r.Since.IsZero() && !r.Since.Before(r.Until) {
		if r.Since.Equal(r.Until) {
			return r, fmt.Errorf("bad time range: since (%s) is the same as until: the range is empty", iso(r.Since))
		}
		return r, fmt.Errorf("bad time range: since (%s) is after until (%s)", iso(r.Since), iso(r.Until))
	}
	return r, nil
}

// msBounds are the range in Unix milliseconds: since inclusive, until
// exclusive.
func (r TimeRange) msBounds() (uint64, uint64) {
	var lo uint64
	if !r.Since.IsZero() && r.Since.UnixMilli() > 0 {
		lo = uint64(r.Since.UnixMilli())
	}
	hi := r.Until.UnixMilli()
	if hi < 0 {
		hi = 0
	}
	return lo, uint64(hi)
}

// iso formats t as UTC ISO 8601 with milliseconds.
func iso(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// isoMs formats Unix milliseconds as UTC ISO 8601 with milliseconds.
func isoMs(ms uint64) string { return iso(time.UnixMilli(int64(ms))) }

// isoSec formats t as UTC ISO 8601 to the second ("" for nil or zero).
func isoSec(t *time.Time) string {
	if t == nil || t.IsZero() || t.Unix() <= 0 {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05Z")
}

// day formats a date ("" for nil or zero).
func day(t *time.Time) string {
	if t == nil || t.IsZero() || t.Unix() <= 0 {
		return ""
	}
	return t.UTC().Format("2006-01-02")
}
