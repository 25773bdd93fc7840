-- State: return the sequence and epoch, starting a new epoch when either
-- is missing.
-- KEYS: seq, epoch, log.  ARGV: candidate epoch.
local epoch = ensure_state(KEYS[1], KEYS[2], KEYS[3], ARGV[1])
return {redis.call('GET', KEYS[1]), epoch}
