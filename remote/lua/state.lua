-- State: return the sequence and epoch, first starting a new epoch when
-- the history is not the one the caller saw (see history.lua).
-- KEYS: seq, epoch, log, hist.
-- ARGV: candidate epoch, seen epoch ('' if none), seen seq.
local epoch = ensure_state(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1], ARGV[2], ARGV[3])
return {redis.call('GET', KEYS[1]), epoch}
