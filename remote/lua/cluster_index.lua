-- Cluster put, step 1 of 3, in one dependency's slot: refuse if the
-- dependency was invalidated after the mark, else index the key (before the
-- entry exists: an entry never exists without its index).
-- KEYS: tombstone, set.
-- ARGV: mark seq, mark epoch, key, score ttl ms, '1' to index or '0' to
--       check only (the deps.Key of the entry itself).
-- Returns {verdict, run}: verdict 0 (indexed, or checked) or 1 (refused),
-- and the run id of the Redis process that answers (see cluster.go, "Lost
-- history").
if tomb_newer(redis.call('GET', KEYS[1]), ARGV[1], ARGV[2]) then
  return {1, server_run()}
end
if ARGV[5] == '1' then
  local now, us = now_ms()
  -- GT: a member's score only grows, so a put never shortens the life of
  -- the index of a longer-lived entry of the same key.
  index_in(KEYS[2], ARGV[3], fmt_int(now + tonumber(ARGV[4])), now, us, true)
end
return {0, server_run()}
