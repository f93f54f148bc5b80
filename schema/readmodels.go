package schema

import (
	"fmt"
	"regexp"
	"strings"
)

// A ReadModel is one materialized view of the migrations: the table it
// fills (Target) as rows reach the table it reads, and the SELECT it fills
// it with. The same SELECT, run over the rows already stored, fills the
// target when the view is created (Apply) and again after a rebuild
// empties it: one definition serves the incremental path and the rebuild.
type ReadModel struct {
	View    string
	Target  string
	Source  string   // the table the view reads (its FROM)
	Columns []string // the target columns the SELECT fills, in its order
	Select  string
	// Copies: the target keeps copies of source rows and collapses them as
	// the source does (a ReplacingMergeTree). Its fill reads the source
	// FINAL: where two copies tie, the source kept the later inserted, and
	// the fill must copy that one, not whichever it reads last. Aggregate
	// targets fold every copy alike and read the source as it is.
	Copies bool
}

// Fill is the statement that runs the view's SELECT over every stored row.
func (r ReadModel) Fill() string {
	sel := r.Select
	if r.Copies {
		sel = fromSource.ReplaceAllString(sel, "${1}FROM "+r.Source+" FINAL$2")
	}
	return "INSERT INTO " + r.Target + " (" + strings.Join(r.Columns, ", ") + ")\n" + sel
}

var fromSource = regexp.MustCompile(`(?m)^(\s*)FROM \w+(\s*)$`)

var (
	createMatView = regexp.MustCompile(`(?s)^CREATE MATERIALIZED VIEW IF NOT EXISTS (\w+) TO (\w+) AS\s+(SELECT\s.*)$`)
	sourceTable   = regexp.MustCompile(`(?m)^FROM (\w+)\s*$|^\s+FROM (\w+)\s*$`)
	aliasAtEnd    = regexp.MustCompile(`(?is)\bAS\s+(\w+)\s*$`)
	bareColumn    = regexp.MustCompile(`^\w+$`)
)

// ParseReadModel reads a CREATE MATERIALIZED VIEW … TO … statement. The
// SELECT's output columns are its top-level items, each a bare column or
// "expression AS name".
func ParseReadModel(stmt string) (ReadModel, bool, error) {
	m := createMatView.FindStringSubmatch(stmt)
	if m == nil {
		return ReadModel{}, false, nil
	}
	r := ReadModel{View: m[1], Target: m[2], Select: strings.TrimSpace(m[3])}
	items, err := selectItems(r.Select)
	if err != nil {
		return ReadModel{}, true, fmt.Errorf("schema: materialized view %s: %w", r.View, err)
	}
	for _, it := range items {
		switch {
		case bareColumn.MatchString(it):
			r.Columns = append(r.Columns, it)
		case aliasAtEnd.MatchString(it):
			r.Columns = append(r.Columns, aliasAtEnd.FindStringSubmatch(it)[1])
		default:
			return ReadModel{}, true, fmt.Errorf("schema: materialized view %s: output %q has no name (write it AS a target column)", r.View, it)
		}
	}
	src := sourceTable.FindAllStringSubmatch(r.Select, -1)
	if len(src) == 0 {
		return ReadModel{}, true, fmt.Errorf("schema: materialized view %s: no FROM table on a line of its own", r.View)
	}
	last := src[len(src)-1] // the innermost FROM names the table
	r.Source = last[1] + last[2]
	return r, true, nil
}

// selectItems splits the list between the leading SELECT and the FROM at
// depth 0 into its comma-separated items.
func selectItems(sel string) ([]string, error) {
	body := strings.TrimSpace(strings.TrimPrefix(sel, "SELECT"))
	depth, start := 0, 0
	var items []string
	for i := 0; i < len(body); i++ {
		switch body[i] {
		case '(':
			depth++
		case ')':
			depth--
		case '\'':
			j := strings.IndexByte(body[i+1:], '\'')
			if j < 0 {
				return nil, fmt.Errorf("unterminated string")
			}
			i += j + 1
		case ',':
			if depth == 0 {
				items = append(items, strings.TrimSpace(body[start:i]))
				start = i + 1
			}
		case '\n':
			if depth == 0 && strings.HasPrefix(body[i+1:], "FROM") {
				items = append(items, strings.TrimSpace(body[start:i]))
				return items, nil
			}
		}
	}
	return nil, fmt.Errorf("no top-level FROM at the start of a line")
}

// ReadModels returns every materialized view of the migrations, in the
// order they are created.
func ReadModels() ([]ReadModel, error) {
	migs, err := Migrations()
	if err != nil {
		return nil, err
	}
	var out []ReadModel
	engines := map[string]string{}
	for _, m := range migs {
		for _, stmt := range m.Statements {
			if t := createTable.FindStringSubmatch(stmt); t != nil {
				engines[t[1]] = t[3]
			}
			r, ok, err := ParseReadModel(stmt)
			if err != nil {
				return nil, err
			}
			if ok {
				r.Copies = engines[r.Target] == "ReplacingMergeTree"
				out = append(out, r)
			}
		}
	}
	return out, nil
}

// readModelOf is the read model a migration statement creates, with what
// the rest of the migrations say of its target.
func readModelOf(stmt string) (ReadModel, bool, error) {
	r, ok, err := ParseReadModel(stmt)
	if !ok || err != nil {
		return r, ok, err
	}
	all, err := ReadModels()
	if err != nil {
		return r, ok, err
	}
	for _, m := range all {
		if m.View == r.View {
			return m, true, nil
		}
	}
	return r, true, nil // a statement not from the migrations (tests)
}

// ReadModelTargets returns the tables the read models fill, each once.
func ReadModelTargets(models []ReadModel) []string {
	var out []string
	seen := map[string]bool{}
	for _, r := range models {
		if !seen[r.Target] {
			seen[r.Target] = true
			out = append(out, r.Target)
		}
	}
	return out
}

// ViewAsOf is the SELECT of view name as the migrations up to version
// defined it: what a view answered before a later migration redefined it
// (tests hold the read models to it; the bench asks it as a baseline).
func ViewAsOf(name string, version int) (string, error) {
	migs, err := Migrations()
	if err != nil {
		return "", err
	}
	var body string
	for _, m := range migs {
		if m.Version > version {
			break
		}
		for _, stmt := range m.Statements {
			if v := createView.FindStringSubmatch(stmt); v != nil && v[1] == name {
				body = v[2]
			}
		}
	}
	if body == "" {
		return "", fmt.Errorf("schema: no view %s in migrations up to %d", name, version)
	}
	return body, nil
}
