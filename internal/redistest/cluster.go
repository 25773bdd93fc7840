package redistest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Cluster is a local Redis Cluster of masters without replicas, each a
// private redis-server.
type Cluster struct {
	Servers []*Server
}

// StartCluster starts a Redis Cluster of n masters (3 if n < 1) on free
// loopback ports, assigns the 16384 slots in equal ranges, joins the nodes
// with CLUSTER MEET, and waits until every node reports cluster_state:ok
// and agrees on the slots. It stops the servers when the test ends.
//
// This is what `redis-cli --cluster create` does, done with the cluster's
// own commands so that only redis-server is needed.
func StartCluster(tb testing.TB, n int) *Cluster {
	tb.Helper()
	c, err := LaunchCluster(tb.TempDir(), n)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(c.Stop)
	return c
}

// LaunchCluster starts a cluster outside a test, working in dir (one
// subdirectory per node). The caller stops it with Stop.
func LaunchCluster(dir string, n int) (*Cluster, error) {
	if n < 1 {
		n = 3
	}
	c := &Cluster{}
	for i := range n {
		d := filepath.Join(dir, "node"+strconv.Itoa(i))
		if err := os.MkdirAll(d, 0o755); err != nil {
			c.Stop()
			return nil, err
		}
		s, err := Launch(d, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "2000", "--cluster-require-full-coverage", "yes")
		if err != nil {
			c.Stop()
			return nil, err
		}
		c.Servers = append(c.Servers, s)
	}
	if err := c.form(); err != nil {
		c.Stop()
		return nil, fmt.Errorf("redistest: cluster: %w", err)
	}
	return c, nil
}

func (c *Cluster) form() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const slots = 16384
	n := len(c.Servers)
	for i, s := range c.Servers {
		cl := redis.NewClient(&redis.Options{Addr: s.Addr()})
		lo, hi := i*slots/n, (i+1)*slots/n-1
		err := cl.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", lo, hi).Err()
		if err == nil && i > 0 {
			err = cl.ClusterMeet(ctx, "127.0.0.1", strconv.Itoa(c.Servers[0].Port())).Err()
		}
		_ = cl.Close()
		if err != nil {
			return err
		}
	}
	for _, s := range c.Servers {
		if err := waitClusterOK(ctx, s.Addr(), n); err != nil {
			return fmt.Errorf("%s: %w", s.Addr(), err)
		}
	}
	return nil
}

// waitClusterOK polls a node until it reports the cluster ok and knows all
// n masters with slots.
func waitClusterOK(ctx context.Context, addr string, n int) error {
	cl := redis.NewClient(&redis.Options{Addr: addr})
	defer cl.Close()
	var last string
	for {
		info, err := cl.ClusterInfo(ctx).Result()
		if err == nil {
			last = info
			if strings.Contains(info, "cluster_state:ok") && strings.Contains(info, "cluster_known_nodes:"+strconv.Itoa(n)) {
				shards, err := cl.ClusterShards(ctx).Result()
				if err == nil && len(shards) == n {
					return nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not ready: %w (last CLUSTER INFO: %q)", ctx.Err(), last)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Addrs are the masters' addresses.
func (c *Cluster) Addrs() []string {
	out := make([]string, len(c.Servers))
	for i, s := range c.Servers {
		out[i] = s.Addr()
	}
	return out
}

// Options returns go-redis cluster options with context deadlines honoured
// and short timeouts suited to tests.
func (c *Cluster) Options() *redis.ClusterOptions {
	return &redis.ClusterOptions{
		Addrs:                 c.Addrs(),
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
	for _, s := range c.Servers {
		s.Stop()
	}
}
