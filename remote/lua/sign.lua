-- sign returns the bus message m ('M1\n' ...) signed with HMAC-SHA1 when
-- pads is not empty: 'M2\n', the hex HMAC of m, '\n', then m without its
-- 'M1\n' (package bus, Key). pads is the shared key XORed with HMAC's inner
-- pad and then with its outer pad, 64 bytes each, concatenated:
-- HMAC(m) = SHA1(outer .. SHA1(inner .. m)).
local function sign(pads, m)
  if pads == nil or pads == '' then
    return m
  end
  local inner = redis.sha1hex(string.sub(pads, 1, 64) .. m)
  local raw = (string.gsub(inner, '..', function(h) return string.char(tonumber(h, 16)) end))
  return 'M2\n' .. redis.sha1hex(string.sub(pads, 65, 128) .. raw) .. '\n' .. string.sub(m, 4)
end

-- MESSAGE_LIMIT is the length in bytes of the longest bus message published
-- whole: half of the subscribers' default limit (package bus,
-- DefaultMaxMessageSize, 64 KiB), which leaves room for a signature.
local MESSAGE_LIMIT = 32768

-- bus_message returns the unsigned bus message ('M1\n' ..., see package
-- bus, Message) of invalidation s of epoch, made by origin, of the
-- dependencies joined (one per line): whole when it is at most
-- MESSAGE_LIMIT bytes long, else with '@log' in place of the dependencies,
-- which subscribers then read from the log. So the caller must append the
-- invalidation to the log in the same script: a subscriber reads the log
-- only after the message has arrived, so after the script has ended.
local function bus_message(epoch, s, origin, joined)
  local head = 'M1\n' .. epoch .. '\n' .. s .. '\n' .. origin .. '\n'
  if #head + #joined > MESSAGE_LIMIT then
    return head .. '@log'
  end
  return head .. joined
end
