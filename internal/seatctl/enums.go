package seatctl

import (
	"fmt"
	"slices"
	"strings"

	"github.com/seatline/seatline/schema"
)

// Filters compared with an Enum column must be checked before the query
// is sent: ClickHouse 18.16 refuses an unknown name, but current releases
// answer no rows, so a typo would silently read as "nothing matched".
// The accepted names come from the schema (one definition), never from a
// list kept here.

// transitionNames are seat_events.transition's names (seat_timeline's
// transition is that column).
func transitionNames() []string { return mustEnum("seat_events", "transition") }

// mustEnum reads an Enum's names from the embedded migrations; they are
// part of the binary, so a failure is a build mistake the tests catch.
func mustEnum(table, column string) []string {
	names, err := schema.EnumNames(table, column)
	if err != nil {
		panic(err)
	}
	return names
}

// checkNames returns a usage error (exit 2) naming the flag, the first
// value not among allowed, the closest accepted name and all of them.
func checkNames(flag string, vals, allowed []string) error {
	for _, v := range vals {
		if slices.Contains(allowed, v) {
			continue
		}
		hint := ""
		if c := closest(v, allowed); c != "" {
			hint = fmt.Sprintf("; did you mean %q?", c)
		}
		return usageErrorf("%s: %q is not one of %s%s", flag, v, strings.Join(allowed, ", "), hint)
	}
	return nil
}

// closest is the accepted name nearest v by edit distance, if it is near
// enough to be a plausible typo (at most a third of its length away).
func closest(v string, allowed []string) string {
	best, bestD := "", len(v)/3+1
	for _, a := range allowed {
		if d := editDistance(strings.ToLower(v), a); d < bestD {
			best, bestD = a, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, by bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
