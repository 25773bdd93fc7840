package chaos

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/matroska-go/matroska"
	"github.com/matroska-go/matroska/bus"
	"github.com/matroska-go/matroska/deps"
	"github.com/matroska-go/matroska/internal/faultproxy"
	"github.com/matroska-go/matroska/internal/redistest"
	"github.com/matroska-go/matroska/internal/seam"
	"github.com/matroska-go/matroska/tiered"
)

var (
	opsFlag   = flag.Int("chaos.ops", 0, "operations (reads and writes) per scenario, on each topology; 0 takes the CI-sized default")
	nodesFlag = flag.Int("chaos.nodes", 5, "nodes per scenario")
	seedFlag  = flag.Uint64("chaos.seed", 0, "random seed; 0 picks one (printed with the figures)")
	knownFlag = flag.Bool("chaos.known", false, "also run the subtests skipped for a known gap (see known)")
)

// Timings of every node: short, so that scenarios finish fast.
const (
	trustWindow  = 300 * time.Millisecond
	heartbeat    = 50 * time.Millisecond
	redisTimeout = 200 * time.Millisecond
	cooldown     = 200 * time.Millisecond
	// slack covers scheduling on a loaded machine (two cores, -race):
	// the time between a deadline and the goroutine that acts on it.
	slack = 200 * time.Millisecond
	// bound is the propagation bound the checker allows other nodes: the
	// trust window, past which a node that has not applied an invalidation
	// no longer serves L1 (G4), plus slack.
	bound = trustWindow + slack
)

const (
	numRows    = 40
	numCats    = 4
	namespace  = "chaos"
	defaultOps = 1500
)

// The topologies every scenario runs on: one private redis-server, or a
// private Redis Cluster of 3 masters (the cluster protocol of package
// remote, the bus on a shard channel).
const (
	standalone = "standalone"
	cluster    = "cluster"
)

var topologies = []string{standalone, cluster}

// forTopologies runs f as a subtest on each topology.
func forTopologies(t *testing.T, f func(t *testing.T, topo string)) {
	for _, topo := range topologies {
		t.Run(topo, func(t *testing.T) { f(t, topo) })
	}
}

// clusterShare is the part of the CI-sized default a scenario runs on
// Cluster, where every operation takes more round trips: enough for the
// faults to hit a busy workload, in a CI-sized time. -chaos.ops sets the
// same size on both topologies.
const clusterShare = 2

// size is the number of operations a scenario runs: def scaled by the
// flag, or the CI-sized default of the harness's topology.
func (h *harness) size(def int) int {
	switch {
	case *opsFlag > 0:
		return *opsFlag * def / defaultOps
	case h.topo == cluster:
		return def / clusterShare
	}
	return def
}

// splitClient sends commands through one proxy and the pub/sub connection
// through another, so that faults can hit the bus alone.
type splitClient struct {
	*redis.Client               // commands
	sub           *redis.Client // the bus's subscription
}

func (c splitClient) Subscribe(ctx context.Context, channels ...string) *redis.PubSub {
	return c.sub.Subscribe(ctx, channels...)
}

// splitCluster is splitClient on Redis Cluster: commands through one
// cluster client, the subscriptions (the bus's and the fill announcements',
// on shard channels) through another. The node is told that it speaks the
// cluster protocol (seam.Hooks.Cluster), which a wrapper does not show.
type splitCluster struct {
	*redis.ClusterClient                      // commands
	sub                  *redis.ClusterClient // the subscriptions
}

func (c splitCluster) SSubscribe(ctx context.Context, channels ...string) *redis.PubSub {
	return c.sub.SSubscribe(ctx, channels...)
}

func (c splitCluster) Subscribe(ctx context.Context, channels ...string) *redis.PubSub {
	return c.sub.Subscribe(ctx, channels...)
}

// proxies are the fault proxies of one kind (commands, or subscriptions) of
// one node: one per Redis server. A fault acts on all of them.
type proxies = faultproxy.Group

// counter is a go-redis hook counting dials and commands attempted; a nil
// field counts nothing.
type counter struct{ dials, cmds *atomic.Int64 }

func (h counter) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if h.dials != nil {
			h.dials.Add(1)
		}
		return next(ctx, network, addr)
	}
}

func (h counter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if h.cmds != nil {
			h.cmds.Add(1)
		}
		return next(ctx, cmd)
	}
}

func (h counter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if h.cmds != nil {
			h.cmds.Add(int64(len(cmds)))
		}
		return next(ctx, cmds)
	}
}

// readOnly makes writers avoid victims, so that nothing but their bus keeps
// their L1 honest (a node's own invalidation also stops its L1 until its bus
// has caught up with it).
func (h *harness) readOnly(victims ...*node) {
	h.writeNodes = nil
	for _, n := range h.nodes {
		if !slices.Contains(victims, n) {
			h.writeNodes = append(h.writeNodes, n)
		}
	}
}

// node is one in-process node with its own connections through its own
// proxies.
type node struct {
	i        int
	id       string
	cache    *tiered.Cache
	cmd      proxies      // command connections, one proxy per Redis server
	sub      proxies      // the bus's subscription, the same
	dials    atomic.Int64 // connection attempts of the commands client
	cmds     atomic.Int64 // commands attempted by the commands client
	subDials atomic.Int64 // the same for the bus's client
	subCmds  atomic.Int64

	paused atomic.Pointer[chan struct{}] // while paused: closed on resume
	base   tiered.Stats                  // figures when the workload started
}

// hold blocks while the node is paused: its goroutines do not run.
func (n *node) hold() {
	if p := n.paused.Load(); p != nil {
		<-*p
	}
}

func (n *node) pause() {
	ch := make(chan struct{})
	n.paused.Store(&ch)
}

func (n *node) resume() {
	if p := n.paused.Swap(nil); p != nil {
		close(*p)
	}
}

// harness is one scenario: a private Redis (standalone or Cluster), the
// nodes, the simulated database, the workload and its history.
type harness struct {
	t     *testing.T
	name  string
	seed  uint64
	topo  string
	srv   *redistest.Server        // standalone
	rc    *redistest.Cluster       // cluster
	sg    *redistest.SentinelGroup // sentinel: nodes reach it with failover clients, without proxies
	admin redis.UniversalClient    // straight to Redis, for FLUSHALL and the sequence
	nodes []*node
	db    *simDB

	readers, writers int
	writePause       time.Duration
	writeNodes       []*node // the nodes writers invalidate through; default all

	ops       atomic.Int64
	errs      atomic.Int64
	lastErr   atomic.Pointer[string]
	writeIDs  atomic.Int64
	sent      sync.Map // write id -> time its Invalidate was called (int64 nanoseconds)
	writeMu   sync.Mutex
	writes    []Write
	readsMu   sync.Mutex
	reads     []Read
	propMu    sync.Mutex
	prop      []time.Duration
	writeFail atomic.Int64 // Invalidate attempts that failed and were retried

	recoverMu  sync.Mutex
	recoveries []time.Duration // from the end of each fault until every node served L1 again
}

type option func(*harness, *tiered.Config)

// redisSetup is the Redis a scenario runs on.
type redisSetup struct {
	topo     string   // standalone or cluster
	args     []string // extra redis-server arguments of every server (persistence, memory)
	replicas int      // replicas per master (cluster)
}

// newHarness starts Redis of topology topo and the nodes. Everything is
// stopped when the test ends, and the test then fails if a goroutine is
// left.
func newHarness(t *testing.T, topo string, opts ...option) *harness {
	t.Helper()
	return newHarnessOn(t, redisSetup{topo: topo}, opts...)
}

// newHarnessOn is newHarness on the Redis of rs: a standalone server, or a
// cluster of 3 masters with rs.replicas replicas each, every server started
// with rs.args.
func newHarnessOn(t *testing.T, rs redisSetup, opts ...option) *harness {
	t.Helper()
	t.Cleanup(func() { goleak.VerifyNone(t) }) // runs last
	seed := *seedFlag
	if seed == 0 {
		seed = rand.Uint64()
	}
	h := &harness{t: t, name: t.Name(), seed: seed, topo: rs.topo, readers: 8, writers: 2, writePause: time.Millisecond}
	switch rs.topo {
	case standalone:
		h.srv = redistest.Start(t, rs.args...)
		h.admin = h.srv.Client(t)
	case cluster:
		h.rc = redistest.StartClusterReplicas(t, 3, rs.replicas, rs.args...)
		h.admin = h.rc.Client(t)
	case sentinel:
		h.sg = startSentinel(t)
		h.admin = h.sg.Client(t)
	default:
		t.Fatalf("unknown topology %q", rs.topo)
	}
	var initial []Write
	h.db, initial = newDB(numRows, numCats)
	h.writes = initial
	for i := 0; i < *nodesFlag; i++ {
		h.nodes = append(h.nodes, h.startNode(i, opts))
	}
	for _, n := range h.nodes {
		h.waitFor(5*time.Second, "node "+n.id+" trusts L1", func() bool { return n.cache.Stats().Bus.Trusted })
	}
	return h
}

// proxies starts a fault proxy to every Redis server, closed when the test
// ends (none under Sentinel, whose scenarios fault the group itself).
func (h *harness) proxies() proxies {
	var ps proxies
	if h.sg != nil {
		return nil
	}
	for _, s := range h.servers() {
		p, err := faultproxy.New(s.Addr())
		if err != nil {
			h.t.Fatal(err)
		}
		h.t.Cleanup(func() { _ = p.Close() })
		ps = append(ps, p)
	}
	return ps
}

// servers are every Redis server: the standalone one, or every node of the
// cluster (masters and replicas: a replica may be promoted).
func (h *harness) servers() []*redistest.Server {
	if h.rc != nil {
		return h.rc.Nodes()
	}
	return []*redistest.Server{h.srv}
}

// client returns a client of Redis whose every connection goes through ps
// (on Cluster, its dialer maps each server's address, as the cluster
// announces it, to the proxy of that server), counting with hook; it is
// closed when the test ends. On Cluster the commands are counted as the
// cache gives them to the cluster client (which may try a command on
// several servers, several times), and the dials of every server's client.
func (h *harness) client(ps proxies, hook counter) redis.UniversalClient {
	if h.sg != nil {
		c := redis.NewFailoverClient(h.sg.FailoverOptions())
		c.AddHook(hook)
		h.t.Cleanup(func() { _ = c.Close() })
		return c
	}
	if h.rc == nil {
		o := h.srv.Options()
		o.Addr = ps[0].Addr()
		c := redis.NewClient(o)
		c.AddHook(hook)
		h.t.Cleanup(func() { _ = c.Close() })
		return c
	}
	via := map[string]string{}
	for i, s := range h.servers() {
		via[s.Addr()] = ps[i].Addr()
	}
	o := h.rc.Options()
	o.Dialer = func(ctx context.Context, network, addr string) (net.Conn, error) {
		p, ok := via[addr]
		if !ok {
			return nil, fmt.Errorf("no proxy to %s", addr)
		}
		var d net.Dialer
		return d.DialContext(ctx, network, p)
	}
	o.NewClient = func(opt *redis.Options) *redis.Client { // one per server
		c := redis.NewClient(opt)
		c.AddHook(counter{dials: hook.dials})
		return c
	}
	c := redis.NewClusterClient(o)
	c.AddHook(counter{cmds: hook.cmds})
	h.t.Cleanup(func() { _ = c.Close() })
	return c
}

func (h *harness) startNode(i int, opts []option) *node {
	t := h.t
	n := &node{i: i, id: "n" + strconv.Itoa(i)}
	n.cmd, n.sub = h.proxies(), h.proxies()
	cmd := h.client(n.cmd, counter{dials: &n.dials, cmds: &n.cmds})
	sub := h.client(n.sub, counter{dials: &n.subDials, cmds: &n.subCmds})
	var rdb redis.UniversalClient
	if h.rc == nil {
		rdb = splitClient{Client: cmd.(*redis.Client), sub: sub.(*redis.Client)}
	} else {
		rdb = splitCluster{ClusterClient: cmd.(*redis.ClusterClient), sub: sub.(*redis.ClusterClient)}
	}
	var err error
	cfg := tiered.Config{
		Redis:            rdb,
		Namespace:        namespace,
		NodeID:           n.id,
		DefaultTTL:       time.Minute,
		NegativeTTL:      time.Minute,
		Jitter:           -1,
		TrustWindow:      trustWindow,
		Heartbeat:        heartbeat,
		RedisTimeout:     redisTimeout,
		BreakerCooldown:  cooldown,
		LoadTimeout:      5 * time.Second,
		StartTimeout:     5 * time.Second,
		TombstoneHorizon: time.Minute,
	}
	t.Cleanup(seam.Attach(rdb, &seam.Hooks{
		Apply:   func(m bus.Message) { h.applied(n, m) },
		Cluster: h.rc != nil,
	}))
	for _, o := range opts {
		o(h, &cfg)
	}
	if n.cache, err = tiered.New(cfg); err != nil {
		t.Fatal(err)
	}
	// Cleanups run in reverse: the cache closes before its clients and
	// proxies; a paused node is resumed first so that its bus can stop.
	t.Cleanup(func() { _ = n.cache.Close() })
	t.Cleanup(n.resume)
	return n
}

// applied runs on node n's bus goroutine before each invalidation reaches
// its L1: it measures propagation from the Invalidate call on another
// node, and holds the bus while n is paused.
func (h *harness) applied(n *node, m bus.Message) {
	n.hold()
	if m.Origin == n.id {
		return
	}
	now := time.Now()
	for _, d := range m.Deps {
		id, ok := strings.CutPrefix(d.String(), "tag:w")
		if !ok {
			continue
		}
		if at, ok := h.sent.Load(id); ok {
			h.propMu.Lock()
			h.prop = append(h.prop, now.Sub(time.Unix(0, at.(int64))))
			h.propMu.Unlock()
		}
	}
}

func (h *harness) waitFor(d time.Duration, what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out after %v waiting for: %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitOps blocks until the workload has run n operations, or ctx ends.
func (h *harness) waitOps(ctx context.Context, n int) {
	for h.ops.Load() < int64(n) && ctx.Err() == nil {
		time.Sleep(2 * time.Millisecond)
	}
}

// loaders

func (h *harness) loadRow(id int) matroska.LoadFunc[Row] {
	return func(ctx context.Context, rec *matroska.Recorder) (Row, error) {
		rec.Depend(deps.Id("row", id))
		r, ok := h.db.row(id)
		dawdle()
		if !ok {
			return Row{}, matroska.ErrNotFound
		}
		return r, nil
	}
}

func (h *harness) loadList(c int) matroska.LoadFunc[List] {
	return func(ctx context.Context, rec *matroska.Recorder) (List, error) {
		rec.Depend(catCondition(c), deps.All("row"))
		l := h.db.list(c)
		for _, r := range l.Rows {
			rec.Depend(deps.Id("row", r.ID))
		}
		dawdle()
		return l, nil
	}
}

func (h *harness) loadPage(n *node, c int) matroska.LoadFunc[Page] {
	return func(ctx context.Context, rec *matroska.Recorder) (Page, error) {
		l, err := matroska.GetOrLoad(ctx, n.cache, listKey(c), h.loadList(c))
		if err != nil {
			return Page{}, err
		}
		return Page{Cat: c, Version: l.Version, Count: len(l.Rows)}, nil
	}
}

// dawdle sometimes lets a loader take a little while after reading the
// database, so that invalidations overtake loads (G1).
func dawdle() {
	if rand.IntN(4) == 0 {
		time.Sleep(time.Duration(rand.IntN(1000)) * time.Microsecond)
	}
}

// read is one GetOrLoad of key on n, recorded in the history unless it
// failed.
func (h *harness) read(n *node, key string) (Read, error) {
	kind, num, _ := strings.Cut(key, ":")
	x, _ := strconv.Atoi(num)
	ctx := context.Background()
	r := Read{Key: key, Node: n.i, Start: time.Now()}
	var err error
	switch kind {
	case "row":
		var v Row
		v, err = matroska.GetOrLoad(ctx, n.cache, key, h.loadRow(x))
		r.Version = v.Version
		if errors.Is(err, matroska.ErrNotFound) {
			r.NotFound, err = true, nil
		}
	case "cat":
		var v List
		v, err = matroska.GetOrLoad(ctx, n.cache, key, h.loadList(x))
		r.Version = v.Version
	case "page":
		var v Page
		v, err = matroska.GetOrLoad(ctx, n.cache, key, h.loadPage(n, x))
		r.Version = v.Version
	}
	r.End = time.Now()
	if err != nil {
		h.errs.Add(1)
		msg := fmt.Sprintf("GetOrLoad(%s) on %s: %v", key, n.id, err)
		h.lastErr.Store(&msg)
		return r, err
	}
	return r, nil
}

func randomKey(rng *rand.Rand) string {
	switch x := rng.IntN(20); {
	case x < 12:
		return rowKey(rng.IntN(numRows))
	case x < 17:
		return listKey(rng.IntN(numCats))
	default:
		return pageKey(rng.IntN(numCats))
	}
}

// write commits a change of row id and invalidates it through node n,
// retrying until Invalidate succeeds (the contract of a write: after the
// commit, the invalidation must happen).
func (h *harness) write(rng *rand.Rand, n *node, id int) {
	ch := h.db.commit(rng, id, n.i)
	wid := strconv.FormatInt(h.writeIDs.Add(1), 10)
	ds := append(ch.deps, deps.Tag("w"+wid)) // tells the apply hook which call this was
	deadline := time.Now().Add(30 * time.Second)
	for {
		n.hold()
		h.sent.Store(wid, time.Now().UnixNano())
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := n.cache.Invalidate(ctx, ds...)
		cancel()
		if err == nil {
			break
		}
		h.writeFail.Add(1)
		if time.Now().After(deadline) {
			h.t.Errorf("Invalidate on %s failed for 30s: %v", n.id, err)
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	now := time.Now()
	for i := range ch.writes {
		ch.writes[i].Invalidated = now
	}
	h.writeMu.Lock()
	h.writes = append(h.writes, ch.writes...)
	h.writeMu.Unlock()
}

// run runs the workload until it has made total operations and fault (if
// any) has returned. Readers call GetOrLoad on random nodes; writers commit
// and invalidate through random nodes.
func (h *harness) run(total int, fault func(ctx context.Context)) {
	for _, n := range h.nodes {
		n.base = n.cache.Stats()
	}
	if h.writeNodes == nil {
		h.writeNodes = h.nodes
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	faultDone := make(chan struct{})
	go func() {
		defer close(faultDone)
		if fault != nil {
			fault(ctx)
		}
	}()
	more := func() bool {
		if h.ops.Load() < int64(total) {
			return true
		}
		select {
		case <-faultDone:
			return false
		default:
			return true
		}
	}
	var wg sync.WaitGroup
	for g := 0; g < h.readers; g++ {
		rng := newRand(h.seed, uint64(g))
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []Read
			for more() {
				n := h.nodes[rng.IntN(len(h.nodes))]
				n.hold()
				if r, err := h.read(n, randomKey(rng)); err == nil {
					mine = append(mine, r)
				}
				h.ops.Add(1)
			}
			h.readsMu.Lock()
			h.reads = append(h.reads, mine...)
			h.readsMu.Unlock()
		}()
	}
	for g := 0; g < h.writers; g++ {
		rng := newRand(h.seed, uint64(1000+g))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for more() {
				h.write(rng, h.writeNodes[rng.IntN(len(h.writeNodes))], rng.IntN(numRows))
				h.ops.Add(1)
				time.Sleep(h.writePause)
			}
		}()
	}
	wg.Wait()
	<-faultDone
}

// figures are what a scenario prints.
type figures struct {
	ops, reads, writes, stale, lost, errs int
	refusedPuts, flushes, replays, loads  uint64
	refusedWrites, epochs                 uint64
	p50, p99, pmax                        time.Duration
	samples                               int
	recovery                              time.Duration // the longest of the recoveries
}

// finish waits for the nodes to settle, reads every key on every node
// (lost updates: each must return the final version), checks the history,
// prints the figures and fails the test on any stale read, lost update or
// error.
func (h *harness) finish() figures {
	t := h.t
	t.Helper()
	h.settle()
	final := h.db.final()
	keys := make([]string, 0, len(final))
	for k := range final {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var f figures
	var lost []string
	for _, n := range h.nodes {
		for _, k := range keys {
			r, err := h.read(n, k)
			if err != nil {
				continue
			}
			h.reads = append(h.reads, r)
			want := final[k]
			if r.NotFound != want.Deleted || (!r.NotFound && r.Version != want.Version) {
				lost = append(lost, fmt.Sprintf("node %d: %s = v%d (not found: %v), database has v%d (deleted: %v)",
					n.i, k, r.Version, r.NotFound, want.Version, want.Deleted))
			}
		}
	}
	bad := Check(h.writes, h.reads, bound)
	f.ops, f.reads, f.stale, f.lost, f.errs = int(h.ops.Load()), len(h.reads), len(bad), len(lost), int(h.errs.Load())
	for _, w := range h.writes {
		if !w.Invalidated.IsZero() && strings.HasPrefix(w.Key, "row:") {
			f.writes++
		}
	}
	for _, n := range h.nodes {
		s := n.cache.Stats()
		f.refusedPuts += s.RefusedPuts - n.base.RefusedPuts
		f.flushes += s.Flushes - n.base.Flushes
		f.replays += s.Replays - n.base.Replays
		f.loads += s.Loads - n.base.Loads
		f.refusedWrites += s.RefusedWrites - n.base.RefusedWrites
		f.epochs = max(f.epochs, s.Bus.Epochs-n.base.Bus.Epochs)
	}
	h.recoverMu.Lock()
	for _, d := range h.recoveries {
		f.recovery = max(f.recovery, d)
	}
	h.recoverMu.Unlock()
	h.propMu.Lock()
	prop := slices.Clone(h.prop)
	h.propMu.Unlock()
	slices.Sort(prop)
	if f.samples = len(prop); f.samples > 0 {
		f.p50, f.p99, f.pmax = prop[len(prop)/2], prop[len(prop)*99/100], prop[len(prop)-1]
	}
	fmt.Printf("chaos %-38s ops=%d reads=%d writes=%d stale=%d unconverged=%d errors=%d refused_puts=%d refused_writes=%d l1_flushes=%d epoch_changes=%d log_replays=%d l1_back_after=%v propagation_p50=%v p99=%v max=%v (n=%d) loader_calls=%d seed=%d\n",
		strings.TrimPrefix(h.name, "Test"), f.ops, f.reads, f.writes, f.stale, f.lost, f.errs,
		f.refusedPuts, f.refusedWrites, f.flushes, f.epochs, f.replays, round(f.recovery),
		round(f.p50), round(f.p99), round(f.pmax), f.samples, f.loads, h.seed)
	for i, v := range bad {
		if i == 10 {
			t.Errorf("... and %d more stale reads", len(bad)-10)
			break
		}
		t.Error(v)
		if i < 3 {
			t.Logf("the history of %q around it (seed %d):\n  %s", v.Read.Key, h.seed, strings.Join(Around(h.writes, h.reads, v, 20*time.Millisecond), "\n  "))
		}
	}
	for i, l := range lost {
		if i == 10 {
			t.Errorf("... and %d more lost updates", len(lost)-10)
			break
		}
		t.Error("lost update: " + l)
	}
	if f.errs > 0 {
		t.Errorf("%d GetOrLoad calls failed; last: %s", f.errs, *h.lastErr.Load())
	}
	return f
}

// settle waits until every node is trusted and has applied every
// invalidation Redis has numbered (standalone) or published (the published
// watermark of the cluster protocol).
func (h *harness) settle() {
	seqKey, epochKey := namespace+":seq", namespace+":epoch"
	if h.rc != nil {
		seqKey, epochKey = "{"+namespace+"}:pub", "{"+namespace+"}:epoch"
	}
	h.waitFor(20*time.Second, "every node catches up", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		seq, err := h.admin.Get(ctx, seqKey).Uint64()
		if err != nil && !errors.Is(err, redis.Nil) {
			return false
		}
		epoch, _ := h.admin.Get(ctx, epochKey).Result()
		for _, n := range h.nodes {
			b := n.cache.Stats().Bus
			if !b.Trusted || b.Seq < seq || b.Epoch != epoch {
				return false
			}
		}
		return true
	})
}

func round(d time.Duration) time.Duration {
	switch {
	case d > 100*time.Millisecond:
		return d.Round(time.Millisecond)
	case d > time.Millisecond:
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}

// awaitTrusted waits until every node trusts L1 again, or ctx ends, and
// records how long that took since from, when the fault began (a zero
// from records nothing).
func (h *harness) awaitTrusted(ctx context.Context, from time.Time) {
	for _, n := range h.nodes {
		for !n.cache.Stats().Bus.Trusted && ctx.Err() == nil {
			time.Sleep(time.Millisecond)
		}
	}
	if ctx.Err() == nil && !from.IsZero() {
		h.recoverMu.Lock()
		h.recoveries = append(h.recoveries, time.Since(from))
		h.recoverMu.Unlock()
	}
}

// eachMaster runs f on every master (the standalone server is the one),
// concurrently on Cluster, and returns the first error.
func (h *harness) eachMaster(ctx context.Context, f func(ctx context.Context, c *redis.Client) error) error {
	switch c := h.admin.(type) {
	case *redis.ClusterClient:
		return c.ForEachMaster(ctx, f)
	case *redis.Client:
		return f(ctx, c)
	}
	return fmt.Errorf("admin client of type %T", h.admin)
}

// masters are the servers that serve the slots: the standalone server, or
// the masters the cluster was formed with.
func (h *harness) masters() []*redistest.Server {
	if h.rc != nil {
		return h.rc.Servers
	}
	return []*redistest.Server{h.srv}
}

// killRedis kills every master (SIGKILL), as a crash would: on Cluster the
// whole cluster is down. restartRedis starts them again, in the same
// directories, where they find what they persisted and, on Cluster, their
// nodes.conf, so they rejoin the cluster (which serves again a couple of
// seconds later: a master that restarts waits for the others first).
func (h *harness) killRedis() {
	for _, s := range h.masters() {
		s.Kill()
	}
}

func (h *harness) restartRedis() {
	for _, s := range h.masters() {
		s.Restart(h.t)
	}
}

// crashRedis kills every master, keeps them down for down, starts them
// again and waits until every node trusts L1, recording the time from the
// kill.
func (h *harness) crashRedis(ctx context.Context, down time.Duration) {
	from := time.Now()
	h.killRedis()
	sleep(ctx, down)
	h.restartRedis()
	h.awaitTrusted(ctx, from)
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

func newRand(seed, stream uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, stream)) }
