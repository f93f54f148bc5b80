package seatctl

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"strconv"
)

// Bundle layout. A bundle is a directory holding
//
//	events.csv, events.jsonl   the rows (one or both formats)
//	manifest.json              scope, query, row count, file hashes, chain
//	manifest.sha256            "<sha256>  manifest.json" (sha256sum -c)
//	manifest.sig               base64 ed25519 signature of manifest.json (if signed)
const (
	BundleFormat   = "seatline-export/2"
	ManifestFile   = "manifest.json"
	ManifestSum    = "manifest.sha256"
	SignatureFile  = "manifest.sig"
	ChainColumn    = "chain_sha256"
	canonicalRules = "for each column in `columns` order: the value's byte length in decimal, ':', the value's UTF-8 bytes, ','. " +
		"Values are those the file holds: in csv the cell as read back (quotes undone; the cell guard's leading ' included), " +
		"in jsonl the decoded value (null is the empty string, a number is its literal). " +
		"chain_0 is 32 zero bytes; chain_i = SHA-256(chain_{i-1} || canonical bytes of row i), rows in ORDER BY event_ms, document_id; " +
		"each data row carries its chain_i in hex in column chain_sha256. Each file has its own chain (files[].chain_head, " +
		"files[].checkpoints): they differ where the csv cell guard changed a value."
)

// bundleFormatV1: one chain for every file (manifest chain.head and
// chain.checkpoints), no csv cell guard. Bundles made by earlier releases
// are still verified.
const bundleFormatV1 = "seatline-export/1"

// Manifest describes a bundle. Field order is the JSON order.
type Manifest struct {
	Format        string         `json:"format"`
	Generator     string         `json:"generator"`
	GeneratedAt   string         `json:"generated_at"`
	SchemaVersion int            `json:"schema_version"`
	Source        ManifestSource `json:"source"`
	Scope         Scope          `json:"scope"`
	Query         Query          `json:"query"`
	Columns       []string       `json:"columns"`
	Cells         *CellEncoding  `json:"cells,omitempty"` // format 2
	RowCount      int64          `json:"row_count"`
	FirstEvent    string         `json:"first_event,omitempty"`
	LastEvent     string         `json:"last_event,omitempty"`
	Chain         Chain          `json:"chain"`
	Files         []BundleFile   `json:"files"`
	Signature     *SignatureInfo `json:"signature,omitempty"`
}

// CellEncoding says how values were written into each format: what a
// reader must undo to get the stored values, and so what the chains cover.
type CellEncoding struct {
	CSV               string   `json:"csv"`
	CSVCellGuard      string   `json:"csv_cell_guard"` // CSVCellGuard
	CSVCellGuardRule  string   `json:"csv_cell_guard_rule"`
	CSVGuardedColumns []string `json:"csv_guarded_columns"`
	JSONL             string   `json:"jsonl"`
	Text              string   `json:"text"`
}

// cellEncoding is what Export writes, for the columns cols.
func cellEncoding(cols []column) *CellEncoding {
	e := &CellEncoding{
		CSV: "RFC 4180 as Go's encoding/csv writes it: comma-separated, LF line ends, a header line of the column names; " +
			"a cell is quoted when it holds a comma, a double quote, CR or LF, or begins with a space, and a double quote inside is doubled",
		CSVCellGuard: CSVCellGuard,
		CSVCellGuardRule: "in the columns csv_guarded_columns lists (every text column), a value beginning with =, +, -, @, TAB (0x09), " +
			"CR (0x0D), NUL (0x00) or ' is written with a ' in front, so that a spreadsheet shows it as text rather than run it as a formula " +
			"(OWASP, CSV Injection); the stored value is such a cell without its first character. Numeric columns are never changed",
		CSVGuardedColumns: []string{},
		JSONL: "one JSON object a line, keys in column order then chain_sha256; strings as RFC 8259 with U+2028 and U+2029 escaped too, " +
			"numeric columns as JSON numbers, NULL as null; no guard: the values are as stored",
		Text: "UTF-8; a byte that is not UTF-8 (ingest stores none) is written as U+FFFD",
	}
	for _, c := range cols {
		if c.guarded() {
			e.CSVGuardedColumns = append(e.CSVGuardedColumns, c.name)
		}
	}
	return e
}

// ManifestSource says where the rows were read.
type ManifestSource struct {
	ClickHouseAddr string `json:"clickhouse_addr"`
	Database       string `json:"database"`
	ServerVersion  string `json:"server_version"`
	View           string `json:"view"`
	Deduplicated   bool   `json:"deduplicated"`
}

// Scope is what the export covers.
type Scope struct {
	Orgs    []string `json:"orgs"`  // empty: every org
	Users   []string `json:"users"` // empty: every user
	Since   string   `json:"since"` // inclusive; "" = from the first event
	Until   string   `json:"until"` // exclusive
	SinceMs uint64   `json:"since_ms"`
	UntilMs uint64   `json:"until_ms"`
}

// Query is the SQL text as sent and the bound values in order: value i is
// the i-th "?" (bound client-side by clickhouse-go, escaped, on servers
// before 22.8) or the server-side parameter {p<i>:Type}.
type Query struct {
	SQL    string `json:"sql"`
	Params []any  `json:"params"`
}

// Chain is the rule of the hash chains over the rows. Head and Checkpoints
// are format 1's single chain; format 2 keeps them per file.
type Chain struct {
	Algorithm       string       `json:"algorithm"`
	Canonical       string       `json:"canonical_row"`
	Genesis         string       `json:"genesis"`
	Head            string       `json:"head,omitempty"`
	CheckpointEvery int          `json:"checkpoint_every"`
	Checkpoints     []Checkpoint `json:"checkpoints,omitempty"`
}

// Checkpoint is chain_Row.
type Checkpoint struct {
	Row   int64  `json:"row"`
	Chain string `json:"chain"`
}

// BundleFile is one data file: its bytes, and the chain over its rows.
type BundleFile struct {
	Name        string       `json:"name"`
	Format      string       `json:"format"`
	Rows        int64        `json:"rows"`
	Bytes       int64        `json:"bytes"`
	SHA256      string       `json:"sha256"`
	ChainHead   string       `json:"chain_head,omitempty"`  // format 2
	Checkpoints []Checkpoint `json:"checkpoints,omitempty"` // format 2
}

// fileChain is the head and checkpoints bf's rows must chain to.
func (m *Manifest) fileChain(bf *BundleFile) (head string, cps []Checkpoint) {
	if m.Format == bundleFormatV1 {
		return m.Chain.Head, m.Chain.Checkpoints
	}
	return bf.ChainHead, bf.Checkpoints
}

// SignatureInfo says the manifest is signed and by which key.
type SignatureInfo struct {
	Algorithm            string `json:"algorithm"`
	PublicKeyFingerprint string `json:"public_key_fingerprint"`
	File                 string `json:"file"`
}

// chain computes chain_i over canonical rows.
type chain struct {
	h      hash.Hash
	head   [32]byte
	canon  []byte
	rows   int64
	hexBuf [64]byte
	every  int64        // record a checkpoint every this many rows (0: none)
	cps    []Checkpoint // the checkpoints recorded
}

func newChain() *chain { return &chain{h: sha256.New()} }

// canonical appends the canonical bytes of cells to b.
func canonical(b []byte, cells []string) []byte {
	for _, c := range cells {
		b = strconv.AppendInt(b, int64(len(c)), 10)
		b = append(b, ':')
		b = append(b, c...)
		b = append(b, ',')
	}
	return b
}

// link returns SHA-256(prev || canonical(cells)).
func (c *chain) link(prev [32]byte, cells []string) [32]byte {
	c.canon = canonical(c.canon[:0], cells)
	c.h.Reset()
	c.h.Write(prev[:])
	c.h.Write(c.canon)
	var out [32]byte
	c.h.Sum(out[:0])
	return out
}

// ChainLink is one step of a bundle's row chain: SHA-256(prev ||
// canonical bytes of values), values being a row's cells before the chain
// column.
func ChainLink(prev [32]byte, values []string) [32]byte { return newChain().link(prev, values) }

// add advances the chain by one row and returns the new head in hex (valid
// until the next call).
func (c *chain) add(cells []string) string {
	c.head = c.link(c.head, cells)
	c.rows++
	hex.Encode(c.hexBuf[:], c.head[:])
	link := string(c.hexBuf[:])
	if c.every > 0 && c.rows%c.every == 0 {
		c.cps = append(c.cps, Checkpoint{Row: c.rows, Chain: link})
	}
	return link
}

func (c *chain) headHex() string { return hex.EncodeToString(c.head[:]) }

// hashWriter counts and hashes what passes to w.
type hashWriter struct {
	w io.Writer
	h hash.Hash
	n int64
}

func newHashWriter(w io.Writer) *hashWriter { return &hashWriter{w: w, h: sha256.New()} }

func (hw *hashWriter) Write(p []byte) (int, error) {
	n, err := hw.w.Write(p)
	hw.h.Write(p[:n])
	hw.n += int64(n)
	return n, err
}

func (hw *hashWriter) sum() string { return hex.EncodeToString(hw.h.Sum(nil)) }

// csvReader reads the csv that encoding/csv writes (comma, "\n" line ends,
// quotes doubled) byte for byte: unlike encoding/csv it keeps a "\r" inside
// a quoted value, so every value reads back exactly as exported.
type csvReader struct {
	r      *bufio.Reader
	line   int // line of the record last returned (1-based)
	next   int // line the next record starts on
	fields []string
	buf    []byte
}

func newCSVReader(r io.Reader) *csvReader {
	return &csvReader{r: bufio.NewReaderSize(r, 1<<20), next: 1}
}

var errCSVQuote = errors.New(`bare " in an unquoted value`)

// Read returns the next record (valid until the next call) or io.EOF.
func (c *csvReader) Read() ([]string, error) {
	c.line = c.next
	c.fields = c.fields[:0]
	if _, err := c.r.Peek(1); err != nil {
		return nil, err // io.EOF at the end
	}
	for {
		c.buf = c.buf[:0]
		b, err := c.r.ReadByte()
		if err == nil && b == '"' {
			// Quoted value.
			for {
				b, err = c.r.ReadByte()
				if err != nil {
					return nil, fmt.Errorf("line %d: quoted value not closed", c.line)
				}
				if b == '"' {
					b, err = c.r.ReadByte()
					if err == nil && b == '"' {
						c.buf = append(c.buf, '"')
						continue
					}
					break // err or the byte after the closing quote
				}
				if b == '\n' {
					c.next++
				}
				c.buf = append(c.buf, b)
			}
			if err == nil && b != ',' && b != '\n' {
				return nil, fmt.Errorf("line %d: unexpected %q after a quoted value", c.next, b)
			}
		} else {
			for err == nil && b != ',' && b != '\n' {
				if b == '"' {
					return nil, fmt.Errorf("line %d: %w", c.next, errCSVQuote)
				}
				c.buf = append(c.buf, b)
				b, err = c.r.ReadByte()
			}
		}
		if err != nil && err != io.EOF {
			return nil, err
		}
		c.fields = append(c.fields, string(c.buf))
		if err == io.EOF || b == '\n' {
			c.next++
			return c.fields, nil
		}
	}
}
