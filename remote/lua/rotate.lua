-- Rotate: start a new epoch if the current one is still from (see
-- Store.Rotate).
-- KEYS: seq, epoch, log, hist.  ARGV: from, candidate epoch.
-- Returns {seq, epoch} as they are after the call.
local epoch = redis.call('GET', KEYS[2])
if epoch == ARGV[1] then
  epoch = new_epoch(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[2])
end
return {redis.call('GET', KEYS[1]) or '0', epoch or ''}
