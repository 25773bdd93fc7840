-- Cluster read of one entry, in its slot: the entry, its remaining TTL in
-- milliseconds, and the run id of the Redis process that answers (see
-- cluster.go, "Lost history").
-- KEYS: entry.
return {redis.call('GET', KEYS[1]) or false, redis.call('PTTL', KEYS[1]), server_run()}
