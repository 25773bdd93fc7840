-- Read: the start mark and the entry, the entry verified against its epoch
-- and its index.
-- KEYS: seq, epoch, entry, log, hist.
-- ARGV: entry prefix, dep prefix, key, tombstone prefix, candidate epoch,
--       seen epoch ('' if none), seen seq.
-- Returns {seq, epoch, envelope, pttl, lost}: envelope false on a miss;
-- lost 1 when the entry was dropped because part of its index was gone, 2
-- when it was dropped because an invalidation in phases is deleting it, 3
-- when it was dropped because it belongs to another epoch.
--
-- The history guard runs first (history.lua): a Redis that lost history
-- starts a new epoch here, and the entry, written in the old one, is
-- dropped and read as a miss (G11).
--
-- The sequence is read in the same atomic step as the entry, so the mark
-- is exactly the sequence the entry was read at. An entry whose membership
-- in one of its dependency sets is lost (evicted under maxmemory, deleted
-- by hand) could no longer be found by an invalidation of that dependency:
-- it is dropped and read as a miss, never served (G2). The same check makes
-- the entries of an invalidation in phases misses from its first call on:
-- their sets were renamed away (common.lua). Those are told apart from a
-- lost index by the dependency's tombstone.
--
-- It runs with envelope.lua and history.lua but without common.lua: the
-- read path is the hot one, and defining the write helpers on every call
-- would cost more than the read itself.
local epoch = ensure_state(KEYS[1], KEYS[2], KEYS[4], KEYS[5], ARGV[5], ARGV[6], ARGV[7])
local seq = redis.call('GET', KEYS[1])
local v = redis.call('GET', KEYS[3])
if not v then
  return {seq, epoch, false, -2, 0}
end
local ds = env_deps(v)
if ds and env_epoch(v) ~= epoch then
  -- Written in another history (or in a layout without an epoch):
  -- whatever deleted it may be lost. Dropped the way an invalidation would
  -- drop it. (An entry that does not parse is left to the caller, which
  -- reports it as corrupt and deletes it.)
  redis.call('DEL', KEYS[3])
  for k = 1, #ds do
    redis.call('ZREM', ARGV[2] .. ds[k], ARGV[3])
  end
  return {seq, epoch, false, -2, 3}
end
if ds then
  for i = 1, #ds do
    if not redis.call('ZSCORE', ARGV[2] .. ds[i], ARGV[3]) then
      -- Drop it the way an invalidation would: the entry, then its other
      -- memberships.
      redis.call('DEL', KEYS[3])
      for k = 1, #ds do
        redis.call('ZREM', ARGV[2] .. ds[k], ARGV[3])
      end
      if redis.call('EXISTS', ARGV[4] .. ds[i]) == 1 then
        return {seq, epoch, false, -2, 2}
      end
      return {seq, epoch, false, -2, 1}
    end
  end
end
return {seq, epoch, v, redis.call('PTTL', KEYS[3]), 0}
