package redistest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Cluster is a local Redis Cluster, each node a private redis-server: masters
// and, if started by [StartClusterReplicas], their replicas.
type Cluster struct {
	// Servers are the masters the cluster was formed with: Servers[i] was
	// given the i-th of equal ranges of the 16384 slots. After a failover one
	// of them may be a replica (see [Cluster.MasterFor]).
	Servers []*Server

	// Replicas are the replicas the cluster was formed with, in groups of
	// replicasPerMaster: the first group replicated Servers[0], and so on.
	Replicas []*Server

	ids map[*Server]string // node IDs, fixed at formation
}

// StartCluster starts a Redis Cluster of n masters (3 if n < 1) on free
// loopback ports, assigns the 16384 slots in equal ranges, joins the nodes
// with CLUSTER MEET, and waits until every node reports cluster_state:ok
// and agrees on the slots. It stops the servers when the test ends.
//
// This is what `redis-cli --cluster create` does, done with the cluster's
// own commands so that only redis-server is needed.
//
// Every node gets the extra command-line args after the cluster's own, as
// [Start] gives them ("--appendonly", "yes", or "--maxmemory", "4mb").
func StartCluster(tb testing.TB, n int, args ...string) *Cluster {
	tb.Helper()
	return StartClusterReplicas(tb, n, 0, args...)
}

// StartClusterReplicas starts a Redis Cluster as [StartCluster] does, with
// replicasPerMaster replicas of each master, attached with CLUSTER
// REPLICATE, and waits until every node agrees on the shards (each master
// with its replicas) and every replica is in sync (master_link_status:up).
// The nodes run with cluster-node-timeout 2 s, so a replica of a master that
// stopped answering takes its place by itself in a few seconds. It stops the
// servers when the test ends. Every node gets the extra args, as with
// [StartCluster].
func StartClusterReplicas(tb testing.TB, masters, replicasPerMaster int, args ...string) *Cluster {
	tb.Helper()
	c, err := launchCluster(tb.TempDir(), masters, replicasPerMaster, args)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(c.Stop)
	return c
}

// LaunchCluster starts a cluster of n masters outside a test, working in
// dir (one subdirectory per node). The caller stops it with Stop.
func LaunchCluster(dir string, n int) (*Cluster, error) {
	return launchCluster(dir, n, 0, nil)
}

func launchCluster(dir string, masters, replicasPerMaster int, args []string) (*Cluster, error) {
	if masters < 1 {
		masters = 3
	}
	replicasPerMaster = max(replicasPerMaster, 0)
	c := &Cluster{ids: make(map[*Server]string)}
	for i := range masters * (1 + replicasPerMaster) {
		name := "node" + strconv.Itoa(i)
		if i >= masters {
			j := i - masters
			name = fmt.Sprintf("replica%d-%d", j/replicasPerMaster, j%replicasPerMaster)
		}
		d := filepath.Join(dir, name)
		if err := os.MkdirAll(d, 0o755); err != nil {
			c.Stop()
			return nil, err
		}
		s, err := Launch(d, append([]string{"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "2000", "--cluster-require-full-coverage", "yes"}, args...)...)
		if err != nil {
			c.Stop()
			return nil, err
		}
		if i < masters {
			c.Servers = append(c.Servers, s)
		} else {
			c.Replicas = append(c.Replicas, s)
		}
	}
	if err := c.form(replicasPerMaster); err != nil {
		c.Stop()
		return nil, fmt.Errorf("redistest: cluster: %w", err)
	}
	return c, nil
}

func (c *Cluster) form(replicasPerMaster int) error {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	const slots = 16384
	n := len(c.Servers)
	for i, s := range c.Nodes() {
		cl := redis.NewClient(&redis.Options{Addr: s.Addr()})
		var err error
		if i < n {
			lo, hi := i*slots/n, (i+1)*slots/n-1
			err = cl.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", lo, hi).Err()
		}
		// Distinct config epochs from the start, as redis-cli gives them:
		// nodes born with the same epoch settle their collisions over the
		// bus, a while after cluster_state:ok, and a replica that took over
		// meanwhile could lose its claim to a master that bumped its epoch
		// past the replica's.
		if err == nil {
			err = cl.Do(ctx, "CLUSTER", "SET-CONFIG-EPOCH", i+1).Err()
		}
		if err == nil && i > 0 {
			err = cl.ClusterMeet(ctx, "127.0.0.1", strconv.Itoa(c.Servers[0].Port())).Err()
		}
		if err == nil {
			c.ids[s], err = cl.ClusterMyID(ctx).Result()
		}
		_ = cl.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", s.Addr(), err)
		}
	}
	for j, r := range c.Replicas {
		m := c.Servers[j/replicasPerMaster]
		if err := replicate(ctx, r, c.ids[m]); err != nil {
			return fmt.Errorf("%s: CLUSTER REPLICATE %s: %w", r.Addr(), m.Addr(), err)
		}
	}
	for _, s := range c.Nodes() {
		if err := waitClusterOK(ctx, s.Addr(), len(c.Nodes()), n, 1+replicasPerMaster); err != nil {
			return fmt.Errorf("%s: %w", s.Addr(), err)
		}
	}
	for j, r := range c.Replicas {
		if err := r.waitReplicaOf(ctx, c.Servers[j/replicasPerMaster].Addr()); err != nil {
			return fmt.Errorf("%s: %w", r.Addr(), err)
		}
	}
	return nil
}

// replicate makes r a replica of the node with the given ID, retrying while
// r has not yet heard of that node through the cluster bus.
func replicate(ctx context.Context, r *Server, id string) error {
	cl := redis.NewClient(&redis.Options{Addr: r.Addr()})
	defer cl.Close()
	for {
		err := cl.ClusterReplicate(ctx, id).Err()
		if err == nil || !strings.Contains(err.Error(), "Unknown node") {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (%v)", ctx.Err(), err)
		case <-time.After(pollEvery):
		}
	}
}

// waitClusterOK polls a node until it reports the cluster ok, knows all
// nodes and the current epoch (the highest of their config epochs, one per
// node), and sees the given number of shards, each of shardSize nodes.
func waitClusterOK(ctx context.Context, addr string, nodes, shards, shardSize int) error {
	cl := redis.NewClient(&redis.Options{Addr: addr})
	defer cl.Close()
	err := poll(ctx, func() error {
		info, err := cl.ClusterInfo(ctx).Result()
		if err != nil {
			return err
		}
		if !strings.Contains(info, "cluster_state:ok") ||
			!strings.Contains(info, "cluster_known_nodes:"+strconv.Itoa(nodes)+"\r\n") ||
			!strings.Contains(info, "cluster_current_epoch:"+strconv.Itoa(nodes)+"\r\n") {
			return fmt.Errorf("CLUSTER INFO: %q", info)
		}
		got, err := cl.ClusterShards(ctx).Result()
		if err != nil {
			return err
		}
		if len(got) != shards || slices.ContainsFunc(got, func(s redis.ClusterShard) bool { return len(s.Nodes) != shardSize }) {
			return fmt.Errorf("CLUSTER SHARDS: %+v", got)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("not ready: %w", err)
	}
	return nil
}

// Nodes are all the nodes: Servers, then Replicas.
func (c *Cluster) Nodes() []*Server {
	return append(append([]*Server(nil), c.Servers...), c.Replicas...)
}

// Addrs are the addresses of the masters the cluster was formed with.
func (c *Cluster) Addrs() []string {
	out := make([]string, len(c.Servers))
	for i, s := range c.Servers {
		out[i] = s.Addr()
	}
	return out
}

// Options returns go-redis cluster options seeded with every node's
// address, with context deadlines honoured and short timeouts suited to
// tests.
func (c *Cluster) Options() *redis.ClusterOptions {
	var addrs []string
	for _, s := range c.Nodes() {
		addrs = append(addrs, s.Addr())
	}
	return &redis.ClusterOptions{
		Addrs:                 addrs,
		ContextTimeoutEnabled: true,
		DialTimeout:           time.Second,
		ReadTimeout:           2 * time.Second,
		WriteTimeout:          2 * time.Second,
		MaxRetries:            -1,
	}
}

// Client returns a cluster client, closed when the test ends.
func (c *Cluster) Client(tb testing.TB) *redis.ClusterClient {
	tb.Helper()
	cl := redis.NewClusterClient(c.Options())
	tb.Cleanup(func() { _ = cl.Close() })
	return cl
}

// Stop stops every node.
func (c *Cluster) Stop() {
	for _, s := range c.Nodes() {
		s.Stop()
	}
}
