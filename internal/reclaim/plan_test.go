package reclaim

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func samplePlan(now time.Time) *Plan {
	act := now.Add(-40 * 24 * time.Hour)
	p := &Plan{Format: Format, Generator: "test", GeneratedAt: now, Database: "seatline", GitHub: "https://api.github.com/",
		Rules: Rules{IdleDays: 30, NeverUsedDays: 14, Orphaned: true, GraceDays: 14}, PricesCents: map[string]int64{"business": 1900, "enterprise": 3900},
		SavingFrom: NextCycle(now).Format(time.DateOnly), Policies: []Policy{{Org: "b-org", Setting: AssignAll}, {Org: "a-org", Setting: AssignSelected}},
		Candidates: []Candidate{
			{ScopeKind: KindOrg, Scope: "b-org", User: "zed", Why: []string{WhyIdle}, Action: ActBlocked, Reason: AllMembersReason},
			{ScopeKind: KindEnterprise, Scope: "acme", User: "ent", Why: []string{WhyNeverUsed}, Action: ActLeaveEnterpriseTeam, Team: "ent:ai", PlanType: "enterprise", MonthlySavingCents: 3900},
			{ScopeKind: KindOrg, Scope: "a-org", User: "mona", Why: []string{WhyIdle}, Action: ActUnassign, PlanType: "business", MonthlySavingCents: 1900,
				Timeline: TimelineEvidence{LastActivityAt: &act, Source: "snapshot"}},
			{ScopeKind: KindOrg, Scope: "a-org", User: "hubot", Why: []string{WhyNeverUsed, WhyOrphaned}, Action: ActAlreadyPending},
		}}
	p.Finish()
	return p
}

// TestPlanFileIsStable: the same plan encodes to the same bytes (so the
// same hash), candidates ordered orgs first then by scope and user, times
// in UTC whole seconds, totals per scope; decoding and encoding again
// gives the bytes back.
func TestPlanFileIsStable(t *testing.T) {
	now := time.Date(2026, 3, 14, 9, 26, 53, 589793238, time.FixedZone("X", 3600))
	a, err := samplePlan(now).Encode()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := samplePlan(now).Encode()
	if !bytes.Equal(a, b) || Sum(a) != Sum(b) || len(Sum(a)) != 64 {
		t.Fatal("two encodings of one plan differ")
	}
	p, err := Decode(a)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := p.Encode()
	if !bytes.Equal(a, c) {
		t.Fatalf("decode+encode changed the file:\n%s\n%s", a, c)
	}
	s := string(a)
	for _, want := range []string{`"format": "seatline-reclaim-plan/1"`, `"generated_at": "2026-03-14T08:26:53Z"`, `"saving_from": "2026-04-01"`,
		`"monthly_saving_cents": 5800`} {
		if !strings.Contains(s, want) {
			t.Errorf("plan file lacks %s", want)
		}
	}
	order := []string{p.Candidates[0].User, p.Candidates[1].User, p.Candidates[2].User, p.Candidates[3].User}
	if strings.Join(order, ",") != "hubot,mona,zed,ent" {
		t.Fatalf("candidate order %v", order)
	}
	if p.Totals.Candidates != 4 || p.Totals.Actions != 2 || p.Totals.Blocked != 1 || p.Totals.AlreadyPending != 1 || len(p.Totals.ByScope) != 3 ||
		p.Totals.ByScope[0].Scope != "a-org" || p.Totals.ByScope[0].MonthlySavingCents != 1900 {
		t.Fatalf("totals %+v", p.Totals)
	}
}

// TestLoadRefuses: apply's gate. The approved hash must be the file's
// (one changed byte is refused), well-formed, and the plan young enough;
// a file of another format or with unknown fields is not a plan.
func TestLoadRefuses(t *testing.T) {
	now := time.Now().UTC()
	dir := t.TempDir()
	path := filepath.Join(dir, "plan.json")
	sum, err := samplePlan(now).Write(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, got, err := Load(path, strings.ToUpper(sum), time.Hour, now); err != nil || got != sum {
		t.Fatalf("the approved plan: %v", err)
	}
	b, _ := os.ReadFile(path)
	tampered := bytes.Replace(b, []byte(`"user": "mona"`), []byte(`"user": "mono"`), 1)
	if err := os.WriteFile(path, tampered, 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err = Load(path, sum, time.Hour, now)
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "changed since it was approved") {
		t.Fatalf("tampered: %v", err)
	}
	if _, _, err := Load(path, "abc", time.Hour, now); !errors.Is(err, ErrRefused) {
		t.Fatalf("short hash: %v", err)
	}
	if _, err := samplePlan(now.Add(-25 * time.Hour)).Write(path); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(path)
	if _, _, err := Load(path, Sum(b), 24*time.Hour, now); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "max-plan-age") {
		t.Fatalf("old plan: %v", err)
	}
	for name, body := range map[string]string{
		"other format":  strings.Replace(string(b), Format, "seatline-reclaim-plan/9", 1),
		"unknown field": strings.Replace(string(b), `"generator"`, `"extra": 1, "generator"`, 1),
		"team mismatch": strings.Replace(string(b), `"team": "ent:ai",`, ``, 1),
	} {
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, _, err := Load(path, Sum([]byte(body)), 48*time.Hour, now); !errors.Is(err, ErrRefused) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestPrices(t *testing.T) {
	p, err := ParsePrices("business=19, enterprise=39.5")
	if err != nil || p["business"] != 1900 || p["enterprise"] != 3950 {
		t.Fatalf("%v %v", p, err)
	}
	if PriceCents(p, "unknown") != 1900 || PriceCents(p, "") != 1900 || PriceCents(p, "Enterprise") != 3950 {
		t.Fatal("unknown plans are priced as business")
	}
	if FormatPrices(p) != "business=19,enterprise=39.50" || USD(475000) != "$4,750.00" || USD(5) != "$0.05" {
		t.Fatalf("%s %s", FormatPrices(p), USD(475000))
	}
	for _, bad := range []string{"enterprise=39", "business", "business=x", "business=1.999", "business=19,business=20", "business=-1"} {
		if _, err := ParsePrices(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestStillCandidate: GitHub's live activity decides against the
// timeline's; orphaned seats stay candidates; new seats are protected.
func TestStillCandidate(t *testing.T) {
	now := time.Date(2026, 5, 20, 12, 0, 0, 0, time.UTC)
	r := Rules{IdleDays: 30, NeverUsedDays: 14, GraceDays: 7}
	ago := func(d int) *time.Time { t := now.Add(-time.Duration(d) * 24 * time.Hour); return &t }
	cases := []struct {
		why      []string
		activity *time.Time
		created  *time.Time
		ok       bool
		reason   string
	}{
		{[]string{WhyIdle}, ago(40), ago(100), true, ""},
		{[]string{WhyIdle}, ago(2), ago(100), false, "used Copilot on 2026-05-18"},
		{[]string{WhyNeverUsed}, nil, ago(20), true, ""},
		{[]string{WhyNeverUsed}, ago(1), ago(20), false, "used Copilot"},
		{[]string{WhyNeverUsed}, nil, ago(3), false, "grace period"},
		{[]string{WhyOrphaned}, ago(0), ago(3), true, ""},
		{[]string{WhyNeverUsed, WhyIdle}, ago(35), ago(50), true, ""},
	}
	for i, c := range cases {
		ok, why := StillCandidate(&Candidate{Why: c.why}, &GitHubEvidence{LastActivityAt: c.activity, CreatedAt: c.created}, r, now)
		if ok != c.ok || !strings.Contains(why, c.reason) {
			t.Errorf("case %d: %v %q", i, ok, why)
		}
	}
}

func TestNextCycle(t *testing.T) {
	for in, want := range map[string]string{
		"2026-01-31T23:59:59Z": "2026-02-01", "2026-12-01T00:00:00Z": "2027-01-01", "2026-02-28T10:00:00-05:00": "2026-03-01",
	} {
		at, _ := time.Parse(time.RFC3339, in)
		if got := NextCycle(at).Format(time.DateOnly); got != want {
			t.Errorf("%s: %s, want %s", in, got, want)
		}
	}
}
