package ingestd_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/seatline/seatline/internal/ingestd"
	"github.com/seatline/seatline/internal/objsrc"
	"github.com/seatline/seatline/internal/records/recordstest"
	"github.com/seatline/seatline/internal/testenv"
	"github.com/seatline/seatline/internal/timeline"
)

// stored is what one source run left in its database, keyed by corpus
// case and place ("line#index").
type stored struct {
	rows map[string]string // document id → case, place, user, action
	dead map[string]string // case place → reason, length, SHA-256, document id
	cps  map[string]timeline.Checkpoint
	// per case: rows and dead letters
	perCase map[string]int
}

// TestHostileCorpusSameFromEverySource feeds the records stage's hostile
// corpus through Kafka (one message per case), S3 (one object per case) and
// local files (one file per case), and checks that the three store the same
// timeline rows and the same dead letters (reason, place, length, SHA-256,
// document id), that those are what the corpus expects, and that every
// object is checkpointed done, or error when damaged, with every record a
// row or a dead letter.
func TestHostileCorpusSameFromEverySource(t *testing.T) {
	corpus := recordstest.Hostile()
	ch := testenv.SharedClickHouse(t)
	ctx := context.Background()

	// Kafka: one partition, the cases in order.
	kb := newBed(t, 1)
	payloads := make([][]byte, len(corpus))
	for i, c := range corpus {
		payloads[i] = c.Data
	}
	kb.produce(t, payloads...)
	stop := kb.run(t, kb.config("corpus"), nil)
	kb.waitCaughtUp(t, "corpus", 2*time.Minute)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	kafkaGot := readStored(t, kb.store, func(pos string) (string, string) {
		m := regexp.MustCompile(`^audit/0/(\d+)(?::(\d+))?(#\d+)?$`).FindStringSubmatch(pos)
		if m == nil {
			t.Fatalf("kafka position %q", pos)
		}
		off, _ := strconv.Atoi(m[1])
		line := m[2]
		if line == "" {
			line = "1"
		}
		return corpus[off].Name, line + m[3]
	})

	// S3: one object per case (keys the listing takes: GitHub's names, or .json).
	s3 := testenv.NewS3(t)
	if err := s3.CreateBucket(ctx, "corpus"); err != nil {
		t.Fatal(err)
	}
	keyCase := map[string]string{}
	for _, c := range corpus {
		key := "audit/" + c.Name
		if !objsrc.IsAuditKey(key) {
			key += ".json"
		}
		keyCase[key] = c.Name
		if _, err := s3.Put(ctx, "corpus", key, c.Data); err != nil {
			t.Fatal(err)
		}
	}
	for _, kv := range s3.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	s3db := testenv.NewDatabase(t, ch)
	s3Store := runToEnd(t, ch, s3db, append(s3.IngestArgs("corpus"), "--s3-mode", "backfill")...)
	s3Case := func(key string) string { return keyCase[key] }
	s3Got := readStored(t, s3Store, objectPlace(t, s3Case))
	s3Got.cps = checkpoints(t, s3Store, s3Case)

	// Files: one file per case, named as the case.
	dir := t.TempDir()
	var paths []string
	for _, c := range corpus {
		p := filepath.Join(dir, c.Name)
		if err := os.WriteFile(p, c.Data, 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	fdb := testenv.NewDatabase(t, ch)
	fStore := runToEnd(t, ch, fdb, "--source", "file", "--files", strings.Join(paths, ","))
	fCase := func(key string) string { return filepath.Base(key) }
	fGot := readStored(t, fStore, objectPlace(t, fCase))
	fGot.cps = checkpoints(t, fStore, fCase)

	// The corpus' own expectations.
	wantRows := map[string]bool{}
	wantDead := map[string]string{}
	for _, c := range corpus {
		for _, id := range c.Rows {
			wantRows[id] = true
		}
		for _, f := range append(slices.Clone(c.Faults), c.ParseFaults...) {
			wantDead[c.Name+" "+place(f.Line, f.Index)] = f.Reason + " " + f.DocumentID
		}
	}
	for name, got := range map[string]*stored{"kafka": kafkaGot, "s3": s3Got, "file": fGot} {
		var ids []string
		for id := range got.rows {
			ids = append(ids, id)
			if !wantRows[id] {
				t.Errorf("%s: unexpected timeline row %s: %s", name, id, got.rows[id])
			}
		}
		if len(ids) != len(wantRows) {
			t.Errorf("%s: %d timeline rows, want %d", name, len(ids), len(wantRows))
		}
		for k, want := range wantDead {
			f := strings.Fields(got.dead[k])
			if len(f) < 3 || f[0]+" "+strings.Join(f[3:], " ") != want {
				t.Errorf("%s: dead letter at %s = %q, want %q", name, k, got.dead[k], want)
			}
		}
		if len(got.dead) != len(wantDead) {
			t.Errorf("%s: %d dead letters, want %d: %v", name, len(got.dead), len(wantDead), got.dead)
		}
	}
	// The three agree exactly, lengths and hashes included.
	for name, got := range map[string]*stored{"s3": s3Got, "file": fGot} {
		if !equalMaps(got.rows, kafkaGot.rows) {
			t.Errorf("%s rows differ from kafka's:\n%v\n%v", name, got.rows, kafkaGot.rows)
		}
		if !equalMaps(got.dead, kafkaGot.dead) {
			t.Errorf("%s dead letters differ from kafka's:\n%v\n%v", name, got.dead, kafkaGot.dead)
		}
	}
	// Every object ends done or error, never done with records unaccounted for.
	for name, got := range map[string]*stored{"s3": s3Got, "file": fGot} {
		if len(got.cps) != len(corpus) {
			t.Errorf("%s: %d checkpoints for %d objects", name, len(got.cps), len(corpus))
		}
		for _, c := range corpus {
			cp, ok := got.cps[c.Name]
			switch {
			case !ok:
				t.Errorf("%s: %s has no checkpoint", name, c.Name)
			case c.Damaged && cp.State != timeline.CheckpointError, !c.Damaged && cp.State != timeline.CheckpointDone:
				t.Errorf("%s: %s checkpointed %s (%s), damaged=%v", name, c.Name, cp.State, cp.Detail, c.Damaged)
			case cp.Lines != uint64(got.perCase[c.Name]):
				t.Errorf("%s: %s has %d records, %d rows and dead letters", name, c.Name, cp.Lines, got.perCase[c.Name])
			}
		}
	}
}

func place(line int64, index int) string {
	if index < 0 {
		return strconv.FormatInt(line, 10)
	}
	return fmt.Sprintf("%d#%d", line, index)
}

// objectPlace splits "key/line[#index]" into the case and the place.
func objectPlace(t *testing.T, caseOf func(key string) string) func(string) (string, string) {
	re := regexp.MustCompile(`^(.*)/(\d+(?:#\d+)?)$`)
	return func(pos string) (string, string) {
		m := re.FindStringSubmatch(pos)
		if m == nil || caseOf(m[1]) == "" {
			t.Fatalf("object position %q", pos)
		}
		return caseOf(m[1]), m[2]
	}
}

// runToEnd runs a finite source in this process into db and returns a
// store on it.
func runToEnd(t *testing.T, ch *testenv.ClickHouse, db string, args ...string) *timeline.Store {
	t.Helper()
	cfg, err := ingestd.ParseArgs(append(args, "--clickhouse-addr", ch.Addr(), "--clickhouse-database", db,
		"--batch-wait", "100ms", "--http-addr", "")...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := ingestd.Run(ctx, cfg, slogTo(t)); err != nil {
		t.Fatal(err)
	}
	return testenv.OpenTimeline(t, timeline.Config{Addrs: []string{ch.Addr()}, Database: db})
}

func readStored(t *testing.T, store *timeline.Store, placeOf func(pos string) (string, string)) *stored {
	t.Helper()
	ctx := context.Background()
	s := &stored{rows: map[string]string{}, dead: map[string]string{}, perCase: map[string]int{}}
	rows, err := store.Conn().Query(ctx, "SELECT document_id, source_position, user, action FROM seat_timeline")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id, pos, user, action string
		if err := rows.Scan(&id, &pos, &user, &action); err != nil {
			t.Fatal(err)
		}
		c, p := placeOf(pos)
		s.rows[id] = c + " " + p + " " + user + " " + action
		s.perCase[c]++
	}
	rows.Close()
	dl, err := store.Conn().Query(ctx, "SELECT position, reason_code, raw_length, raw_sha256, document_id FROM dead_letters")
	if err != nil {
		t.Fatal(err)
	}
	defer dl.Close()
	for dl.Next() {
		var pos, code, sum, id string
		var n uint64
		if err := dl.Scan(&pos, &code, &n, &sum, &id); err != nil {
			t.Fatal(err)
		}
		c, p := placeOf(pos)
		s.dead[c+" "+p] = strings.TrimSpace(fmt.Sprintf("%s %d %s %s", code, n, sum, id))
		s.perCase[c]++
	}
	return s
}

// checkpoints by corpus case.
func checkpoints(t *testing.T, store *timeline.Store, caseOf func(key string) string) map[string]timeline.Checkpoint {
	t.Helper()
	rows, err := store.Conn().Query(context.Background(),
		"SELECT key, argMax(lines, version), argMax(state, version), argMax(detail, version) FROM source_checkpoints GROUP BY key")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]timeline.Checkpoint{}
	for rows.Next() {
		var cp timeline.Checkpoint
		var state string
		if err := rows.Scan(&cp.Key, &cp.Lines, &state, &cp.Detail); err != nil {
			t.Fatal(err)
		}
		cp.State = timeline.CheckpointState(state)
		out[caseOf(cp.Key)] = cp
	}
	return out
}

func slogTo(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	keys := make([]string, 0, len(a))
	for k := range a {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if a[k] != b[k] {
			return false
		}
	}
	return true
}
