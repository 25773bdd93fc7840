-- The envelope parser, shared by the read script and the write scripts
-- (scripts.go prepends this file to each).

-- env_deps returns the dependency strings of envelope v (see envelope.go),
-- or nil when v is not an envelope this code can read. Invalidate parses
-- every member with it: it is the inner loop, hence the single-dependency
-- fast path.
local function env_deps(v)
  if type(v) ~= 'string' or #v < 7 or string.byte(v, 1) ~= 69 or string.byte(v, 2) ~= 1 then
    return nil
  end
  local stop = 7 + struct.unpack('>I4', v, 4)
  if stop > #v then
    return nil
  end
  if stop == 7 then
    return {}
  end
  local block = string.sub(v, 8, stop)
  local j = string.find(block, '\n', 1, true)
  if not j then
    return {block}
  end
  local out, k, i = {}, 0, 1
  while j do
    k = k + 1
    out[k] = string.sub(block, i, j - 1)
    i = j + 1
    j = string.find(block, '\n', i, true)
  end
  out[k + 1] = string.sub(block, i)
  return out
end
