-- Cluster invalidation, step 4 of 4, in the control slot: mark invalidation
-- seq done and publish, in sequence order, every done invalidation that
-- follows the published watermark.
-- KEYS: seq, epoch, pub, flight, msgs, log, runs.
-- ARGV: seq, epoch, log length, channel, signing pads ('' or 128 bytes,
--       see sign.lua).
-- Returns the published watermark, or -1 when the epoch changed (nothing
-- is published then: every node resets to the new epoch anyway).
--
-- Invalidations finish in any order, but the bus applies them in sequence
-- order and takes a gap for a loss. So a finished one waits here until
-- every earlier one has finished (or was swept, see claim_overdue): the
-- watermark {N}:pub only ever covers a prefix of finished invalidations,
-- and it is what State reports, so a heartbeat never mistakes one in
-- flight for a lost message. Message and log entry are written in the same
-- step, so the log holds exactly what was published, in order.
if redis.call('GET', KEYS[2]) ~= ARGV[2] then
  return -1
end
redis.call('ZREM', KEYS[4], ARGV[1])
local pub = tonumber(redis.call('GET', KEYS[3]) or '0')
local top = tonumber(redis.call('GET', KEYS[1]) or '0')
local p = pub + 1
while p <= top do
  local s = fmt_int(p)
  if redis.call('ZSCORE', KEYS[4], s) then
    break
  end
  local body = redis.call('HGET', KEYS[5], s)
  if body then
    local nl = string.find(body, '\n', 1, true)
    if nl then
      local origin, joined = string.sub(body, 1, nl - 1), string.sub(body, nl + 1)
      -- Published and logged in this one script: a message that leaves its
      -- dependencies to the log (bus_message) finds them there.
      redis.call('SPUBLISH', ARGV[4], sign(ARGV[5], bus_message(ARGV[2], s, origin, joined)))
      redis.call('XADD', KEYS[6], 'MAXLEN', '~', ARGV[3], s .. '-1', 'e', ARGV[2], 'o', origin, 'd', joined)
    end
    redis.call('HDEL', KEYS[5], s)
  end
  -- A number with neither a registration nor a body (lost under memory
  -- pressure) is skipped: subscribers see a gap, the log does not cover
  -- it, and they flush.
  pub = p
  p = p + 1
end
redis.call('SET', KEYS[3], pub)
return pub
