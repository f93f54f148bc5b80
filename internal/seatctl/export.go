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
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/seatline/seatline/internal/cli"
	"github.com/seatline/seatline/internal/timeline"
)

// exportColumns are the data columns of a bundle, in file order (the chain
// column follows them). event_time is event_ms in ISO 8601.
var exportColumns = []column{
	{name: "event_time"},
	{name: "event_ms", kind: kindNumber},
	{name: "document_id"},
	{name: "action"},
	{name: "transition"},
	{name: "business"},
	{name: "org"},
	{name: "user"},
	{name: "user_id", kind: kindNumber},
	{name: "actor"},
	{name: "actor_id", kind: kindNumber},
	{name: "actor_is_bot", kind: kindNumber},
	{name: "actor_is_agent", kind: kindNumber},
	{name: "operation_type"},
	{name: "programmatic_access_type"},
	{name: "request_id"},
	{name: "actor_ip"},
	{name: "actor_country"},
	{name: "user_agent"},
	{name: "seat_assignment"},
	{name: "old_value"},
	{name: "new_value"},
	{name: "reason"},
	{name: "source"},
	{name: "source_position"},
	{name: "ingested_at"},
	{name: "enrichment"},
	{name: "enriched_at", kind: kindNullable},
	{name: "seat_status"},
	{name: "plan_type"},
	{name: "assigning_team_slug"},
	{name: "assigning_team_name"},
	{name: "assigning_team_kind"},
	{name: "billable_until", kind: kindNullable},
	{name: "seat_created_at", kind: kindNullable},
	{name: "last_activity_at", kind: kindNullable},
	{name: "last_activity_editor"},
	{name: "last_authenticated_at", kind: kindNullable},
	{name: "version", kind: kindNumber},
}

// exportSelect is the SELECT list matching exportColumns (event_time is
// formatted from event_ms).
const exportSelect = `event_ms, document_id, action, transition, business, org, user, user_id,
    actor, actor_id, actor_is_bot, actor_is_agent, operation_type, programmatic_access_type, request_id,
    actor_ip, actor_country, user_agent, seat_assignment, old_value, new_value, reason, source, source_position,
    ingested_at, enrichment, enriched_at, seat_status, plan_type, assigning_team_slug, assigning_team_name,
    assigning_team_kind, billable_until, seat_created_at, last_activity_at, last_activity_editor,
    last_authenticated_at, version`

// exportRow holds one scanned row.
type exportRow struct {
	eventMs, userID, actorID, version                                  uint64
	docID, action, transition, business, org, user, actor              string
	bot, agent                                                         uint8
	opType, progType, requestID, ip, country, ua, seatAssign           string
	oldV, newV, reason, source, position                               string
	ingestedAt                                                         time.Time
	enrichment, seatStatus, plan, teamSlug, teamName, teamKind, editor string
	enrichedAt, billable, created, activity, authAt                    *time.Time
	raw                                                                string
}

func (r *exportRow) dest(raw bool) []any {
	d := []any{&r.eventMs, &r.docID, &r.action, &r.transition, &r.business, &r.org, &r.user, &r.userID,
		&r.actor, &r.actorID, &r.bot, &r.agent, &r.opType, &r.progType, &r.requestID,
		&r.ip, &r.country, &r.ua, &r.seatAssign, &r.oldV, &r.newV, &r.reason, &r.source, &r.position,
		&r.ingestedAt, &r.enrichment, &r.enrichedAt, &r.seatStatus, &r.plan, &r.teamSlug, &r.teamName,
		&r.teamKind, &r.billable, &r.created, &r.activity, &r.editor, &r.authAt, &r.version}
	if raw {
		d = append(d, &r.raw)
	}
	return d
}

// cells formats the row as the files hold it (before the chain column).
func (r *exportRow) cells(dst []string, raw bool) []string {
	u := strconv.FormatUint
	dst = append(dst[:0], isoMs(r.eventMs), u(r.eventMs, 10), r.docID, r.action, r.transition, r.business, r.org, r.user, u(r.userID, 10),
		r.actor, u(r.actorID, 10), u(uint64(r.bot), 10), u(uint64(r.agent), 10), r.opType, r.progType, r.requestID,
		r.ip, r.country, r.ua, r.seatAssign, r.oldV, r.newV, r.reason, r.source, r.position,
		isoSec(&r.ingestedAt), r.enrichment, isoSec(r.enrichedAt), r.seatStatus, r.plan, r.teamSlug, r.teamName,
		r.teamKind, day(r.billable), isoSec(r.created), isoSec(r.activity), r.editor, isoSec(r.authAt), u(r.version, 10))
	if raw {
		dst = append(dst, r.raw)
	}
	// Values are exported as UTF-8: invalid bytes (none in a normal
	// timeline: ingest rejects them) become U+FFFD, the same in csv and jsonl.
	for i, c := range dst {
		if !utf8.ValidString(c) {
			dst[i] = strings.ToValidUTF8(c, "\uFFFD")
		}
	}
	return dst
}

// ExportOptions says what to export and where.
type ExportOptions struct {
	Orgs, Users     []string
	Range           TimeRange
	Dir             string             // created if missing; must be empty
	Formats         []string           // csv and/or jsonl; default csv
	SignKey         ed25519.PrivateKey // nil: unsigned
	CheckpointEvery int                // chain checkpoint every this many rows; default 10000
	IncludeRaw      bool               // add the raw audit event as column raw
	Now             time.Time          // generated_at; default time.Now()
}

// ExportQuery is the query of an export: the deduplicated timeline in the
// chain's order.
func ExportQuery(o ExportOptions, form Binding) Stmt {
	w := newWhere(form)
	lo, hi := o.Range.msBounds()
	w.add("event_ms >= ? AND event_ms < ?", lo, hi)
	w.in("org", o.Orgs)
	w.in("user", o.Users)
	sel := exportSelect
	if o.IncludeRaw {
		sel += ", raw"
	}
	return w.stmt("SELECT " + sel + "\nFROM seat_timeline" + w.clause() + "\nORDER BY event_ms, document_id")
}

// dataFile is one data file being written: its bytes are hashed on the
// way to the disk, its rows chained as the writer encodes them.
type dataFile struct {
	name, format string
	f            *os.File
	hw           *hashWriter
	bw           *bufio.Writer
	rw           rowWriter
	ch           *chain
}

// checkExportFormats checks --formats: csv and/or jsonl, each once.
func checkExportFormats(formats []string) error {
	if len(formats) == 0 {
		return usageErrorf("formats: give csv, jsonl or csv,jsonl")
	}
	seen := map[string]bool{}
	for _, f := range formats {
		if f != "csv" && f != "jsonl" {
			return usageErrorf("formats: %q is not csv or jsonl", f)
		}
		if seen[f] {
			return usageErrorf("formats: %s given twice", f)
		}
		seen[f] = true
	}
	return nil
}

// Export writes a bundle (see bundle.go) and returns its manifest. Rows
// stream from the ClickHouse cursor to the files: memory does not grow
// with the row count. On failure the files it created are removed.
func Export(ctx context.Context, store *timeline.Store, o ExportOptions) (m *Manifest, err error) {
	o.fillDefaults()
	if err := checkExportFormats(o.Formats); err != nil {
		return nil, err
	}
	if err := prepareDir(o.Dir); err != nil {
		return nil, err
	}
	src, err := describeSource(ctx, store)
	if err != nil {
		return nil, err
	}
	cols := append([]column(nil), exportColumns...)
	if o.IncludeRaw {
		cols = append(cols, column{name: "raw"})
	}
	b := &bundleWriter{dir: o.Dir}
	defer func() {
		if err != nil {
			b.abort()
		}
	}()
	if err := b.openDataFiles(o.Formats, cols, o.CheckpointEvery); err != nil {
		return nil, err
	}
	q := ExportQuery(o, bindingFor(store))
	span, err := b.writeRows(ctx, store, q, o.IncludeRaw)
	if err != nil {
		return nil, err
	}
	files, err := b.closeDataFiles()
	if err != nil {
		return nil, err
	}
	m = newManifest(o, src, q, cols, span, files)
	if err := b.writeManifest(m, o.SignKey); err != nil {
		return nil, err
	}
	return m, nil
}

// fillDefaults gives the options' zero values their documented defaults.
func (o *ExportOptions) fillDefaults() {
	if len(o.Formats) == 0 {
		o.Formats = []string{"csv"}
	}
	if o.CheckpointEvery <= 0 {
		o.CheckpointEvery = 10000
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	if o.Range.Until.IsZero() {
		o.Range.Until = o.Now
	}
}

// exportSource is what the manifest records of the database the rows
// come from.
type exportSource struct {
	schemaVersion int
	source        ManifestSource
}

func describeSource(ctx context.Context, store *timeline.Store) (exportSource, error) {
	schemaVersion, err := store.SchemaVersion(ctx)
	if err != nil {
		return exportSource{}, err
	}
	var serverVersion string
	if err := store.Conn().QueryRow(ctx, "SELECT version()").Scan(&serverVersion); err != nil {
		return exportSource{}, timeline.Explain(store.Config(), err)
	}
	return exportSource{schemaVersion: schemaVersion, source: ManifestSource{
		ClickHouseAddr: strings.Join(store.Config().Addrs, ","),
		Database:       store.Config().Database,
		ServerVersion:  serverVersion,
		View:           "seat_timeline",
		Deduplicated:   true,
	}}, nil
}

// bundleWriter writes a bundle's files into dir and remembers each it
// created, so that a failed export leaves none behind.
type bundleWriter struct {
	dir     string
	files   []*dataFile
	created []string
}

// abort closes the data files and removes every file the export created.
func (b *bundleWriter) abort() {
	for _, df := range b.files {
		df.f.Close()
	}
	for _, p := range b.created {
		os.Remove(p)
	}
}

// openDataFiles creates events.<format> for each format, each with its own
// hash and row chain.
func (b *bundleWriter) openDataFiles(formats []string, cols []column, checkpointEvery int) error {
	for _, format := range formats {
		name := "events." + format
		path := filepath.Join(b.dir, name)
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return err
		}
		b.created = append(b.created, path)
		df := &dataFile{name: name, format: format, f: f, hw: newHashWriter(f), ch: newChain()}
		df.ch.every = int64(checkpointEvery)
		df.bw = bufio.NewWriterSize(df.hw, 1<<20)
		if df.rw, err = newChainedRowWriter(df.bw, format, cols, df.ch); err != nil {
			return err
		}
		b.files = append(b.files, df)
	}
	return nil
}

// rowSpan is how many rows an export wrote and the first and last event's time.
type rowSpan struct {
	rows        int64
	first, last uint64 // event_ms
}

// writeRows streams q's rows from the cursor into every data file.
func (b *bundleWriter) writeRows(ctx context.Context, store *timeline.Store, q Stmt, raw bool) (rowSpan, error) {
	// Small blocks keep the client's memory flat; a big sort spills to disk
	// on the server rather than failing.
	qctx := clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{
		"max_block_size":                 8192,
		"max_bytes_before_external_sort": 1 << 30,
	}))
	rows, err := store.Conn().Query(qctx, q.SQL, q.Args()...)
	if err != nil {
		return rowSpan{}, queryError(store, "", err)
	}
	defer rows.Close()
	var (
		r     exportRow
		dest  = r.dest(raw)
		cells []string
		span  rowSpan
	)
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return span, fmt.Errorf("reading row %d: %w", span.rows+1, err)
		}
		cells = r.cells(cells, raw)
		span.rows++
		if span.rows == 1 {
			span.first = r.eventMs
		}
		span.last = r.eventMs
		// Each writer chains the row as it writes it.
		for _, df := range b.files {
			if err := df.rw.Row(cells); err != nil {
				return span, fmt.Errorf("writing %s: %w", df.name, err)
			}
		}
	}
	if err := rows.Err(); err != nil {
		return span, queryError(store, "", err)
	}
	return span, nil
}

// closeDataFiles flushes, syncs and closes the data files and describes
// each as the manifest lists it.
func (b *bundleWriter) closeDataFiles() ([]BundleFile, error) {
	var out []BundleFile
	for _, df := range b.files {
		if err := df.finish(); err != nil {
			return nil, fmt.Errorf("writing %s: %w", df.name, err)
		}
		out = append(out, BundleFile{Name: df.name, Format: df.format, Rows: df.ch.rows, Bytes: df.hw.n, SHA256: df.hw.sum(),
			ChainHead: df.ch.headHex(), Checkpoints: df.ch.cps})
	}
	return out, nil
}

func (df *dataFile) finish() error {
	if err := df.rw.Close(); err != nil {
		return err
	}
	if err := df.bw.Flush(); err != nil {
		return err
	}
	if err := df.f.Sync(); err != nil {
		return err
	}
	return df.f.Close()
}

// newManifest describes the export: what was asked, from where, how the
// files were written, and what they hold.
func newManifest(o ExportOptions, src exportSource, q Stmt, cols []column, span rowSpan, files []BundleFile) *Manifest {
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.name
	}
	params := make([]any, len(q.Values))
	copy(params, q.Values)
	m := &Manifest{
		Format:        BundleFormat,
		Generator:     "seatctl",
		GeneratedAt:   o.Now.UTC().Format(time.RFC3339),
		SchemaVersion: src.schemaVersion,
		Source:        src.source,
		Scope: Scope{
			Orgs: nonNil(o.Orgs), Users: nonNil(o.Users),
			Until: iso(o.Range.Until),
		},
		Query:   Query{SQL: q.SQL, Params: params},
		Columns: names,
		Cells:   cellEncoding(cols),
		Chain: Chain{
			Algorithm: "sha256-chain", Canonical: canonicalRules,
			Genesis: strings.Repeat("0", 64), CheckpointEvery: o.CheckpointEvery,
		},
		RowCount: span.rows,
		Files:    files,
	}
	m.Scope.SinceMs, m.Scope.UntilMs = o.Range.msBounds()
	if !o.Range.Since.IsZero() {
		m.Scope.Since = iso(o.Range.Since)
	}
	if span.rows > 0 {
		m.FirstEvent, m.LastEvent = isoMs(span.first), isoMs(span.last)
	}
	if o.SignKey != nil {
		m.Signature = &SignatureInfo{Algorithm: "ed25519", PublicKeyFingerprint: Fingerprint(o.SignKey.Public().(ed25519.PublicKey)), File: SignatureFile}
	}
	return m
}

// writeManifest writes manifest.json, its SHA-256 and, with key, its signature.
func (b *bundleWriter) writeManifest(m *Manifest, key ed25519.PrivateKey) error {
	body, err := encodeManifest(m)
	if err != nil {
		return err
	}
	if err := b.writeFile(ManifestFile, body); err != nil {
		return err
	}
	sum := sha256.Sum256(body)
	if err := b.writeFile(ManifestSum, []byte(hex.EncodeToString(sum[:])+"  "+ManifestFile+"\n")); err != nil {
		return err
	}
	if key != nil {
		sig := ed25519.Sign(key, body)
		return b.writeFile(SignatureFile, []byte(base64.StdEncoding.EncodeToString(sig)+"\n"))
	}
	return nil
}

func (b *bundleWriter) writeFile(name string, data []byte) error {
	p := filepath.Join(b.dir, name)
	b.created = append(b.created, p)
	return writeFileSync(p, data)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// encodeManifest is the manifest's JSON: indented, SQL's < and > kept
// readable.
func encodeManifest(m *Manifest) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(m); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func writeFileSync(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// prepareDir creates dir, or accepts it if it is empty.
func prepareDir(dir string) error {
	if dir == "" {
		return usageErrorf("out: the bundle directory is required (--out DIR)")
	}
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return os.MkdirAll(dir, 0o755)
	case err != nil:
		return err
	case len(entries) > 0:
		return usageErrorf("out: %s is not empty; a bundle goes into a new or empty directory", dir)
	}
	return nil
}

const exportAbout = `seatctl export: write a compliance bundle for a time range and scope

The bundle is a directory:
  events.csv / events.jsonl  every matching event of the deduplicated timeline (seat_timeline),
                             ordered by event_ms, document_id; the last column, chain_sha256,
                             is the row's link in the file's SHA-256 hash chain
  manifest.json              scope, the SQL text and its bound parameters, generated_at, schema
                             version, row count, how cells were written, SHA-256 and size of
                             every file, the chain rule, each file's chain head and checkpoints,
                             and the signing key's fingerprint
  manifest.sha256            SHA-256 of manifest.json (sha256sum -c manifest.sha256)
  manifest.sig               ed25519 signature of manifest.json, base64 (with --sign-key)
Rows stream from ClickHouse to the files: memory stays flat for any number of rows.
In events.csv a text value beginning with =, +, -, @, TAB, CR, NUL or ' is written with a '
in front (OWASP's CSV-injection guard: a spreadsheet shows it as text, and the value is the
cell without that first '); numbers are never changed. events.jsonl holds every value
exactly. The manifest states both ("cells"), and each file's chain covers its values as
written, the guard's ' included.
Check a bundle with seatctl verify; only a signature checked with a public key you
obtained separately proves who made it.

Examples:
  seatctl export --org acme-platform --since 2025-01-01 --until 2025-03-31 --out q1-2025
  seatctl export --since 90d --out last-90d --formats csv,jsonl
  seatctl keygen --out export-signing
  seatctl export --org acme-platform --since 2025-01-01 --out q1 --sign-key export-signing.key

` + timeHelp + "\n\n" + exitCodesHelp

func runExport(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("export", flag.ContinueOnError)
	var cfg timeline.Config
	clickhouseFlags(fs, &cfg)
	var o ExportOptions
	fs.Var((*cli.List)(&o.Orgs), "org", "organization(s) (default: all)")
	fs.Var((*cli.List)(&o.Users), "user", "seat holder login(s) (default: all)")
	since := fs.String("since", "", "from this time (inclusive; default: the first event)")
	until := fs.String("until", "", "to this time (exclusive; default: now)")
	fs.StringVar(&o.Dir, "out", "", "bundle directory (created; must be new or empty)")
	formats := cli.List{"csv"}
	fs.Var(&formats, "formats", "data formats: csv, jsonl or csv,jsonl")
	signKey := fs.String("sign-key", "", "ed25519 private key (PEM or raw) to sign the manifest with (see seatctl keygen)")
	fs.IntVar(&o.CheckpointEvery, "checkpoint-every", 10000, "record each file's chain head in the manifest every this many rows (1 or more)")
	fs.BoolVar(&o.IncludeRaw, "include-raw", false, "add each event's original JSON (column raw)")
	pos, err := parse(e, fs, args, exportAbout)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErrorf("unexpected argument %q (the directory is --out DIR)", pos[0])
	}
	if o.Dir == "" {
		return usageErrorf("out: the bundle directory is required (--out DIR)")
	}
	if entries, err := os.ReadDir(o.Dir); err == nil && len(entries) > 0 {
		return usageErrorf("out: %s is not empty; a bundle goes into a new or empty directory", o.Dir)
	}
	o.Formats = formats
	if err := checkExportFormats(o.Formats); err != nil {
		return err
	}
	if o.CheckpointEvery < 1 {
		return usageErrorf("checkpoint-every: must be 1 or more (a checkpoint every that many rows), got %d", o.CheckpointEvery)
	}
	o.Now = time.Now()
	if o.Range, err = ParseRange(*since, *until, o.Now); err != nil {
		return &usageError{err}
	}
	if *signKey != "" {
		if o.SignKey, err = LoadPrivateKey(*signKey); err != nil {
			return err
		}
	}
	store, err := connect(ctx, cfg, e.stderr)
	if err != nil {
		return err
	}
	defer store.Close()
	t0 := time.Now()
	m, err := Export(ctx, store, o)
	if err != nil {
		return err
	}
	return printExportSummary(e.stderr, o.Dir, m, time.Since(t0))
}

func printExportSummary(w io.Writer, dir string, m *Manifest, took time.Duration) error {
	var parts []string
	for _, f := range m.Files {
		parts = append(parts, fmt.Sprintf("%s (%s)", f.Name, humanBytes(f.Bytes)))
	}
	fmt.Fprintf(w, "exported %d rows to %s in %.1fs: %s, %s\n", m.RowCount, Visible(dir), took.Seconds(), strings.Join(parts, ", "), ManifestFile)
	for _, f := range m.Files {
		fmt.Fprintf(w, "%s chain head %s\n", f.Name, f.ChainHead)
	}
	if m.Signature != nil {
		fmt.Fprintf(w, "signed (%s) by key %s\n", SignatureFile, m.Signature.PublicKeyFingerprint)
	}
	if m.RowCount == 0 {
		fmt.Fprintln(w, "note: no events match this scope; the bundle records that (row_count 0)")
	}
	return nil
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
