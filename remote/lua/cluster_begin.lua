-- Cluster invalidation, step 1 of 4, in the control slot: take the next
-- sequence number and register the invalidation in flight.
-- KEYS: seq, epoch, pub, flight, msgs, log.
-- ARGV: candidate epoch, lease ms, body ("origin\ndep1\ndep2...").
-- Returns {seq, epoch, overdue...} (overdue as claim_overdue returns it).
local epoch = ensure_state(KEYS, ARGV[1])
local lease = tonumber(ARGV[2])
local late = claim_overdue(KEYS, lease)
local seq = redis.call('INCR', KEYS[1])
redis.call('HSET', KEYS[5], seq, ARGV[3])
redis.call('ZADD', KEYS[4], fmt_int(now_ms() + lease), seq)
local out = {seq, epoch}
for i = 1, #late do
  out[#out + 1] = late[i]
end
return out
