-- Cluster registry of master processes, in the control slot (see
-- cluster.go, "Lost history").
-- KEYS: seq, epoch, pub, flight, msgs, log, runs.
-- ARGV: 'register' or 'rotate', the epoch the caller saw, a candidate
--       epoch, then the run ids of every master the caller found.
-- register: when the epoch is still the one seen and has no registry yet,
-- the runs become its registry. rotate: when the epoch is still the one
-- seen, a new epoch begins with the runs as its registry (a master process
-- that the epoch did not start with has appeared: a restart or a failover,
-- which may have lost writes of the epoch).
-- Returns {pub, epoch, runs...} as they are after the call.
if redis.call('GET', KEYS[2]) == ARGV[2] then
  if ARGV[1] == 'rotate' then
    new_epoch(KEYS, ARGV[3])
  end
  if redis.call('SCARD', KEYS[7]) == 0 and #ARGV > 3 then
    redis.call('SADD', KEYS[7], unpack(ARGV, 4))
  end
end
local out = {redis.call('GET', KEYS[3]) or '0', redis.call('GET', KEYS[2]) or ''}
for _, r in ipairs(redis.call('SMEMBERS', KEYS[7])) do
  out[#out + 1] = r
end
return out
