package testenv

import (
	"net"
	"sync"
	"testing"
)

// Recorder is a TCP listener on loopback that counts the connections made
// to it and hangs up on each: a ClickHouse, Kafka broker, S3 endpoint or
// GitHub API that a test proves was never contacted (or was).
type Recorder struct {
	ln    net.Listener
	mu    sync.Mutex
	conns int
}

// NewRecorder starts a Recorder, closed when the test ends.
func NewRecorder(tb testing.TB) *Recorder {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	r := &Recorder{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			r.mu.Lock()
			r.conns++
			r.mu.Unlock()
			c.Close()
		}
	}()
	tb.Cleanup(func() { ln.Close() })
	return r
}

// Addr is the listener's host:port.
func (r *Recorder) Addr() string { return r.ln.Addr().String() }

// Conns is the connections accepted so far. Connections a process made
// just before exiting may still be queued: give the accept loop a moment.
func (r *Recorder) Conns() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.conns
}

// Close stops listening: the address then refuses connections (a server
// that is down).
func (r *Recorder) Close() error { return r.ln.Close() }
