//go:build unix && !linux

package testenv

import "syscall"

// sysProcAttr puts the child in its own process group. Outside Linux there is
// no parent-death signal: a test binary that dies without calling Close or
// Shutdown leaves clickhouse-server running.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
