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
