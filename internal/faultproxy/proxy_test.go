package faultproxy

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// waitFor is how long a test waits for something that should happen.
const waitFor = 5 * time.Second

// quiet is how long a test watches for something that should not happen.
const quiet = 200 * time.Millisecond

// echoServer is the tests' own target: it echoes every connection until EOF.
type echoServer struct {
	ln       net.Listener
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    map[net.Conn]struct{}
	accepted int
	stopOnce sync.Once
}

func startEcho(t *testing.T) *echoServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := &echoServer{ln: ln, conns: make(map[net.Conn]struct{})}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			e.mu.Lock()
			e.conns[c] = struct{}{}
			e.accepted++
			e.mu.Unlock()
			e.wg.Add(1)
			go func() {
				defer e.wg.Done()
				_, _ = io.Copy(c, c)
				_ = c.Close()
				e.mu.Lock()
				delete(e.conns, c)
				e.mu.Unlock()
			}()
		}
	}()
	t.Cleanup(e.stop)
	return e
}

func (e *echoServer) addr() string { return e.ln.Addr().String() }

func (e *echoServer) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.accepted
}

func (e *echoServer) stop() {
	e.stopOnce.Do(func() {
		_ = e.ln.Close()
		e.mu.Lock()
		for c := range e.conns {
			_ = c.Close()
		}
		e.mu.Unlock()
		e.wg.Wait()
	})
}

func newProxy(t *testing.T, target string) *Proxy {
	t.Helper()
	p, err := New(target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return p
}

func dial(t *testing.T, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, waitFor)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c.(*net.TCPConn)
}

func send(t *testing.T, c net.Conn, s string) {
	t.Helper()
	_ = c.SetWriteDeadline(time.Now().Add(waitFor))
	if _, err := io.WriteString(c, s); err != nil {
		t.Fatalf("write: %v", err)
	}
}

// expect reads len(want) bytes within waitFor and compares them.
func expect(t *testing.T, c net.Conn, want string) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(waitFor))
	got := make([]byte, len(want))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("read %q: %v (got %q)", want, err, got)
	}
	if string(got) != want {
		t.Fatalf("read %q, want %q", got, want)
	}
}

// expectNothing checks that no byte arrives for a while.
func expectNothing(t *testing.T, c net.Conn) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(quiet))
	var b [1]byte
	n, err := c.Read(b[:])
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read while frozen: n=%d err=%v, want a timeout", n, err)
	}
}

// expectClosed checks that the connection ends (EOF or reset), not times out.
func expectClosed(t *testing.T, c net.Conn) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(waitFor))
	n, err := io.Copy(io.Discard, c)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("connection still open after %v (read %d bytes)", waitFor, n)
	}
}

func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

func conns(p *Proxy, n int) func() bool { return func() bool { return p.Conns() == n } }

func TestForward(t *testing.T) {
	e := startEcho(t)
	p := newProxy(t, e.addr())
	c := dial(t, p.Addr())
	send(t, c, "hello")
	expect(t, c, "hello")
	poll(t, "one pair", conns(p, 1))

	// A payload much larger than a chunk, written while it is read back.
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	errc := make(chan error, 1)
	go func() {
		_, err := c.Write(big)
		errc <- err
	}()
	_ = c.SetReadDeadline(time.Now().Add(waitFor))
	got := make([]byte, len(big))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, big) {
		t.Fatal("1 MiB payload corrupted")
	}

	// Half-close is forwarded: the echo server sees EOF, closes, and the
	// client sees EOF; then the pair is gone.
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	expectClosed(t, c)
	poll(t, "no pair", conns(p, 0))
}

func TestFreezeHoldsBytes(t *testing.T) {
	e := startEcho(t)
	p := newProxy(t, e.addr())
	old := dial(t, p.Addr())
	send(t, old, "up")
	expect(t, old, "up")

	p.Freeze()
	p.Freeze() // idempotent
	send(t, old, "held")
	expectNothing(t, old)

	// A connection made while frozen is accepted but carries nothing.
	fresh := dial(t, p.Addr())
	send(t, fresh, "new")
	expectNothing(t, fresh)
	if p.Conns() == 0 {
		t.Fatal("Freeze closed connections")
	}

	p.Thaw()
	expect(t, old, "held")
	expect(t, fresh, "new")
	p.Thaw() // idempotent
	send(t, old, "again")
	expect(t, old, "again")
}

func TestFreezeHoldsEOF(t *testing.T) {
	e := startEcho(t)
	p := newProxy(t, e.addr())
	c := dial(t, p.Addr())
	send(t, c, "x")
	expect(t, c, "x")

	p.Freeze()
	send(t, c, "abc")
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	expectNothing(t, c) // neither the bytes nor the end-of-stream got through
	if p.Conns() != 1 {
		t.Fatalf("Conns = %d while frozen, want 1", p.Conns())
	}

	p.Thaw()
	_ = c.SetReadDeadline(time.Now().Add(waitFor))
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "abc" {
		t.Fatalf("after Thaw read %q, %v; want \"abc\" then EOF", got, err)
	}
	poll(t, "no pair", conns(p, 0))
}

func TestFreezeThawFreeze(t *testing.T) {
	e := startEcho(t)
	p := newProxy(t, e.addr())
	c := dial(t, p.Addr())
	send(t, c, "x")
	expect(t, c, "x")
	for i := 0; i < 20; i++ {
		p.Freeze()
		p.Thaw()
	}
	p.Freeze()
	send(t, c, "y")
	expectNothing(t, c)
	p.Thaw()
	expect(t, c, "y")
}

func TestDelay(t *testing.T) {
	const d = 100 * time.Millisecond
	e := startEcho(t)
	p := newProxy(t, e.addr())
	c := dial(t, p.Addr())
	send(t, c, "warm")
	expect(t, c, "warm")

	p.Delay(d)
	start := time.Now()
	send(t, c, "slow")
	expect(t, c, "slow")
	if rtt := time.Since(start); rtt < 2*d {
		t.Fatalf("round trip took %v with Delay(%v), want at least %v", rtt, d, 2*d)
	}

	// Order is preserved across many delayed chunks.
	var want bytes.Buffer
	for i := 0; i < 50; i++ {
		s := string(rune('a' + i%26))
		want.WriteString(s)
		send(t, c, s)
	}
	expect(t, c, want.String())

	p.Delay(0)
	send(t, c, "fast")
	expect(t, c, "fast")
}

func TestCutAll(t *testing.T) {
	e := startEcho(t)
	p := newProxy(t, e.addr())
	a, b := dial(t, p.Addr()), dial(t, p.Addr())
	for _, c := range []net.Conn{a, b} {
		send(t, c, "hi")
		expect(t, c, "hi")
	}
	poll(t, "two pairs", conns(p, 2))

	p.CutAll()
	expectClosed(t, a)
	expectClosed(t, b)
	poll(t, "no pair", conns(p, 0))
	// The echo server's side was closed too.
	poll(t, "echo connections closed", func() bool {
		e.mu.Lock()
		defer e.mu.Unlock()
		return len(e.conns) == 0
	})

	c := dial(t, p.Addr())
	send(t, c, "after")
	expect(t, c, "after")
}

func TestCutAllWhileFrozen(t *testing.T) {
	e := startEcho(t)
	p := newProxy(t, e.addr())
	c := dial(t, p.Addr())
	send(t, c, "hi")
	expect(t, c, "hi")
	p.Freeze()
	send(t, c, "held")
	p.CutAll()
	expectClosed(t, c)
	poll(t, "no pair", conns(p, 0))
}

func TestRefuse(t *testing.T) {
	e := startEcho(t)
	p := newProxy(t, e.addr())
	live := dial(t, p.Addr())
	send(t, live, "hi")
	expect(t, live, "hi")

	p.Refuse(true)
	c := dial(t, p.Addr()) // the kernel completes the handshake
	expectClosed(t, c)
	if n := e.count(); n != 1 {
		t.Fatalf("target saw %d connections, want 1", n)
	}
	send(t, live, "still") // existing connections are unaffected
	expect(t, live, "still")

	p.Refuse(false)
	c = dial(t, p.Addr())
	send(t, c, "ok")
	expect(t, c, "ok")
}

func TestDialFailure(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	_ = ln.Close()
	p := newProxy(t, dead)
	c := dial(t, p.Addr())
	expectClosed(t, c)
	poll(t, "no pair", conns(p, 0))
}

func TestClose(t *testing.T) {
	e := startEcho(t)
	p, err := New(e.addr())
	if err != nil {
		t.Fatal(err)
	}
	addr := p.Addr()

	// A mix of states: idle, frozen with held bytes, and delayed.
	idle := dial(t, addr)
	send(t, idle, "a")
	expect(t, idle, "a")
	p.Freeze()
	held := dial(t, addr)
	send(t, held, "b")
	p.Thaw()
	expect(t, held, "b")
	p.Delay(time.Hour)
	send(t, held, "late")
	p.Freeze()
	send(t, idle, "frozen")
	poll(t, "two pairs", conns(p, 2))

	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if n := p.Conns(); n != 0 {
		t.Fatalf("Conns = %d after Close", n)
	}
	expectClosed(t, idle)
	expectClosed(t, held)
	if c, err := net.DialTimeout("tcp", addr, waitFor); err == nil {
		_ = c.Close()
		t.Fatal("proxy still listening after Close")
	}
	// Methods after Close are harmless.
	p.Thaw()
	p.Delay(0)
	p.Refuse(true)
	p.CutAll()

	e.stop()
	goleak.VerifyNone(t)
}

// TestControlRace drives every control method concurrently with traffic, for
// the race detector and goleak; the clients tolerate cut connections.
func TestControlRace(t *testing.T) {
	e := startEcho(t)
	p := newProxy(t, e.addr())
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 5)
			for {
				select {
				case <-stop:
					return
				default:
				}
				c, err := net.DialTimeout("tcp", p.Addr(), waitFor)
				if err != nil {
					continue
				}
				for j := 0; j < 20; j++ {
					_ = c.SetDeadline(time.Now().Add(50 * time.Millisecond))
					if _, err := c.Write([]byte("hello")); err != nil {
						break
					}
					if _, err := io.ReadFull(c, buf); err != nil {
						break
					}
				}
				_ = c.Close()
			}
		}()
	}
	for i := 0; i < 200; i++ {
		switch i % 6 {
		case 0:
			p.Freeze()
		case 1:
			p.Thaw()
		case 2:
			p.Delay(time.Duration(i%3) * time.Millisecond)
		case 3:
			p.CutAll()
		case 4:
			p.Refuse(i%4 == 0)
		case 5:
			_ = p.Conns()
		}
	}
	p.Thaw()
	p.Refuse(false)
	p.Delay(0)
	close(stop)
	wg.Wait()
	c := dial(t, p.Addr())
	send(t, c, "fine")
	expect(t, c, "fine")
}
