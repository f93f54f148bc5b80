package seatctl_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/seatline/seatline/internal/enrichd"
	"github.com/seatline/seatline/internal/ghsim"
	"github.com/seatline/seatline/internal/ingestd"
	"github.com/seatline/seatline/internal/kafkasrc"
	"github.com/seatline/seatline/internal/reclaim"
	"github.com/seatline/seatline/internal/seatctl"
	"github.com/seatline/seatline/internal/testenv"
)

const (
	reclaimToken   = "ghp_reclaimTESTtoken000000000000000000"
	readOnlyToken  = "ghp_readonlyTESTtoken00000000000000000"
	reclaimHistory = 60 * 24 * time.Hour // the simulated enterprise's history before now
)

// reclaimBed is a GitHub simulator whose enterprise was built 60 days ago
// and whose clock then ran to now, and a timeline made from its audit
// events by ingest (file source) and one pass of the enrich worker (seat
// lookups, seat-list snapshots, seat periods): what seatctl reclaim reads.
type reclaimBed struct {
	*bed
	sim  *ghsim.Server
	dir  string
	orgs []string
	// ingested counts the ingest runs (each reads a new file).
	ingested int
}

func newReclaimBed(t *testing.T, opts ghsim.Options, orgs []string, build func(sim *ghsim.Server)) *reclaimBed {
	t.Helper()
	opts.Tokens = append(opts.Tokens, reclaimToken)
	opts.ReadOnlyTokens = append(opts.ReadOnlyTokens, readOnlyToken)
	opts.Start = time.Now().UTC().Add(-reclaimHistory).Truncate(time.Second)
	opts.MembershipEvents = true
	if opts.Seed == 0 {
		opts.Seed = 12
	}
	sim := ghsim.New(opts)
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if v := sim.LimitViolations(); v != 0 {
			t.Errorf("the simulator counted %d rate-limit violations", v)
		}
		sim.Close()
	})
	build(sim)
	sim.Advance(time.Now().Add(-time.Minute).Sub(sim.Now()))
	rb := &reclaimBed{bed: newBed(t), sim: sim, dir: t.TempDir(), orgs: orgs}
	rb.ingestFile(t)
	rb.enrich(t)
	return rb
}

// ingestFile writes the simulator's new audit events to a file and runs
// ingest (file source) over it.
func (rb *reclaimBed) ingestFile(t *testing.T) {
	t.Helper()
	var buf bytes.Buffer
	for _, e := range rb.sim.Events() {
		buf.Write(e)
		buf.WriteByte('\n')
	}
	rb.ingested++
	path := filepath.Join(rb.dir, fmt.Sprintf("audit-%d.json", rb.ingested))
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := ingestd.ParseArgs("--source", "file", "--files", path, "--clickhouse-addr", rb.ch.Addr(),
		"--clickhouse-database", rb.db, "--batch-wait", "100ms", "--http-addr", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := ingestd.Run(context.Background(), cfg, quiet()); err != nil {
		t.Fatal(err)
	}
}

// enrich runs the enrich worker once: pending lookups, the org and
// enterprise seat lists, the seat periods.
func (rb *reclaimBed) enrich(t *testing.T) {
	t.Helper()
	cfg := enrichd.Defaults() // Validate takes no zero for a default
	cfg.Once, cfg.Orgs, cfg.Enterprises, cfg.LogLevel = true, rb.orgs, []string{rb.sim.Options().Enterprise}, "error"
	cfg.ClickHouse.Addrs, cfg.ClickHouse.Database = []string{rb.ch.Addr()}, rb.db
	cfg.GitHub.BaseURL, cfg.GitHub.Token = rb.sim.URL()+"/", reclaimToken
	if err := enrichd.Run(context.Background(), cfg, quiet()); err != nil {
		t.Fatal(err)
	}
}

// ingestKafka streams the simulator's new audit events through Kafka and
// ingest (a consumer group reading the topic until it has caught up).
func (rb *reclaimBed) ingestKafka(t *testing.T, k *testenv.Kafka) int {
	t.Helper()
	ctx := context.Background()
	evs := rb.sim.Events()
	p := testenv.NewProducer(k.Brokers(), "audit")
	if err := p.Write(ctx, evs...); err != nil {
		t.Fatal(err)
	}
	p.Close()
	cfg, err := ingestd.ParseArgs("--kafka-brokers", k.Brokers()[0], "--kafka-topics", "audit", "--kafka-group", "reclaim",
		"--clickhouse-addr", rb.ch.Addr(), "--clickhouse-database", rb.db, "--batch-wait", "100ms", "--http-addr", "")
	if err != nil {
		t.Fatal(err)
	}
	ictx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- ingestd.Run(ictx, cfg, quiet()) }()
	client := &kafka.Client{Addr: kafka.TCP(k.Brokers()...)}
	deadline := time.Now().Add(60 * time.Second)
	for {
		lag, err := kafkasrc.GroupLag(ctx, client, "reclaim", []string{"audit"})
		if err == nil && lag == 0 {
			break
		}
		if time.Now().After(deadline) {
			stop()
			<-done
			t.Fatalf("ingest did not catch up (lag %d, %v)", lag, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	return len(evs)
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// ctl runs seatctl against the bed's database; github adds the
// simulator's URL and token (plan, apply).
func (rb *reclaimBed) ctl(t *testing.T, github bool, args ...string) (int, string, string) {
	t.Helper()
	if github {
		args = append(args, "--github-base-url", rb.sim.URL()+"/", "--github-token", reclaimToken)
		if !slices.Contains(args, "--github-max-wait") {
			args = append(args, "--github-max-wait", "30s")
		}
	}
	var out, errb bytes.Buffer
	args = append(args, "--clickhouse-addr", rb.ch.Addr(), "--clickhouse-database", rb.db)
	code := seatctl.Main(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

var sumLine = regexp.MustCompile(`(?m)^sha256 ([0-9a-f]{64})$`)

// plan runs seatctl reclaim plan with args, writing plan.json in the bed's
// directory, and returns the plan, its SHA-256 (as printed, checked against
// the file) and its path.
func (rb *reclaimBed) plan(t *testing.T, name string, args ...string) (*reclaim.Plan, string, string) {
	t.Helper()
	path := filepath.Join(rb.dir, name)
	code, stdout, stderr := rb.ctl(t, true, append([]string{"reclaim", "plan", "--out", path, "--format", "csv"}, args...)...)
	if code != 0 {
		t.Fatalf("reclaim plan exited %d:\n%s\n%s", code, stdout, stderr)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m := sumLine.FindStringSubmatch(stderr)
	if m == nil || m[1] != reclaim.Sum(b) {
		t.Fatalf("plan printed no SHA-256 of its file (%s):\n%s", reclaim.Sum(b), stderr)
	}
	p, err := reclaim.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(stdout, "\n") > 20 {
		stdout = ""
	}
	t.Logf("plan %s:\n%s%s", name, stdout, stderr)
	return p, m[1], path
}

// apply runs seatctl reclaim apply and returns its exit code and output.
func (rb *reclaimBed) apply(t *testing.T, path, sum string, args ...string) (int, string) {
	t.Helper()
	code, stdout, stderr := rb.ctl(t, true, append([]string{"reclaim", "apply", path, "--approve", sum}, args...)...)
	t.Logf("reclaim apply exited %d:\n%s%s", code, stderr, stdout)
	return code, stderr + stdout
}

// candidate finds a plan's candidate.
func candidate(t *testing.T, p *reclaim.Plan, scope, user string) reclaim.Candidate {
	t.Helper()
	for _, c := range p.Candidates {
		if c.Scope == scope && c.User == user {
			return c
		}
	}
	t.Fatalf("no candidate %s/%s in the plan", scope, user)
	return reclaim.Candidate{}
}

// applied is how many change requests GitHub acted on named each user
// (2xx answers).
func applied(sim *ghsim.Server) map[string]int {
	out := map[string]int{}
	for _, m := range sim.Mutations() {
		if m.Status/100 == 2 {
			for _, n := range m.Names {
				out[n]++
			}
		}
	}
	return out
}

// members adds users to org and returns them.
func members(t *testing.T, sim *ghsim.Server, org, prefix string, n int) []string {
	t.Helper()
	var out []string
	for i := range n {
		u := fmt.Sprintf("%s%03d", prefix, i)
		if err := sim.AddMember(org, u); err != nil {
			t.Fatal(err)
		}
		out = append(out, u)
	}
	return out
}

// assign assigns users' seats directly, 100 at a time.
func assign(t *testing.T, sim *ghsim.Server, org string, users []string) {
	t.Helper()
	for i := 0; i < len(users); i += 100 {
		if err := sim.Assign(org, "", users[i:min(i+100, len(users))]...); err != nil {
			t.Fatal(err)
		}
	}
}

// journal counts the plan's seat actions by latest outcome (reclaim_state).
func (rb *reclaimBed) journal(t *testing.T, sum string) map[string]int {
	t.Helper()
	rows, err := rb.store.Conn().Query(context.Background(), "SELECT toString(outcome), count() FROM reclaim_state WHERE plan_sha256 = ? GROUP BY outcome", sum)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var o string
		var n uint64
		if err := rows.Scan(&o, &n); err != nil {
			t.Fatal(err)
		}
		out[o] = int(n)
	}
	return out
}

func pendingSeats(sim *ghsim.Server, scope string, users []string) []string {
	var out []string
	for _, u := range users {
		if st, ok := sim.Seat(scope, u); ok && st.PendingCancellationDate != "" {
			out = append(out, u)
		}
	}
	slices.Sort(out)
	return out
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
