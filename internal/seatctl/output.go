package seatctl

import (
	"bufio"
	"encoding/csv"
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
	switch format {
	case "table":
		return newTableWriter(w, cols), nil
	case "csv":
		return newCSVWriter(w, cols)
	case "jsonl":
		return newJSONLWriter(w, cols), nil
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

type csvWriter struct {
	w    *csv.Writer
	keep []int
	rec  []string
}

func newCSVWriter(w io.Writer, cols []column) (*csvWriter, error) {
	c := &csvWriter{w: csv.NewWriter(w)}
	var heads []string
	for i, col := range cols {
		if col.tableOnly {
			continue
		}
		c.keep = append(c.keep, i)
		heads = append(heads, col.name)
	}
	c.rec = make([]string, len(c.keep))
	return c, c.w.Write(heads)
}

func (c *csvWriter) Row(cells []string) error {
	for j, i := range c.keep {
		c.rec[j] = cells[i]
	}
	return c.w.Write(c.rec)
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
}

func newJSONLWriter(w io.Writer, cols []column) *jsonlWriter {
	return &jsonlWriter{w: bufio.NewWriterSize(w, 64<<10), cols: cols}
}

func (j *jsonlWriter) Row(cells []string) error {
	b := append(j.buf[:0], '{')
	first := true
	for i, c := range j.cols {
		if c.tableOnly {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendJSONString(b, c.name)
		b = append(b, ':')
		b = appendJSONValue(b, c.kind, cells[i])
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
