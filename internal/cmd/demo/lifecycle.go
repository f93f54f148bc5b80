package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/seatline/seatline/internal/ghsim"
)

// lifecycle shows the seat periods bin/enrich derived: the featured
// holders' periods (a team seat granted by the lead who added the member,
// the seat lost on leaving the team, an enterprise-team licence, a revoked
// user, a removal from the org), the org-wide revocation, who held a seat
// at an instant, the orphaned seats with their cost, and seat-days; each
// checked against the simulator's ground truth.
func (d *demo) lifecycle(ctx context.Context) error {
	fmt.Println("Seat lifecycle (seat periods: bin/enrich derives them from the timeline and the membership events)")
	ch := []string{"--clickhouse-addr", d.stack.CH.Addr(), "--clickhouse-database", database}
	var errs []error
	for _, check := range []func(context.Context, []string) error{d.featuredPeriods, d.scopeRevoked, d.holdersAt, d.orphanedNow, d.seatDays} {
		err := check(ctx, ch)
		if errors.As(err, new(checkError)) {
			errs = append(errs, err) // a disagreement: shown, and the other checks still run
			continue
		}
		if err != nil {
			return err
		}
	}
	return errors.Join(errs...)
}

// featuredPeriods shows the featured holders' periods and checks them, and
// u4's team seat, against the simulator.
func (d *demo) featuredPeriods(ctx context.Context, ch []string) error {
	var errs []error
	fail := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	truth := d.sc.sim.Periods()
	users := featuredUsers
	if code, _ := seatctlShow(ctx, "periods --user "+strings.Join(users, ","),
		append([]string{"periods", "--user", strings.Join(users, ","), "--format", "table"}, ch...)...); code != 0 {
		return fmt.Errorf("seatctl periods exited %d", code)
	}
	var want []string
	for _, p := range truth {
		if slices.Contains(users, p.Login) {
			want = append(want, periodLine(p.Scope, p.Login, p.Via, p.Team, p.GrantedBy, p.Start, p.EndReason, p.OrphanReason))
		}
	}
	got, err := d.periodLines(ctx, "user IN ("+quoted(users)+")")
	if err != nil {
		return err
	}
	fail(agree("the featured holders' periods", want, got))
	var via, by, orphan string
	var billable *time.Time
	if err := d.store.Conn().QueryRow(ctx, `SELECT toString(via), granted_by, orphan_reason, billable_until FROM periods
		WHERE scope = ? AND user = ? ORDER BY started_ms DESC LIMIT 1`, orgs[1], u4).Scan(&via, &by, &orphan, &billable); err != nil {
		return fmt.Errorf("%s's seat period: %w", u4, err)
	}
	ok := via == ghsim.ViaTeam && by == lead && orphan == ghsim.OrphanLeftTeam && billable != nil && billable.After(time.Now())
	fmt.Printf("  %s %s's seat came through team %s, granted by %s (who added him to the team), not by the\n"+
		"    Copilot event's actor; he left the team with no Copilot event: pending to %s, orphaned meanwhile\n",
		mark(ok && len(errs) == 0), u4, orgTeam, lead, dateCell(billable))
	if !ok {
		fail(checkf("%s's seat: via %s, granted by %q, orphaned %q, billable until %s", u4, via, by, orphan, dateCell(billable)))
	}
	return errors.Join(errs...)
}

// featuredUsers are the holders whose periods the demo prints.
var featuredUsers = []string{u4, u2, u3, u5, u6}

// scopeRevoked: an org-wide revocation ends every period of the org at once.
func (d *demo) scopeRevoked(ctx context.Context, ch []string) error {
	var ended uint64
	if err := d.store.Conn().QueryRow(ctx, "SELECT count() FROM periods WHERE scope = ? AND end_reason = 'scope_revoked'", orgs[2]).Scan(&ended); err != nil {
		return err
	}
	wantEnded := 0
	for _, p := range d.sc.sim.Periods() {
		if p.Scope == orgs[2] && p.EndReason == ghsim.EndScopeRevoked {
			wantEnded++
		}
	}
	fmt.Printf("  %s copilot.access_revoked for %s (billing): %d seats ended at once, billing with them (simulator: %d)\n",
		mark(int(ended) == wantEnded && ended > 0), orgs[2], ended, wantEnded)
	if int(ended) != wantEnded || ended == 0 {
		return checkf("%d periods of %s ended scope_revoked, the simulator says %d", ended, orgs[2], wantEnded)
	}

	return nil
}

// holdersAt: who held a seat at an instant, against the simulator.
func (d *demo) holdersAt(ctx context.Context, ch []string) error {
	at := d.sc.cycleEnd.Add(4*24*time.Hour + 12*time.Hour)
	atArg := at.Format(time.RFC3339)
	if code, _ := seatctlShow(ctx, fmt.Sprintf("seats --at %s --user %s", atArg, strings.Join(featuredUsers, ",")),
		append([]string{"seats", "--at", atArg, "--user", strings.Join(featuredUsers, ","), "--format", "table"}, ch...)...); code != 0 {
		return fmt.Errorf("seatctl seats --at exited %d", code)
	}
	var held uint64
	if err := d.store.Conn().QueryRow(ctx, "SELECT count() FROM periods WHERE started_ms <= ? AND access_end > ?",
		uint64(at.UnixMilli()), at).Scan(&held); err != nil {
		return err
	}
	wantHeld := len(d.sc.sim.HoldersAt(at))
	fmt.Printf("  %s %d people held a seat then, in every org and the enterprise (simulator: %d)\n", mark(int(held) == wantHeld), held, wantHeld)
	if int(held) != wantHeld {
		return checkf("%d holders at %s, the simulator says %d", held, atArg, wantHeld)
	}

	return nil
}

// orphanedNow: the orphaned seats now, with their cost, against the simulator.
func (d *demo) orphanedNow(ctx context.Context, ch []string) error {
	if code, _ := seatctlShow(ctx, "orphans", append([]string{"orphans", "--format", "table"}, ch...)...); code != 0 {
		return fmt.Errorf("seatctl orphans exited %d", code)
	}
	now := time.Now()
	var want []string
	for _, p := range d.sc.sim.Orphans(now) {
		want = append(want, fmt.Sprintf("%s %s %s", p.Scope, p.Login, p.OrphanReason))
	}
	got, err := d.strings(ctx, "SELECT concat(scope, ' ', user, ' ', orphan_reason) FROM orphan_periods WHERE orphaned_since <= ? AND billable_end > ?", now, now)
	if err != nil {
		return err
	}
	err = agree("orphaned seats", want, got)
	if err == nil && !(slices.Contains(got, orgs[1]+" "+u4+" "+ghsim.OrphanLeftTeam) && slices.Contains(got, orgs[0]+" "+u6+" "+ghsim.OrphanLeftOrg)) {
		err = checkf("%s (left the team) and %s (removed from the org) are not among the orphaned seats: %v", u4, u6, got)
	}
	fmt.Printf("  %s the same %d orphaned seats as the simulator: %s left the team, %s left the org\n", mark(err == nil), len(want), u4, u6)
	return err
}

// seatDays: seat-days of the last complete month, against the simulator.
func (d *demo) seatDays(ctx context.Context, ch []string) error {
	month := time.Date(d.sc.start.Year(), d.sc.start.Month(), 1, 0, 0, 0, 0, time.UTC)
	if code, _ := seatctlShow(ctx, "seat-days --month "+month.Format("2006-01"),
		append([]string{"seat-days", "--month", month.Format("2006-01"), "--format", "table"}, ch...)...); code != 0 {
		return fmt.Errorf("seatctl seat-days exited %d", code)
	}
	var want []string
	for _, scope := range append(slices.Clone(orgs), enterprise) {
		if n := d.sc.sim.SeatDays(scope, month); n > 0 {
			want = append(want, fmt.Sprintf("%s %d", scope, n))
		}
	}
	got, err := d.strings(ctx, "SELECT concat(scope, ' ', toString(count())) FROM seat_day_rows WHERE toStartOfMonth(day) = toDate(?) GROUP BY scope", month)
	if err != nil {
		return err
	}
	err = agree("seat-days of "+month.Format("2006-01"), want, got)
	fmt.Printf("  %s seat-days per org and month equal the simulator's (a person counts once a day)\n", mark(err == nil))
	return err
}

func periodLine(scope, user, via, team, by string, start time.Time, end, orphan string) string {
	return fmt.Sprintf("%s %s via=%s team=%s by=%s from=%s end=%s orphan=%s", scope, user, via, team, by,
		start.UTC().Format(time.DateTime), end, orphan)
}

// periodLines reads the periods that match cond as periodLine renders them.
func (d *demo) periodLines(ctx context.Context, cond string) ([]string, error) {
	rows, err := d.store.Conn().Query(ctx, "SELECT scope, user, toString(via), team, granted_by, started_at, end_reason, orphan_reason FROM periods WHERE "+cond)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var scope, user, via, team, by, end, orphan string
		var start time.Time
		if err := rows.Scan(&scope, &user, &via, &team, &by, &start, &end, &orphan); err != nil {
			return nil, err
		}
		out = append(out, periodLine(scope, user, via, team, by, start, end, orphan))
	}
	return out, rows.Err()
}

// strings reads a one-string-column query.
func (d *demo) strings(ctx context.Context, q string, args ...any) ([]string, error) {
	rows, err := d.store.Conn().Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// agree is a check error naming the first differences between want (the
// simulator) and got (seatline), compared as sets.
func agree(what string, want, got []string) error {
	slices.Sort(want)
	slices.Sort(got)
	if slices.Equal(want, got) {
		return nil
	}
	var diff []string
	for _, w := range want {
		if !slices.Contains(got, w) {
			diff = append(diff, "missing "+w)
		}
	}
	for _, g := range got {
		if !slices.Contains(want, g) {
			diff = append(diff, "unexpected "+g)
		}
	}
	return checkf("%s differ from the simulator: %s", what, strings.Join(diff[:min(4, len(diff))], "; "))
}

func quoted(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = "'" + strings.ReplaceAll(s, "'", "''") + "'"
	}
	return strings.Join(q, ", ")
}
