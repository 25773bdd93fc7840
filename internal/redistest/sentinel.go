package redistest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/matroska-go/matroska/internal/faultproxy"
	"github.com/redis/go-redis/v9"
)

// SentinelOptions configures [StartSentinel]. The zero value asks for the
// defaults.
type SentinelOptions struct {
	// MasterName is the name the sentinels know the master by.
	// default: "mymaster"
	MasterName string

	// Replicas is the number of replicas of the master.
	// default: 1
	Replicas int

	// DownAfter is the sentinels' down-after-milliseconds: how long an
	// instance must not answer before a sentinel deems it down. It also
	// bounds how long a replica may have seen its link to the master down
	// and still be promoted: 10 × DownAfter, plus the time the master has
	// been down.
	// default: 1 s
	DownAfter time.Duration

	// FailoverTimeout is the sentinels' failover-timeout. Besides bounding a
	// failover, it is how long a sentinel lets a replica replicate from
	// another address than the master's (its link proxy's) before it points
	// the replica straight at the master ("+fix-slave-config"), so a lag
	// (see [SentinelGroup.Lag]) must be shorter; and twice it is how long a
	// sentinel whose election failed waits before it tries again.
	// default: 10 s
	FailoverTimeout time.Duration
}

// sentinelQuorum is how many of the three sentinels must deem the master
// down before a failover.
const sentinelQuorum = 2

// SentinelGroup is a master, its replicas and three sentinels monitoring
// them, each a private redis-server in its own directory. Each replica
// replicates through its own [faultproxy.Proxy] (see [SentinelGroup.Link]),
// so that a test can make it lag behind the master; it announces its own
// address (replica-announce-ip/port), so the sentinels reach it directly.
// The data servers run with a config file, so the role the sentinels give
// them (REPLICAOF plus CONFIG REWRITE) survives a [Server.Restart].
//
// Its methods are safe for concurrent use.
type SentinelGroup struct {
	name            string
	downAfter       time.Duration
	failoverTimeout time.Duration

	sentinels []*Server
	nodes     []*Server // nodes[0] is the first master

	mu     sync.Mutex // guards the fields below
	master *Server
	links  map[*Server]*link // a replica's link proxy
}

// link is a proxy a replica replicates through, and the master behind it.
type link struct {
	proxy  *faultproxy.Proxy
	target *Server
}

// StartSentinel starts a master, opts.Replicas replicas of it (each
// replicating through its link proxy) and three sentinels monitoring the
// master with quorum 2, all on free loopback ports, and waits until every
// replica is in sync and every sentinel knows the master, every replica and
// the other sentinels (SENTINEL CKQUORUM). Everything is stopped when the
// test ends. The sentinels run with shortened internal periods (SENTINEL
// DEBUG: INFO every second, hellos every 500 ms), so they notice changes
// within a second or two and turn a demoted master still running into a
// replica about 2 s after a failover.
func StartSentinel(tb testing.TB, opts SentinelOptions) *SentinelGroup {
	tb.Helper()
	if opts.MasterName == "" {
		opts.MasterName = "mymaster"
	}
	if opts.Replicas < 1 {
		opts.Replicas = 1
	}
	if opts.DownAfter <= 0 {
		opts.DownAfter = time.Second
	}
	if opts.FailoverTimeout <= 0 {
		opts.FailoverTimeout = 10 * time.Second
	}
	g := &SentinelGroup{
		name:            opts.MasterName,
		downAfter:       opts.DownAfter,
		failoverTimeout: opts.FailoverTimeout,
		links:           make(map[*Server]*link),
	}
	tb.Cleanup(g.stop)
	if err := g.launch(tb.TempDir(), opts.Replicas); err != nil {
		tb.Fatalf("redistest: sentinel: %v%s", err, g.logs())
	}
	return g
}

func (g *SentinelGroup) launch(dir string, replicas int) error {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	m, err := launchWithConf(filepath.Join(dir, "master"), nil)
	if err != nil {
		return err
	}
	g.nodes = append(g.nodes, m)
	g.master = m
	for i := range replicas {
		r, err := launchWithConf(filepath.Join(dir, "replica"+strconv.Itoa(i)), nil)
		if err != nil {
			return err
		}
		g.nodes = append(g.nodes, r)
		p, err := g.linkTo(r, m)
		if err != nil {
			return err
		}
		if err := replicateThrough(ctx, r, p.Addr()); err != nil {
			return err
		}
	}
	for i := range 3 {
		d := filepath.Join(dir, "sentinel"+strconv.Itoa(i))
		conf := fmt.Sprintf("sentinel monitor %[1]s 127.0.0.1 %[2]d %[3]d\n"+
			"sentinel down-after-milliseconds %[1]s %[4]d\n"+
			"sentinel failover-timeout %[1]s %[5]d\n"+
			"sentinel parallel-syncs %[1]s 1\n",
			g.name, m.Port(), sentinelQuorum, g.downAfter.Milliseconds(), g.failoverTimeout.Milliseconds())
		s, err := launchWithConf(d, []byte(conf),
			"--loglevel", "notice", "--logfile", filepath.Join(d, "sentinel.log"))
		if err != nil {
			return err
		}
		g.sentinels = append(g.sentinels, s)
	}
	return g.waitReady(ctx)
}

// launchWithConf starts a server in dir with a config file there holding
// conf; a nil conf starts a data server (with an empty config file, for
// CONFIG REWRITE), anything else a sentinel.
func launchWithConf(dir string, conf []byte, args ...string) (*Server, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	name := "redis.conf"
	if conf != nil {
		name = "sentinel.conf"
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, conf, 0o644); err != nil {
		return nil, err
	}
	s := &Server{args: args, dir: dir, conf: path}
	if conf != nil {
		s.sentinel = true
		s.ready = tuneSentinel
	}
	return launch(s)
}

// tuneSentinel shortens a sentinel's internal periods (defaults in
// parentheses), after each start.
func tuneSentinel(ctx context.Context, s *Server) error {
	c := redis.NewClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1})
	defer c.Close()
	return c.Do(ctx, "SENTINEL", "DEBUG",
		"info-period", 1000, // INFO to each instance every second (10 s)
		"publish-period", 500, // hello every 500 ms (2 s)
		"ping-period", 500, // PING every 500 ms (1 s)
		"ask-period", 500, // ask the others whether the master is down (1 s)
		"tilt-period", 3000, // leave TILT mode, if a stall caused it, after 3 s (30 s)
	).Err()
}

// replicateThrough makes r a replica of the master behind proxy, unless it
// is one with its link up, announcing its own address (so that the
// sentinels, which learn replicas from the master, reach it directly),
// persists that in its config file, and waits until it is in sync.
func replicateThrough(ctx context.Context, r *Server, proxy string) error {
	if rep, err := r.replication(ctx); err == nil && rep["role"] == "slave" &&
		rep["master_port"] == strconv.Itoa(portOf(proxy)) && rep["master_link_status"] == "up" {
		return nil
	}
	c := redis.NewClient(&redis.Options{Addr: r.Addr(), MaxRetries: -1})
	defer c.Close()
	for _, cmd := range [][]any{
		{"CONFIG", "SET", "replica-announce-ip", "127.0.0.1"},
		{"CONFIG", "SET", "replica-announce-port", r.Port()},
		{"REPLICAOF", "127.0.0.1", portOf(proxy)},
		{"CONFIG", "REWRITE"},
	} {
		if err := c.Do(ctx, cmd...).Err(); err != nil {
			return fmt.Errorf("%s: %v: %w", r.Addr(), cmd, err)
		}
	}
	if err := r.waitReplicaOf(ctx, proxy); err != nil {
		return fmt.Errorf("%s replica of %s: %w", r.Addr(), proxy, err)
	}
	return nil
}

// MasterName is the name the sentinels know the master by.
func (g *SentinelGroup) MasterName() string { return g.name }

// SentinelAddrs are the sentinels' addresses.
func (g *SentinelGroup) SentinelAddrs() []string {
	out := make([]string, len(g.sentinels))
	for i, s := range g.sentinels {
		out[i] = s.Addr()
	}
	return out
}

// Sentinels are the three sentinel processes, for a test that kills or
// pauses one.
func (g *SentinelGroup) Sentinels() []*Server { return append([]*Server(nil), g.sentinels...) }

// Servers are the data servers, the first master first, then the replicas
// in the order they were started, whatever their roles now.
func (g *SentinelGroup) Servers() []*Server { return append([]*Server(nil), g.nodes...) }

// Master is the current master: the first master until a failover, then
// the server [SentinelGroup.Failover] or [SentinelGroup.WaitFailover]
// found promoted.
func (g *SentinelGroup) Master() *Server {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.master
}

// Replicas are the data servers other than [SentinelGroup.Master], running
// or not: after a failover the old master is among them, as the sentinels
// see it (they make it a replica of the new master once it runs).
func (g *SentinelGroup) Replicas() []*Server {
	m := g.Master()
	var out []*Server
	for _, s := range g.nodes {
		if s != m {
			out = append(out, s)
		}
	}
	return out
}

// Link is the proxy replica r replicates through, or nil if it has none:
// the one it was started with, or the one the last [SentinelGroup.Lag] on
// it put in. The sentinels point a replica straight at its master once it
// has replicated from another address (the proxy's) for FailoverTimeout,
// and after a failover; the link then carries nothing.
func (g *SentinelGroup) Link(r *Server) *faultproxy.Proxy {
	g.mu.Lock()
	defer g.mu.Unlock()
	if l := g.links[r]; l != nil {
		return l.proxy
	}
	return nil
}

// Lag makes replica r replicate from the current master through its link
// proxy, if it does not already (a partial resync, quick), and freezes the
// link: r misses every write to the master from now on, while its link
// still looks up to r, to the master and to the sentinels (a replica
// declares its link down only after repl-timeout, 60 s). It returns a func
// that thaws the link. A replica promoted while lagging never gets the
// writes it missed: that is how a test makes a failover lose acknowledged
// writes. Make r catch up first (WAIT on the master) to know exactly what
// it missed.
//
// Keep the lag shorter than FailoverTimeout: after that the sentinels point
// r straight at the master, and it catches up. Lag fails the test if r is
// the master, or does not get in sync through the link within 10 s.
func (g *SentinelGroup) Lag(tb testing.TB, r *Server) (thaw func()) {
	tb.Helper()
	m := g.Master()
	if r == m {
		tb.Fatalf("redistest: Lag: %s is the master", r.Addr())
	}
	p, err := g.linkTo(r, m)
	if err != nil {
		tb.Fatalf("redistest: Lag: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := replicateThrough(ctx, r, p.Addr()); err != nil {
		tb.Fatalf("redistest: Lag: %v", err)
	}
	p.Freeze()
	return p.Thaw
}

// linkTo returns r's link proxy if it leads to m, or else replaces it by a
// new one that does.
func (g *SentinelGroup) linkTo(r, m *Server) (*faultproxy.Proxy, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if l := g.links[r]; l != nil {
		if l.target == m {
			return l.proxy, nil
		}
		_ = l.proxy.Close()
		delete(g.links, r)
	}
	p, err := faultproxy.New(m.Addr())
	if err != nil {
		return nil, err
	}
	g.links[r] = &link{proxy: p, target: m}
	return p, nil
}

// FailoverOptions returns go-redis options for a client of the current
// master found through the sentinels, with context deadlines honoured
// (ContextTimeoutEnabled) and the short timeouts of [Server.Options].
func (g *SentinelGroup) FailoverOptions() *redis.FailoverOptions {
	return &redis.FailoverOptions{
		MasterName:            g.name,
		SentinelAddrs:         g.SentinelAddrs(),
		ContextTimeoutEnabled: true,
		DialTimeout:           time.Second,
		ReadTimeout:           2 * time.Second,
		WriteTimeout:          2 * time.Second,
		MaxRetries:            -1,
	}
}

// Client returns a failover client (redis.NewFailoverClient with
// [SentinelGroup.FailoverOptions]), closed when the test ends.
func (g *SentinelGroup) Client(tb testing.TB) *redis.Client {
	tb.Helper()
	c := redis.NewFailoverClient(g.FailoverOptions())
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// logs returns the end of each sentinel's log, for a failure message.
func (g *SentinelGroup) logs() string {
	var b strings.Builder
	for _, s := range g.sentinels {
		data, err := os.ReadFile(filepath.Join(s.Dir(), "sentinel.log"))
		if err != nil {
			continue
		}
		lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
		if len(lines) > 30 {
			lines = lines[len(lines)-30:]
		}
		fmt.Fprintf(&b, "\n--- sentinel %s log (end):\n%s", s.Addr(), strings.Join(lines, "\n"))
	}
	return b.String()
}

// stop stops the sentinels first, so that they do not react to the data
// servers going, then the data servers and the proxies.
func (g *SentinelGroup) stop() {
	for _, s := range g.sentinels {
		s.Stop()
	}
	for _, s := range g.nodes {
		s.Stop()
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, l := range g.links {
		_ = l.proxy.Close()
	}
}
