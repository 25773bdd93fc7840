package tiered_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/matroska-go/matroska"
	"github.com/matroska-go/matroska/internal/redistest"
	"github.com/matroska-go/matroska/tiered"
)

// closedAddr is a loopback address where nothing listens: port 1, which no
// test or server of this machine takes (a port freed by a listener of the
// test could be taken by another test's server meanwhile).
func closedAddr(t *testing.T) string {
	t.Helper()
	const addr = "127.0.0.1:1"
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		_ = c.Close()
		t.Skipf("something listens on %s", addr)
	}
	return addr
}

// blackHole is a server that accepts connections and never answers.
func blackHole(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return ln.Addr().String()
}

// client is a go-redis client of addr, closed when the test ends.
func client(t *testing.T, addr string, contextTimeouts bool) *redis.Client {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: contextTimeouts})
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// A wrong Redis address is New's error, wrapping the dial error, and New
// leaves nothing running.
func TestNewFailsOnWrongAddress(t *testing.T) {
	rdb := client(t, closedAddr(t), true)
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	c, err := tiered.New(tiered.Config{Redis: rdb, StartTimeout: 5 * time.Second})
	if c != nil || !errors.Is(err, tiered.ErrUnavailable) {
		t.Fatalf("New on a wrong address: cache %v, error %v; want no cache and ErrUnavailable", c != nil, err)
	}
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "dial" {
		t.Fatalf("New's error %q does not wrap the dial error", err)
	}
}

// With StartDegraded, New starts without Redis (loaders answer) and says so
// through the default logger, slog.Default.
func TestNewStartDegraded(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(lockedWriter{&mu, &buf}, nil)))
	defer slog.SetDefault(old)

	c, err := tiered.New(tiered.Config{Redis: client(t, closedAddr(t), true), StartDegraded: true, StartTimeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("New with StartDegraded: %v", err)
	}
	defer c.Close()
	v, err := matroska.GetOrLoad(bg(), c, "k", func(context.Context, *matroska.Recorder) (int, error) { return 7, nil })
	if v != 7 || err != nil {
		t.Fatalf("GetOrLoad on a degraded cache = %v, %v", v, err)
	}
	mu.Lock()
	logged := buf.String()
	mu.Unlock()
	if !strings.Contains(logged, "connection refused") {
		t.Fatalf("the default logger got %q; want the dial error", logged)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// A client that ignores context deadlines is refused at once: against a
// server that never answers, every call would wait go-redis's own timeouts,
// whatever RedisTimeout says.
func TestClientWithoutContextTimeoutsRefused(t *testing.T) {
	addr := blackHole(t)
	start := time.Now()
	c, err := tiered.New(tiered.Config{Redis: client(t, addr, false)})
	if c != nil || !errors.Is(err, tiered.ErrConfig) || !strings.Contains(err.Error(), "ContextTimeoutEnabled") {
		t.Fatalf("New with a client without ContextTimeoutEnabled: cache %v, error %v; want no cache and ErrConfig naming the option", c != nil, err)
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("New took %v to refuse the client", took)
	}
	// A cluster client is inspected too.
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{addr}})
	defer cc.Close()
	if _, err := tiered.New(tiered.Config{Redis: cc}); !errors.Is(err, tiered.ErrConfig) {
		t.Fatalf("New with a cluster client without ContextTimeoutEnabled: %v, want ErrConfig", err)
	}
}

// A server that accepts and never answers: with a client that honours
// deadlines, New fails within StartTimeout, and a node started degraded
// answers each GetOrLoad within about RedisTimeout and closes at once.
func TestBlackHoleServer(t *testing.T) {
	addr := blackHole(t)
	cfg := tiered.Config{Redis: client(t, addr, true), StartTimeout: 500 * time.Millisecond, RedisTimeout: 100 * time.Millisecond}
	start := time.Now()
	if c, err := tiered.New(cfg); c != nil || !errors.Is(err, tiered.ErrUnavailable) {
		t.Fatalf("New on a server that never answers: cache %v, error %v; want no cache and ErrUnavailable", c != nil, err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("New took %v with a StartTimeout of 500ms", took)
	}
	cfg.StartDegraded = true
	c, err := tiered.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		start = time.Now()
		v, err := matroska.GetOrLoad(bg(), c, "k", func(context.Context, *matroska.Recorder) (int, error) { return 7, nil })
		if v != 7 || err != nil {
			t.Fatalf("GetOrLoad = %v, %v", v, err)
		}
		if took := time.Since(start); took > time.Second {
			t.Fatalf("GetOrLoad took %v with a RedisTimeout of 100ms", took)
		}
	}
	start = time.Now()
	if err := c.Close(); err != nil {
		t.Logf("Close: %v", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("Close took %v", took)
	}
}

// A client type the cache cannot inspect (a wrapper) is taken on trust.
func TestUninspectableClientAccepted(t *testing.T) {
	srv := redistest.Start(t)
	opts := srv.Options()
	opts.ContextTimeoutEnabled = false
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	c, err := tiered.New(tiered.Config{Redis: wrapped{rdb}, Namespace: "w"})
	if err != nil {
		t.Fatalf("New with a wrapped client: %v", err)
	}
	_ = c.Close()
}

type wrapped struct{ *redis.Client }
