-- Cluster invalidation, step 1 of 4, in the control slot: take the next
-- sequence number and register the invalidation in flight.
-- KEYS: seq, epoch, pub, flight, msgs, log, runs.
-- ARGV: candidate epoch, lease ms, body ("origin\ndep1\ndep2..."), then,
--       for a Set with a mark, the mark's seq and epoch and the
--       dependencies to look for (see named_in_flight).
-- Returns {seq, epoch, named, overdue...}: named is 1 when an invalidation
-- in flight, numbered after the mark, names one of the dependencies
-- looked for (0 otherwise, or without a mark); overdue as claim_overdue
-- returns it.
local epoch = ensure_state(KEYS, ARGV[1], '', '0')
local lease = tonumber(ARGV[2])
local named = 0
if #ARGV >= 6 and ARGV[5] == epoch then
  -- Before this invalidation registers its own body, which names them too.
  named = named_in_flight(KEYS, tonumber(ARGV[4]), ARGV, 6)
end
local late = claim_overdue(KEYS, lease)
local seq = redis.call('INCR', KEYS[1])
redis.call('HSET', KEYS[5], seq, ARGV[3])
redis.call('ZADD', KEYS[4], fmt_int(now_ms() + lease), seq)
local out = {seq, epoch, named}
for i = 1, #late do
  out[#out + 1] = late[i]
end
return out
