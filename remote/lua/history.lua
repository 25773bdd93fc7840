-- The history guard, prepended (after util.lua) to the read script and to
-- every write script (scripts.go).
--
-- Redis can come back with an older state than the nodes saw: a restart
-- from its RDB snapshot or from an AOF written every second, a failover to
-- a replica that lagged. The acknowledged invalidations of the lost part
-- (sequence numbers, tombstones, deletes) are gone, and the entries they
-- deleted are back. The sequence alone cannot tell: it goes back, but new
-- invalidations soon reuse the lost numbers. So an epoch belongs to one
-- Redis process: the guard N:hist (a hash) names, in its field run, the
-- run_id of the process that has served the epoch, and every script
-- compares it with its own. Another run_id means a restart or a failover;
-- whether it lost anything cannot be told, so it is taken as lost, and a
-- new epoch begins: every entry carries the epoch it was written in and is
-- served only in it (G11), puts marked in the old epoch are refused, and
-- every node resets L1 when it sees the epoch change.
--
-- The field evicted holds the count of evicted keys (INFO stats) when last
-- looked, and floor the sequence at that moment: see evicted_floor.

-- new_epoch starts epoch candidate: the guard names this process, the
-- sequence goes on from where it is (0 if missing), the log goes. It
-- returns the epoch and the sequence.
local function new_epoch(kseq, kepoch, klog, khist, candidate)
  local seq = redis.call('GET', kseq)
  redis.call('SET', kepoch, candidate)
  if not seq then
    seq = '0'
    redis.call('SET', kseq, seq)
  end
  redis.call('DEL', klog)
  redis.call('HSET', khist, 'run', server_run(), 'evicted', evicted_keys(), 'floor', seq)
  return candidate, seq
end

-- ensure_state returns the current epoch and sequence, first starting a
-- new epoch (the candidate) when the epoch or the sequence is missing (a
-- fresh namespace, a Redis that restarted empty, FLUSHALL, an evicted key),
-- when the guard is missing or names another process (see above), or when
-- the caller has seen the sequence at seen_seq in this epoch (seen_epoch)
-- and it is now lower: the sequence went back without a restart (a restore
-- by hand, DEBUG RELOAD). The sequence goes on from where it is (its numbers
-- mean something only with the epoch); the log of the old epoch goes (its
-- ids would collide).
--
-- The epoch and the sequence are read with one MGET, and with them the
-- string keys of the list more (nil for none: a put's tombstones), which
-- costs a put one call instead of one per key. The third value returned is
-- what that MGET answered: the epoch, the sequence, then more's values (so
-- more[i]'s is at i + 2). They are the values before any new epoch: a
-- caller that compares a mark with them must first check the epoch.
local function ensure_state(kseq, kepoch, klog, khist, candidate, seen_epoch, seen_seq, more)
  local keys = {kepoch, kseq}
  if more then
    for i = 1, #more do
      keys[i + 2] = more[i]
    end
  end
  local got = mget(keys)
  local epoch, seq = got[1], got[2]
  if epoch and epoch ~= '' and seq and redis.call('HGET', khist, 'run') == server_run() and
      (epoch ~= seen_epoch or (tonumber(seq) or 0) >= (tonumber(seen_seq) or 0)) then
    return epoch, seq, got
  end
  epoch, seq = new_epoch(kseq, kepoch, klog, khist, candidate)
  return epoch, seq, got
end

-- evicted_floor returns the sequence below which a put's mark can no
-- longer be checked. Under an evicting maxmemory-policy (allkeys-lru, and
-- volatile-* for keys with a TTL, tombstones included) Redis may have
-- evicted the tombstone of an invalidation that came after a put's mark:
-- the put would then pass a check that it should fail (G1, G12). Which
-- keys went is not known, only that some did: whenever the count of
-- evicted keys has changed since the guard last looked, the floor rises to
-- the current sequence, and a put marked before it is refused. A put whose
-- load no invalidation overtook (its mark is the current sequence) still
-- passes, so under memory pressure only the loads that raced an
-- invalidation go uncached.
local function evicted_floor(kseq, khist)
  local ev = evicted_keys()
  local h = redis.call('HMGET', khist, 'evicted', 'floor')
  if h[1] == ev then
    return tonumber(h[2]) or 0
  end
  local now = redis.call('GET', kseq) or '0'
  redis.call('HSET', khist, 'evicted', ev, 'floor', now)
  return tonumber(now) or 0
end
