package redistest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// node returns the node with the given address, or nil.
func (c *Cluster) node(addr string) *Server {
	for _, s := range c.Nodes() {
		if s.Addr() == addr {
			return s
		}
	}
	return nil
}

// running returns a running node, or nil.
func (c *Cluster) running() *Server {
	for _, s := range c.Nodes() {
		if s.Running() {
			return s
		}
	}
	return nil
}

// MasterFor returns the master that serves key now, as a running node sees
// the cluster (CLUSTER KEYSLOT, CLUSTER SLOTS).
func (c *Cluster) MasterFor(tb testing.TB, key string) *Server {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s := c.running()
	if s == nil {
		tb.Fatal("redistest: MasterFor: no node running")
	}
	cl := redis.NewClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1})
	defer cl.Close()
	slot, err := cl.ClusterKeySlot(ctx, key).Result()
	if err != nil {
		tb.Fatalf("redistest: CLUSTER KEYSLOT %s on %s: %v", key, s.Addr(), err)
	}
	slots, err := cl.ClusterSlots(ctx).Result()
	if err != nil {
		tb.Fatalf("redistest: CLUSTER SLOTS on %s: %v", s.Addr(), err)
	}
	for _, r := range slots {
		if int64(r.Start) <= slot && slot <= int64(r.End) && len(r.Nodes) > 0 {
			if m := c.node(r.Nodes[0].Addr); m != nil {
				return m
			}
			tb.Fatalf("redistest: slot %d is served by %s, not one of ours", slot, r.Nodes[0].Addr)
		}
	}
	tb.Fatalf("redistest: %s sees no master for slot %d", s.Addr(), slot)
	return nil
}

// ReplicasOf returns the running nodes that replicate from m now, by their
// own account (INFO replication).
func (c *Cluster) ReplicasOf(tb testing.TB, m *Server) []*Server {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var out []*Server
	for _, s := range c.Nodes() {
		if s == m || !s.Running() {
			continue
		}
		r, err := s.replication(ctx)
		if err != nil {
			tb.Fatalf("redistest: INFO replication on %s: %v", s.Addr(), err)
		}
		if r["role"] == "slave" && r["master_host"]+":"+r["master_port"] == m.Addr() {
			out = append(out, s)
		}
	}
	return out
}

// Lag makes replica r stop applying its master's replication stream, as if
// its link were frozen, and returns a func that lets it apply what it
// missed. r still reads the stream and its link stays up, so r looks
// healthy to its master and to the cluster; it misses every write to the
// master from now on. A replica promoted while lagging (see
// [Cluster.Takeover]) drops the writes it had not applied: that is how a
// test makes a failover lose acknowledged writes. Make r catch up first
// (WAIT on the master) to know exactly what it missed.
//
// The lag is CLIENT PAUSE WRITE on r, which holds the commands its master
// sends (the replication link is a client of r) and lets r answer reads and
// cluster commands. A proxy on the link is not possible here: a cluster
// replica dials the address its master announces on the cluster bus, the
// one clients are redirected to, and REPLICAOF is refused in cluster mode.
//
// Lag fails the test unless r is a replica with its link up.
func (c *Cluster) Lag(tb testing.TB, r *Server) (resume func()) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rep, err := r.replication(ctx)
	if err != nil || rep["role"] != "slave" || rep["master_link_status"] != "up" {
		tb.Fatalf("redistest: Lag: %s is not a replica in sync (role %q, link %q, err %v)",
			r.Addr(), rep["role"], rep["master_link_status"], err)
	}
	// The pause must outlast any test; Takeover, WaitPromoted and resume end it.
	if err := r.do(ctx, "CLIENT", "PAUSE", time.Hour.Milliseconds(), "WRITE"); err != nil {
		tb.Fatalf("redistest: Lag: CLIENT PAUSE on %s: %v", r.Addr(), err)
	}
	return func() { _ = r.unpause() }
}

// Takeover makes replica r take its master's place at once, without the
// agreement of the other masters (CLUSTER FAILOVER TAKEOVER), as an operator
// would when the master's side of the cluster is lost, and waits as
// [Cluster.WaitPromoted] does. If r was lagging (see [Cluster.Lag]) it is
// resumed once promoted, and the writes it missed are gone. The old master,
// if running, learns it lost its slots and becomes a replica of r (see
// [Server.WaitReplicaOf]).
func (c *Cluster) Takeover(tb testing.TB, r *Server) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := r.do(ctx, "CLUSTER", "FAILOVER", "TAKEOVER"); err != nil {
		tb.Fatalf("redistest: CLUSTER FAILOVER TAKEOVER on %s: %v", r.Addr(), err)
	}
	if err := c.waitPromoted(ctx, r); err != nil {
		tb.Fatalf("redistest: takeover by %s: %v", r.Addr(), err)
	}
}

// WaitPromoted waits until r is a master (after the test killed or paused
// its master, say, and the cluster failed over by itself) and every running
// node agrees: each reports cluster_state:ok and sees r serve the slots r
// claims. Then a new cluster client, or one redirected (MOVED), reaches r
// for those slots. If r was lagging (see [Cluster.Lag]) it is resumed once
// promoted. It fails the test after 30 s.
func (c *Cluster) WaitPromoted(tb testing.TB, r *Server) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := c.waitPromoted(ctx, r); err != nil {
		tb.Fatalf("redistest: %s promoted: %v", r.Addr(), err)
	}
}

func (c *Cluster) waitPromoted(ctx context.Context, r *Server) error {
	if err := r.waitMasterRole(ctx); err != nil {
		return err
	}
	// A master paused for writes would hold the clients' writes.
	if err := r.unpause(); err != nil {
		return fmt.Errorf("CLIENT UNPAUSE on %s: %w", r.Addr(), err)
	}
	if err := poll(ctx, func() error { return c.agree(ctx, r) }); err != nil {
		return fmt.Errorf("nodes do not agree: %w", err)
	}
	return nil
}

// agree reports whether r serves slots and every running node says so,
// with the cluster ok.
func (c *Cluster) agree(ctx context.Context, r *Server) error {
	want, err := slotsOf(ctx, r, r.Addr())
	if err != nil {
		return err
	}
	if len(want) == 0 {
		return fmt.Errorf("%s serves no slot yet", r.Addr())
	}
	for _, s := range c.Nodes() {
		if !s.Running() {
			continue
		}
		got, err := slotsOf(ctx, s, r.Addr())
		if err != nil {
			return err
		}
		if !slices.Equal(got, want) {
			return fmt.Errorf("%s sees %s serve %v, %s says %v", s.Addr(), r.Addr(), got, r.Addr(), want)
		}
	}
	return nil
}

// slotsOf returns the slot ranges s sees master addr serve, if s reports
// the cluster ok.
func slotsOf(ctx context.Context, s *Server, addr string) ([][2]int, error) {
	cl := redis.NewClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1})
	defer cl.Close()
	info, err := cl.ClusterInfo(ctx).Result()
	if err != nil {
		return nil, fmt.Errorf("CLUSTER INFO on %s: %w", s.Addr(), err)
	}
	if !strings.Contains(info, "cluster_state:ok") {
		return nil, fmt.Errorf("%s: cluster not ok", s.Addr())
	}
	slots, err := cl.ClusterSlots(ctx).Result()
	if err != nil {
		return nil, fmt.Errorf("CLUSTER SLOTS on %s: %w", s.Addr(), err)
	}
	var out [][2]int
	for _, r := range slots {
		if len(r.Nodes) > 0 && r.Nodes[0].Addr == addr {
			out = append(out, [2]int{r.Start, r.End})
		}
	}
	slices.SortFunc(out, func(a, b [2]int) int { return a[0] - b[0] })
	return out, nil
}

// do runs one command on the server.
func (s *Server) do(ctx context.Context, args ...any) error {
	cl := redis.NewClient(&redis.Options{Addr: s.Addr(), Password: s.password(), MaxRetries: -1})
	defer cl.Close()
	return cl.Do(ctx, args...).Err()
}

// unpause ends a CLIENT PAUSE on the server; on a server not running there
// is nothing to end.
func (s *Server) unpause() error {
	if !s.Running() {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.do(ctx, "CLIENT", "UNPAUSE")
}
