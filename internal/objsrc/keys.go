package objsrc

import (
	"fmt"
	"strings"
	"time"
)

// DateLayout is the format of --since and --until.
const DateLayout = "2006-01-02"

// Days is a range of days, both inclusive (UTC).
type Days struct{ Since, Until time.Time }

// ParseDays reads --since and --until (YYYY-MM-DD). Without since there is
// no range (ok is false). An empty until is today (or since, if later).
func ParseDays(since, until string, now time.Time) (d Days, ok bool, err error) {
	if since == "" {
		if until != "" {
			return Days{}, false, fmt.Errorf("until: needs --since (the first day to read)")
		}
		return Days{}, false, nil
	}
	if d.Since, err = time.Parse(DateLayout, since); err != nil {
		return Days{}, false, fmt.Errorf("since: %q is not a date YYYY-MM-DD", since)
	}
	switch {
	case until != "":
		if d.Until, err = time.Parse(DateLayout, until); err != nil {
			return Days{}, false, fmt.Errorf("until: %q is not a date YYYY-MM-DD", until)
		}
		if d.Until.Before(d.Since) {
			return Days{}, false, fmt.Errorf("until: %s is before since %s", until, since)
		}
	default:
		d.Until = now.UTC().Truncate(24 * time.Hour)
		if d.Until.Before(d.Since) {
			d.Until = d.Since
		}
	}
	if d.Until.Sub(d.Since) > 20*366*24*time.Hour {
		return Days{}, false, fmt.Errorf("since: %s to %s is more than 20 years", since, d.Until.Format(DateLayout))
	}
	return d, true, nil
}

// Prefixes are the key prefixes of the days: prefix + "YYYY/MM/DD/", the
// layout GitHub's audit-log streaming writes to every object store.
func (d Days) Prefixes(prefix string) []string {
	var out []string
	for t := d.Since.UTC().Truncate(24 * time.Hour); !t.After(d.Until); t = t.AddDate(0, 0, 1) {
		out = append(out, prefix+t.Format("2006/01/02/"))
	}
	return out
}

// IsAuditKey: GitHub's .json.log.gz (and .json.gz, .json), NDJSON .jsonl /
// .ndjson, optionally compressed (the content decides how it is read);
// folder markers and anything else are skipped when listing.
func IsAuditKey(key string) bool {
	k := strings.ToLower(key)
	for _, c := range []string{".gz", ".zst", ".bz2"} {
		k = strings.TrimSuffix(k, c)
	}
	for _, ext := range []string{".json", ".jsonl", ".ndjson", ".json.log"} {
		if strings.HasSuffix(k, ext) {
			return true
		}
	}
	return false
}

// MinuteLookback: GitHub's keys start with YYYY/MM/DD/HH/mm/ after the
// prefix; a follow-mode listing starts again at the minute d before
// maxKey's. Other layouts restart at maxKey itself.
func MinuteLookback(prefix, maxKey string, d time.Duration) string {
	rest := strings.TrimPrefix(maxKey, prefix)
	if len(rest) < 16 {
		return maxKey
	}
	t, err := time.Parse("2006/01/02/15/04", rest[:16])
	if err != nil {
		return maxKey
	}
	return prefix + t.Add(-d).Format("2006/01/02/15/04/")
}
