package seatctl

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode/utf8"
)

// VerifyOptions says what to check beyond hashes and the chain.
type VerifyOptions struct {
	PubKey ed25519.PublicKey // check manifest.sig with this key; nil: not checked (a warning)
}

// Problem is one thing that does not check out, with where it is.
type Problem struct {
	File    string // manifest.json, manifest.sig, events.csv, …
	Row     int64  // 1-based data row (0: the file as a whole)
	Message string // includes the row number when Row > 0
}

func (p Problem) String() string { return p.File + ": " + p.Message }

// VerifyReport is the outcome of Verify.
type VerifyReport struct {
	Manifest *Manifest // nil if manifest.json could not be read
	Passed   []string
	Problems []Problem
	Warnings []string
	lines    []string // every result in the order checked
}

// OK reports whether nothing failed.
func (r *VerifyReport) OK() bool { return len(r.Problems) == 0 }

func (r *VerifyReport) fail(file string, row int64, format string, args ...any) {
	r.problem(Problem{File: file, Row: row, Message: fmt.Sprintf(format, args...)})
}

func (r *VerifyReport) problem(p Problem) {
	r.Problems = append(r.Problems, p)
	r.lines = append(r.lines, "FAIL  "+p.String())
}

func (r *VerifyReport) pass(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.Passed = append(r.Passed, msg)
	r.lines = append(r.lines, "ok    "+msg)
}

func (r *VerifyReport) warn(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.Warnings = append(r.Warnings, msg)
	r.lines = append(r.lines, "warn  "+msg)
}

// Verify checks the bundle in dir: manifest.json against manifest.sha256
// and (with a key) manifest.sig, then every data file against its size and
// SHA-256 and, re-reading its rows, against the hash chain: each row's own
// link, the checkpoints, the head and the row count. It reads files
// streaming, so memory does not grow with the bundle. The error is for a
// dir that cannot be read at all; everything else is in the report.
func Verify(dir string, o VerifyOptions) (*VerifyReport, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, usageErrorf("no bundle at %s: the directory does not exist", dir)
		}
		return nil, err
	}
	if !fi.IsDir() {
		return nil, usageErrorf("%s is not a directory (a bundle is the directory export wrote)", dir)
	}
	r := &VerifyReport{}
	body, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			r.fail(ManifestFile, 0, "missing: %s is not a seatctl export bundle", dir)
			return r, nil
		}
		return nil, err
	}

	// The manifest's own hash.
	sumFile, err := os.ReadFile(filepath.Join(dir, ManifestSum))
	switch {
	case errors.Is(err, os.ErrNotExist):
		r.fail(ManifestSum, 0, "missing (it holds the manifest's SHA-256)")
	case err != nil:
		return nil, err
	default:
		want, _, _ := strings.Cut(strings.TrimSpace(string(sumFile)), " ")
		sum := sha256.Sum256(body)
		if got := hex.EncodeToString(sum[:]); !strings.EqualFold(got, want) {
			r.fail(ManifestFile, 0, "its SHA-256 is %s but %s says %s: the manifest was changed after export", got, ManifestSum, want)
		} else {
			r.pass("%s matches %s", ManifestFile, ManifestSum)
		}
	}

	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		r.fail(ManifestFile, 0, "not a valid manifest: %v", err)
		return r, nil
	}
	r.Manifest = &m
	if m.Format != BundleFormat && m.Format != bundleFormatV1 {
		r.fail(ManifestFile, 0, "format is %q, this seatctl reads %q and %q", m.Format, BundleFormat, bundleFormatV1)
		return r, nil
	}

	verifySignature(r, dir, body, &m, o.PubKey)

	if len(m.Files) == 0 {
		r.fail(ManifestFile, 0, "lists no data files")
	}
	listed := map[string]bool{ManifestFile: true, ManifestSum: true, SignatureFile: true}
	for i := range m.Files {
		bf := &m.Files[i]
		listed[bf.Name] = true
		if bf.Rows != m.RowCount {
			r.fail(ManifestFile, 0, "files[%d] (%s) has rows %d but row_count is %d", i, bf.Name, bf.Rows, m.RowCount)
		}
		if err := verifyFile(r, dir, &m, bf); err != nil {
			return nil, err
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if !listed[e.Name()] {
			r.warn("%s is not part of the bundle (not in the manifest)", e.Name())
		}
	}
	return r, nil
}

func verifySignature(r *VerifyReport, dir string, body []byte, m *Manifest, pub ed25519.PublicKey) {
	named := ""
	if m.Signature != nil {
		named = m.Signature.PublicKeyFingerprint
	}
	sigText, err := os.ReadFile(filepath.Join(dir, SignatureFile))
	haveSig := err == nil
	if pub == nil {
		switch {
		case haveSig || named != "":
			r.warn("signature not checked: pass --pub-key with the signer's public key (the manifest names key %s)", named)
		default:
			r.warn("the bundle is not signed: the hashes and the chain show damage and naive edits, only a signature proves who made the bundle")
		}
		return
	}
	fp := Fingerprint(pub)
	if !haveSig {
		r.fail(SignatureFile, 0, "missing: the bundle is not signed, but --pub-key asks for a signature check")
		return
	}
	sig, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(sigText)))
	if err != nil || len(sig) != ed25519.SignatureSize {
		r.fail(SignatureFile, 0, "not a base64 ed25519 signature")
		return
	}
	if !ed25519.Verify(pub, body, sig) {
		why := "manifest.json or manifest.sig was changed after signing"
		if named != "" && named != fp {
			why = "the manifest says it was signed by key " + named + ": wrong key?"
		}
		r.fail(SignatureFile, 0, "the signature does not verify with public key %s (%s)", fp, why)
		return
	}
	if named != "" && named != fp {
		r.fail(ManifestFile, 0, "signature.public_key_fingerprint is %s but the manifest was signed by %s", named, fp)
		return
	}
	r.pass("signature: ed25519, public key %s", fp)
}

// rowSource yields a data file's rows as cells (values then the chain
// column) and the line each starts on.
type rowSource interface {
	header() ([]string, error) // nil for formats without one
	next() (cells []string, line int, err error)
}

// verifyFile checks one data file: its size and SHA-256, its header, and
// every row against the hash chain, the checkpoints, the head, the row
// count and (csv) the cell guard. The error is for a file that exists but
// cannot be opened; everything else goes into r.
func verifyFile(r *VerifyReport, dir string, m *Manifest, bf *BundleFile) error {
	name := bf.Name
	if name == "" || name != filepath.Base(name) || name == "." || name == ".." {
		r.fail(ManifestFile, 0, "file name %q is not a plain file name", name)
		return nil
	}
	f, err := os.Open(filepath.Join(dir, name))
	if errors.Is(err, os.ErrNotExist) {
		r.fail(name, 0, "missing (the manifest lists it)")
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	hw := newHashWriter(io.Discard)
	in := io.TeeReader(f, hw)
	want := append(append([]string(nil), m.Columns...), ChainColumn)

	var src rowSource
	switch bf.Format {
	case "csv":
		src = &csvRows{r: newCSVReader(in)}
	case "jsonl":
		src = &jsonlRows{r: bufio.NewReaderSize(in, 1<<20), cols: want}
	default:
		r.fail(ManifestFile, 0, "%s: unknown format %q", name, bf.Format)
		return nil
	}
	rowsOK := checkHeader(r, name, src, want)
	fc := newFileCheck(m, bf)
	if fc.head == "" {
		r.fail(ManifestFile, 0, "%s: no chain_head: the manifest does not say where the file's chain ends", name)
	}
	var readErr error
	if rowsOK {
		readErr = fc.readRows(src)
	}
	if rowsOK && readErr == nil {
		// Read the rest so the file hash covers every byte.
		_, readErr = io.Copy(io.Discard, in)
	} else {
		io.Copy(io.Discard, in)
	}

	// Whole-file checks first, then the first bad row.
	if got := hw.sum(); !strings.EqualFold(got, bf.SHA256) || hw.n != bf.Bytes {
		r.fail(name, 0, "SHA-256 %s, %d bytes; the manifest says %s, %d bytes: the file was changed", got, hw.n, bf.SHA256, bf.Bytes)
	} else {
		r.pass("%s: SHA-256 and size match the manifest", name)
	}
	if readErr != nil {
		r.fail(name, fc.rows+1, "cannot be read past row %d: %v", fc.rows, readErr)
	}
	if rowsOK {
		fc.report(r, readErr)
	}
	return nil
}

// checkHeader checks a file's header (csv) against the manifest's
// columns; false: the rows cannot be read as those columns.
func checkHeader(r *VerifyReport, name string, src rowSource, want []string) bool {
	head, err := src.header()
	switch {
	case err != nil:
		r.fail(name, 0, "cannot read the header: %v", err)
		return false
	case head != nil && strings.Join(head, ",") != strings.Join(want, ","):
		r.fail(name, 0, "header %q differs from the manifest's columns %q", strings.Join(head, ","), strings.Join(want, ","))
		return false
	}
	return true
}

// fileCheck re-reads a data file's rows against the manifest: the chain
// over the values, each row's stored link, the checkpoints and the head,
// and in csv the cell guard. It keeps the first problem of each kind.
type fileCheck struct {
	name        string
	m           *Manifest
	n           int // data columns (the chain column follows them)
	docCol      int // document_id's column, -1 if none
	head        string
	checkpoints []Checkpoint
	guarded     []bool // csv with the cell guard: the guarded columns

	ch         *chain
	prevStored [32]byte // the previous row's chain column: each row is checked against it
	rows       int64
	badRows    int64
	firstBad   *Problem
	unguarded  *Problem
	cpIdx      int
	cpBad      *Problem
	lastCP     int64
}

func newFileCheck(m *Manifest, bf *BundleFile) *fileCheck {
	fc := &fileCheck{name: bf.Name, m: m, n: len(m.Columns), docCol: -1, ch: newChain()}
	for i, c := range m.Columns {
		if c == "document_id" {
			fc.docCol = i
		}
	}
	fc.head, fc.checkpoints = m.fileChain(bf)
	// A csv file must hold what the manifest says was written: no text
	// cell a spreadsheet would run.
	if bf.Format == "csv" && m.Cells != nil && m.Cells.CSVCellGuard == CSVCellGuard {
		fc.guarded = make([]bool, fc.n)
		for i, c := range m.Columns {
			fc.guarded[i] = contains(m.Cells.CSVGuardedColumns, c)
		}
	}
	return fc
}

// readRows checks every row src yields; the error is one that stopped
// the reading.
func (fc *fileCheck) readRows(src rowSource) error {
	for {
		cells, line, err := src.next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("line %d: %v", line, err)
		}
		fc.rows++
		values := cells
		if len(cells) == fc.n+1 {
			values = cells[:fc.n]
		} else {
			values = make([]string, fc.n)
			copy(values, cells)
		}
		fc.checkLink(cells, values, line)
		fc.checkGuard(values)
		fc.checkCheckpoint()
	}
}

// checkLink checks the row's chain column against the link the chain
// gives it from the previous row's stored link.
func (fc *fileCheck) checkLink(cells, values []string, line int) {
	stored := ""
	if len(cells) == fc.n+1 {
		stored = cells[fc.n]
	}
	trueBefore := fc.ch.head
	fc.ch.add(values)
	expect := fc.ch.head
	if fc.prevStored != trueBefore {
		expect = fc.ch.link(fc.prevStored, values)
	}
	var storedBytes [32]byte
	storedOK := len(stored) == 64
	if storedOK {
		_, err := hex.Decode(storedBytes[:], []byte(stored))
		storedOK = err == nil
	}
	if !storedOK || storedBytes != expect || len(cells) != fc.n+1 {
		fc.badRows++
		if fc.firstBad == nil {
			fc.firstBad = fc.badRow(cells, line)
		}
	}
	if storedOK {
		fc.prevStored = storedBytes
	} else {
		fc.prevStored = expect
	}
}

// badRow says where a row that does not link is and what is wrong with it.
func (fc *fileCheck) badRow(cells []string, line int) *Problem {
	doc := ""
	if fc.docCol >= 0 && fc.docCol < len(cells) {
		doc = cells[fc.docCol]
	}
	where := fmt.Sprintf("row %d", fc.rows)
	if line != int(fc.rows) {
		where += fmt.Sprintf(" (line %d)", line)
	}
	msg := fmt.Sprintf("%s does not match the chain (document_id %s): this row was changed, or a row before it was removed or inserted", where, doc)
	if len(cells) != fc.n+1 {
		msg = fmt.Sprintf("%s has %d values, the manifest's columns and the chain make %d (document_id %s)", where, len(cells), fc.n+1, doc)
	}
	return &Problem{File: fc.name, Row: fc.rows, Message: msg}
}

// checkGuard finds the first guarded csv cell written without the guard.
func (fc *fileCheck) checkGuard(values []string) {
	if fc.unguarded != nil || fc.guarded == nil {
		return
	}
	for i, v := range values {
		if fc.guarded[i] && guardCSV(v) != v && v[0] != '\'' {
			fc.unguarded = &Problem{File: fc.name, Row: fc.rows, Message: fmt.Sprintf("row %d, column %s begins with %q without the cell guard the manifest states (%s): a spreadsheet would run it as a formula",
				fc.rows, fc.m.Columns[i], v[:1], CSVCellGuard)}
			return
		}
	}
}

// checkCheckpoint compares the chain with the manifest's checkpoint at
// this row, if there is one.
func (fc *fileCheck) checkCheckpoint() {
	rows := fc.rows
	for fc.cpIdx < len(fc.checkpoints) && fc.checkpoints[fc.cpIdx].Row < rows {
		fc.cpIdx++
	}
	if fc.cpIdx < len(fc.checkpoints) && fc.checkpoints[fc.cpIdx].Row == rows {
		if fc.ch.headHex() != strings.ToLower(fc.checkpoints[fc.cpIdx].Chain) && fc.cpBad == nil {
			fc.cpBad = &Problem{File: fc.name, Row: rows, Message: fmt.Sprintf("rows %d–%d do not match the manifest's checkpoint at row %d: rows in that range were changed and the chain column recomputed", fc.lastCP+1, rows, rows)}
		}
		fc.lastCP = rows
		fc.cpIdx++
	}
}

// report adds the row checks' outcome to r: the first bad row, an
// unguarded cell, the row count, then the checkpoints and the head.
func (fc *fileCheck) report(r *VerifyReport, readErr error) {
	name, m, rows := fc.name, fc.m, fc.rows
	if fc.firstBad != nil {
		if fc.badRows > 1 {
			fc.firstBad.Message += fmt.Sprintf(" (%d rows in all do not match)", fc.badRows)
		}
		r.problem(*fc.firstBad)
	}
	if fc.unguarded != nil {
		r.problem(*fc.unguarded)
	}
	if rows != m.RowCount {
		r.fail(name, 0, "holds %d rows, the manifest says %d: rows were removed or added", rows, m.RowCount)
	}
	got := fc.ch.headHex()
	switch {
	case fc.firstBad == nil && fc.cpBad != nil:
		r.problem(*fc.cpBad)
	case fc.firstBad == nil && rows == m.RowCount && fc.head != "" && got != strings.ToLower(fc.head):
		r.fail(name, 0, "the chain over its rows ends in %s, the manifest's head is %s: rows after the last checkpoint were changed and the chain column recomputed", got, fc.head)
	case fc.firstBad == nil && rows == m.RowCount && readErr == nil && fc.head != "" && fc.unguarded == nil:
		r.pass("%s: %d rows, every row's chain link, %d checkpoints and the head %s match", name, rows, len(fc.checkpoints), got)
	}
}

// ---- csv ----

type csvRows struct{ r *csvReader }

func (c *csvRows) header() ([]string, error) {
	h, err := c.r.Read()
	if err == io.EOF {
		return nil, errors.New("the file is empty")
	}
	return append([]string(nil), h...), err
}

func (c *csvRows) next() ([]string, int, error) {
	rec, err := c.r.Read()
	return rec, c.r.line, err
}

// ---- jsonl ----

type jsonlRows struct {
	r     *bufio.Reader
	cols  []string
	line  int
	cells []string
}

func (j *jsonlRows) header() ([]string, error) { return nil, nil }

func (j *jsonlRows) next() ([]string, int, error) {
	b, err := j.r.ReadBytes('\n')
	if len(b) == 0 && err == io.EOF {
		return nil, j.line + 1, io.EOF
	}
	if err != nil && err != io.EOF {
		return nil, j.line + 1, err
	}
	j.line++
	if cells, ok := j.fast(b); ok {
		return cells, j.line, nil
	}
	var obj map[string]any
	line := bytes.TrimSuffix(b, []byte("\n"))
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	j.cells = j.cells[:0]
	derr := dec.Decode(&obj)
	if derr == nil && dec.InputOffset() != int64(len(line)) {
		// The decoder stops after the object: bytes after it on the line
		// are no part of any value, so no chain would cover them.
		derr = fmt.Errorf("%q after the object", line[dec.InputOffset():])
	}
	if derr != nil {
		// Unreadable: a row whose values do not match anything.
		return append(j.cells, "(unreadable JSON: "+derr.Error()+")"), j.line, nil
	}
	for _, c := range j.cols {
		v, ok := obj[c]
		if !ok {
			j.cells = append(j.cells, "\x00missing")
			continue
		}
		switch x := v.(type) {
		case nil:
			j.cells = append(j.cells, "")
		case string:
			j.cells = append(j.cells, x)
		case json.Number:
			j.cells = append(j.cells, string(x))
		default:
			j.cells = append(j.cells, fmt.Sprintf("\x00%v", x))
		}
	}
	if len(obj) != len(j.cols) {
		extra := []string{}
		for k := range obj {
			if !contains(j.cols, k) {
				extra = append(extra, k)
			}
		}
		sort.Strings(extra)
		j.cells = append(j.cells, "\x00extra:"+strings.Join(extra, ","))
	}
	return j.cells, j.line, nil
}

// fast reads a line that is exactly what export writes: one flat object
// whose keys are the columns in order, each value a string, a number or
// null, no insignificant white space. Anything else (ok false) goes the
// general encoding/json way, which gives the same values for any line the
// fast path does accept.
func (j *jsonlRows) fast(b []byte) ([]string, bool) {
	b = bytes.TrimSuffix(b, []byte("\n"))
	if len(b) < 2 || b[0] != '{' || b[len(b)-1] != '}' {
		return nil, false
	}
	p := 1
	j.cells = j.cells[:0]
	for i, col := range j.cols {
		if i > 0 {
			if p >= len(b) || b[p] != ',' {
				return nil, false
			}
			p++
		}
		// The key, as export writes it (column names need no escaping).
		if p+len(col)+3 > len(b) || b[p] != '"' || string(b[p+1:p+1+len(col)]) != col || b[p+1+len(col)] != '"' || b[p+2+len(col)] != ':' {
			return nil, false
		}
		p += len(col) + 3
		if p >= len(b) {
			return nil, false
		}
		switch c := b[p]; {
		case c == '"':
			end := p + 1
			escaped := false
			for end < len(b) && b[end] != '"' {
				if b[end] == '\\' {
					escaped = true
					end++
				}
				end++
			}
			if end >= len(b) {
				return nil, false
			}
			tok := b[p : end+1]
			if !escaped && utf8.Valid(tok) && noControl(tok) {
				j.cells = append(j.cells, string(tok[1:len(tok)-1]))
			} else {
				var s string
				if err := json.Unmarshal(tok, &s); err != nil {
					return nil, false
				}
				j.cells = append(j.cells, s)
			}
			p = end + 1
		case c == 'n':
			if !bytes.HasPrefix(b[p:], []byte("null")) {
				return nil, false
			}
			j.cells = append(j.cells, "")
			p += 4
		case c == '-' || c >= '0' && c <= '9':
			end := p
			for end < len(b) && (b[end] == '-' || b[end] == '+' || b[end] == '.' || b[end] == 'e' || b[end] == 'E' || b[end] >= '0' && b[end] <= '9') {
				end++
			}
			if !json.Valid(b[p:end]) {
				return nil, false
			}
			j.cells = append(j.cells, string(b[p:end]))
			p = end
		default:
			return nil, false
		}
	}
	if p != len(b)-1 {
		return nil, false
	}
	return j.cells, true
}

func noControl(b []byte) bool {
	for _, c := range b {
		if c < 0x20 {
			return false
		}
	}
	return true
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// ---- command ----

const verifyAbout = `seatctl verify: check an export bundle (offline: no ClickHouse needed)

Usage: seatctl verify [--pub-key FILE] DIR

Checks, printing each result:
  manifest.json against manifest.sha256, and with --pub-key the ed25519 signature in
  manifest.sig (and that the manifest names that key);
  every data file's size and SHA-256 against the manifest;
  every row, re-read and re-hashed: its chain_sha256 must be SHA-256(previous row's
  chain_sha256 || the row's canonical bytes); the chain must pass through the manifest's
  checkpoints and end at its head; the row count must match.
A changed value names its row and document_id; a removed or inserted row shows as
the first row that no longer links, plus a row-count mismatch.

Examples:
  seatctl verify q1-2025
  seatctl verify q1-2025 --pub-key export-signing.pub

` + exitCodesHelp

func runVerify(_ context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	dir := fs.String("bundle", "", "bundle directory (or give it as the argument)")
	pubKey := fs.String("pub-key", "", "ed25519 public key (PEM or raw) to check the signature with")
	pos, err := parse(e, fs, args, verifyAbout)
	if err != nil {
		return err
	}
	switch {
	case len(pos) == 1 && *dir == "":
		*dir = pos[0]
	case len(pos) > 0:
		return usageErrorf("give one bundle directory (got %s)", strings.Join(pos, " "))
	case *dir == "":
		return usageErrorf("which bundle? seatctl verify DIR")
	}
	var o VerifyOptions
	if *pubKey != "" {
		if o.PubKey, err = LoadPublicKey(*pubKey); err != nil {
			return err
		}
	}
	rep, err := Verify(*dir, o)
	if err != nil {
		return err
	}
	PrintReport(e.stdout, *dir, rep)
	if !rep.OK() {
		return errVerifyFailed
	}
	return nil
}

// PrintReport prints a verification report. Each line is one result and
// goes through Visible: a bundle is untrusted input, and a value or a file
// name in it must neither drive the terminal nor forge a line of the
// report ("\nverified: the bundle is intact").
func PrintReport(w io.Writer, dir string, rep *VerifyReport) {
	if m := rep.Manifest; m != nil {
		scope := "all orgs"
		if len(m.Scope.Orgs) > 0 {
			scope = "org " + strings.Join(m.Scope.Orgs, ",")
		}
		if len(m.Scope.Users) > 0 {
			scope += ", user " + strings.Join(m.Scope.Users, ",")
		}
		since := m.Scope.Since
		if since == "" {
			since = "the first event"
		}
		fmt.Fprintln(w, Visible(fmt.Sprintf("bundle %s: %d rows, %s, %s to %s, generated %s, schema %d", dir, m.RowCount, scope, since, m.Scope.Until, m.GeneratedAt, m.SchemaVersion)))
	}
	for _, l := range rep.lines {
		fmt.Fprintln(w, Visible(l))
	}
	if rep.OK() {
		fmt.Fprintln(w, "verified: the bundle is intact")
	} else {
		fmt.Fprintf(w, "verification FAILED: %d problem(s)\n", len(rep.Problems))
	}
}
