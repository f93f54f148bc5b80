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
	c := newHostile(t)
	etags := map[string]string{}
	for k, body := range c.uploads {
		var err error
		if etags[k], err = b.Bucket.Put(ctx, k, body); err != nil {
			t.Fatal(err)
		}
	}
	source := b.Source("")
	if err := b.Store.WriteCheckpoints(ctx, []timeline.Checkpoint{{Source: source, Key: keyF, ETag: etags[keyF],
		Size: uint64(len(c.uploads[keyF])), Lines: 30, State: timeline.CheckpointInProgress}}); err != nil {
		t.Fatal(err)
	}
	c.exp.Malformed = len(c.dead)

	cfg := b.Config(t, "--since", "2026-11-03", "--max-event-bytes", "8192")
	logs, err := b.Run(t, cfg, 2*time.Minute)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, logs)
	}
	c.checkDeadLetters(t, b)
	b.CheckExact(t, c.exp)
	for id := range c.absent {
		if n := b.Count(t, "SELECT count() FROM seat_events WHERE document_id = ?", id); n != 0 {
			t.Errorf("%s of an acknowledged line (before the in-progress checkpoint) was read again", id)
		}
	}
	c.checkCheckpoints(t, b.Checkpoints(t, source))

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

// The hostile corpus's objects.
const (
	keyA = "2026/11/03/00/01/aaaa.json.log.gz" // gzip cut at 60%
	keyB = "2026/11/03/00/02/bbbb.json.log.gz" // a whole gzip stream, then garbage
	keyC = "2026/11/03/00/03/cccc.json"        // plain NDJSON: non-JSON lines, blank lines, CRLF
	keyD = "2026/11/03/00/04/dddd.json.log.gz" // empty
	keyE = "2026/11/03/00/05/eeee.json.log.gz" // an oversize line between good ones
	keyF = "2026/11/03/00/06/ffff.json.log.gz" // checkpointed in progress at line 30
)

// hostile is the corpus and what reading it must give.
type hostile struct {
	g       *auditgen.Generator
	exp     *Expect
	dead    map[string]string // position → reason code ("?": whatever the decoder says)
	uploads map[string][]byte
	absent  map[string]bool // seat events before F's checkpoint: never read
	linesA  int             // complete lines before A's cut
	goodB   int             // bytes of B's verified gzip member
}

func newHostile(t *testing.T) *hostile {
	c := &hostile{
		g: auditgen.New(auditgen.Config{Seed: 5, SeatFraction: 0.4, MalformedFraction: 0.01,
			Start: time.Date(2026, 11, 3, 0, 0, 0, 0, time.UTC), Step: time.Second}),
		exp: NewExpect(), dead: map[string]string{}, uploads: map[string][]byte{}, absent: map[string]bool{},
	}
	c.uploads[keyA] = c.truncated(t)
	c.uploads[keyB] = c.garbageTailed()
	c.uploads[keyC] = c.plain()
	c.uploads[keyD] = nil
	c.uploads[keyE] = c.oversize()
	c.uploads[keyF] = c.resumed()
	return c
}

// truncated is A: gzip cut at 60%. The member never verified: the lines
// the stream yields before the cut are dead letters, and so is the cut.
func (c *hostile) truncated(t *testing.T) []byte {
	full := GzipLines(linesOf(c.g, 400, "ignored", NewExpect(), map[string]string{}))
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
	lines := bytes.Split(bytes.TrimSuffix(complete, []byte("\n")), []byte("\n"))
	for i, l := range lines {
		if events.MaybeSeatEvent(l) || l[0] != '{' {
			c.dead[keyA+"/"+strconv.Itoa(i+1)] = "corrupt_object"
		}
	}
	c.linesA = len(lines)
	c.dead[keyA+"/"+strconv.Itoa(c.linesA+1)] = "corrupt_object"
	return cut
}

// garbageTailed is B: a whole gzip stream followed by garbage, one dead
// letter after its lines.
func (c *hostile) garbageTailed() []byte {
	good := GzipLines(linesOf(c.g, 100, keyB, c.exp, c.dead))
	c.goodB = len(good)
	c.dead[keyB+"/101"] = "corrupt_object"
	return append(slices.Clone(good), []byte("this is not gzip")...)
}

// plain is C: NDJSON with CRLF endings, two blank lines after line 5, and
// three lines at the end that are not JSON events.
func (c *hostile) plain() []byte {
	lines := linesOf(c.g, 20, keyC, c.exp, c.dead)
	var body bytes.Buffer
	for i, l := range lines {
		body.Write(l)
		body.WriteString("\r\n")
		if i == 4 {
			body.WriteString("\n   \n") // lines 6 and 7: blank
		}
	}
	// Renumber: two blank lines after line 5.
	shifted := map[string]string{}
	for pos, code := range c.dead {
		if k, n, ok := splitPos(pos); ok && k == keyC && n > 5 {
			delete(c.dead, pos)
			shifted[k+"/"+strconv.Itoa(n+2)] = code
		}
	}
	for pos, code := range shifted {
		c.dead[pos] = code
	}
	body.WriteString(`copilot.cfb_seat_added happened but this is not JSON` + "\n")  // line 23
	body.WriteString(`{"action":"copilot.cfb_seat_added","_document_id":"x"` + "\n") // line 24: cut short
	body.WriteString("hello, not an audit event at all\n")                           // line 25: not JSON: never noise
	c.dead[keyC+"/23"], c.dead[keyC+"/24"], c.dead[keyC+"/25"] = "malformed_json", "malformed_json", "malformed_json"
	return body.Bytes()
}

// oversize is E: a 20 KB line (the limit is 8 KiB) between good ones.
func (c *hostile) oversize() []byte {
	lines := linesOf(c.g, 3, keyE, c.exp, c.dead)
	huge := []byte(`{"action":"copilot.cfb_seat_added","pad":"` + strings.Repeat("x", 20000) + `"}`)
	lines = append(lines, huge)
	c.dead[keyE+"/4"] = "oversize"
	more := linesOf(c.g, 3, "E+", c.exp, map[string]string{})
	for i, l := range more { // lines 5..7
		if generated.get(l).Kind == auditgen.KindMalformed {
			c.dead[keyE+"/"+strconv.Itoa(5+i)] = "?"
		}
	}
	return GzipLines(append(lines, more...))
}

// resumed is F, checkpointed in progress at line 30 with its version tag:
// lines 1..30 are not read again (they are seat events that must stay
// absent).
func (c *hostile) resumed() []byte {
	skipped := linesOf(c.g, 30, keyF, NewExpect(), map[string]string{})
	rest := linesOf(c.g, 50, "F+", NewExpect(), map[string]string{})
	for i, l := range rest {
		switch generated.get(l).Kind {
		case auditgen.KindSeat, auditgen.KindDuplicate:
			c.exp.SeatIDs[generated.get(l).DocumentID] = true
		case auditgen.KindMalformed:
			c.exp.Malformed++
			c.dead[keyF+"/"+strconv.Itoa(31+i)] = "?"
		}
	}
	for _, l := range skipped {
		if id := generated.get(l).DocumentID; id != "" && !c.exp.SeatIDs[id] {
			c.absent[id] = true
		}
	}
	return GzipLines(append(skipped, rest...))
}

// checkDeadLetters: exactly the expected positions, with their reasons.
func (c *hostile) checkDeadLetters(t *testing.T, b *Bed) {
	t.Helper()
	codes, reasons := b.DeadLetters(t)
	for pos, want := range c.dead {
		got, ok := codes[pos]
		if !ok {
			t.Errorf("no dead letter at %s (want %s)", pos, want)
		} else if want != "?" && got != want {
			t.Errorf("dead letter %s: %s, want %s (%s)", pos, got, want, reasons[pos])
		}
	}
	for pos, code := range codes {
		if _, ok := c.dead[pos]; !ok {
			t.Errorf("unexpected dead letter %s: %s %s", pos, code, reasons[pos])
		}
	}
	wantA := "corrupt_object: truncated gzip member at byte offset 0"
	if r := reasons[keyA+"/"+strconv.Itoa(c.linesA+1)]; !strings.HasPrefix(r, wantA) {
		t.Errorf("truncated object's reason %q, want it to start with %q", r, wantA)
	}
	if r := reasons[keyA+"/1"]; !strings.Contains(r, "not stored as an event") {
		t.Errorf("a line of the truncated member: %q", r)
	}
	wantB := fmt.Sprintf("corrupt_object: corrupt gzip member at byte offset %d", c.goodB)
	if r := reasons[keyB+"/101"]; !strings.HasPrefix(r, wantB) {
		t.Errorf("garbage-tailed object's reason %q, want it to start with %q", r, wantB)
	}
}

// checkCheckpoints: each object's state, records and damage.
func (c *hostile) checkCheckpoints(t *testing.T, cps map[string]timeline.Checkpoint) {
	t.Helper()
	check := func(key string, state timeline.CheckpointState, lines int, detail string) {
		t.Helper()
		cp := cps[key]
		if cp.State != state || cp.Lines != uint64(lines) || !strings.Contains(cp.Detail, detail) {
			t.Errorf("checkpoint of %s = %+v, want %s at line %d, detail containing %q", key, cp, state, lines, detail)
		}
	}
	check(keyA, timeline.CheckpointError, c.linesA+1, "truncated gzip member at byte offset 0")
	check(keyB, timeline.CheckpointError, 101, "corrupt gzip member")
	check(keyC, timeline.CheckpointDone, 23, "") // 25 lines, 2 of them blank: 23 records
	check(keyD, timeline.CheckpointDone, 0, "")
	check(keyE, timeline.CheckpointDone, 7, "")
	check(keyF, timeline.CheckpointDone, 80, "")
}
