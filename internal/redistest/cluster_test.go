package redistest

import (
	"context"
	"testing"
	"time"
)

func TestStartClusterReplicas(t *testing.T) {
	c := StartClusterReplicas(t, 3, 1)
	if len(c.Servers) != 3 || len(c.Replicas) != 3 {
		t.Fatalf("%d masters and %d replicas, want 3 and 3", len(c.Servers), len(c.Replicas))
	}
	for i, m := range c.Servers {
		got := c.ReplicasOf(t, m)
		if len(got) != 1 || got[0] != c.Replicas[i] {
			t.Fatalf("replicas of %s: %v, want %s", m.Addr(), got, c.Replicas[i].Addr())
		}
	}
}

// A replica that lags behind its master and then takes over loses the
// writes it missed: a cluster client reads the older value from it, and
// the old master, demoted, drops its newer one.
func TestClusterLaggingTakeover(t *testing.T) {
	c := StartClusterReplicas(t, 3, 1)
	cl := c.Client(t)
	ctx := context.Background()
	const k = "k"
	m := c.MasterFor(t, k)
	rs := c.ReplicasOf(t, m)
	if len(rs) != 1 {
		t.Fatalf("%s has replicas %v", m.Addr(), rs)
	}
	r := rs[0]
	set(t, cl, k, "1")
	waitSynced(t, m, 1)

	resume := c.Lag(t, r)
	defer resume()
	set(t, cl, k, "2")
	if n, err := m.Client(t).Wait(ctx, 1, 200*time.Millisecond).Result(); err != nil || n != 0 {
		t.Fatalf("WAIT on the master of a lagging replica: %d acknowledged, err %v", n, err)
	}

	start := time.Now()
	c.Takeover(t, r)
	t.Logf("takeover took %v", time.Since(start))
	if got := c.MasterFor(t, k); got != r {
		t.Fatalf("MasterFor(k) = %s, want %s", got.Addr(), r.Addr())
	}
	fresh := c.Client(t)
	if v := get(t, fresh, k); v != "1" {
		t.Fatalf("a new cluster client reads k = %s, want 1 (the write the replica missed is lost)", v)
	}
	if mc, err := fresh.MasterForKey(ctx, k); err != nil || mc.Options().Addr != r.Addr() {
		t.Fatalf("the client routes k to %v (err %v), want %s", mc.Options().Addr, err, r.Addr())
	}
	if v := get(t, cl, k); v != "1" {
		t.Fatalf("the old cluster client reads k = %s, want 1", v)
	}
	// The promoted replica takes writes.
	set(t, cl, k, "3")

	start = time.Now()
	m.WaitReplicaOf(t, r)
	t.Logf("old master demoted after %v", time.Since(start))
	waitSynced(t, r, 1)
	conn := m.Client(t).Conn() // one connection, so READONLY applies to the GET
	defer conn.Close()
	if err := conn.ReadOnly(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if v := get(t, conn, k); v != "3" {
		t.Fatalf("demoted old master has k = %s, want 3", v)
	}
}

// Killing a master whose replica lags: the replica fails over by itself and
// the write it missed is lost; the old master, restarted, rejoins as its
// replica.
func TestClusterKillMaster(t *testing.T) {
	c := StartClusterReplicas(t, 3, 1)
	cl := c.Client(t)
	const k = "k"
	m := c.MasterFor(t, k)
	r := c.ReplicasOf(t, m)[0]
	set(t, cl, k, "1")
	waitSynced(t, m, 1)
	resume := c.Lag(t, r)
	defer resume()
	set(t, cl, k, "2")

	start := time.Now()
	m.Kill()
	c.WaitPromoted(t, r)
	t.Logf("failover after the kill took %v", time.Since(start))
	if v := get(t, c.Client(t), k); v != "1" {
		t.Fatalf("a new cluster client reads k = %s, want 1", v)
	}

	m.Restart(t)
	m.WaitReplicaOf(t, r)
}
