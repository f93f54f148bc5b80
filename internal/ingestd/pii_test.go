package ingestd_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seatline/seatline/internal/ingestd"
	"github.com/seatline/seatline/internal/testenv"
	"github.com/seatline/seatline/internal/timeline"
)

// The clear values fed in every shape; none may be found after ingest.
const (
	piiIP    = "198.18.201.77"
	piiIP6   = "2001:db8:f00d::77"
	piiAgent = "PiiProbeAgent/4.2"
	piiSalt  = "test-salt-0123456789abcdef"
)

// piiLeaks are the strings whose presence anywhere is a leak: the clear
// values, an address cut short, and the salt itself.
var piiLeaks = []string{piiIP, "198.18.201.7", piiIP6, "2001:db8:f00d", "PiiProbeAgent", piiSalt}

// piiInput is one NDJSON file: seat and membership events with the PII
// fields in every shape raw can hold them, and dead letters of every kind
// holding them.
func piiInput() (lines []string, rows, members int, dead map[string]int) {
	base := func(id, action string, extra string) string {
		return fmt.Sprintf(`{"@timestamp":%d,"_document_id":%q,"action":%q,"actor":"octo-admin","org":"acme","user":"alice"%s}`,
			t0+int64(len(lines))*1000, id, action, extra)
	}
	shapes := []string{
		`,"actor_ip":"` + piiIP + `","user_agent":"` + piiAgent + `"`,
		`,"Actor_IP":"` + piiIP + `","USER_AGENT":"` + piiAgent + `"`,
		`,"data":{"actor_ip":"` + piiIP6 + `","deeper":{"User_Agent":"` + piiAgent + ` (nested)"}}`,
		`,"hops":[{"actor_ip":"` + piiIP + `"},[{"uSeR_aGeNt":"` + piiAgent + `"}]]`,
		`,"actor\u005fip":"198.18.201.\u0037\u0037","\u0055SER\u005fAGENT":"PiiProbeAgent\/4.2"`,
		`,"User_Agent":{"name":"` + piiAgent + `","actor_ip":"` + piiIP + `"}`, // not the typed field: raw only
	}
	for i, s := range shapes {
		lines = append(lines, base(fmt.Sprintf("pii-seat-%d", i), "copilot.cfb_seat_added", s))
		rows++
	}
	lines = append(lines, base("pii-member-1", "team.add_member", `,"team":"acme/platform"`+shapes[0]+shapes[2]))
	members++

	dead = map[string]int{}
	deadLine := func(code, line string) {
		lines = append(lines, line)
		dead[code]++
	}
	// Parsed, but not an event: scrubbed as JSON, every address literal too.
	deadLine("wrong_type", base("pii-dead-type", "copilot.cfb_seat_added",
		`,"org_id":"many","note":"login from `+piiIP+` via `+piiIP6+`"`+shapes[1]+shapes[3]))
	deadLine("not_an_object", `"seen from `+piiIP+`"`)
	// Not JSON: the pattern scrub.
	deadLine("malformed_json", base("pii-dead-cut", "copilot.cfb_seat_added", shapes[0])[:140]+
		`,"ACTOR_IP":"`+piiIP+`","user_agent":"`+piiAgent+` (cut off`)
	deadLine("malformed_json", `{"_document_id":"pii-dead-cut-2","action":"copilot.cfb_seat_added","actor_ip":"198.18.201.7`)
	deadLine("malformed_json", `garbage seen from `+piiIP+`:443 and [`+piiIP6+`]; "User_Agent": `+piiAgent+`, more garbage`)
	deadLine("malformed_json", `{"action":"copilot.cfb_seat_added","actor\u005fip": `+piiIP+` ,"x":1,,}`)
	deadLine("invalid_utf8", base("pii-dead-utf8", "copilot.cfb_seat_added", shapes[1]+`,"bad":"`+"\xff\xfe"+`"`))
	deadLine("oversize", base("pii-dead-big", "copilot.cfb_seat_added", shapes[0]+shapes[2]+`,"pad":"`+strings.Repeat("x", 5000)+`"`))
	deadLine("too_deep", `{"action":"copilot.cfb_seat_added","actor_ip":"`+piiIP+`","d":{"user_agent":"`+piiAgent+`","d":`+
		strings.Repeat(`{"d":`, 110)+`1`+strings.Repeat("}", 112))
	return lines, rows, members, dead
}

// TestPIIScrubbedEverywhere ingests piiInput from a file with --pii hash
// and with --pii drop, and from Kafka with --pii hash, then reads every
// column of every table and view in the database, and every log line the
// worker wrote at debug level: the clear values are nowhere. With hash, the actor_ip column holds the salted hash,
// the same one every copy in raw and in dead letters carries.
func TestPIIScrubbedEverywhere(t *testing.T) {
	ch := testenv.SharedClickHouse(t)
	lines, rows, members, dead := piiInput()
	path := filepath.Join(t.TempDir(), "audit.ndjson")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(piiSalt + piiIP))
	ipHash := hex.EncodeToString(sum[:16])

	piiArgs := func(mode string) []string {
		return []string{"--pii", mode, "--pii-salt", piiSalt, "--max-event-bytes", "4096"}
	}
	logger := func(logs *testenv.Buffer) *slog.Logger {
		return slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	type ingestFunc func(t *testing.T, mode string, logs *testenv.Buffer) *timeline.Store
	var fromFile ingestFunc = func(t *testing.T, mode string, logs *testenv.Buffer) *timeline.Store {
		db := testenv.NewDatabase(t, ch)
		cfg, err := ingestd.ParseArgs(append([]string{"--source", "file", "--files", path, "--clickhouse-addr", ch.Addr(),
			"--clickhouse-database", db, "--batch-wait", "100ms", "--http-addr", ""}, piiArgs(mode)...)...)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := ingestd.Run(ctx, cfg, logger(logs)); err != nil {
			t.Fatal(err)
		}
		return testenv.OpenTimeline(t, timeline.Config{Addrs: []string{ch.Addr()}, Database: db})
	}
	var fromKafka ingestFunc = func(t *testing.T, mode string, logs *testenv.Buffer) *timeline.Store {
		b := newBed(t, 2)
		payloads := make([][]byte, len(lines))
		for i, l := range lines {
			payloads[i] = []byte(l) // one record a message
		}
		b.produce(t, payloads...)
		cfg, err := ingestd.ParseArgs(append(b.args("pii"), piiArgs(mode)...)...)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Pipeline.RetryMaxInterval = time.Second
		stop := b.run(t, cfg, logs)
		b.waitCaughtUp(t, "pii", 2*time.Minute)
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		return b.store
	}

	for _, run := range []struct {
		name, mode string
		ingest     ingestFunc
	}{
		{"file/hash", "hash", fromFile},
		{"file/drop", "drop", fromFile},
		{"kafka/hash", "hash", fromKafka},
	} {
		t.Run(run.name, func(t *testing.T) {
			mode := run.mode
			var logs testenv.Buffer
			store := run.ingest(t, mode, &logs)
			t.Logf("ingest log:\n%s", logs.String())

			// Everything arrived where it should.
			b := &bed{store: store}
			if n := b.count(t, "SELECT count() FROM seat_timeline"); n != uint64(rows) {
				t.Errorf("seat rows = %d, want %d", n, rows)
			}
			if n := b.count(t, "SELECT count() FROM membership_timeline"); n != uint64(members) {
				t.Errorf("membership rows = %d, want %d", n, members)
			}
			for code, want := range dead {
				if n := b.count(t, "SELECT count() FROM dead_letters WHERE reason_code = ?", code); n != uint64(want) {
					t.Errorf("%s dead letters = %d, want %d", code, n, want)
				}
			}
			wantIP := map[string]string{"hash": ipHash, "drop": ""}[mode]
			if n := b.count(t, "SELECT count() FROM seat_timeline WHERE document_id = 'pii-seat-0' AND actor_ip = ?", wantIP); n != 1 {
				t.Errorf("actor_ip of pii-seat-0 should be %q", wantIP)
			}
			if mode == "hash" {
				// Joinable: every copy of the address hashes alike.
				for _, q := range []string{
					"SELECT count() FROM seat_events WHERE position(raw, ?) > 0",
					"SELECT count() FROM ingest_errors WHERE position(raw, ?) > 0",
				} {
					if n := b.count(t, q, ipHash); n == 0 {
						t.Errorf("%s: no row carries the address's hash", q)
					}
				}
			}

			// Nowhere in the database: every column of every table and view.
			dump := dumpDatabase(t, ch, store.Config().Database)
			for _, leak := range piiLeaks {
				if i := strings.Index(dump, leak); i >= 0 {
					t.Errorf("%q stored: …%s…", leak, dump[max(0, i-200):min(len(dump), i+100)])
				}
			}
			// Nor in any log line.
			for _, leak := range piiLeaks {
				if strings.Contains(logs.String(), leak) {
					t.Errorf("%q logged", leak)
				}
			}
		})
	}
}

// dumpDatabase is every row of every table and view in db, as text.
func dumpDatabase(t *testing.T, ch *testenv.ClickHouse, db string) string {
	t.Helper()
	ctx := context.Background()
	names, err := ch.Query(ctx, "SELECT name FROM system.tables WHERE database = '"+db+"' ORDER BY name")
	if err != nil {
		t.Fatal(err)
	}
	var all strings.Builder
	tables := strings.Fields(names)
	for _, name := range tables {
		out, err := ch.QueryIn(ctx, db, "SELECT * FROM "+testenv.QuoteIdent(name)+" FORMAT TabSeparated")
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&all, "== %s\n%s", name, out)
	}
	for _, want := range []string{"seat_events", "membership_events", "ingest_errors", "source_checkpoints"} {
		if !strings.Contains(names, want) {
			t.Fatalf("table %s missing from %v", want, tables)
		}
	}
	return all.String()
}
