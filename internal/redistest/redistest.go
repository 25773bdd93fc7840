// Package redistest starts and stops private redis-server processes for tests:
// a standalone [Server], a [Cluster] (with or without replicas), and a
// master with replicas watched by Sentinel ([SentinelGroup]).
//
// Every server listens on a free loopback port, in its own directory, and is
// stopped in the test's Cleanup. By default it keeps nothing on disk; a test
// that passes persistence arguments ("--save", "--appendonly") gets them.
// Tests can kill a server (as a crash would), pause it (SIGSTOP), and
// restart it on the same port and directory, where it loads what it
// persisted. The package never talks to a Redis the test did not start, so
// tests pass on a machine without a running Redis service.
package redistest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Binary is the redis-server executable, from $REDIS_SERVER or the PATH.
func Binary() (string, error) {
	if p := os.Getenv("REDIS_SERVER"); p != "" {
		return p, nil
	}
	p, err := exec.LookPath("redis-server")
	if err != nil {
		return "", errors.New("redistest: redis-server not found on PATH (install the Debian package redis-server, or set REDIS_SERVER)")
	}
	return p, nil
}

// Server is one private redis-server process.
type Server struct {
	bin      string
	args     []string
	port     int
	dir      string
	conf     string                               // config file given first, or ""
	sentinel bool                                 // run as a Sentinel
	ready    func(context.Context, *Server) error // run after each start, or nil

	mu     sync.Mutex // guards the fields below
	cmd    *exec.Cmd
	done   chan struct{}
	paused bool
}

// Start starts a redis-server on a free 127.0.0.1 port, in a temporary
// directory of the test, with the extra command-line args (for example
// "--requirepass", "secret"), waits until it answers PING, and stops it when
// the test ends. It fails the test if redis-server is missing or does not
// come up.
//
// The server persists nothing ("--save" "" and "--appendonly" "no") unless
// args say otherwise: they come last, so "--save", "3600 1" or
// "--appendonly", "yes", "--appendfsync", "everysec" take effect.
func Start(tb testing.TB, args ...string) *Server {
	tb.Helper()
	s, err := Launch(tb.TempDir(), args...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Stop)
	return s
}

// Launch starts a redis-server outside a test (for the demo), working in
// dir. The caller stops it with Stop.
func Launch(dir string, args ...string) (*Server, error) {
	return launch(&Server{args: args, dir: dir})
}

// launch starts s, prepared but for bin and port, on a free port.
func launch(s *Server) (*Server, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	s.bin = bin
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := FreePort()
		if err != nil {
			return nil, fmt.Errorf("redistest: %w", err)
		}
		s.port = port
		if lastErr = s.start(); lastErr == nil {
			return s, nil
		}
	}
	return nil, fmt.Errorf("redistest: redis-server did not start: %w", lastErr)
}

// Addr is the server's address, "127.0.0.1:port".
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// Port is the server's port.
func (s *Server) Port() int { return s.port }

// Options returns go-redis options for the server with context deadlines
// honoured (ContextTimeoutEnabled) and short dial and read timeouts suited
// to tests.
func (s *Server) Options() *redis.Options {
	return &redis.Options{
		Addr:                  s.Addr(),
		Password:              s.password(),
		ContextTimeoutEnabled: true,
		DialTimeout:           time.Second,
		ReadTimeout:           2 * time.Second,
		WriteTimeout:          2 * time.Second,
		MaxRetries:            -1,
	}
}

// Client returns a client of the server, closed when the test ends.
func (s *Server) Client(tb testing.TB) *redis.Client {
	tb.Helper()
	c := redis.NewClient(s.Options())
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

func (s *Server) password() string {
	for i, a := range s.args {
		if a == "--requirepass" && i+1 < len(s.args) {
			return s.args[i+1]
		}
	}
	return ""
}

// Dir is the server's working directory, where it keeps its dump.rdb, its
// AOF directory and, in a cluster, its nodes.conf.
func (s *Server) Dir() string { return s.dir }

// argv is the command line: the config file if any, then ours, then the
// caller's args, which therefore override ours.
func (s *Server) argv() []string {
	var argv []string
	if s.conf != "" {
		argv = append(argv, s.conf)
	}
	if s.sentinel {
		argv = append(argv, "--sentinel")
	}
	argv = append(argv,
		"--port", strconv.Itoa(s.port),
		"--bind", "127.0.0.1",
		"--dir", s.dir,
		"--daemonize", "no",
		"--loglevel", "warning",
		"--logfile", "",
	)
	if !s.sentinel {
		// No diskless-sync delay: a full resync starts at once, not 5 s
		// later in wait for more replicas.
		argv = append(argv, "--save", "", "--appendonly", "no", "--repl-diskless-sync-delay", "0")
	}
	return append(argv, s.args...)
}

func (s *Server) start() error {
	cmd := exec.Command(s.bin, s.argv()...)
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()

	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			return fmt.Errorf("redis-server exited at start (port %d taken?)", s.port)
		default:
		}
		if s.ping() == nil {
			return s.afterStart()
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.Kill()
	return errors.New("redis-server did not answer PING within 10s")
}

// afterStart runs s.ready, if any, on a server that answers PING; if it
// fails, the server is killed.
func (s *Server) afterStart() error {
	if s.ready == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.ready(ctx, s); err != nil {
		s.Kill()
		return err
	}
	return nil
}

func (s *Server) ping() error {
	c := redis.NewClient(&redis.Options{Addr: s.Addr(), Password: s.password(), DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	return c.Ping(ctx).Err()
}

// Kill stops the server with SIGKILL, as a crash would, and waits until the
// process has exited. It kills a paused server too. Killing a stopped server
// does nothing.
func (s *Server) Kill() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd, s.paused = nil, false
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-done
}

// Stop is Kill, so it never hangs on a paused server. Nothing is saved on
// the way out: a server that persists has on disk what it wrote before.
func (s *Server) Stop() { s.Kill() }

// Running reports whether the server's process is alive and not paused:
// started, not killed since, and not stopped by [Server.Pause].
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmd != nil && !s.paused
}

// Restart starts the server again on the same port and in the same
// directory, with the same arguments, so it loads what it persisted there
// (its dump.rdb, or its AOF if it runs with "--appendonly" "yes"); a server
// started with the default arguments persisted nothing and comes back empty,
// unless it was a replica: a replica keeps the RDB of its last full sync as
// dump.rdb (Redis deletes it only with rdb-del-sync-files yes), and loads
// that, as a real one would. A running or paused server is killed first, as
// a crash would.
func (s *Server) Restart(tb testing.TB) {
	tb.Helper()
	s.Kill()
	var err error
	for attempt := 0; attempt < 50; attempt++ {
		if err = s.start(); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond) // the port may linger in the kernel for a moment
	}
	tb.Fatalf("redistest: restart on port %d: %v", s.port, err)
}

// FreePort returns a loopback port that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
