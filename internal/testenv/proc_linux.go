//go:build linux

package testenv

import "syscall"

// sysProcAttr puts the child in its own process group (so a terminal's
// Ctrl-C goes to the test binary, not straight to the child, and nothing we
// do signals anyone but the child's own PID) and asks the kernel to SIGKILL
// the child when the thread that started it exits.
//
// Pdeathsig is tied to the forking thread, not the process. ClickHouse.spawn
// forks from a goroutine locked to its thread for the child's whole life, so
// the signal comes only when the test binary dies. A caller that forks from
// an unlocked goroutine relies on the Go runtime not ending that thread,
// which it only does when a goroutine exits while locked to it; no code in
// this package does that.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
