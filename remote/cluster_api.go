package remote

import "github.com/redis/go-redis/v9"

// isCluster reports whether rdb is a Redis Cluster client.
func isCluster(rdb redis.UniversalClient) bool {
	_, ok := rdb.(*redis.ClusterClient)
	return ok
}

// Cluster reports whether the Store speaks the Redis Cluster protocol: its
// invalidations are then published with SPUBLISH on a shard channel, which
// subscribers must SSUBSCRIBE to.
func (s *Store) Cluster() bool { return isCluster(s.rdb) }
