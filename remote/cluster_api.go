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
func (s *Store) Cluster() bool { return s.cl != nil }

// PublishedKey is the Redis key of the published watermark under the
// cluster protocol, "{N}:pub": the sequence number up to which every
// invalidation is finished and published (what State reports). It is ""
// on a standalone Redis, where every invalidation is published by the
// script that makes it.
func (s *Store) PublishedKey() string {
	if s.cl == nil {
		return ""
	}
	return s.cl.k.pub
}
