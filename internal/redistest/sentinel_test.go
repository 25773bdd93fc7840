package redistest

import (
	"context"
	"testing"
	"time"
)

// waitSynced waits until n replicas acknowledged every write to c's server.
func waitSynced(t *testing.T, srv *Server, n int) {
	t.Helper()
	got, err := srv.Client(t).Wait(context.Background(), n, 5*time.Second).Result()
	if err != nil || got < int64(n) {
		t.Fatalf("WAIT %d: %d replicas acknowledged, err %v", n, got, err)
	}
}

// A replica that lags behind its master and is then promoted loses the
// writes it missed: the failover client reads the older value from the
// new master, and the old master, demoted, drops its newer one.
func TestSentinelLaggingFailover(t *testing.T) {
	g := StartSentinel(t, SentinelOptions{})
	m, r := g.Master(), g.Replicas()[0]
	mc := m.Client(t)
	set(t, mc, "k", "1")
	waitSynced(t, m, 1)

	thaw := g.Lag(t, r)
	defer thaw()
	set(t, mc, "k", "2")
	if v := get(t, r.Client(t), "k"); v != "1" {
		t.Fatalf("lagging replica has k = %s, want 1", v)
	}

	start := time.Now()
	if nm := g.Failover(t); nm != r {
		t.Fatalf("new master %s, want the replica %s", nm.Addr(), r.Addr())
	}
	t.Logf("failover took %v", time.Since(start))
	if g.Master() != r || len(g.Replicas()) != 1 || g.Replicas()[0] != m {
		t.Fatalf("Master %s Replicas %v after failover", g.Master().Addr(), g.Replicas())
	}
	if v := get(t, g.Client(t), "k"); v != "1" {
		t.Fatalf("failover client reads k = %s, want 1 (the write the replica missed is lost)", v)
	}

	start = time.Now()
	m.WaitReplicaOf(t, r)
	t.Logf("old master demoted after %v", time.Since(start))
	if v := get(t, mc, "k"); v != "1" {
		t.Fatalf("demoted old master has k = %s, want 1", v)
	}

	// Again the other way: the sentinels made m replicate straight from r;
	// Lag puts a new link in between.
	rc := r.Client(t)
	set(t, rc, "k", "3")
	waitSynced(t, r, 1)
	thaw = g.Lag(t, m)
	defer thaw()
	if p := g.Link(m); p == nil || p == g.Link(r) {
		t.Fatalf("Link(old master) = %v after Lag", p)
	}
	set(t, rc, "k", "4")
	if nm := g.Failover(t); nm != m {
		t.Fatalf("second failover promoted %s, want %s", nm.Addr(), m.Addr())
	}
	if v := get(t, g.Client(t), "k"); v != "3" {
		t.Fatalf("after the second failover k = %s, want 3", v)
	}
}

// Killing a master whose replica lags: the sentinels elect a leader and
// promote the replica; the old master, restarted, becomes its replica.
func TestSentinelKillMaster(t *testing.T) {
	g := StartSentinel(t, SentinelOptions{})
	m, r := g.Master(), g.Replicas()[0]
	mc := m.Client(t)
	set(t, mc, "k", "1")
	waitSynced(t, m, 1)
	thaw := g.Lag(t, r)
	defer thaw()
	set(t, mc, "k", "2")

	start := time.Now()
	m.Kill()
	if nm := g.WaitFailover(t); nm != r {
		t.Fatalf("new master %s, want the replica %s", nm.Addr(), r.Addr())
	}
	t.Logf("failover after the kill took %v", time.Since(start))
	if v := get(t, g.Client(t), "k"); v != "1" {
		t.Fatalf("failover client reads k = %s, want 1", v)
	}

	m.Restart(t)
	m.WaitReplicaOf(t, r)
	if v := get(t, mc, "k"); v != "1" {
		t.Fatalf("restarted old master has k = %s, want 1", v)
	}
}
