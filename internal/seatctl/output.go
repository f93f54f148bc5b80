package seatctl

import (
	"bufio"
	"encoding/csv"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"unicode/utf8"
)

// Column kinds for jsonl output.
const (
	kindString   = iota // always a JSON string
	kindNumber          // a JSON number; "" is null
	kindNullable        // a JSON string; "" is null (times, dates)
)

// column is one output column: its name in csv/jsonl, its heading in a
// table, and how jsonl writes it.
type column struct {
	name, head string
	kind       int
	tableOnly  bool // shown only in a table
	dataOnly   bool // left out of a table (too wide)
}

// rowWriter writes rows of cells (one per column) as a table, csv or jsonl.
type rowWriter interface {
	Row(cells []string) error
	Close() error // flushes
}

// formats a user may choose.
var formats = []string{"table", "csv", "jsonl"}

func checkFormat(f string) error {
	for _, ok := range formats {
		if f == ok {
			return nil
		}
	}
	return usageErrorf("format: %q is not one of table, csv, jsonl", f)
}

// formatFlag binds a listing's --format.
func formatFlag(fs *flag.FlagSet) *string {
	return fs.String("format", "", "table, csv or jsonl (default: table on a terminal, csv otherwise; see Output above)")
}

// outputHelp is every listing's --help on what each format does with the
// values (README, "CSV safety").
const outputHelp = `Output (--format):
  table  for reading: a control or invisible character in a value (ESC, BEL, DEL, C1, a bidi
         override such as U+202E, a zero-width space) is shown as an escape (\x1b, \x07,
         \u202e, \u200b) and never reaches the terminal
  csv    for spreadsheets: a text value beginning with =, +, -, @, TAB, CR, NUL or ' is written
         with a ' in front (OWASP's CSV-injection guard), so a spreadsheet shows it as text
         instead of running it as a formula; quotes inside a value are doubled; numbers are
         never changed (a negative number stays a number)
  jsonl  every value exactly as stored (use it to process the values)`

// defaultFormat is table on a terminal, csv otherwise.
func defaultFormat(w io.Writer) string {
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			return "table"
		}
	}
	return "csv"
}

func newRowWriter(w io.Writer, format string, cols []column) (rowWriter, error) {
	return newChainedRowWriter(w, format, cols, nil)
}

// newChainedRowWriter is newRowWriter for a bundle's data file: with ch,
// every row gets one more value, column ChainColumn, its link in ch over
// the row's values exactly as this format writes them (in csv, after the
// cell guard). ch counts the rows and records the checkpoints.
func newChainedRowWriter(w io.Writer, format string, cols []column, ch *chain) (rowWriter, error) {
	switch {
	case format == "table" && ch == nil:
		return newTableWriter(w, cols), nil
	case format == "csv":
		return newCSVWriter(w, cols, ch)
	case format == "jsonl":
		return newJSONLWriter(w, cols, ch), nil
	}
	return nil, checkFormat(format)
}

// ---- table ----

type tableWriter struct {
	tw   *tabwriter.Writer
	cols []column
	keep []int
	line []byte
}

func newTableWriter(w io.Writer, cols []column) *tableWriter {
	t := &tableWriter{tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0), cols: cols}
	var heads []string
	for i, c := range cols {
		if c.dataOnly {
			continue
		}
		t.keep = append(t.keep, i)
		heads = append(heads, c.head)
	}
	fmt.Fprintln(t.tw, strings.Join(heads, "\t"))
	return t
}

func (t *tableWriter) Row(cells []string) error {
	t.line = t.line[:0]
	for j, i := range t.keep {
		if j > 0 {
			t.line = append(t.line, '\t')
		}
		v := cells[i]
		if v == "" {
			v = "-"
		}
		// Controls shown as escapes: the row stays on one line, the tab
		// stops intact, and no value can drive the terminal.
		t.line = append(t.line, Visible(v)...)
	}
	t.line = append(t.line, '\n')
	_, err := t.tw.Write(t.line)
	return err
}

func (t *tableWriter) Close() error { return t.tw.Flush() }

// ---- csv ----

// csvGuardLeads are the first characters after which a spreadsheet reads
// a cell as a formula (OWASP, CSV Injection: =, +, -, @, TAB, CR; OWASP
// ASVS 5 adds NUL), and ' itself, so that the guard can be undone exactly.
const csvGuardLeads = "=+-@\t\r\x00'"

// CSVCellGuard names the guard in a bundle's manifest.
const CSVCellGuard = "owasp-quote-prefix"

// guardCSV is the cell guard: a value beginning with one of csvGuardLeads
// gets a ' in front, which makes a spreadsheet show the cell as text
// instead of running it. Guarding ' too keeps it reversible: the stored
// value is the cell without its first character whenever the cell begins
// with '. encoding/csv then quotes the cell if it needs it, doubling any "
// inside (OWASP's other half).
func guardCSV(v string) string {
	if v != "" && strings.IndexByte(csvGuardLeads, v[0]) >= 0 {
		return "'" + v
	}
	return v
}

// guarded: the guard applies to text columns. A numeric column's values
// are numbers seatctl formatted itself, and a negative one (pending's
// days_left) must stay a number.
func (c column) guarded() bool { return c.kind != kindNumber }

type csvWriter struct {
	w     *csv.Writer
	keep  []int
	guard []bool
	rec   []string
	ch    *chain
}

func newCSVWriter(w io.Writer, cols []column, ch *chain) (*csvWriter, error) {
	c := &csvWriter{w: csv.NewWriter(w), ch: ch}
	var heads []string
	for i, col := range cols {
		if col.tableOnly {
			continue
		}
		c.keep = append(c.keep, i)
		c.guard = append(c.guard, col.guarded())
		heads = append(heads, col.name)
	}
	if ch != nil {
		heads = append(heads, ChainColumn)
	}
	c.rec = make([]string, len(c.keep), len(c.keep)+1)
	return c, c.w.Write(heads)
}

func (c *csvWriter) Row(cells []string) error {
	rec := c.rec[:len(c.keep)]
	for j, i := range c.keep {
		rec[j] = cells[i]
		if c.guard[j] {
			rec[j] = guardCSV(rec[j])
		}
	}
	if c.ch != nil {
		rec = append(rec, c.ch.add(rec))
	}
	return c.w.Write(rec)
}

func (c *csvWriter) Close() error {
	c.w.Flush()
	return c.w.Error()
}

// ---- jsonl ----

type jsonlWriter struct {
	w    *bufio.Writer
	cols []column
	buf  []byte
	ch   *chain
	vals []string
}

func newJSONLWriter(w io.Writer, cols []column, ch *chain) *jsonlWriter {
	return &jsonlWriter{w: bufio.NewWriterSize(w, 64<<10), cols: cols, ch: ch}
}

func (j *jsonlWriter) Row(cells []string) error {
	b := append(j.buf[:0], '{')
	j.vals = j.vals[:0]
	for i, c := range j.cols {
		if c.tableOnly {
			continue
		}
		if len(j.vals) > 0 {
			b = append(b, ',')
		}
		j.vals = append(j.vals, cells[i])
		b = appendJSONString(b, c.name)
		b = append(b, ':')
		b = appendJSONValue(b, c.kind, cells[i])
	}
	if j.ch != nil {
		// jsonl writes values as they are: the chain is over them.
		b = append(b, ',')
		b = appendJSONString(b, ChainColumn)
		b = append(b, ':')
		b = appendJSONString(b, j.ch.add(j.vals))
	}
	b = append(b, '}', '\n')
	j.buf = b
	_, err := j.w.Write(b)
	return err
}

func (j *jsonlWriter) Close() error { return j.w.Flush() }

func appendJSONValue(b []byte, kind int, v string) []byte {
	switch {
	case kind == kindNumber && v == "", kind == kindNullable && v == "":
		return append(b, "null"...)
	case kind == kindNumber:
		return append(b, v...)
	}
	return appendJSONString(b, v)
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string. s must be valid UTF-8
// (callers sanitise); U+2028 and U+2029 are escaped like encoding/json.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
