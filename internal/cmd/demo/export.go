package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/seatline/seatline/internal/seatctl"
	"github.com/seatline/seatline/internal/timeline"
)

// seatctlShow runs seatctl in process with args, printing "seatctl show"
// and the output, indented; it returns the exit code and the output.
func seatctlShow(ctx context.Context, show string, args ...string) (int, string) {
	fmt.Printf("▸ seatctl %s\n", show)
	var out bytes.Buffer
	code := seatctl.Main(ctx, args, &out, &out)
	for _, line := range strings.Split(strings.TrimRight(out.String(), "\n"), "\n") {
		fmt.Printf("    %s\n", line)
	}
	return code, out.String()
}

// seatctlDemo shows seatctl on the demo's timeline (database db of the
// ClickHouse at chAddr), in-process through seatctl.Main: one user's seat
// history, the current seats per org, a signed compliance export of that
// user's org, its verification, and verification of a copy with one byte
// changed, which must fail and name the row. Files go under dir/seatctl.
func seatctlDemo(ctx context.Context, chAddr, db, dir string) error {
	ch := []string{"--clickhouse-addr", chAddr, "--clickhouse-database", db}
	store, err := timeline.Open(ctx, timeline.Config{Addrs: []string{chAddr}, Database: db})
	if err != nil {
		return err
	}
	// A user with a telling history: a removal among about a dozen changes.
	var org, user string
	var changes uint64
	err = store.Conn().QueryRow(ctx, `SELECT org, user, count() AS changes FROM seat_history FINAL
		WHERE user IN (SELECT user FROM seat_timeline WHERE transition = 'unassigned')
			AND transition NOT IN ('other', 'policy_changed', 'plan_changed', 'licence_granted', 'licence_removed')
		GROUP BY org, user
		ORDER BY abs(toInt64(changes) - 12), org, user LIMIT 1`).Scan(&org, &user, &changes)
	store.Close()
	if err != nil {
		return fmt.Errorf("seatctl demo: picking a user: %w", err)
	}
	work := filepath.Join(dir, "seatctl")
	if err := os.MkdirAll(work, 0o755); err != nil {
		return err
	}

	fmt.Println("seatctl: seat history, current seats, and a verifiable compliance export")
	run := func(show string, args ...string) (int, string) { return seatctlShow(ctx, show, args...) }
	withCH := func(args ...string) []string { return append(args, ch...) }

	last := "12"
	if changes <= 12 {
		last = "0"
	}
	show := fmt.Sprintf("history --org %s --user %s", org, user)
	if last != "0" {
		show += " --last " + last + fmt.Sprintf("   (the %s most recent of %d changes)", last, changes)
	}
	if code, _ := run(show, withCH("history", "--org", org, "--user", user, "--last", last, "--format", "table")...); code != 0 {
		return fmt.Errorf("seatctl history exited %d", code)
	}
	if code, _ := run("seats --summary", withCH("seats", "--summary", "--format", "table")...); code != 0 {
		return fmt.Errorf("seatctl seats exited %d", code)
	}
	prefix := filepath.Join(work, "export-signing")
	if code, _ := run("keygen --out "+prefix, "keygen", "--out", prefix); code != 0 {
		return fmt.Errorf("seatctl keygen exited %d", code)
	}
	bundle := filepath.Join(work, "bundle-"+org)
	if code, _ := run(fmt.Sprintf("export --org %s --out %s --formats csv,jsonl --sign-key %s.key", org, bundle, prefix),
		withCH("export", "--org", org, "--out", bundle, "--formats", "csv,jsonl", "--sign-key", prefix+".key")...); code != 0 {
		return fmt.Errorf("seatctl export exited %d", code)
	}
	if code, _ := run(fmt.Sprintf("verify %s --pub-key %s.pub", bundle, prefix), "verify", bundle, "--pub-key", prefix+".pub"); code != 0 {
		return fmt.Errorf("seatctl verify of an intact bundle exited %d", code)
	}

	// Tamper with a copy: one byte of one value in data row 3.
	tampered := bundle + "-tampered"
	if err := os.MkdirAll(tampered, 0o755); err != nil {
		return err
	}
	entries, err := os.ReadDir(bundle)
	if err != nil {
		return err
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(bundle, e.Name()))
		if err != nil {
			return err
		}
		if e.Name() == "events.csv" {
			lines := bytes.SplitAfter(b, []byte("\n"))
			if len(lines) > 4 {
				// Row 3 is line 4 (after the header): change its action value.
				l := lines[3]
				if i := bytes.Index(l, []byte(",copilot.")); i >= 0 {
					l[i+1] = 'C'
				}
			}
			b = bytes.Join(lines, nil)
		}
		if err := os.WriteFile(filepath.Join(tampered, e.Name()), b, 0o644); err != nil {
			return err
		}
	}
	fmt.Println("  (a copy of the bundle with one byte of events.csv row 3 changed: copilot. → Copilot.)")
	code, out := run(fmt.Sprintf("verify %s --pub-key %s.pub", tampered, prefix), "verify", tampered, "--pub-key", prefix+".pub")
	if code != seatctl.ExitVerifyFail || !strings.Contains(out, "events.csv: row 3") {
		return fmt.Errorf("seatctl verify of a tampered bundle exited %d without naming row 3", code)
	}
	fmt.Printf("  ✓ the intact bundle verifies (exit 0); the tampered copy fails (exit %d) and names the row\n", code)
	return nil
}
