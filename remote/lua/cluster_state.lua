-- Cluster State: the published watermark and the epoch (starting an epoch
-- when there is none), and the overdue invalidations the caller must finish.
-- KEYS: seq, epoch, pub, flight, msgs, log, runs.
-- ARGV: candidate epoch, lease ms, seen epoch ('' if none), seen seq.
-- Returns {pub, epoch, overdue...}.
local epoch = ensure_state(KEYS, ARGV[1], ARGV[3], ARGV[4])
local out = {redis.call('GET', KEYS[3]), epoch}
local late = claim_overdue(KEYS, tonumber(ARGV[2]))
for i = 1, #late do
  out[#out + 1] = late[i]
end
return out
