package testenv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrNoZooKeeper is returned (wrapped) by StartZooKeeper when java or the
// ZooKeeper jar is missing.
var ErrNoZooKeeper = errors.New("ZooKeeper not found; install it: " +
	"apt-get install -y --no-install-recommends zookeeper, or run make test which installs it")

// zooKeeperJar is where Debian's zookeeper package puts the server; its
// manifest names the jars it needs. $ZOOKEEPER_JAR overrides it.
const zooKeeperJar = "/usr/share/java/zookeeper.jar"

// ZooKeeper is a private standalone ZooKeeper server (the coordination
// service ClickHouse 18.16's Replicated tables and ON CLUSTER DDL need) in a
// temp dir on a free loopback port.
type ZooKeeper struct {
	dir  string
	port int
	proc *process
}

// StartZooKeeper starts ZooKeeper and waits until it serves clients.
func StartZooKeeper(ctx context.Context) (*ZooKeeper, error) {
	java, err := exec.LookPath("java")
	if err != nil {
		return nil, fmt.Errorf("testenv: %w (java: %v)", ErrNoZooKeeper, err)
	}
	jar := zooKeeperJar
	if v := os.Getenv("ZOOKEEPER_JAR"); v != "" {
		jar = v
	}
	if _, err := os.Stat(jar); err != nil {
		return nil, fmt.Errorf("testenv: %w (%v)", ErrNoZooKeeper, err)
	}
	dir, err := os.MkdirTemp("", "testenv-zookeeper-")
	if err != nil {
		return nil, fmt.Errorf("testenv: %w", err)
	}
	z := &ZooKeeper{dir: dir}
	ports, err := freePorts(1)
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("testenv: picking a port for ZooKeeper: %w", err)
	}
	z.port = ports[0]
	// A short tick makes sessions (and the tests) quick; no admin server,
	// nothing beyond loopback.
	cfg := fmt.Sprintf("tickTime=500\ninitLimit=10\nsyncLimit=5\ndataDir=%s\nclientPort=%d\nclientPortAddress=127.0.0.1\n"+
		"admin.enableServer=false\nmaxClientCnxns=0\n4lw.commands.whitelist=srvr\n", filepath.Join(dir, "data"), z.port)
	if err := os.WriteFile(filepath.Join(dir, "zoo.cfg"), []byte(cfg), 0o644); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("testenv: %w", err)
	}
	out, err := os.Create(filepath.Join(dir, "zookeeper.log"))
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("testenv: %w", err)
	}
	defer out.Close()
	cmd := exec.Command(java, "-Xmx256m", "-XX:+UseSerialGC", "-cp", jar,
		"org.apache.zookeeper.server.quorum.QuorumPeerMain", filepath.Join(dir, "zoo.cfg"))
	cmd.Dir, cmd.Stdout, cmd.Stderr = dir, out, out
	cmd.SysProcAttr = sysProcAttr()
	if z.proc, err = startChild(cmd); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	deadline := time.Now().Add(60 * time.Second)
	for !z.ruok() {
		if z.proc.exited() || time.Now().After(deadline) || ctx.Err() != nil {
			log := fileTail(filepath.Join(dir, "zookeeper.log"))
			z.Close()
			return nil, fmt.Errorf("testenv: ZooKeeper on 127.0.0.1:%d did not answer srvr within 60s%s", z.port, log)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return z, nil
}

// ruok asks the four-letter "srvr": "ruok" answers "imok" before the server
// serves sessions, and ClickHouse 18.16 crashes on a session lost that early.
func (z *ZooKeeper) ruok() bool {
	c, err := net.DialTimeout("tcp", z.Addr(), time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("srvr")); err != nil {
		return false
	}
	b, _ := io.ReadAll(c)
	return strings.Contains(string(b), "Mode: standalone")
}

// Addr is host:port of the client port.
func (z *ZooKeeper) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(z.port)) }

// Port is the client port.
func (z *ZooKeeper) Port() int { return z.port }

// Close stops the server (SIGTERM, then SIGKILL after 10 s) and removes its directory.
func (z *ZooKeeper) Close() error {
	if z.proc != nil && !z.proc.exited() {
		_ = z.proc.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-z.proc.done:
		case <-time.After(10 * time.Second):
			_ = z.proc.cmd.Process.Kill()
			<-z.proc.done
		}
	}
	return os.RemoveAll(z.dir)
}
