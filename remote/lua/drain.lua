-- Drain: delete up to a budget of members of one pending set (see
-- common.lua) with their entries.
-- KEYS: pending registry.
-- ARGV: entry prefix, dep prefix, pending prefix, registry member, budget,
--       lease ms.
-- Returns the number of members left; 0 when the set is done and has left
-- the registry.
--
-- A member's entry is deleted when it depends on the dependency and is not
-- in the dependency's current set: an entry that is there was written after
-- the invalidation (the fresh set started empty then) and is current. An
-- entry that cannot be read is deleted unless it is there. The budget
-- counts as drop_members (common.lua) counts: one per member plus one per
-- four further dependencies of a deleted entry (each costs a ZREM).
local pe, pd, pp, member = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local budget, lease = tonumber(ARGV[5]), tonumber(ARGV[6])
local set = pp .. member
-- member is "<seq>:<epoch>:<dep>"; seq and epoch hold no ':'.
local c1 = string.find(member, ':', 1, true)
local c2 = c1 and string.find(member, ':', c1 + 1, true)
if not c2 then
  redis.call('ZREM', KEYS[1], member)
  return 0
end
local dep = string.sub(member, c2 + 1)
drop_members(pe, pd, set, dep, pd .. dep, nil, budget)
local left = redis.call('ZCARD', set)
if left == 0 then
  redis.call('ZREM', KEYS[1], member)
else
  redis.call('ZADD', KEYS[1], 'XX', fmt_int(now_ms() + lease), member)
end
return left
