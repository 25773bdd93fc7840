package faultproxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// Proxy forwards every connection accepted on [Proxy.Addr] to its target.
// Its methods are safe for concurrent use.
type Proxy struct {
	ln     net.Listener
	target string
	ctx    context.Context // canceled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // the accept loop and every connection's goroutines

	mu     sync.Mutex // guards the fields below
	closed bool
	refuse bool
	frozen bool
	gate   chan struct{} // closed while not frozen; writers wait on it
	delay  time.Duration
	pairs  map[*pair]struct{} // accepted and not yet finished
}

// New listens on a free port of 127.0.0.1 and forwards each accepted
// connection to target (host:port), dialed when the connection is accepted.
// If the dial fails the accepted connection is closed.
func New(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("faultproxy: listen: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	gate := make(chan struct{})
	close(gate)
	p := &Proxy{
		ln:     ln,
		target: target,
		ctx:    ctx,
		cancel: cancel,
		gate:   gate,
		pairs:  make(map[*pair]struct{}),
	}
	p.wg.Add(1)
	go p.acceptLoop()
	return p, nil
}

// Addr is the address clients dial, "127.0.0.1:port".
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Freeze black-holes the network: from the moment Freeze returns, no byte
// and no end-of-stream read from either side of any connection, existing or
// new, is delivered until [Proxy.Thaw]. Nothing is closed and nothing is
// dropped; the held bytes flow on, in order, after Thaw. (A chunk read before
// Freeze was called may still be delivered.) New connections are still
// accepted and dialed while frozen.
func (p *Proxy) Freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.frozen {
		p.frozen = true
		p.gate = make(chan struct{})
	}
}

// Thaw resumes forwarding after [Proxy.Freeze]; held bytes flow on.
func (p *Proxy) Thaw() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.frozen {
		p.frozen = false
		close(p.gate)
	}
}

// Delay makes every chunk wait until d after it was read before it is
// written on, in both directions, preserving order (0, the default, means no
// delay; a negative d is 0). So every byte is late by at least d, and a round
// trip through the proxy by at least 2d. The new delay applies to chunks not
// yet written.
func (p *Proxy) Delay(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.delay = max(d, 0)
}

// CutAll closes every current connection, both the client's and the
// target's side, as a network failure or a server restart would. Held bytes
// are dropped. New connections are still accepted.
func (p *Proxy) CutAll() {
	for _, pr := range p.snapshot() {
		pr.shut()
	}
}

// Refuse makes the proxy close each new connection as soon as it is accepted
// while on is true (the client sees its connection established, then EOF or
// a reset); existing connections are not affected.
func (p *Proxy) Refuse(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refuse = on
}

// Conns is the number of live connection pairs: accepted, with the target
// dialed, and not yet closed on both sides.
func (p *Proxy) Conns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for pr := range p.pairs {
		if pr.dialed {
			n++
		}
	}
	return n
}

// Close stops listening, closes every connection and waits until every
// goroutine of the proxy has exited. It is idempotent: later calls return
// nil.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()

	p.cancel()
	err := p.ln.Close()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	// No pair is added after closed is set, so this snapshot is final.
	for _, pr := range p.snapshot() {
		pr.shut()
	}
	p.wg.Wait()
	return err
}

func (p *Proxy) snapshot() []*pair {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]*pair, 0, len(p.pairs))
	for pr := range p.pairs {
		out = append(out, pr)
	}
	return out
}

// state returns what a writer needs before writing a chunk.
func (p *Proxy) state() (gate <-chan struct{}, delay time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.gate, p.delay
}

func (p *Proxy) acceptLoop() {
	defer p.wg.Done()
	var backoff time.Duration
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if p.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			// A transient failure (out of file descriptors, say): back off
			// as net/http does, but stay responsive to Close.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-p.ctx.Done():
				t.Stop()
				return
			}
			continue
		}
		backoff = 0
		p.admit(c)
	}
}

// admit registers an accepted connection and starts serving it, or closes it
// if the proxy is refusing or closed.
func (p *Proxy) admit(c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.refuse {
		_ = c.Close()
		return
	}
	pr := newPair(p.ctx, c)
	p.pairs[pr] = struct{}{}
	// Added under mu while !closed, so before Close's wg.Wait.
	p.wg.Add(1)
	go p.serve(pr)
}

// serve dials the target for pr, forwards both directions until both are
// finished or pr is shut, then closes pr and forgets it.
func (p *Proxy) serve(pr *pair) {
	defer p.wg.Done()
	defer func() {
		pr.shut()
		p.mu.Lock()
		delete(p.pairs, pr)
		p.mu.Unlock()
	}()
	d := net.Dialer{Timeout: 10 * time.Second}
	server, err := d.DialContext(pr.ctx, "tcp", p.target)
	if err != nil {
		return
	}
	if !pr.setServer(server) {
		return // shut while dialing; setServer closed server
	}
	p.mu.Lock()
	pr.dialed = true
	p.mu.Unlock()

	var wg sync.WaitGroup
	up := make(chan chunk, chunkQueue)
	down := make(chan chunk, chunkQueue)
	wg.Add(4)
	go func() { defer wg.Done(); pr.read(pr.client, up) }()
	go func() { defer wg.Done(); pr.write(p, server, up) }()
	go func() { defer wg.Done(); pr.read(server, down) }()
	go func() { defer wg.Done(); pr.write(p, pr.client, down) }()
	wg.Wait()
}
