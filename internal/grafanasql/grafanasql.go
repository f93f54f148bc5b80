// Package grafanasql reads the SQL of seatline's Grafana dashboards
// (deploy/grafana/dashboards/*.json) and expands the
// grafana-clickhouse-datasource macros and dashboard variables in it, so
// the queries can run outside Grafana: the dashboards' test runs every one
// on ClickHouse, and `make bench` times them on a large timeline.
package grafanasql

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Query is one SQL text of a dashboard and where it is.
type Query struct {
	Where      string // dashboard file: panel title / variable name
	Panel      bool   // a panel target (else a query variable)
	Title      string // the panel's title or the variable's name
	SQL        string
	TimeSeries bool // the target's queryType is timeseries
}

// Load reads every panel target's rawSql (panels nested in rows included)
// and every query variable of the dashboards in dir. problems lists panels
// that break the dashboards' conventions (no query, an empty rawSql, not
// the provisioned datasource); err is for unreadable input.
func Load(dir string) (queries []Query, problems []string, err error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, nil, err
	}
	if len(files) == 0 {
		return nil, nil, fmt.Errorf("no dashboards (*.json) in %s", dir)
	}
	type target struct {
		RefID      string          `json:"refId"`
		RawSQL     string          `json:"rawSql"`
		QueryType  string          `json:"queryType"`
		Format     *int            `json:"format"`
		Datasource json.RawMessage `json:"datasource"`
	}
	type panel struct {
		Title   string   `json:"title"`
		Type    string   `json:"type"`
		Targets []target `json:"targets"`
		Panels  []panel  `json:"panels"`
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, nil, err
		}
		var d struct {
			UID        string  `json:"uid"`
			Panels     []panel `json:"panels"`
			Templating struct {
				List []struct {
					Name  string          `json:"name"`
					Type  string          `json:"type"`
					Query json.RawMessage `json:"query"`
				} `json:"list"`
			} `json:"templating"`
		}
		if err := json.Unmarshal(b, &d); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", f, err)
		}
		name := filepath.Base(f)
		var walk func(ps []panel)
		walk = func(ps []panel) {
			for _, p := range ps {
				walk(p.Panels)
				if p.Type == "row" {
					continue
				}
				if len(p.Targets) == 0 {
					problems = append(problems, fmt.Sprintf("%s: panel %q has no query", name, p.Title))
				}
				for _, tg := range p.Targets {
					if strings.TrimSpace(tg.RawSQL) == "" {
						problems = append(problems, fmt.Sprintf("%s: panel %q target %s has no rawSql", name, p.Title, tg.RefID))
						continue
					}
					if !strings.Contains(string(tg.Datasource), `"seatline-clickhouse"`) {
						problems = append(problems, fmt.Sprintf("%s: panel %q target %s does not use the provisioned datasource uid seatline-clickhouse", name, p.Title, tg.RefID))
					}
					queries = append(queries, Query{Where: name + ": panel " + strconv.Quote(p.Title), Panel: true, Title: p.Title,
						SQL: tg.RawSQL, TimeSeries: tg.QueryType == "timeseries"})
				}
			}
		}
		walk(d.Panels)
		for _, v := range d.Templating.List {
			if v.Type != "query" {
				continue
			}
			var s string
			if err := json.Unmarshal(v.Query, &s); err != nil {
				var obj struct {
					RawSQL string `json:"rawSql"`
					Query  string `json:"query"`
				}
				_ = json.Unmarshal(v.Query, &obj)
				s = obj.RawSQL + obj.Query
			}
			queries = append(queries, Query{Where: name + ": variable " + v.Name, Title: v.Name, SQL: s})
		}
	}
	return queries, problems, nil
}

// Macros expands the grafana-clickhouse-datasource macros as the plugin
// does (pkg/macros/macros.go) for a time range and interval, and the
// dashboard variables with the given values.
type Macros struct {
	From, To   time.Time
	Interval   time.Duration
	Vars       map[string]string // "${org:singlequote}" → "'a','b'", "${idle_days}" → "30"
	NoInterval bool              // the server lacks toStartOfInterval (18.16): bucket with intDiv instead
}

var macroRe = regexp.MustCompile(`\$__([A-Za-z_]+)`)

// Expand returns sql with every variable and macro expanded; anything
// left unexpanded is an error.
func (m Macros) Expand(sql string) (string, error) {
	for k, v := range m.Vars {
		sql = strings.ReplaceAll(sql, k, v)
	}
	var b strings.Builder
	for {
		loc := macroRe.FindStringSubmatchIndex(sql)
		if loc == nil {
			b.WriteString(sql)
			break
		}
		b.WriteString(sql[:loc[0]])
		name := sql[loc[2]:loc[3]]
		rest := sql[loc[1]:]
		var args []string
		if strings.HasPrefix(rest, "(") {
			depth, end := 0, -1
			for i, c := range rest {
				if c == '(' {
					depth++
				} else if c == ')' {
					depth--
					if depth == 0 {
						end = i
						break
					}
				}
			}
			if end < 0 {
				return "", fmt.Errorf("$__%s: unbalanced parentheses", name)
			}
			for _, a := range strings.Split(rest[1:end], ",") {
				args = append(args, strings.TrimSpace(a))
			}
			rest = rest[end+1:]
		}
		out, err := m.one(name, args)
		if err != nil {
			return "", err
		}
		b.WriteString(out)
		sql = rest
	}
	s := b.String()
	if i := strings.Index(s, "$"); i >= 0 {
		return "", fmt.Errorf("unexpanded variable or macro at %q", s[i:min(len(s), i+30)])
	}
	return s, nil
}

func (m Macros) one(name string, args []string) (string, error) {
	dt := func(t time.Time) string { return fmt.Sprintf("toDateTime(%d)", t.Unix()) }
	date := func(t time.Time) string { return fmt.Sprintf("toDate('%s')", t.UTC().Format("2006-01-02")) }
	need := func(n int) error {
		if len(args) != n {
			return fmt.Errorf("$__%s: %d argument(s), want %d", name, len(args), n)
		}
		return nil
	}
	secs := max(int(m.Interval.Seconds()), 1)
	switch name {
	case "fromTime":
		return dt(m.From), nil
	case "toTime":
		return dt(m.To), nil
	case "timeFilter":
		if err := need(1); err != nil {
			return "", err
		}
		return fmt.Sprintf("%s >= %s AND %s <= %s", args[0], dt(m.From), args[0], dt(m.To)), nil
	case "dateFilter":
		if err := need(1); err != nil {
			return "", err
		}
		return fmt.Sprintf("%s >= %s AND %s <= %s", args[0], date(m.From), args[0], date(m.To)), nil
	case "dateTimeFilter", "dt":
		if err := need(2); err != nil {
			return "", err
		}
		return fmt.Sprintf("(%s >= %s AND %s <= %s) AND (%s >= %s AND %s <= %s)", args[0], date(m.From), args[0], date(m.To), args[1], dt(m.From), args[1], dt(m.To)), nil
	case "timeInterval":
		if err := need(1); err != nil {
			return "", err
		}
		if m.NoInterval {
			return fmt.Sprintf("toDateTime(intDiv(toUInt32(toDateTime(%s)), %d) * %d)", args[0], secs, secs), nil
		}
		return fmt.Sprintf("toStartOfInterval(toDateTime(%s), INTERVAL %d second)", args[0], secs), nil
	case "interval_s":
		return strconv.Itoa(secs), nil
	}
	// fromTime_ms, toTime_ms, timeFilter_ms, timeInterval_ms expand to
	// DateTime64 functions that ClickHouse 18.16 lacks: the dashboards
	// must not use them.
	return "", fmt.Errorf("macro $__%s is not supported by these dashboards (not on every ClickHouse seatline runs on)", name)
}
