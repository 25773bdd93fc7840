-- Put: store an entry computed at mark, unless an invalidation overtook it.
-- KEYS: seq, epoch.
-- ARGV: mark epoch, mark seq, ttl ms, envelope, key, entry prefix, dep
--       prefix, tombstone prefix, Key(key), then the entry's dependencies.
-- Returns {0} stored, {1} refused stale, {2} refused epoch.
local tombs_first, deps_first = 9, 10
local verdict = check_mark(KEYS[1], KEYS[2], ARGV[8], ARGV[1], ARGV[2], ARGV, tombs_first)
if verdict ~= 0 then
  return {verdict}
end
write_entry(ARGV[6], ARGV[7], ARGV[5], ARGV[4], tonumber(ARGV[3]), ARGV, deps_first)
return {0}
