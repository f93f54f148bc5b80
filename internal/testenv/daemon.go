package testenv

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// daemonSpec is how one object-store server of the test bed (versitygw,
// Azurite, fake-gcs-server) is run.
type daemonSpec struct {
	name    string // in messages and file names: "versitygw"
	bin     string
	tmp     string                                  // the temporary directory's name pattern
	args    func(dataDir string, port int) []string // its command line, serving dataDir on port
	ready   string                                  // a path whose GET answers once it serves
	any     bool                                    // any HTTP answer means ready (not only 200)
	wait    time.Duration                           // how long a start may take
	inUse   string                                  // what it prints when the port is taken
	options DaemonOptions
}

// DaemonOptions configures a test-bed server's start.
type DaemonOptions struct {
	// Dir holds the server's data (data/) and its output (<name>.log). ""
	// means a new temporary directory that Close removes.
	Dir string
	// Logf, if set, receives progress messages.
	Logf func(string, ...any)
}

// daemon is a running test-bed server: a child process on a free
// 127.0.0.1 port, in a directory of its own, dying with the test binary.
type daemon struct {
	spec   daemonSpec
	dir    string
	ownDir bool
	addr   string // 127.0.0.1:PORT

	mu     sync.Mutex
	proc   *process
	closed bool
}

// startDaemon starts the server and waits until it answers, trying
// another port when the one picked was taken meanwhile.
func startDaemon(ctx context.Context, spec daemonSpec) (*daemon, error) {
	d := &daemon{spec: spec}
	logf := spec.options.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	var err error
	if spec.options.Dir == "" {
		if d.dir, err = os.MkdirTemp("", spec.tmp); err != nil {
			return nil, fmt.Errorf("testenv: %w", err)
		}
		d.ownDir = true
	} else if d.dir, err = filepath.Abs(spec.options.Dir); err != nil {
		return nil, fmt.Errorf("testenv: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(d.dir, "data"), 0o755); err != nil {
		return nil, fmt.Errorf("testenv: %w", err)
	}
	var lastErr error
	for attempt := 1; attempt <= startAttempts; attempt++ {
		ports, err := freePorts(1)
		if err != nil {
			lastErr = err
			break
		}
		d.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0]))
		t0 := time.Now()
		p, err := d.spawn(ports[0])
		if err != nil {
			lastErr = err
			break
		}
		if err = d.waitReady(ctx, p); err == nil {
			d.proc = p
			logf("testenv: %s pid %d ready in %v on %s (dir %s)", spec.name, p.pid, time.Since(t0).Round(time.Millisecond), d.addr, d.dir)
			return d, nil
		}
		_ = p.cmd.Process.Kill()
		<-p.done
		lastErr = err
		if ctx.Err() != nil || !strings.Contains(err.Error(), spec.inUse) {
			break
		}
	}
	if d.ownDir {
		os.RemoveAll(d.dir)
	}
	return nil, lastErr
}

// spawn starts the server through startChild (Pdeathsig: it dies with the
// test binary), its output appended to <name>.log, with none of the
// user's environment but PATH (no cloud settings, proxies or accounts).
func (d *daemon) spawn(port int) (*process, error) {
	logFile, err := os.OpenFile(d.logPath(), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("testenv: %w", err)
	}
	defer logFile.Close()
	cmd := exec.Command(d.spec.bin, d.spec.args(filepath.Join(d.dir, "data"), port)...)
	cmd.Dir = d.dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + d.dir}
	cmd.SysProcAttr = sysProcAttr()
	return startChild(cmd)
}

func (d *daemon) waitReady(ctx context.Context, p *process) error {
	ctx, cancel := context.WithTimeout(ctx, d.spec.wait)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{Proxy: nil}}
	defer client.CloseIdleConnections()
	t0 := time.Now()
	for {
		if p.exited() {
			return fmt.Errorf("testenv: %s (%s, pid %d) exited during startup after %v: %v%s",
				d.spec.name, d.spec.bin, p.pid, time.Since(t0).Round(time.Millisecond), p.err, d.logTail())
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+d.addr+d.spec.ready, nil)
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if d.spec.any || resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.done:
		case <-ctx.Done():
			return fmt.Errorf("testenv: %s (pid %d) not ready on %s after %v: %v%s",
				d.spec.name, p.pid, d.addr, time.Since(t0).Round(time.Millisecond), context.Cause(ctx), d.logTail())
		case <-time.After(30 * time.Millisecond):
		}
	}
}

func (d *daemon) logPath() string { return filepath.Join(d.dir, d.spec.name+".log") }

func (d *daemon) logTail() string { return fileTail(d.logPath()) }

// Dir is the server's directory (data/ holds its buckets or containers).
func (d *daemon) Dir() string { return d.dir }

// PID of the server, 0 once stopped.
func (d *daemon) PID() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.proc == nil {
		return 0
	}
	return d.proc.pid
}

// Kill sends SIGKILL to the server and waits for it to exit (the data stays).
func (d *daemon) Kill() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.proc == nil {
		return
	}
	_ = d.proc.cmd.Process.Kill()
	<-d.proc.done
	d.proc = nil
}

// stop stops the server (SIGTERM, SIGKILL after 10 s) and removes its
// directory if startDaemon created it. Only the first call does anything.
func (d *daemon) stop() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	if p := d.proc; p != nil {
		d.proc = nil
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	}
	if d.ownDir {
		if err := os.RemoveAll(d.dir); err != nil {
			return fmt.Errorf("testenv: %w", err)
		}
	}
	return nil
}
