-- Cluster invalidation, step 2 of 4, in one dependency's slot: write the
-- tombstone and take the dependency's set.
-- KEYS: tombstone, set, aside (the name the set is renamed to when large).
-- ARGV: seq, epoch, horizon s, budget, and optionally a mark seq (of the
--       same epoch).
-- Returns {mode, members...}: mode 0 with the members when the set (now
-- deleted) held at most budget members (none when it was empty), 1 when it
-- was renamed to KEYS[3] for the caller to pop in batches; plus 2 when the
-- tombstone found here was newer than the mark.
--
-- The tombstone only moves forward within an epoch: invalidations finish
-- this step in any order, and a put must be refused by the newest of them.
-- The mark is a Set's (on deps.Key of its key): the tombstone it finds is
-- checked in the same step as it is overwritten by the Set's own, newer
-- one, which would hide it from any later check.
local seq, epoch = ARGV[1], ARGV[2]
local t = redis.call('GET', KEYS[1])
local stale = 0
if ARGV[5] and tomb_newer(t, ARGV[5], epoch) then
  stale = 2
end
if not tomb_newer(t, seq, epoch) then
  redis.call('SET', KEYS[1], seq .. ':' .. epoch, 'EX', ARGV[3])
else
  redis.call('EXPIRE', KEYS[1], ARGV[3], 'GT')
end
local n = redis.call('ZCARD', KEYS[2])
if n == 0 then
  return {stale}
end
if n > tonumber(ARGV[4]) then
  redis.call('RENAME', KEYS[2], KEYS[3])
  if redis.call('PTTL', KEYS[3]) < 0 then
    redis.call('EXPIRE', KEYS[3], ARGV[3])
  end
  return {1 + stale}
end
local out = redis.call('ZRANGE', KEYS[2], 0, -1)
redis.call('UNLINK', KEYS[2])
table.insert(out, 1, stale)
return out
