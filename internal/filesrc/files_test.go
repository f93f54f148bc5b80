package filesrc_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seatline/seatline/internal/auditgen"
	"github.com/seatline/seatline/internal/filesrc"
	"github.com/seatline/seatline/internal/objsrc/objsrctest"
	"github.com/seatline/seatline/internal/testenv"
	"github.com/seatline/seatline/internal/timeline"
)

// TestFileSource reads a directory tree holding NDJSON, a gzipped stream
// object, a pretty-printed JSON-array export and a gzipped compact one, plus
// an explicitly named file; hidden files and other names are skipped. A
// rerun adds nothing; a changed file is read again.
func TestFileSource(t *testing.T) {
	b := objsrctest.NewBed(t, nil)
	ctx := context.Background()

	g := auditgen.New(auditgen.Config{Seed: 77, SeatFraction: 0.3, DuplicateFraction: 0.02, MalformedFraction: 0.01,
		Start: time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC), Step: 30 * time.Second})
	exp := objsrctest.NewExpect()
	next := func(n int, jsonOnly bool) [][]byte {
		var out [][]byte
		for len(out) < n {
			r := g.Next()
			if jsonOnly && !json.Valid(r.Line) {
				continue // an export array holds only JSON values
			}
			exp.Record(r)
			out = append(out, r.Line)
		}
		return out
	}
	dir := t.TempDir()
	write := func(rel string, body []byte) string {
		t.Helper()
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, body, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	array := func(lines [][]byte, indent bool) []byte {
		raw := append(append([]byte("["), bytes.Join(lines, []byte(","))...), ']')
		if !indent {
			return raw
		}
		var out bytes.Buffer
		if err := json.Indent(&out, raw, "", "  "); err != nil {
			t.Fatal(err)
		}
		return out.Bytes()
	}
	tree := filepath.Join(dir, "tree")
	ndjsonPath := write("tree/a/stream.jsonl", objsrctest.NDJSON(next(300, false)))
	write("tree/a/b/2026/10/01/00/00/5f1c.json.log.gz", objsrctest.GzipLines(next(400, false)))
	write("tree/export-acme-1727740800.json", array(next(250, true), true))
	write("tree/old/export-acme-1719792000.json.gz", objsrctest.Gzip(array(next(150, true), false)))
	write("tree/.hidden.json", objsrctest.NDJSON([][]byte{[]byte(`{"action":"copilot.cfb_seat_added"}`)}))
	write("tree/.git/objects.json", []byte("[not read]"))
	write("tree/notes.txt", []byte("copilot.cfb_seat_added notes, not an event\n"))
	named := write("elsewhere/audit.export", objsrctest.NDJSON(next(100, false))) // any name when named explicitly

	cfg := b.Config(t, "--source", "file", "--files", tree+","+named)
	logs, err := b.Run(t, cfg, 2*time.Minute)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, logs)
	}
	b.CheckExact(t, exp)
	cps := b.Checkpoints(t, filesrc.SourceName)
	if len(cps) != 5 {
		t.Errorf("%d files checkpointed, want 5: %v", len(cps), keysOf(cps))
	}
	for k, cp := range cps {
		if cp.State != timeline.CheckpointDone || !filepath.IsAbs(k) {
			t.Errorf("checkpoint %s = %+v", k, cp)
		}
	}
	if cp := cps[filepath.Join(tree, "export-acme-1727740800.json")]; cp.Lines != 250 {
		t.Errorf("the JSON-array export is checkpointed at element %d, want 250", cp.Lines)
	}
	var pos string
	if err := b.Store.Conn().QueryRow(ctx, "SELECT any(source_position) FROM seat_timeline WHERE source = 'file' AND source_position LIKE '%export-acme-1727740800.json/%'").Scan(&pos); err != nil || pos == "" {
		t.Errorf("no timeline row from the export (%v)", err)
	}

	// Rerun: nothing new.
	raw := b.Count(t, "SELECT count() FROM seat_events")
	logs, err = b.Run(t, cfg, time.Minute)
	if err != nil {
		t.Fatalf("rerun: %v\n%s", err, logs)
	}
	if n := b.Count(t, "SELECT count() FROM seat_events"); n != raw {
		t.Errorf("rerun added %d rows", n-raw)
	}
	if !strings.Contains(logs, "objects_to_read=0") || !strings.Contains(logs, "objects_already_done=5") {
		t.Errorf("rerun should find all 5 files done:\n%s", logs)
	}

	// Append to one file: only it is read again (from line 1: its ETag changed).
	f, err := os.OpenFile(ndjsonPath, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(objsrctest.NDJSON(next(50, false)))
	f.Close()
	logs, err = b.Run(t, cfg, time.Minute)
	if err != nil {
		t.Fatalf("run after append: %v\n%s", err, logs)
	}
	if !strings.Contains(logs, "objects_to_read=1") {
		t.Errorf("only the changed file should be read:\n%s", logs)
	}
	b.CheckExact(t, exp)
	if cp := b.Checkpoints(t, filesrc.SourceName)[ndjsonPath]; cp.Lines != 350 || cp.State != timeline.CheckpointDone {
		t.Errorf("checkpoint of the appended file %+v, want done at 350", cp)
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.Shutdown()
	os.Exit(code)
}

func keysOf(m map[string]timeline.Checkpoint) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
