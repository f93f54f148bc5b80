package seatctl

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/seatline/seatline/internal/cli"
	"github.com/seatline/seatline/internal/ghflags"
	"github.com/seatline/seatline/internal/reclaim"
	"github.com/seatline/seatline/internal/timeline"
	"github.com/seatline/seatline/pkg/ghclient"
)

// Exit codes of seatctl reclaim besides ExitOK, ExitUsage and
// ExitUnavailable (which also covers a GitHub rate limit that outlasts
// --github-max-wait: rerun apply after it).
const (
	ExitReclaimIncomplete = 1                     // apply: some seat actions are not finished (failed, not re-checked, outcome unknown): rerun it
	ExitReclaimRefused    = 4                     // apply: the plan's hash differs from --approve, it is too old, or not a plan: nothing sent
	ExitReclaimPermission = cli.ExitGitHubRefused // GitHub refused the credentials or their permission (401/403): the message names what is missing
)

const reclaimExitHelp = `Exit codes:
  0  done (plan written; apply: every seat action finished, skipped ones included; status shown)
  1  apply: some seat actions are not finished (failed, not re-checked, outcome unknown): run the same apply again
  2  usage or configuration error (bad flag, missing --approve, no GitHub credentials)
  3  cannot reach ClickHouse or GitHub, a query failed, or GitHub's rate limit outlasts --github-max-wait (rerun later)
  4  apply refused the plan: its SHA-256 is not the approved one, it is older than --max-plan-age, or it is not a plan; nothing was sent
  5  GitHub refused the credentials or their permission (the message names the scope or App permission)`

// exitError carries a reclaim exit code.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }
func (e *exitError) ExitCode() int { return e.code }

// githubExit gives a GitHub error its exit code.
func githubExit(err error) error {
	if !ghclient.CredentialsRefused(err) { // 401, a 403 that is no rate limit, an App token refused
		return err
	}
	msg := err.Error()
	if !errors.As(err, new(*ghclient.PermissionError)) {
		msg += ": the token or GitHub App is refused; apply needs " + ghclient.PermCopilotSeats
	}
	return &exitError{ExitReclaimPermission, errors.New(msg)}
}

const reclaimAbout = `seatctl reclaim: take back idle and orphaned Copilot seats: plan, approve, apply, confirm

  seatctl reclaim [plan] [flags]                   read-only (the default step)
  seatctl reclaim apply PLAN --approve SHA256      the only step that changes anything on GitHub
  seatctl reclaim status [PLAN]                    which seats GitHub's audit events confirm

plan reads the candidates from the timeline: active seats idle for --idle (no Copilot
activity), never used --never-used after the seat was created, and orphaned seats (the
holder left the org or team, was deprovisioned or suspended); seats younger than --grace are
never idle candidates. For each it asks GitHub now (the budgeted client: the org's policy,
then seat-list pages or per-user lookups) what would end the seat: unassign the user;
blocked (the org assigns seats to all members, or the seat comes from a team: --include-
team-seats plans removing the user from it); already pending cancellation; nothing (no seat,
used since). It writes the plan file (--out: every candidate, its evidence, its action and
the totals) and prints its SHA-256, the approval apply needs. The saving is the seats' list
price (--price), from the next billing cycle: an unassigned seat is billed to the end of the
current one.

apply refuses a plan whose SHA-256 is not --approve or that is older than --max-plan-age. It
checks every seat again just before acting (still assigned, granted the same way, still idle
or orphaned, the org's policy unchanged), skips the rest with the reason, sends DELETE
selected_users in requests of at most 100 (and team removals where planned) within the rate
limit, obeying Retry-After, and journals every request and outcome in reclaim_actions before
and after it goes out. Run it again after a crash, a rate limit or a failure: it sends
exactly what is left (a request whose answer was not recorded is looked up, not resent).
Applying a finished plan again sends nothing.

The token needs ` + ghclient.PermCopilotSeats + `
(team removals: admin:org or "Members" (write); enterprise teams: admin:enterprise).

Examples:
  seatctl reclaim plan --org acme-platform --idle 45d --never-used 21d --out reclaim.json
  seatctl reclaim plan --enterprise acme-corp --exclude-file keep.txt --include-team-seats
  seatctl reclaim apply reclaim.json --approve 6f1c…(the 64 hex digits plan printed)
  seatctl reclaim status reclaim.json

--exclude-file: one entry a line: user:LOGIN, team:SLUG, org:ORG, or a bare login; # comments.

`

// reclaimSteps are reclaim's steps, dispatched as seatctl's commands are.
func reclaimSteps() []command {
	return []command{
		{"plan", "read-only: the candidates, what would end each seat, the plan file and its SHA-256", reclaimPlan},
		{"apply", "the approved plan's actions on GitHub (PLAN --approve SHA256)", reclaimApply},
		{"status", "which seats of a plan GitHub's audit events confirm", reclaimStatus},
	}
}

func runReclaim(ctx context.Context, e *env, args []string) error {
	step := "plan"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		step, args = args[0], args[1:]
	}
	if c, ok := findCommand(reclaimSteps(), step); ok {
		return c.run(ctx, e, args)
	}
	return usageErrorf("reclaim: unknown step %q: plan, apply or status (seatctl reclaim --help)", step)
}

// githubClient builds the budgeted GitHub client from the flags (checked
// before anything connects).
func githubConfig(f *ghflags.Flags) (ghclient.Config, error) {
	cfg, err := f.Config()
	if err != nil {
		return cfg, &cli.ConfigError{Err: err}
	}
	return cfg, nil
}

func githubClient(cfg ghclient.Config, stderr io.Writer) (*ghclient.Client, *ghclient.Lookup, error) {
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	c, err := ghclient.New(cfg, log)
	if err != nil {
		return nil, nil, &cli.ConfigError{Err: ghflags.FlagError(err)}
	}
	return c, ghclient.NewLookup(c, ghclient.LookupConfig{}), nil
}

// ruleDays reads a rule's length as whole days (rounded up); "off" or 0: off.
func ruleDays(field, s string) (int, error) {
	switch strings.TrimSpace(s) {
	case "off", "0", "":
		return 0, nil
	}
	d, err := ParseWindow(s)
	if err != nil {
		return 0, usageErrorf("%s: %v (or off)", field, err)
	}
	return int(math.Ceil(d.Hours() / 24)), nil
}

// readExcludeFile adds the file's entries to the rules' exclusions.
func readExcludeFile(path string, r *reclaim.Rules) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return usageErrorf("exclude-file: %v", err)
	}
	r.ExcludeFile, r.ExcludeFileSHA256 = path, reclaim.Sum(b)
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		if line == "" {
			continue
		}
		kind, name, ok := strings.Cut(line, ":")
		if !ok {
			kind, name = "user", line
		}
		name = strings.TrimSpace(name)
		if name == "" || strings.ContainsAny(name, " \t,") {
			return usageErrorf("exclude-file: %s line %d: %q is not user:LOGIN, team:SLUG, org:ORG or a login", path, n, line)
		}
		switch strings.TrimSpace(kind) {
		case "user":
			r.ExcludeUsers = append(r.ExcludeUsers, name)
		case "team":
			r.ExcludeTeams = append(r.ExcludeTeams, name)
		case "org":
			r.ExcludeOrgs = append(r.ExcludeOrgs, name)
		default:
			return usageErrorf("exclude-file: %s line %d: %q is not user:, team: or org:", path, n, kind)
		}
	}
	return nil
}

func reclaimPlan(ctx context.Context, e *env, args []string) error {
	o, err := parsePlanFlags(e, args)
	if err != nil {
		return err
	}
	ghcfg, err := githubConfig(&o.gh)
	if err != nil {
		return err
	}
	store, err := connect(ctx, o.cfg, e.stderr)
	if err != nil {
		return err
	}
	defer store.Close()
	client, lookup, err := githubClient(ghcfg, e.stderr)
	if err != nil {
		return err
	}

	now := time.Now().UTC()
	cands, err := reclaimCandidates(ctx, store, o.scope, o.rules)
	if err != nil {
		return err
	}
	markExcluded(cands, o.rules)
	checker := &reclaim.Checker{GH: client, Lookup: lookup, Rules: o.rules, Prices: o.prices, Now: func() time.Time { return time.Now().UTC() }}
	before := client.Requests()
	policies, err := checker.Check(ctx, cands)
	if err != nil {
		return githubExit(err)
	}
	p := &reclaim.Plan{
		Format: reclaim.Format, Generator: "seatctl reclaim plan", GeneratedAt: now,
		Database: o.cfg.Database, GitHub: ghcfg.BaseURL, Scope: reclaim.Scope{Orgs: o.scope.Orgs, Enterprise: o.scope.Enterprise},
		Rules: o.rules, PricesCents: o.prices, SavingFrom: reclaim.NextCycle(now).Format(time.DateOnly),
		Policies: policies, Candidates: cands,
	}
	p.Finish()
	sum, err := p.Write(o.out)
	if err != nil {
		return fmt.Errorf("writing the plan: %w", err)
	}
	if err := printPlan(e, p, o.format); err != nil {
		return err
	}
	printPlanTotals(e.stderr, p, client.Requests()-before)
	fmt.Fprintf(e.stderr, "plan written to %s\nsha256 %s\n", o.out, sum)
	if p.Totals.Actions > 0 {
		fmt.Fprintf(e.stderr, "to apply (within %s): seatctl reclaim apply %s --approve %s\n", defaultMaxPlanAge, o.out, sum)
	} else {
		fmt.Fprintln(e.stderr, "nothing to apply: no candidate has an action that ends its seat")
	}
	return nil
}

// planOptions is reclaim plan's command line, checked.
type planOptions struct {
	cfg    timeline.Config
	gh     ghflags.Flags
	scope  ReclaimScope
	rules  reclaim.Rules
	prices map[string]int64
	out    string
	format string
}

// parsePlanFlags reads and checks reclaim plan's flags; it contacts nothing.
func parsePlanFlags(e *env, args []string) (*planOptions, error) {
	o := &planOptions{}
	fs := flag.NewFlagSet("reclaim plan", flag.ContinueOnError)
	clickhouseFlags(fs, &o.cfg)
	ghflags.Register(fs, &o.gh, 2*time.Minute)
	rules := &o.rules
	fs.Var((*cli.List)(&o.scope.Orgs), "org", "organization(s) to reclaim in (default: every org in the timeline)")
	fs.StringVar(&o.scope.Enterprise, "enterprise", "", "enterprise (slug): its enterprise-team licences too, and with no --org only its orgs")
	idle := fs.String("idle", "30d", "candidates: active seats without Copilot activity for this long (off: no such rule)")
	never := fs.String("never-used", "14d", "candidates: seats never used this long after they were created (off: no such rule)")
	fs.BoolVar(&rules.Orphaned, "orphaned", true, "candidates: orphaned seats (the holder left, was deprovisioned or suspended)")
	grace := fs.String("grace", "14d", "seats created this recently are never idle or never-used candidates")
	fs.BoolVar(&rules.IncludeTeamSeats, "include-team-seats", false, "a seat granted by a team: plan removing the user from that team (they lose what the team grants)")
	fs.Var((*cli.List)(&rules.ExcludeUsers), "exclude-user", "login(s) never reclaimed")
	fs.Var((*cli.List)(&rules.ExcludeTeams), "exclude-team", "seats granted by these team(s) are never reclaimed")
	fs.Var((*cli.List)(&rules.ExcludeOrgs), "exclude-org", "organization(s) never reclaimed in")
	excludeFile := fs.String("exclude-file", "", "file of exclusions: user:LOGIN, team:SLUG, org:ORG or a login per line")
	prices := fs.String("price", reclaim.DefaultPrices, "list price per seat and month by plan, USD (a seat of unknown plan: business)")
	fs.StringVar(&o.out, "out", "reclaim-plan.json", "the plan file to write")
	fs.StringVar(&o.format, "format", "", "candidates as table, csv or jsonl (default: table on a terminal, csv otherwise)")
	pos, err := parse(e, fs, args, reclaimAbout+reclaimExitHelp)
	if err != nil {
		return nil, err
	}
	if len(pos) > 0 {
		return nil, usageErrorf("reclaim plan: unexpected argument %q", pos[0])
	}
	if rules.IdleDays, err = ruleDays("idle", *idle); err != nil {
		return nil, err
	}
	if rules.NeverUsedDays, err = ruleDays("never-used", *never); err != nil {
		return nil, err
	}
	if rules.GraceDays, err = ruleDays("grace", *grace); err != nil {
		return nil, err
	}
	if rules.IdleDays == 0 && rules.NeverUsedDays == 0 && !rules.Orphaned {
		return nil, usageErrorf("idle: every rule is off (--idle, --never-used, --orphaned): nothing can be a candidate")
	}
	if o.prices, err = reclaim.ParsePrices(*prices); err != nil {
		return nil, usageErrorf("price: %v", err)
	}
	if *excludeFile != "" {
		if err := readExcludeFile(*excludeFile, rules); err != nil {
			return nil, err
		}
	}
	if o.format, err = resolveFormat(e, o.format); err != nil {
		return nil, err
	}
	if o.out == "" {
		return nil, usageErrorf("out: a file name is required")
	}
	return o, nil
}

// markExcluded sets the action of the candidates an exclusion covers.
func markExcluded(cands []reclaim.Candidate, rules reclaim.Rules) {
	for i := range cands {
		c := &cands[i]
		switch {
		case slices.Contains(rules.ExcludeOrgs, c.Scope):
			c.Action, c.Reason = reclaim.ActExcluded, "org "+c.Scope+" is excluded"
		case slices.Contains(rules.ExcludeUsers, c.User):
			c.Action, c.Reason = reclaim.ActExcluded, "user "+c.User+" is excluded"
		case c.Timeline.AssigningTeam != "" && slices.Contains(rules.ExcludeTeams, c.Timeline.AssigningTeam):
			c.Action, c.Team, c.Reason = reclaim.ActExcluded, c.Timeline.AssigningTeam, "team "+c.Timeline.AssigningTeam+" is excluded"
		}
	}
}

var reclaimPlanColumns = []column{
	{name: "scope_kind", dataOnly: true},
	{name: "scope", head: "SCOPE"},
	{name: "user", head: "USER"},
	{name: "why", head: "WHY"},
	{name: "last_activity_at", head: "LAST ACTIVITY", kind: kindNullable},
	{name: "activity_from", head: "FROM"},
	{name: "github_status", head: "GITHUB NOW"},
	{name: "action", head: "ACTION"},
	{name: "team", head: "TEAM"},
	{name: "plan_type", head: "PLAN"},
	{name: "monthly_saving_usd", head: "SAVING/MONTH", kind: kindNumber},
	{name: "reason", head: "REASON"},
}

func printPlan(e *env, p *reclaim.Plan, format string) error {
	out, err := newRowWriter(e.stdout, format, reclaimPlanColumns)
	if err != nil {
		return err
	}
	for _, c := range p.Candidates {
		activity, from := c.Timeline.LastActivityAt, c.Timeline.Source
		status := ""
		if g := c.GitHub; g != nil {
			status = g.Status
			if g.Status == "active" {
				activity, from = g.LastActivityAt, "github"
			}
			if g.PendingCancellationDate != "" {
				status += " to " + g.PendingCancellationDate
			}
		}
		last := isoSec(activity)
		if last == "" && format == "table" && from != "seat_periods" {
			last = "never"
		}
		saving := cents(c.MonthlySavingCents)
		if format == "table" && c.MonthlySavingCents > 0 {
			saving = reclaim.USD(c.MonthlySavingCents)
		}
		if err := out.Row([]string{c.ScopeKind, c.Scope, c.User, strings.Join(c.Why, "+"), last, from, status, c.Action, c.Team,
			c.PlanType, saving, c.Reason}); err != nil {
			return err
		}
	}
	return out.Close()
}

// cents as a decimal USD amount ("19.00"), "" for 0.
func cents(c int64) string {
	if c == 0 {
		return ""
	}
	return strconv.FormatInt(c/100, 10) + "." + fmt.Sprintf("%02d", c%100)
}

func printPlanTotals(w io.Writer, p *reclaim.Plan, requests int64) {
	t := p.Totals
	fmt.Fprintf(w, "%d candidate(s): %d to reclaim, %d blocked, %d already pending cancellation, %d other (GitHub asked in %d request(s))\n",
		t.Candidates, t.Actions, t.Blocked, t.AlreadyPending, t.Other, requests)
	for _, s := range t.ByScope {
		fmt.Fprintf(w, "  %-24s %4d to reclaim (%s a month), %d blocked, %d already pending, %d other\n",
			s.Scope, s.Actions, reclaim.USD(s.MonthlySavingCents), s.Blocked, s.AlreadyPending, s.Other)
	}
	fmt.Fprintf(w, "monthly saving from %s at list price (%s): %s\n", p.SavingFrom, reclaim.FormatPrices(p.PricesCents),
		reclaim.USD(t.MonthlySavingCents))
}
