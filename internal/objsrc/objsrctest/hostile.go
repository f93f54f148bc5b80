package objsrctest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	kgzip "github.com/klauspost/compress/gzip"

	"github.com/seatline/seatline/internal/auditgen"
	"github.com/seatline/seatline/internal/timeline"
	"github.com/seatline/seatline/pkg/events"
)

// HostileCorpus: a truncated gzip object stores none of its member's
// lines as events: each becomes a dead letter at its own line, and the cut
// line names the damage; trailing garbage after a verified gzip member is
// one dead letter after its lines; non-JSON lines are dead letters with key
// and line (never filtered as noise);
// an empty object, blank lines and CRLF are fine; an oversize line is a
// dead letter; an object checkpointed in progress resumes after its last
// acknowledged line. Nothing stops the stream, and a rerun changes nothing.
func HostileCorpus(t *testing.T, b *Bed) {
	b.WithKeys(t)
	ctx := context.Background()
	g := auditgen.New(auditgen.Config{Seed: 5, SeatFraction: 0.4, MalformedFraction: 0.01,
		Start: time.Date(2026, 11, 3, 0, 0, 0, 0, time.UTC), Step: time.Second})
	exp := NewExpect()
	dead := map[string]string{} // position → reason code ("?": whatever the decoder says)

	// A: gzip cut at 60%: the lines the stream yields before the cut.
	keyA := "2026/11/03/00/01/aaaa.json.log.gz"
	full := GzipLines(linesOf(g, 400, "ignored", NewExpect(), map[string]string{}))
	cut := full[:len(full)*6/10]
	var decoded bytes.Buffer
	zr, err := kgzip.NewReader(bytes.NewReader(cut))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(&decoded, zr); err == nil {
		t.Fatal("the cut gzip stream decoded without error")
	}
	complete := decoded.Bytes()[:bytes.LastIndexByte(decoded.Bytes(), '\n')+1]
	linesA := bytes.Split(bytes.TrimSuffix(complete, []byte("\n")), []byte("\n"))
	for i, l := range linesA { // the member never verified: its records are dead letters
		if events.MaybeSeatEvent(l) || l[0] != '{' {
			dead[keyA+"/"+strconv.Itoa(i+1)] = "corrupt_object"
		}
	}
	dead[keyA+"/"+strconv.Itoa(len(linesA)+1)] = "corrupt_object"

	// B: a whole gzip stream followed by garbage.
	keyB := "2026/11/03/00/02/bbbb.json.log.gz"
	linesB := linesOf(g, 100, keyB, exp, dead)
	goodB := GzipLines(linesB)
	bodyB := append(slices.Clone(goodB), []byte("this is not gzip")...)
	dead[keyB+"/101"] = "corrupt_object"

	// C: plain NDJSON with non-JSON lines, blank lines and CRLF endings.
	keyC := "2026/11/03/00/03/cccc.json"
	linesC := linesOf(g, 20, keyC, exp, dead)
	var bodyC bytes.Buffer
	for i, l := range linesC {
		bodyC.Write(l)
		bodyC.WriteString("\r\n")
		if i == 4 {
			bodyC.WriteString("\n   \n") // lines 6 and 7: blank
		}
	}
	// Renumber: two blank lines after line 5.
	shifted := map[string]string{}
	for pos, code := range dead {
		if k, n, ok := splitPos(pos); ok && k == keyC && n > 5 {
			delete(dead, pos)
			shifted[k+"/"+strconv.Itoa(n+2)] = code
		}
	}
	for pos, code := range shifted {
		dead[pos] = code
	}
	bodyC.WriteString(`copilot.cfb_seat_added happened but this is not JSON` + "\n")  // line 23
	bodyC.WriteString(`{"action":"copilot.cfb_seat_added","_document_id":"x"` + "\n") // line 24: cut short
	bodyC.WriteString("hello, not an audit event at all\n")                           // line 25: not JSON: never noise
	dead[keyC+"/23"], dead[keyC+"/24"], dead[keyC+"/25"] = "malformed_json", "malformed_json", "malformed_json"

	// D: an empty object.
	keyD := "2026/11/03/00/04/dddd.json.log.gz"

	// E: an oversize line (limit 8 KiB below) between good ones.
	keyE := "2026/11/03/00/05/eeee.json.log.gz"
	linesE := linesOf(g, 3, keyE, exp, dead)
	huge := []byte(`{"action":"copilot.cfb_seat_added","pad":"` + strings.Repeat("x", 20000) + `"}`)
	linesE = append(linesE, huge)
	dead[keyE+"/4"] = "oversize"
	more := linesOf(g, 3, "E+", exp, map[string]string{})
	for i, l := range more { // lines 5..7
		if generated.get(l).Kind == auditgen.KindMalformed {
			dead[keyE+"/"+strconv.Itoa(5+i)] = "?"
		}
	}
	linesE = append(linesE, more...)

	// F: checkpointed in progress at line 30 with its version tag: lines 1..30 are
	// not read again (they are seat events that must stay absent).
	keyF := "2026/11/03/00/06/ffff.json.log.gz"
	skipped := linesOf(g, 30, keyF, NewExpect(), map[string]string{})
	rest := linesOf(g, 50, "F+", NewExpect(), map[string]string{})
	for i, l := range rest {
		switch generated.get(l).Kind {
		case auditgen.KindSeat, auditgen.KindDuplicate:
			exp.SeatIDs[generated.get(l).DocumentID] = true
		case auditgen.KindMalformed:
			exp.Malformed++
			dead[keyF+"/"+strconv.Itoa(31+i)] = "?"
		}
	}
	absent := map[string]bool{}
	for _, l := range skipped {
		if id := generated.get(l).DocumentID; id != "" && !exp.SeatIDs[id] {
			absent[id] = true
		}
	}

	uploads := map[string][]byte{keyA: cut, keyB: bodyB, keyC: bodyC.Bytes(), keyD: nil, keyE: GzipLines(linesE), keyF: GzipLines(append(skipped, rest...))}
	etags := map[string]string{}
	for k, body := range uploads {
		if etags[k], err = b.Bucket.Put(ctx, k, body); err != nil {
			t.Fatal(err)
		}
	}
	source := b.Source("")
	if err := b.Store.WriteCheckpoints(ctx, []timeline.Checkpoint{{Source: source, Key: keyF, ETag: etags[keyF],
		Size: uint64(len(uploads[keyF])), Lines: 30, State: timeline.CheckpointInProgress}}); err != nil {
		t.Fatal(err)
	}
	exp.Malformed = len(dead)

	cfg := b.Config(t, "--since", "2026-11-03", "--max-event-bytes", "8192")
	logs, err := b.Run(t, cfg, 2*time.Minute)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, logs)
	}
	codes, reasons := b.DeadLetters(t)
	for pos, want := range dead {
		got, ok := codes[pos]
		if !ok {
			t.Errorf("no dead letter at %s (want %s)", pos, want)
		} else if want != "?" && got != want {
			t.Errorf("dead letter %s: %s, want %s (%s)", pos, got, want, reasons[pos])
		}
	}
	for pos, code := range codes {
		if _, ok := dead[pos]; !ok {
			t.Errorf("unexpected dead letter %s: %s %s", pos, code, reasons[pos])
		}
	}
	wantA := "corrupt_object: truncated gzip member at byte offset 0"
	if r := reasons[keyA+"/"+strconv.Itoa(len(linesA)+1)]; !strings.HasPrefix(r, wantA) {
		t.Errorf("truncated object's reason %q, want it to start with %q", r, wantA)
	}
	if r := reasons[keyA+"/1"]; !strings.Contains(r, "not stored as an event") {
		t.Errorf("a line of the truncated member: %q", r)
	}
	wantB := fmt.Sprintf("corrupt_object: corrupt gzip member at byte offset %d", len(goodB))
	if r := reasons[keyB+"/101"]; !strings.HasPrefix(r, wantB) {
		t.Errorf("garbage-tailed object's reason %q, want it to start with %q", r, wantB)
	}
	b.CheckExact(t, exp)
	for id := range absent {
		if n := b.Count(t, "SELECT count() FROM seat_events WHERE document_id = ?", id); n != 0 {
			t.Errorf("%s of an acknowledged line (before the in-progress checkpoint) was read again", id)
		}
	}

	cps := b.Checkpoints(t, source)
	check := func(key string, state timeline.CheckpointState, lines int, detail string) {
		t.Helper()
		cp := cps[key]
		if cp.State != state || cp.Lines != uint64(lines) || !strings.Contains(cp.Detail, detail) {
			t.Errorf("checkpoint of %s = %+v, want %s at line %d, detail containing %q", key, cp, state, lines, detail)
		}
	}
	check(keyA, timeline.CheckpointError, len(linesA)+1, "truncated gzip member at byte offset 0")
	check(keyB, timeline.CheckpointError, 101, "corrupt gzip member")
	check(keyC, timeline.CheckpointDone, 23, "") // 25 lines, 2 of them blank: 23 records
	check(keyD, timeline.CheckpointDone, 0, "")
	check(keyE, timeline.CheckpointDone, 7, "")
	check(keyF, timeline.CheckpointDone, 80, "")

	// A rerun reads nothing again, damaged objects included.
	raw := b.Count(t, "SELECT count() FROM seat_events")
	logs, err = b.Run(t, cfg, time.Minute)
	if err != nil {
		t.Fatalf("rerun: %v\n%s", err, logs)
	}
	if n := b.Count(t, "SELECT count() FROM seat_events"); n != raw {
		t.Errorf("rerun added %d rows", n-raw)
	}
	if !strings.Contains(logs, "objects_already_done=6") {
		t.Errorf("rerun should find all 6 objects done:\n%s", logs)
	}
}
