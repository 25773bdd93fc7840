package redistest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// waitReady polls until the group is settled: every running sentinel
// names the master with no failover in progress, counts the running
// sentinels as usable (SENTINEL CKQUORUM), and sees every running replica
// up, reporting the replica role, with its link up.
func (g *SentinelGroup) waitReady(ctx context.Context) error {
	if err := poll(ctx, func() error { return g.ready(ctx) }); err != nil {
		return fmt.Errorf("sentinels not settled: %w", err)
	}
	return nil
}

func (g *SentinelGroup) ready(ctx context.Context) error {
	m := g.Master()
	var running []*Server
	for _, s := range g.sentinels {
		if s.Running() {
			running = append(running, s)
		}
	}
	for _, s := range running {
		sc := redis.NewSentinelClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1})
		err := func() error {
			mi, err := sc.Master(ctx, g.name).Result()
			if err != nil {
				return err
			}
			if a := mi["ip"] + ":" + mi["port"]; a != m.Addr() || mi["flags"] != "master" {
				return fmt.Errorf("master %s flags %s", a, mi["flags"])
			}
			q, err := sc.CkQuorum(ctx, g.name).Result()
			if err != nil {
				return err
			}
			var usable int
			if _, err := fmt.Sscanf(q, "OK %d usable", &usable); err != nil || usable < len(running) {
				return fmt.Errorf("CKQUORUM: %s", q)
			}
			seen, err := sc.Replicas(ctx, g.name).Result()
			if err != nil {
				return err
			}
			ok := make(map[string]bool)
			for _, r := range seen {
				ok[r["name"]] = r["flags"] == "slave" && r["role-reported"] == "slave" && r["master-link-status"] == "ok"
			}
			for _, r := range g.nodes {
				if r != m && r.Running() && !ok[r.Addr()] {
					return fmt.Errorf("replica %s not seen up (replicas: %v)", r.Addr(), seen)
				}
			}
			return nil
		}()
		_ = sc.Close()
		if err != nil {
			return fmt.Errorf("sentinel %s: %w", s.Addr(), err)
		}
	}
	return nil
}

// Failover waits until the group is settled (every running sentinel sees
// the master and every running replica as such), then asks a running
// sentinel to fail the master over now (SENTINEL FAILOVER), as an operator
// would: no election, no need for the master to be down. It waits as
// [SentinelGroup.WaitFailover] does and returns the new master. The old
// master, if running, stays a master holding the
// writes made to it, until the sentinels turn it into a replica of the new
// one (about 2 s later; see [Server.WaitReplicaOf]).
func (g *SentinelGroup) Failover(tb testing.TB) *Server {
	tb.Helper()
	old := g.Master()
	ctx, cancel := context.WithTimeout(context.Background(), g.failoverWait())
	defer cancel()
	// A sentinel that has not yet seen the chosen replica as a replica (one
	// just demoted, say) would take its promotion for a stray master and
	// demote it again: start from a settled group.
	if err := g.waitReady(ctx); err != nil {
		tb.Fatalf("redistest: failover: %v%s", err, g.logs())
	}
	s := g.runningSentinel()
	if s == nil {
		tb.Fatal("redistest: no sentinel running")
	}
	sc := redis.NewSentinelClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1})
	defer sc.Close()
	for {
		// NOGOODSLAVE while the sentinel has no fresh news of a replica,
		// INPROG while a failover is still being completed.
		err := sc.Failover(ctx, g.name).Err()
		if err == nil {
			break
		}
		if !strings.Contains(err.Error(), "NOGOODSLAVE") && !strings.Contains(err.Error(), "INPROG") || ctx.Err() != nil {
			tb.Fatalf("redistest: SENTINEL FAILOVER %s on %s: %v%s", g.name, s.Addr(), err, g.logs())
		}
		time.Sleep(100 * time.Millisecond)
	}
	m, err := g.waitNewMaster(ctx, old)
	if err != nil {
		tb.Fatalf("redistest: failover: %v%s", err, g.logs())
	}
	return m
}

// WaitFailover waits until the sentinels have failed the master over (after
// the test killed or paused it, say): every running sentinel names the same
// other server as master, with no failover in progress, and that server
// answers as a master. It returns the new master, which becomes
// [SentinelGroup.Master]. It fails the test after 2 × FailoverTimeout +
// 10 × DownAfter + 20 s (50 s by default), time for a failed election to
// be retried.
func (g *SentinelGroup) WaitFailover(tb testing.TB) *Server {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), g.failoverWait())
	defer cancel()
	m, err := g.waitNewMaster(ctx, g.Master())
	if err != nil {
		tb.Fatalf("redistest: failover: %v%s", err, g.logs())
	}
	return m
}

// failoverWait bounds a failover: detection, an election, and time for one
// retry of a failed election.
func (g *SentinelGroup) failoverWait() time.Duration {
	return 2*g.failoverTimeout + 10*g.downAfter + 20*time.Second
}

// waitNewMaster polls until the running sentinels agree on a master other
// than old, and it answers as one; then it records it.
func (g *SentinelGroup) waitNewMaster(ctx context.Context, old *Server) (*Server, error) {
	var m *Server
	err := poll(ctx, func() error {
		var err error
		m, err = g.agreedMaster(ctx)
		switch {
		case err != nil:
			return err
		case m == old:
			return fmt.Errorf("the sentinels still name %s", old.Addr())
		}
		r, err := m.replication(ctx)
		if err != nil || r["role"] != "master" {
			return fmt.Errorf("%s named master but answers role %q (err %v)", m.Addr(), r["role"], err)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("no new master: %w", err)
	}
	g.mu.Lock()
	g.master = m
	g.mu.Unlock()
	return m, nil
}

// agreedMaster returns the data server every running sentinel names as
// master, if they agree and none has a failover in progress.
func (g *SentinelGroup) agreedMaster(ctx context.Context) (*Server, error) {
	var addr string
	for _, s := range g.sentinels {
		if !s.Running() {
			continue
		}
		sc := redis.NewSentinelClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1})
		m, err := sc.Master(ctx, g.name).Result()
		_ = sc.Close()
		if err != nil {
			return nil, fmt.Errorf("sentinel %s: %w", s.Addr(), err)
		}
		if m["flags"] != "master" {
			return nil, fmt.Errorf("sentinel %s: master %s:%s flags %s", s.Addr(), m["ip"], m["port"], m["flags"])
		}
		a := m["ip"] + ":" + m["port"]
		if addr != "" && a != addr {
			return nil, fmt.Errorf("sentinels disagree: %s, %s", addr, a)
		}
		addr = a
	}
	if addr == "" {
		return nil, errors.New("no sentinel running")
	}
	for _, n := range g.nodes {
		if n.Addr() == addr {
			return n, nil
		}
	}
	return nil, fmt.Errorf("sentinels name %s, not one of ours", addr)
}

func (g *SentinelGroup) runningSentinel() *Server {
	for _, s := range g.sentinels {
		if s.Running() {
			return s
		}
	}
	return nil
}
