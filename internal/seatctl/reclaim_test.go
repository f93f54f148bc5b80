package seatctl_test

import (
	"bytes"
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/seatline/seatline/internal/ghsim"
	"github.com/seatline/seatline/internal/reclaim"
	"github.com/seatline/seatline/internal/seatctl"
	"github.com/seatline/seatline/internal/testenv"
)

// TestReclaim250SeatsInOneOrg: 250 never-used seats of one org are planned
// (the saving at list price), applied in 3 DELETE requests of at most 100
// and pending cancellation afterwards, each with GitHub's date in the
// journal; used seats and new seats (the grace period) are no candidates.
// Applying the same plan again sends no request at all.
func TestReclaim250SeatsInOneOrg(t *testing.T) {
	rb := newReclaimBed(t, ghsim.Options{}, []string{"acme"}, func(sim *ghsim.Server) {
		must(t, sim.AddOrg("acme", ghsim.AssignSelected, ""))
		idle := members(t, sim, "acme", "idle", 250)
		busy := members(t, sim, "acme", "busy", 5)
		assign(t, sim, "acme", append(slices.Clone(idle), busy...))
		sim.Advance(reclaimHistory - 5*24*time.Hour)
		for _, u := range busy {
			must(t, sim.SetActivity("acme", u, sim.Now(), "vscode/1.99"))
		}
		assign(t, sim, "acme", members(t, sim, "acme", "new", 3)) // created 5 days ago: within the grace period
	})
	p, sum, path := rb.plan(t, "plan.json", "--org", "acme")
	if p.Totals.Candidates != 250 || p.Totals.Actions != 250 || p.Totals.MonthlySavingCents != 250*1900 {
		t.Fatalf("plan totals %+v", p.Totals)
	}
	c := candidate(t, p, "acme", "idle007")
	if c.Action != reclaim.ActUnassign || c.GitHub == nil || c.GitHub.Status != "active" || c.Timeline.Source != "snapshot" ||
		c.Timeline.ReadAt == nil || !slices.Equal(c.Why, []string{reclaim.WhyNeverUsed}) || c.MonthlySavingCents != 1900 {
		t.Fatalf("candidate %+v (github %+v)", c, c.GitHub)
	}

	// The grace period, not the never-used rule, keeps the new seats out.
	if g, _, _ := rb.plan(t, "grace.json", "--org", "acme", "--never-used", "3d"); g.Totals.Candidates != 250 {
		t.Fatalf("with the 14-day grace period: %d candidates", g.Totals.Candidates)
	}
	if g, _, _ := rb.plan(t, "nograce.json", "--org", "acme", "--never-used", "3d", "--grace", "off"); g.Totals.Actions != 253 {
		t.Fatalf("without a grace period: %+v", g.Totals)
	}

	rb.sim.ResetCounters()
	start := time.Now()
	code, out := rb.apply(t, path, sum)
	took := time.Since(start)
	if code != 0 {
		t.Fatalf("apply exited %d", code)
	}
	ms := rb.sim.Mutations()
	reqs := rb.sim.Requests()
	if reqs[ghsim.EndpointRemoveUsers] != 3 || len(ms) != 3 {
		t.Fatalf("%d DELETE requests (%d acted on), want 3", reqs[ghsim.EndpointRemoveUsers], len(ms))
	}
	for _, m := range ms {
		if len(m.Names) > 100 || m.Status != 200 {
			t.Fatalf("request of %d names answered %d", len(m.Names), m.Status)
		}
	}
	var idle []string
	for _, c := range p.Candidates {
		idle = append(idle, c.User)
	}
	if got := applied(rb.sim); len(got) != 250 {
		t.Fatalf("%d users unassigned", len(got))
	}
	if n := len(pendingSeats(rb.sim, "acme", idle)); n != 250 {
		t.Fatalf("%d of 250 seats pending cancellation", n)
	}
	if j := rb.journal(t, sum); j[reclaim.OutPending] != 250 || len(j) != 1 {
		t.Fatalf("journal %v", j)
	}
	if !strings.Contains(out, "reclaimed: 250 seat(s), $4,750.00 a month") {
		t.Fatalf("apply's report:\n%s", out)
	}
	var pending time.Time
	if err := rb.store.Conn().QueryRow(context.Background(), "SELECT any(assumeNotNull(pending_cancellation_date)) FROM reclaim_state WHERE plan_sha256 = ?", sum).Scan(&pending); err != nil {
		t.Fatal(err)
	}
	if want := reclaim.NextCycle(time.Now()); !pending.Equal(want) {
		t.Fatalf("journal's pending cancellation date %v, GitHub's is %v", pending, want)
	}
	t.Logf("FIGURE 250 candidates in one org: %d GitHub requests in all (%v), %d of them DELETE, apply took %v",
		rb.sim.TotalRequests(), reqs, reqs[ghsim.EndpointRemoveUsers], took.Round(time.Millisecond))

	// Again: nothing to do, nothing sent.
	rb.sim.ResetCounters()
	if code, out := rb.apply(t, path, sum); code != 0 || rb.sim.TotalRequests() != 0 || !strings.Contains(out, "250 finished before") {
		t.Fatalf("second apply: exit %d, %d requests:\n%s", code, rb.sim.TotalRequests(), out)
	}
}

// TestReclaimAllMembersOrg: in an org that assigns seats to all members
// the candidates are blocked with what the admin must change; apply sends
// nothing there (the other org's seats are unassigned).
func TestReclaimAllMembersOrg(t *testing.T) {
	rb := newReclaimBed(t, ghsim.Options{}, []string{"everyone", "acme"}, func(sim *ghsim.Server) {
		must(t, sim.AddOrg("everyone", ghsim.AssignAll, ""))
		members(t, sim, "everyone", "all", 4)
		must(t, sim.AddOrg("acme", ghsim.AssignSelected, ""))
		assign(t, sim, "acme", members(t, sim, "acme", "direct", 3))
	})
	keep := rb.dir + "/keep.txt"
	must(t, os.WriteFile(keep, []byte("# never reclaimed\nuser:direct002\n\norg:elsewhere  # not in the timeline\n"), 0o644))
	p, sum, path := rb.plan(t, "plan.json", "--exclude-file", keep)
	if c := candidate(t, p, "acme", "direct002"); c.Action != reclaim.ActExcluded || c.GitHub != nil || p.Rules.ExcludeFileSHA256 == "" {
		t.Fatalf("excluded user: %+v", c)
	}
	c := candidate(t, p, "everyone", "all001")
	if c.Action != reclaim.ActBlocked || !strings.Contains(c.Reason, "all members") || !strings.Contains(c.Reason, "selected members") || c.MonthlySavingCents != 0 {
		t.Fatalf("all-members candidate: %+v", c)
	}
	if p.Totals.Blocked != 4 || p.Totals.Actions != 2 || p.Totals.Other != 1 {
		t.Fatalf("totals %+v", p.Totals)
	}
	rb.sim.ResetCounters()
	if code, _ := rb.apply(t, path, sum); code != 0 {
		t.Fatalf("apply exited %d", code)
	}
	for _, m := range rb.sim.Mutations() {
		if m.Scope == "everyone" {
			t.Fatalf("a request was sent for the all-members org: %+v", m)
		}
	}
	if rb.sim.Requests()[ghsim.EndpointRemoveUsers] != 1 {
		t.Fatalf("DELETE requests: %v", rb.sim.Requests())
	}
	if code, _, stderr := rb.ctl(t, false, "reclaim", "undo"); code != 2 || !strings.Contains(stderr, "plan, apply or status") {
		t.Fatalf("an unknown step: exit %d: %s", code, stderr)
	}
	bad := rb.dir + "/bad.txt"
	must(t, os.WriteFile(bad, []byte("group:admins\n"), 0o644))
	if code, _, stderr := rb.ctl(t, true, "reclaim", "plan", "--exclude-file", bad); code != 2 || !strings.Contains(stderr, "line 1") {
		t.Fatalf("a bad exclude file: exit %d: %s", code, stderr)
	}
	// The org alone: nothing to apply.
	_, _, stderr := rb.ctl(t, true, "reclaim", "plan", "--org", "everyone", "--out", rb.dir+"/p2.json", "--format", "csv")
	if !strings.Contains(stderr, "nothing to apply") {
		t.Fatalf("plan of the all-members org:\n%s", stderr)
	}
}

// TestReclaim429MidApply: GitHub answers 429 with Retry-After in the
// middle of the apply: it waits, goes on, and no user is in two requests
// GitHub acted on. When the wait would outlast --github-max-wait, apply
// stops (exit 3) with the rest journaled rate_limited, and the same apply
// later sends exactly the rest.
func TestReclaim429MidApply(t *testing.T) {
	rb := newReclaimBed(t, ghsim.Options{Use429: true}, []string{"acme"}, func(sim *ghsim.Server) {
		must(t, sim.AddOrg("acme", ghsim.AssignSelected, ""))
		assign(t, sim, "acme", members(t, sim, "acme", "u", 250))
	})
	p, _, _ := rb.plan(t, "plan.json")
	if p.Totals.Actions != 250 {
		t.Fatalf("totals %+v", p.Totals)
	}
	// Two plans of 125 seats each (as if planned per half).
	half := func(name string, cs []reclaim.Candidate) (string, string) {
		h := *p
		h.Candidates = slices.Clone(cs)
		h.Finish()
		path := rb.dir + "/" + name
		sum, err := h.Write(path)
		must(t, err)
		return path, sum
	}
	halfPath, halfSum := half("first.json", p.Candidates[:125])
	path, sum := half("second.json", p.Candidates[125:])

	// Within --github-max-wait: waits and goes on.
	rb.sim.ResetCounters()
	rb.sim.SetFaults(ghsim.Faults{Burst429Every: 3, Burst429Len: 1, RetryAfter: time.Second})
	start := time.Now()
	if code, _ := rb.apply(t, halfPath, halfSum); code != 0 {
		t.Fatalf("apply exited %d", code)
	}
	if rb.sim.Statuses()[429] == 0 || rb.sim.Requests()[ghsim.EndpointRemoveUsers] <= 2 {
		t.Fatalf("no DELETE was refused with 429: %v %v", rb.sim.Statuses(), rb.sim.Requests())
	}
	for u, n := range applied(rb.sim) {
		if n != 1 {
			t.Fatalf("%s in %d requests GitHub acted on", u, n)
		}
	}
	if len(applied(rb.sim)) != 125 {
		t.Fatalf("%d users unassigned, want 125", len(applied(rb.sim)))
	}
	t.Logf("125 seats with %d 429s on the way: %v", rb.sim.Statuses()[429], time.Since(start).Round(time.Millisecond))

	// Beyond --github-max-wait: stops, then completes.
	rb.sim.SetFaults(ghsim.Faults{})
	rb.sim.ResetCounters()
	var n int
	rb.sim.SetMutationHook(func(m ghsim.Mutation) {
		if n++; n == 1 { // after the first request, the next is refused for 3 s
			rb.sim.SetFaults(ghsim.Faults{SecondaryEvery: 1, RetryAfter: 3 * time.Second})
		}
	})
	code, out := rb.apply(t, path, sum, "--github-max-wait", "1s")
	if code != 3 || !strings.Contains(out, "run the same apply again") {
		t.Fatalf("apply under a long Retry-After exited %d:\n%s", code, out)
	}
	j := rb.journal(t, sum)
	if j[reclaim.OutRateLimited] != 25 || j[reclaim.OutDone]+j[reclaim.OutPending] != 100 {
		t.Fatalf("journal after the stop: %v", j)
	}
	rb.sim.SetMutationHook(nil)
	rb.sim.SetFaults(ghsim.Faults{})
	first := applied(rb.sim)
	rb.sim.ResetCounters()
	if code, _ := rb.apply(t, path, sum); code != 0 { // waits out what is left of the pause
		t.Fatalf("rerun exited %d", code)
	}
	for u := range applied(rb.sim) {
		if first[u] > 0 {
			t.Fatalf("%s sent again after it was done", u)
		}
	}
	if len(applied(rb.sim)) != 25 || rb.journal(t, sum)[reclaim.OutPending] != 125 {
		t.Fatalf("the rerun unassigned %d, journal %v", len(applied(rb.sim)), rb.journal(t, sum))
	}
}

// TestReclaimRecheck: a user who used Copilot between plan and apply and
// one unassigned by hand meanwhile are skipped with the reason; the rest
// is applied. status lists the skipped ones with their reason.
func TestReclaimRecheck(t *testing.T) {
	rb := newReclaimBed(t, ghsim.Options{}, []string{"acme"}, func(sim *ghsim.Server) {
		must(t, sim.AddOrg("acme", ghsim.AssignSelected, ""))
		us := members(t, sim, "acme", "u", 6)
		assign(t, sim, "acme", us)
		sim.Advance(20 * 24 * time.Hour)
		for _, u := range us {
			must(t, sim.SetActivity("acme", u, sim.Now(), "vscode/1.99"))
		}
	})
	p, sum, path := rb.plan(t, "plan.json", "--idle", "30d")
	if p.Totals.Actions != 6 {
		t.Fatalf("totals %+v", p.Totals)
	}
	used := time.Now().Add(-time.Hour)
	must(t, rb.sim.SetActivity("acme", "u002", used, "JetBrains-IU/241"))
	must(t, rb.sim.Unassign("acme", "", "u004"))
	rb.sim.ResetCounters()
	if code, _ := rb.apply(t, path, sum); code != 0 {
		t.Fatalf("apply exited %d", code)
	}
	got := applied(rb.sim)
	if len(got) != 4 || got["u002"] != 0 || got["u004"] != 0 {
		t.Fatalf("unassigned %v", got)
	}
	code, stdout, stderr := rb.ctl(t, false, "reclaim", "status", path, "--format", "csv")
	if code != 0 {
		t.Fatalf("status exited %d: %s", code, stderr)
	}
	for _, want := range []string{"u002,unassign_user,,skipped", "used Copilot on " + used.UTC().Format("2006-01-02"),
		"u004,unassign_user,,skipped", "already pending cancellation before this apply"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("status lacks %q:\n%s", want, stdout)
		}
	}
}

// TestReclaimTamperedPlan: a plan whose bytes differ from what was
// approved, or that is too old, or an approval that is no hash, is refused
// with exit 4: no request reaches GitHub, nothing is journaled.
func TestReclaimTamperedPlan(t *testing.T) {
	rb := newReclaimBed(t, ghsim.Options{}, []string{"acme"}, func(sim *ghsim.Server) {
		must(t, sim.AddOrg("acme", ghsim.AssignSelected, ""))
		assign(t, sim, "acme", members(t, sim, "acme", "u", 3))
	})
	_, sum, path := rb.plan(t, "plan.json")
	b, err := os.ReadFile(path)
	must(t, err)
	must(t, os.WriteFile(path, bytes.Replace(b, []byte(`"user": "u001"`), []byte(`"user": "u009"`), 1), 0o644))
	rb.sim.ResetCounters()
	code, out := rb.apply(t, path, sum)
	if code != 4 || !strings.Contains(out, "changed since it was approved") || rb.sim.TotalRequests() != 0 {
		t.Fatalf("tampered plan: exit %d, %d requests:\n%s", code, rb.sim.TotalRequests(), out)
	}
	must(t, os.WriteFile(path, b, 0o644))
	if code, out := rb.apply(t, path, sum, "--max-plan-age", "1ms"); code != 4 || !strings.Contains(out, "max-plan-age") {
		t.Fatalf("old plan: exit %d:\n%s", code, out)
	}
	if code, _ := rb.apply(t, path, "yes"); code != 4 {
		t.Fatalf("--approve yes: exit %d", code)
	}
	if code, _, _ := rb.ctl(t, true, "reclaim", "apply", path); code != 2 {
		t.Fatalf("no --approve: exit %d", code)
	}
	if rb.sim.TotalRequests() != 0 || len(rb.journal(t, sum)) != 0 {
		t.Fatalf("a refused plan reached GitHub (%d requests) or the journal (%v)", rb.sim.TotalRequests(), rb.journal(t, sum))
	}
}

// TestReclaimPermission: a token without manage_billing:copilot: apply
// exits 5 naming the scope and the App permission, never printing the
// token; the same apply with a proper token then does everything.
func TestReclaimPermission(t *testing.T) {
	rb := newReclaimBed(t, ghsim.Options{}, []string{"acme"}, func(sim *ghsim.Server) {
		must(t, sim.AddOrg("acme", ghsim.AssignSelected, ""))
		assign(t, sim, "acme", members(t, sim, "acme", "u", 3))
	})
	_, sum, path := rb.plan(t, "plan.json")
	t.Setenv("SEATLINE_GITHUB_TOKEN", readOnlyToken)
	var out, errb bytes.Buffer
	code := seatctl.Main(context.Background(), []string{"reclaim", "apply", path, "--approve", sum, "--github-base-url", rb.sim.URL() + "/",
		"--clickhouse-addr", rb.ch.Addr(), "--clickhouse-database", rb.db}, &out, &errb)
	all := out.String() + errb.String()
	if code != 5 || !strings.Contains(all, "manage_billing:copilot") || !strings.Contains(all, `"Copilot Business" organization permission (write)`) {
		t.Fatalf("read-only token: exit %d:\n%s", code, all)
	}
	if strings.Contains(all, readOnlyToken) || strings.Contains(all, "readonlyTESTtoken") {
		t.Fatalf("the token was printed:\n%s", all)
	}
	if j := rb.journal(t, sum); j[reclaim.OutFailed] != 3 {
		t.Fatalf("journal %v", j)
	}
	if code, _ := rb.apply(t, path, sum); code != 0 || len(applied(rb.sim)) != 3 {
		t.Fatalf("with the right token: exit %d, %v", code, applied(rb.sim))
	}
}

// TestReclaimTeamSeatsAndConfirmation: seats from an org team and an
// enterprise team are blocked unless --include-team-seats, which plans the
// team removals; with a never-used direct seat and a deprovisioned
// holder's (orphaned) seat, apply sends one DELETE selected_users and the
// team removals. status says waiting until the simulator's audit events,
// streamed through Kafka and ingest, reach the timeline: then unassigned
// with GitHub's billing date, and cancelled once the cycle ends.
func TestReclaimTeamSeatsAndConfirmation(t *testing.T) {
	var ghost string
	rb := newReclaimBed(t, ghsim.Options{}, []string{"acme"}, func(sim *ghsim.Server) {
		must(t, sim.AddOrg("acme", ghsim.AssignSelected, ""))
		must(t, sim.AddTeam("acme", "ml", "tia", "tom"))
		must(t, sim.AssignTeams("acme", "", "ml"))
		members(t, sim, "acme", "direct", 1)
		must(t, sim.AddMember("acme", "gina"))
		assign(t, sim, "acme", []string{"direct000", "gina"})
		slug, err := sim.AddEnterpriseTeam("ai", "eve")
		must(t, err)
		must(t, sim.AssignEnterpriseTeams("", slug))
		sim.Advance(reclaimHistory - 3*24*time.Hour)
		for _, u := range []string{"gina"} {
			must(t, sim.SetActivity("acme", u, sim.Now(), "vscode/1.99"))
		}
		g, err := sim.Deprovision("gina")
		must(t, err)
		ghost = g
	})
	ent := rb.sim.Options().Enterprise
	p, _, _ := rb.plan(t, "blocked.json", "--enterprise", ent, "--org", "acme")
	for _, k := range [][2]string{{"acme", "tia"}, {"acme", "tom"}, {ent, "eve"}} {
		c := candidate(t, p, k[0], k[1])
		if c.Action != reclaim.ActBlocked || !strings.Contains(c.Reason, "--include-team-seats") || c.Team == "" {
			t.Fatalf("%s without --include-team-seats: %+v", k, c)
		}
	}
	if c := candidate(t, p, "acme", ghost); c.Action != reclaim.ActUnassign || !slices.Contains(c.Why, reclaim.WhyOrphaned) ||
		c.Timeline.OrphanReason != "deprovisioned" {
		t.Fatalf("the deprovisioned holder's seat: %+v", c)
	}

	p, sum, path := rb.plan(t, "teams.json", "--enterprise", ent, "--org", "acme", "--include-team-seats")
	if c := candidate(t, p, "acme", "tia"); c.Action != reclaim.ActLeaveTeam || c.Team != "ml" {
		t.Fatalf("tia: %+v", c)
	}
	if c := candidate(t, p, ent, "eve"); c.Action != reclaim.ActLeaveEnterpriseTeam || c.Team != "ent:ai" || c.MonthlySavingCents != 3900 {
		t.Fatalf("eve: %+v", c)
	}
	rb.sim.ResetCounters()
	if code, _ := rb.apply(t, path, sum); code != 0 {
		t.Fatalf("apply exited %d", code)
	}
	reqs := rb.sim.Requests()
	if reqs[ghsim.EndpointRemoveUsers] != 1 || reqs[ghsim.EndpointRemoveTeamMember] != 2 || reqs[ghsim.EndpointRemoveEntTeamMember] != 1 {
		t.Fatalf("requests %v", reqs)
	}
	if j := rb.journal(t, sum); j[reclaim.OutPending] != 5 {
		t.Fatalf("journal %v", j)
	}

	status := func() string {
		code, stdout, stderr := rb.ctl(t, false, "reclaim", "status", sum, "--format", "csv")
		if code != 0 {
			t.Fatalf("status exited %d: %s", code, stderr)
		}
		t.Logf("status:\n%s%s", stdout, stderr)
		return stdout
	}
	if out := status(); strings.Count(out, ","+"waiting"+",") != 5 {
		t.Fatalf("before the events arrive every action waits:\n%s", out)
	}
	k := testenv.NewKafka(t)
	must(t, k.CreateTopic(context.Background(), "audit", 2))
	n := rb.ingestKafka(t, k)
	stops := reclaim.NextCycle(time.Now()).Format(time.DateOnly)
	out := status()
	for _, u := range []string{"tia", "tom", "eve", "direct000", ghost} {
		if !strings.Contains(out, ","+u+",") || !lineHas(out, u, ",unassigned,", ","+stops+",") {
			t.Errorf("%s is not confirmed unassigned with billing stopping %s after %d events:\n%s", u, stops, n, out)
		}
	}
	rb.sim.Advance(reclaim.NextCycle(time.Now()).Sub(rb.sim.Now()) + time.Hour)
	rb.ingestKafka(t, k)
	out = status()
	for _, u := range []string{"tia", "tom", "eve", "direct000", ghost} {
		if !lineHas(out, u, ",cancelled,") {
			t.Errorf("%s not cancelled after the cycle ended:\n%s", u, out)
		}
	}
}

// lineHas: a line of out naming user holds every part.
func lineHas(out, user string, parts ...string) bool {
	for _, l := range strings.Split(out, "\n") {
		if !strings.Contains(l, ","+user+",") {
			continue
		}
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(l, p)
		}
		if ok {
			return true
		}
	}
	return false
}

// TestReclaimKill9: seatctl reclaim apply (the binary) is killed with
// kill -9 in the middle, and the same apply run again completes exactly
// the rest: every seat ends in exactly one request GitHub acted on.
//   - killed while GitHub acts on the second request, before its answer
//     arrives: the rerun looks those 100 seats up, finds them pending
//     cancellation and does not send them again; it sends the third batch.
//   - killed while the second request is on its way, before GitHub acts
//     on it: the rerun finds those seats still active and sends them.
func TestReclaimKill9(t *testing.T) {
	ctx := context.Background()
	bin, err := testenv.Build(ctx, "./cmd/seatctl", t.TempDir())
	must(t, err)
	rb := newReclaimBed(t, ghsim.Options{}, []string{"acme", "beta"}, func(sim *ghsim.Server) {
		for _, org := range []string{"acme", "beta"} {
			must(t, sim.AddOrg(org, ghsim.AssignSelected, ""))
			assign(t, sim, org, members(t, sim, org, org[:1], 250))
		}
	})
	start := func(path, sum string) *testenv.Process {
		p, err := testenv.StartProcess(bin, []string{"reclaim", "apply", path, "--approve", sum,
			"--clickhouse-addr", rb.ch.Addr(), "--clickhouse-database", rb.db,
			"--github-base-url", rb.sim.URL() + "/", "--github-token", reclaimToken}, nil)
		must(t, err)
		return p
	}
	check := func(org, sum string) {
		t.Helper()
		perUser := map[string]int{}
		for _, m := range rb.sim.Mutations() {
			if m.Scope == org && m.Status == 200 {
				for _, n := range m.Names {
					perUser[n]++
				}
			}
		}
		if len(perUser) != 250 {
			t.Fatalf("%s: %d users unassigned, want 250", org, len(perUser))
		}
		for u, n := range perUser {
			if n != 1 {
				t.Fatalf("%s: %s in %d requests GitHub acted on", org, u, n)
			}
		}
		if j := rb.journal(t, sum); j[reclaim.OutPending] != 250 {
			t.Fatalf("%s: journal %v", org, j)
		}
	}

	// Killed between GitHub's change and its answer.
	_, sum, path := rb.plan(t, "acme.json", "--org", "acme")
	rb.sim.ResetCounters()
	var proc *testenv.Process
	n := 0
	rb.sim.SetMutationHook(func(m ghsim.Mutation) {
		if n++; n == 2 {
			proc.Kill()
		}
	})
	proc = start(path, sum)
	deadline := time.Now().Add(60 * time.Second)
	for done, _ := proc.Exited(); !done; done, _ = proc.Exited() {
		if time.Now().After(deadline) {
			proc.Kill()
			t.Fatalf("apply neither finished nor was killed:\n%s", proc.Output())
		}
		time.Sleep(20 * time.Millisecond)
	}
	rb.sim.SetMutationHook(nil)
	if n != 2 {
		t.Fatalf("the process ended after %d requests:\n%s", n, proc.Output())
	}
	t.Logf("killed after GitHub acted on the second request; its output:\n%s", proc.Output())
	if j := rb.journal(t, sum); j[reclaim.OutSending] != 100 {
		t.Fatalf("journal after kill -9: %v", j)
	}
	before := len(rb.sim.Mutations())
	if code, out := rb.apply(t, path, sum); code != 0 || !strings.Contains(out, "(100 of them without a recorded answer)") {
		t.Fatalf("rerun: exit %d", code)
	}
	if got := len(rb.sim.Mutations()) - before; got != 1 {
		t.Fatalf("the rerun sent %d DELETE requests, want 1 (the third batch)", got)
	}
	check("acme", sum)

	// Killed while the second request is on its way.
	_, sum, path = rb.plan(t, "beta.json", "--org", "beta")
	rb.sim.ResetCounters()
	rb.sim.SetFaults(ghsim.Faults{Latency: 300 * time.Millisecond})
	proc = start(path, sum)
	deadline = time.Now().Add(60 * time.Second)
	for rb.sim.Requests()[ghsim.EndpointRemoveUsers] < 2 {
		if done, _ := proc.Exited(); done || time.Now().After(deadline) {
			proc.Kill()
			t.Fatalf("apply ended before its second request:\n%s", proc.Output())
		}
		time.Sleep(5 * time.Millisecond)
	}
	proc.Kill()
	time.Sleep(400 * time.Millisecond) // the server notices the closed connection
	rb.sim.SetFaults(ghsim.Faults{})
	if got := len(rb.sim.Mutations()); got != 1 {
		t.Fatalf("GitHub acted on %d requests before the kill, want 1", got)
	}
	if j := rb.journal(t, sum); j[reclaim.OutSending] != 100 || j[reclaim.OutDone] != 100 {
		t.Fatalf("journal after kill -9: %v", j)
	}
	if code, _ := rb.apply(t, path, sum); code != 0 {
		t.Fatalf("rerun: exit %d", code)
	}
	if got := len(rb.sim.Mutations()); got != 3 {
		t.Fatalf("%d DELETE requests acted on in all, want 3 (one before the kill, two after)", got)
	}
	check("beta", sum)
}
