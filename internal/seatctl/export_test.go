package seatctl_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/seatline/seatline/internal/seatctl"
	"github.com/seatline/seatline/internal/seatctl/seatdata"
	"github.com/seatline/seatline/internal/testenv"
)

// keyPair writes a key pair into dir and returns the two paths.
func keyPair(t *testing.T, dir, name string) (key, pub string) {
	t.Helper()
	var out, errb bytes.Buffer
	prefix := filepath.Join(dir, name)
	if c := seatctl.Main(context.Background(), []string{"keygen", "--out", prefix}, &out, &errb); c != 0 {
		t.Fatalf("keygen: %d %s", c, errb.String())
	}
	if !strings.Contains(out.String(), "fingerprint: sha256:") {
		t.Fatalf("keygen output: %s", out.String())
	}
	if fi, err := os.Stat(prefix + ".key"); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("private key mode: %v %v", fi.Mode(), err)
	}
	return prefix + ".key", prefix + ".pub"
}

func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), filepath.Base(src))
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// editLines rewrites a file line by line (1-based numbers).
func editLines(t *testing.T, path string, edit func(n int, line string) (string, bool)) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(b), "\n")
	var out strings.Builder
	for i, l := range lines {
		if l == "" {
			continue
		}
		if nl, keep := edit(i+1, l); keep {
			out.WriteString(nl)
		}
	}
	if err := os.WriteFile(path, []byte(out.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

func verify(t *testing.T, dir string, args ...string) (int, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := seatctl.Main(context.Background(), append([]string{"verify", dir}, args...), &out, &errb)
	return code, out.String() + errb.String()
}

func TestExportVerifyRoundTripAndTampering(t *testing.T) {
	b := newBed(t)
	fillKnown(t, b, time.Now())
	keys := t.TempDir()
	key, pub := keyPair(t, keys, "signing")
	_, otherPub := keyPair(t, keys, "other")

	bundle := filepath.Join(t.TempDir(), "q1")
	code, _, errs := b.run(t, "export", "--org", "acme-platform,acme-mobile,acme-data", "--since", "2025-03-01", "--until", "2025-03-31",
		"--out", bundle, "--formats", "csv,jsonl", "--sign-key", key, "--checkpoint-every", "4")
	if code != 0 {
		t.Fatalf("export: exit %d: %s", code, errs)
	}
	if !strings.Contains(errs, "exported 11 rows") || !strings.Contains(errs, "signed (manifest.sig) by key sha256:") {
		t.Errorf("export summary: %s", errs)
	}
	var m seatctl.Manifest
	body, _ := os.ReadFile(filepath.Join(bundle, "manifest.json"))
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	v, _ := b.store.SchemaVersion(context.Background())
	if m.RowCount != 11 || m.SchemaVersion != v || len(m.Files) != 2 || m.Signature == nil ||
		len(m.Files[0].Checkpoints) != 2 || len(m.Files[1].Checkpoints) != 2 || m.Format != "seatline-export/2" ||
		m.Cells == nil || m.Cells.CSVCellGuard != "owasp-quote-prefix" || !slices.Contains(m.Cells.CSVGuardedColumns, "actor") ||
		slices.Contains(m.Cells.CSVGuardedColumns, "event_ms") ||
		!strings.Contains(m.Query.SQL, "FROM seat_timeline") || !strings.Contains(m.Query.SQL, "ORDER BY event_ms, document_id") ||
		len(m.Query.Params) != 5 || m.Scope.Since != "2025-03-01T00:00:00.000Z" || m.Scope.Until != "2025-04-01T00:00:00.000Z" ||
		m.FirstEvent != "2025-03-01T01:00:00.000Z" || m.LastEvent != "2025-03-31T23:59:59.999Z" {
		t.Errorf("manifest:\n%s", body)
	}
	if strings.Contains(string(body), `\u003c`) {
		t.Error("manifest escapes < in the SQL")
	}

	// Intact: passes, with and without the key (unchecked signature: a warning).
	if code, out := verify(t, bundle, "--pub-key", pub); code != 0 || !strings.Contains(out, "verified: the bundle is intact") ||
		!strings.Contains(out, "ok    signature: ed25519") || !strings.Contains(out, "events.csv: 11 rows, every row's chain link, 2 checkpoints") ||
		!strings.Contains(out, "events.jsonl: 11 rows") {
		t.Fatalf("intact bundle: exit %d\n%s", code, out)
	}
	if code, out := verify(t, bundle); code != 0 || !strings.Contains(out, "warn  signature not checked") {
		t.Errorf("no key: exit %d\n%s", code, out)
	}
	// The same check through the library.
	rep, err := seatctl.Verify(bundle, seatctl.VerifyOptions{})
	if err != nil || !rep.OK() {
		t.Fatalf("Verify: %v %+v", err, rep)
	}

	// The private key given as --pub-key is refused before anything is
	// checked: exit 2, naming the flag and what the file holds.
	if code, out := verify(t, bundle, "--pub-key", key); code != 2 || !strings.Contains(out, "pub-key: "+key+" is not an ed25519 public key: it holds a private key") ||
		strings.Contains(out, "verified") {
		t.Errorf("private key as --pub-key: exit %d\n%s", code, out)
	}

	// A wrong key fails the signature, naming both keys.
	if code, out := verify(t, bundle, "--pub-key", otherPub); code != 1 || !strings.Contains(out, "FAIL  manifest.sig: the signature does not verify with public key") || !strings.Contains(out, "wrong key?") {
		t.Errorf("wrong key: exit %d\n%s", code, out)
	}

	// One byte of events.csv changed: row 5 (e05's actor admin1 → admin7).
	d := copyDir(t, bundle)
	editLines(t, filepath.Join(d, "events.csv"), func(n int, l string) (string, bool) {
		if n == 6 {
			return strings.Replace(l, "admin1", "admin7", 1), true
		}
		return l, true
	})
	code, out := verify(t, d, "--pub-key", pub)
	if code != 1 || !strings.Contains(out, "FAIL  events.csv: SHA-256") ||
		!strings.Contains(out, "FAIL  events.csv: row 5 (line 6) does not match the chain (document_id e05)") ||
		!strings.Contains(out, "ok    events.jsonl: 11 rows") {
		t.Errorf("changed byte: exit %d\n%s", code, out)
	}

	// A row deleted from events.jsonl: row 7 (e07).
	d = copyDir(t, bundle)
	editLines(t, filepath.Join(d, "events.jsonl"), func(n int, l string) (string, bool) { return l, n != 7 })
	code, out = verify(t, d)
	if code != 1 || !strings.Contains(out, "FAIL  events.jsonl: row 7 does not match the chain (document_id e08)") ||
		!strings.Contains(out, "FAIL  events.jsonl: holds 10 rows, the manifest says 11") {
		t.Errorf("deleted row: exit %d\n%s", code, out)
	}
	// The last row deleted from events.csv: only the count and head show it.
	d = copyDir(t, bundle)
	editLines(t, filepath.Join(d, "events.csv"), func(n int, l string) (string, bool) { return l, n != 12 })
	code, out = verify(t, d)
	if code != 1 || !strings.Contains(out, "FAIL  events.csv: holds 10 rows, the manifest says 11") {
		t.Errorf("deleted last row: exit %d\n%s", code, out)
	}

	// A row changed and every chain value after it recomputed: the file's
	// links are consistent, the manifest's checkpoint is not.
	d = copyDir(t, bundle)
	forgeChain(t, filepath.Join(d, "events.csv"), 3, "admin2", "mallory")
	code, out = verify(t, d)
	if code != 1 || !strings.Contains(out, "FAIL  events.csv: rows 1–4 do not match the manifest's checkpoint at row 4") {
		t.Errorf("forged chain: exit %d\n%s", code, out)
	}

	// The manifest edited (scope widened): its hash and signature fail.
	d = copyDir(t, bundle)
	mb, _ := os.ReadFile(filepath.Join(d, "manifest.json"))
	mb = bytes.Replace(mb, []byte(`"acme-data"`), []byte(`"acme-dat4"`), 1)
	os.WriteFile(filepath.Join(d, "manifest.json"), mb, 0o644)
	code, out = verify(t, d, "--pub-key", pub)
	if code != 1 || !strings.Contains(out, "FAIL  manifest.json: its SHA-256 is") || !strings.Contains(out, "the manifest was changed after export") ||
		!strings.Contains(out, "FAIL  manifest.sig: the signature does not verify") {
		t.Errorf("edited manifest: exit %d\n%s", code, out)
	}
	// The manifest's row count edited, manifest.sha256 updated to match: the
	// data files disagree with it.
	d = copyDir(t, bundle)
	mb, _ = os.ReadFile(filepath.Join(d, "manifest.json"))
	mb = bytes.Replace(mb, []byte(`"row_count": 11`), []byte(`"row_count": 12`), 1)
	os.WriteFile(filepath.Join(d, "manifest.json"), mb, 0o644)
	os.Remove(filepath.Join(d, "manifest.sha256"))
	code, out = verify(t, d)
	if code != 1 || !strings.Contains(out, "FAIL  manifest.sha256: missing") || !strings.Contains(out, "FAIL  manifest.json: files[0] (events.csv) has rows 11 but row_count is 12") ||
		!strings.Contains(out, "FAIL  events.csv: holds 11 rows, the manifest says 12") {
		t.Errorf("edited row count: exit %d\n%s", code, out)
	}
	// A data file removed.
	d = copyDir(t, bundle)
	os.Remove(filepath.Join(d, "events.jsonl"))
	if code, out = verify(t, d); code != 1 || !strings.Contains(out, "FAIL  events.jsonl: missing") {
		t.Errorf("missing file: exit %d\n%s", code, out)
	}
	// The raw events (quotes, commas, CR LF, U+2028) survive csv and jsonl.
	raw := filepath.Join(t.TempDir(), "raw")
	if code, _, errs := b.run(t, "export", "--out", raw, "--include-raw", "--formats", "jsonl,csv"); code != 0 {
		t.Fatalf("export --include-raw: %s", errs)
	}
	if code, out = verify(t, raw); code != 0 || !strings.Contains(out, "events.csv: 12 rows, every row's chain link") {
		t.Errorf("raw bundle: exit %d\n%s", code, out)
	}
	// An unsigned bundle checked with a key fails.
	plain := filepath.Join(t.TempDir(), "plain")
	if code, _, errs := b.run(t, "export", "--out", plain, "--user", "mona"); code != 0 {
		t.Fatalf("export: %s", errs)
	}
	if code, out = verify(t, plain, "--pub-key", pub); code != 1 || !strings.Contains(out, "FAIL  manifest.sig: missing") {
		t.Errorf("unsigned with key: exit %d\n%s", code, out)
	}
	if code, out = verify(t, plain); code != 0 || !strings.Contains(out, "warn  the bundle is not signed") {
		t.Errorf("unsigned: exit %d\n%s", code, out)
	}
	// The export refuses a non-empty directory, and bad ranges.
	if code, _, errs := b.run(t, "export", "--out", plain); code != 2 || !strings.Contains(errs, "is not empty") {
		t.Errorf("non-empty out: %d %s", code, errs)
	}
	if code, _, errs := b.run(t, "export", "--out", t.TempDir()+"/x", "--since", "2025-05-01", "--until", "2025-04-01"); code != 2 || !strings.Contains(errs, "is after until") {
		t.Errorf("bad range: %d %s", code, errs)
	}
	// No rows: a valid, verifiable bundle that says so.
	empty := filepath.Join(t.TempDir(), "empty")
	if code, _, errs := b.run(t, "export", "--out", empty, "--org", "nobody"); code != 0 || !strings.Contains(errs, "no events match") {
		t.Errorf("empty export: %d %s", code, errs)
	}
	if code, out = verify(t, empty); code != 0 {
		t.Errorf("empty bundle: exit %d\n%s", code, out)
	}
}

// forgeChain changes `from` to `to` in data row `row` of a csv bundle file
// and recomputes every chain value, as someone who knows the rule would.
func forgeChain(t *testing.T, path string, row int, from, to string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	var prev [32]byte
	for i := 1; i < len(lines); i++ {
		cells := strings.Split(lines[i], ",") // the known dataset has no quoted values
		if i == row {
			for j := range cells {
				if cells[j] == from {
					cells[j] = to
				}
			}
		}
		vals := cells[:len(cells)-1]
		prev = seatctl.ChainLink(prev, vals)
		cells[len(cells)-1] = fmt.Sprintf("%x", prev)
		lines[i] = strings.Join(cells, ",")
	}
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestExportMillionRowsFlatMemory exports 1,000,000 rows with the seatctl
// binary and checks its peak RSS, then verifies the bundle.
func TestExportMillionRowsFlatMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("1M rows: not in -short")
	}
	const n = 1000000
	b := newBed(t)
	ctx := context.Background()
	t0 := time.Now()
	if err := seatdata.Synthetic(ctx, b.store, n, 50000); err != nil {
		t.Fatal(err)
	}
	t.Logf("inserted %d rows in %s", n, time.Since(t0).Round(time.Millisecond))
	bin, err := testenv.Build(ctx, "./cmd/seatctl", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	bundle := filepath.Join(t.TempDir(), "big")
	res, err := testenv.RunToEnd(ctx, bin, "export", "--clickhouse-addr", b.ch.Addr(), "--clickhouse-database", b.db,
		"--out", bundle, "--formats", "csv,jsonl")
	if err != nil {
		t.Fatalf("%v\n%s", err, res.Output)
	}
	t.Logf("export: %s, peak RSS %.1f MiB, %.0f rows/s\n%s", res.Elapsed.Round(time.Millisecond), res.PeakRSSMiB, n/res.Elapsed.Seconds(), res.Output)
	if !strings.Contains(res.Output, "exported 1000000 rows") {
		t.Fatalf("export output: %s", res.Output)
	}
	if res.PeakRSSMiB >= 100 {
		t.Errorf("export peak RSS %.1f MiB, want < 100", res.PeakRSSMiB)
	}
	vres, err := testenv.RunToEnd(ctx, bin, "verify", bundle)
	if err != nil {
		t.Fatalf("%v\n%s", err, vres.Output)
	}
	t.Logf("verify: %s, peak RSS %.1f MiB\n%s", vres.Elapsed.Round(time.Millisecond), vres.PeakRSSMiB, vres.Output)
	if !strings.Contains(vres.Output, "events.csv: 1000000 rows") || !strings.Contains(vres.Output, "events.jsonl: 1000000 rows") {
		t.Errorf("verify output: %s", vres.Output)
	}
	if vres.PeakRSSMiB >= 100 {
		t.Errorf("verify peak RSS %.1f MiB, want < 100", vres.PeakRSSMiB)
	}
	// Spot check: the first data row is event 0.
	f, _ := os.Open(filepath.Join(bundle, "events.csv"))
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan()
	sc.Scan()
	if !strings.HasPrefix(sc.Text(), "2025-01-01T00:00:00.000Z,1735689600000,syn-000000000,") {
		t.Errorf("first row: %s", sc.Text())
	}
}

// Bundles of format 1 (one chain for both files, no cell guard) made by
// earlier releases still verify, and their tampering still shows.
func TestVerifyReadsFormat1Bundles(t *testing.T) {
	b := newBed(t)
	fillKnown(t, b, time.Now())
	bundle := filepath.Join(t.TempDir(), "v2")
	if code, _, errs := b.run(t, "export", "--out", bundle, "--formats", "csv,jsonl", "--checkpoint-every", "5"); code != 0 {
		t.Fatalf("export: %d %s", code, errs)
	}
	m := readManifest(t, bundle)
	if m.Files[0].ChainHead != m.Files[1].ChainHead {
		t.Fatal("the known dataset has no guarded cell: both files must chain alike")
	}
	v1 := copyDir(t, bundle)
	forgeManifest(t, v1, func(m *seatctl.Manifest) {
		m.Format, m.Cells = "seatline-export/1", nil
		m.Chain.Head, m.Chain.Checkpoints = m.Files[0].ChainHead, m.Files[0].Checkpoints
		for i := range m.Files {
			m.Files[i].ChainHead, m.Files[i].Checkpoints = "", nil
		}
	})
	body, _ := os.ReadFile(filepath.Join(v1, "manifest.json"))
	if bytes.Contains(body, []byte(`"chain_head"`)) || bytes.Contains(body, []byte(`"cells"`)) || !bytes.Contains(body, []byte(`"head": "`)) {
		t.Fatalf("not a format 1 manifest:\n%s", body)
	}
	if code, out := verify(t, v1); code != 0 || !strings.Contains(out, "events.csv: 12 rows, every row's chain link, 2 checkpoints") ||
		!strings.Contains(out, "events.jsonl: 12 rows") {
		t.Errorf("format 1: exit %d\n%s", code, out)
	}
	editLines(t, filepath.Join(v1, "events.jsonl"), func(n int, l string) (string, bool) {
		return strings.Replace(l, `"actor":"admin3"`, `"actor":"admin9"`, 1), true
	})
	if code, out := verify(t, v1); code != 1 || !strings.Contains(out, "FAIL  events.jsonl: row 7 does not match the chain (document_id e07)") {
		t.Errorf("format 1, changed row: exit %d\n%s", code, out)
	}
	// An unknown format is refused by name.
	v9 := copyDir(t, bundle)
	forgeManifest(t, v9, func(m *seatctl.Manifest) { m.Format = "seatline-export/9" })
	if code, out := verify(t, v9); code != 1 || !strings.Contains(out, `format is "seatline-export/9", this seatctl reads "seatline-export/2" and "seatline-export/1"`) {
		t.Errorf("format 9: exit %d\n%s", code, out)
	}
}
