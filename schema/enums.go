package schema

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

var (
	// The table a statement creates or alters.
	stmtTableRe = regexp.MustCompile(`(?is)^\s*(?:CREATE\s+TABLE(?:\s+IF\s+NOT\s+EXISTS)?|ALTER\s+TABLE)\s+` + "`?" + `(\w+)`)
	enumItemRe  = regexp.MustCompile(`'((?:[^'\\]|\\.)*)'\s*=\s*(-?\d+)`)
)

// EnumNames returns the names of the Enum8/Enum16 column table.column as
// its latest definition in the migrations has them (CREATE TABLE, or a
// later ALTER TABLE … MODIFY/ADD COLUMN), in value order. The migrations
// are the one definition: code that checks a value against an Enum asks
// here rather than keeping a second list. ClickHouse 18.16 refuses a
// comparison with a name the Enum lacks, current releases just match no
// rows, so a caller must check before it sends.
func EnumNames(table, column string) ([]string, error) {
	migs, err := Migrations()
	if err != nil {
		return nil, err
	}
	colRe := regexp.MustCompile(`(?i)(?:^|[(,\s])` + regexp.QuoteMeta(column) + `\s+Enum(?:8|16)\(([^)]*)\)`)
	var body string
	for _, m := range migs {
		for _, st := range m.Statements {
			t := stmtTableRe.FindStringSubmatch(st)
			if t == nil || t[1] != table {
				continue
			}
			if c := colRe.FindStringSubmatch(st); c != nil {
				body = c[1]
			}
		}
	}
	if body == "" {
		return nil, fmt.Errorf("schema: no Enum column %s.%s in the migrations", table, column)
	}
	type item struct {
		name string
		v    int
	}
	var items []item
	for _, m := range enumItemRe.FindAllStringSubmatch(body, -1) {
		v, _ := strconv.Atoi(m[2])
		items = append(items, item{strings.ReplaceAll(m[1], `\'`, `'`), v})
	}
	// Insertion sort by value: a dozen names.
	for i := 1; i < len(items); i++ {
		for j := i; j > 0 && items[j].v < items[j-1].v; j-- {
			items[j], items[j-1] = items[j-1], items[j]
		}
	}
	names := make([]string, len(items))
	for i, it := range items {
		names[i] = it.name
	}
	return names, nil
}

// CurrentSeatStates are the values of current_seats.state, a column
// derived in the view seat_facts (a multiIf, not an Enum, so no type lists
// them): current_seats keeps the seats whose state is one of these. The
// schema test holds this list to both views' text in the migrations.
var CurrentSeatStates = []string{"active", "pending_cancellation"}
