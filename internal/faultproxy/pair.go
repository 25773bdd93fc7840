package faultproxy

import (
	"context"
	"io"
	"net"
	"sync"
	"time"
)

const (
	chunkSize  = 32 << 10 // bytes read at most at once
	chunkQueue = 16       // chunks queued between a reader and its writer
)

// chunk is one read's bytes and when they were read. A chunk with err set is
// the last of its direction: the read error (io.EOF for end-of-stream).
type chunk struct {
	data []byte
	at   time.Time
	err  error
}

// pair is one client connection and its connection to the target.
type pair struct {
	ctx    context.Context // canceled by shut
	cancel context.CancelFunc
	client net.Conn
	dialed bool // guarded by Proxy.mu

	mu       sync.Mutex // guards server and isShut
	server   net.Conn
	isShut   bool
	shutOnce sync.Once
}

func newPair(parent context.Context, client net.Conn) *pair {
	ctx, cancel := context.WithCancel(parent)
	return &pair{ctx: ctx, cancel: cancel, client: client}
}

// setServer records the dialed target connection. It reports false, having
// closed server, if the pair was shut meanwhile.
func (pr *pair) setServer(server net.Conn) bool {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	if pr.isShut {
		_ = server.Close()
		return false
	}
	pr.server = server
	return true
}

// shut closes both connections, which unblocks every read and write of the
// pair, and cancels its context, which unblocks every wait.
func (pr *pair) shut() {
	pr.shutOnce.Do(func() {
		pr.cancel()
		_ = pr.client.Close()
		pr.mu.Lock()
		pr.isShut = true
		server := pr.server
		pr.mu.Unlock()
		if server != nil {
			_ = server.Close()
		}
	})
}

// read moves chunks from src to q until a read fails; the failure (io.EOF at
// end-of-stream) is queued as the last chunk.
func (pr *pair) read(src net.Conn, q chan<- chunk) {
	buf := make([]byte, chunkSize)
	for {
		n, err := src.Read(buf)
		c := chunk{at: time.Now(), err: err}
		if n > 0 {
			c.data = append([]byte(nil), buf[:n]...)
		}
		select {
		case q <- c:
		case <-pr.ctx.Done():
			return
		}
		if err != nil {
			return
		}
	}
}

// write moves chunks from q to dst, each once its delay has passed and the
// proxy is not frozen. At end-of-stream it half-closes dst, so the peer sees
// EOF after every byte; after any other failure it shuts the pair.
func (pr *pair) write(p *Proxy, dst net.Conn, q <-chan chunk) {
	for {
		var c chunk
		select {
		case c = <-q:
		case <-pr.ctx.Done():
			return
		}
		if !pr.hold(p, c.at) {
			return
		}
		if len(c.data) > 0 {
			if _, err := dst.Write(c.data); err != nil {
				pr.shut()
				return
			}
		}
		if c.err == nil {
			continue
		}
		if cw, ok := dst.(interface{ CloseWrite() error }); ok && c.err == io.EOF {
			if cw.CloseWrite() == nil {
				return
			}
		}
		pr.shut()
		return
	}
}

// hold waits until the current delay has passed since at and then until the
// proxy is not frozen. Checking the gate last, after the chunk was read, is
// what makes Freeze hold every byte read after it returns; re-checking it
// after each wake-up keeps a chunk held across a Thaw quickly followed by
// another Freeze. It reports false if the pair was shut meanwhile.
func (pr *pair) hold(p *Proxy, at time.Time) bool {
	if _, delay := p.state(); delay > 0 {
		if wait := time.Until(at.Add(delay)); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-pr.ctx.Done():
				t.Stop()
				return false
			}
		}
	}
	for {
		gate, _ := p.state()
		select {
		case <-gate:
			// Thawed, unless frozen again since: look once more.
			if g, _ := p.state(); g == gate {
				return true
			}
		case <-pr.ctx.Done():
			return false
		}
	}
}
