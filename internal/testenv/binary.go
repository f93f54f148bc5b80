package testenv

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Build compiles a package of this module (e.g. "./cmd/ingest") into dir
// and returns the binary's path.
func Build(ctx context.Context, pkg, dir string) (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("testenv: go build %s: %v\n%s", pkg, err, b)
	}
	return out, nil
}

// ModuleRoot is the directory holding this module's go.mod.
func ModuleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("testenv: go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("testenv: not inside the seatline module")
	}
	return filepath.Dir(mod), nil
}

// Process is a started binary (an ingest worker) whose output is kept.
type Process struct {
	*process
	out *Buffer
}

// StartProcess runs bin with args; its stdout and stderr go to the returned
// Process's Output and, when echo is not nil, to echo as well.
func StartProcess(bin string, args []string, echo io.Writer) (*Process, error) {
	p := &Process{out: &Buffer{}}
	cmd := exec.Command(bin, args...)
	var w io.Writer = p.out
	if echo != nil {
		w = io.MultiWriter(p.out, echo)
	}
	cmd.Stdout, cmd.Stderr = w, w
	cmd.SysProcAttr = sysProcAttr()
	proc, err := startChild(cmd)
	if err != nil {
		return nil, err
	}
	p.process = proc
	return p, nil
}

// PID of the process.
func (p *Process) PID() int { return p.pid }

// Kill sends SIGKILL (kill -9) and waits for the process to be gone.
func (p *Process) Kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// Stop sends SIGTERM and waits up to timeout; it returns the exit error
// (nil for exit 0) or an error if the process did not exit in time (it is
// then killed).
func (p *Process) Stop(timeout time.Duration) error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		p.Kill()
		return fmt.Errorf("testenv: pid %d did not exit within %s of SIGTERM", p.PID(), timeout)
	}
}

// Exited reports whether the process has ended, and how.
func (p *Process) Exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// Output is everything the process printed so far.
func (p *Process) Output() string { return p.out.String() }

// PeakRSSMiB is the process's peak resident memory (VmHWM) in MiB, read
// from /proc while it runs.
func (p *Process) PeakRSSMiB() (float64, error) {
	m, err := p.Memory()
	return m.Peak, err
}

// Memory is a process's resident memory in MiB, from /proc/PID/status.
type Memory struct {
	Peak float64 // VmHWM: the most it has held resident
	Anon float64 // RssAnon now: heap, stacks, the runtime's own
	File float64 // RssFile now: pages of its binary and mapped files (shared, reclaimable)
}

// Memory reads the process's resident memory while it runs.
func (p *Process) Memory() (Memory, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.PID()))
	if err != nil {
		return Memory{}, err
	}
	var m Memory
	seen := 0
	for _, line := range strings.Split(string(b), "\n") {
		name, value, _ := strings.Cut(line, ":")
		var dst *float64
		switch name {
		case "VmHWM":
			dst = &m.Peak
		case "RssAnon":
			dst = &m.Anon
		case "RssFile":
			dst = &m.File
		default:
			continue
		}
		var kb float64
		if _, err := fmt.Sscanf(strings.TrimSpace(value), "%f kB", &kb); err != nil {
			return Memory{}, fmt.Errorf("/proc/%d/status: %s: %w", p.PID(), line, err)
		}
		*dst = kb / 1024
		seen++
	}
	if seen != 3 {
		return Memory{}, fmt.Errorf("/proc/%d/status lacks VmHWM, RssAnon or RssFile", p.PID())
	}
	return m, nil
}

// Buffer is a log sink several goroutines write: a worker's log in a
// test, a child process's output.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Run is a finished process: what it printed, how long it took and its peak
// resident memory.
type Run struct {
	Output     string
	Elapsed    time.Duration
	PeakRSSMiB float64 // VmHWM sampled from /proc every 10 ms while it ran
}

// RunToEnd runs bin to completion and reports its peak memory. (getrusage's
// ru_maxrss is no use here: after Go's vfork+exec it also counts the
// parent's high-water mark.) The error is the process's exit error.
func RunToEnd(ctx context.Context, bin string, args ...string) (Run, error) {
	p, err := StartProcess(bin, args, nil)
	if err != nil {
		return Run{}, err
	}
	t0 := time.Now()
	var peak float64
	for {
		if v, err := p.PeakRSSMiB(); err == nil && v > peak {
			peak = v
		}
		if done, err := p.Exited(); done {
			return Run{Output: p.Output(), Elapsed: time.Since(t0), PeakRSSMiB: peak}, err
		}
		select {
		case <-ctx.Done():
			p.Kill()
			return Run{Output: p.Output()}, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// fileTail is the last 2,000 bytes of a server's log file, headed by its
// name, for an error saying why the server did not start ("" if empty).
func fileTail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return ""
	}
	return "\n--- " + filepath.Base(path) + " ---\n" + string(b)
}

var built struct {
	mu   sync.Mutex
	dir  string
	bins map[string]string
}

// Binary builds a package of this module (e.g. "./cmd/ingest") once per
// test binary and returns its path; Shutdown removes it.
func Binary(tb testing.TB, pkg string) string {
	tb.Helper()
	built.mu.Lock()
	defer built.mu.Unlock()
	if bin, ok := built.bins[pkg]; ok {
		return bin
	}
	if built.dir == "" {
		dir, err := os.MkdirTemp("", "testenv-bin-")
		if err != nil {
			tb.Fatal(err)
		}
		built.dir, built.bins = dir, map[string]string{}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bin, err := Build(ctx, pkg, built.dir)
	if err != nil {
		tb.Fatal(err)
	}
	built.bins[pkg] = bin
	return bin
}

// WaitExit waits for p to exit by itself and returns its exit error; past
// timeout it kills p and fails the test with its output.
func WaitExit(tb testing.TB, p *Process, timeout time.Duration) error {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if done, err := p.Exited(); done {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.Kill()
	tb.Fatalf("pid %d did not finish within %s:\n%s", p.PID(), timeout, p.Output())
	return nil
}

func removeBinaries() {
	built.mu.Lock()
	defer built.mu.Unlock()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	built.dir, built.bins = "", nil
}
