-- The envelope parser, shared by the read script and the write scripts
-- (scripts.go prepends this file to each), and by the cluster scripts.

-- env_deps returns the dependency strings of envelope v (see envelope.go),
-- or nil when v is not an envelope this code can read. Invalidate parses
-- every member with it: it is the inner loop, hence the single-dependency
-- fast path.
local function env_deps(v)
  if type(v) ~= 'string' or #v < 7 or string.byte(v, 1) ~= 69 then
    return nil
  end
  -- The header: 56 bytes and the epoch's in version 5 (with the mark,
  -- three times, the codec and the epoch), 24 and the epoch's in version 4 (one
  -- time), 23 in version 3 (with the mark and the expiry, no epoch), 15 in
  -- version 2 (with the mark), 7 in version 1.
  local ver = string.byte(v, 2)
  local hdr
  if ver == 5 then
    if #v < 56 then
      return nil
    end
    hdr = 56 + string.byte(v, 52)
  elseif ver == 4 then
    if #v < 24 then
      return nil
    end
    hdr = 24 + string.byte(v, 20)
  elseif ver == 3 then
    hdr = 23
  elseif ver == 2 then
    hdr = 15
  elseif ver == 1 then
    hdr = 7
  else
    return nil
  end
  if #v < hdr then
    return nil
  end
  local stop = hdr + struct.unpack('>I4', v, hdr - 3)
  if stop > #v then
    return nil
  end
  if stop == hdr then
    return {}
  end
  local block = string.sub(v, hdr + 1, stop)
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

-- env_epoch returns the epoch of envelope v, '' when it has none (an older
-- layout, or not an envelope).
local function env_epoch(v)
  if type(v) ~= 'string' or string.byte(v, 1) ~= 69 then
    return ''
  end
  local ver = string.byte(v, 2)
  if ver == 5 and #v >= 56 then
    return string.sub(v, 53, 52 + string.byte(v, 52))
  elseif ver == 4 and #v >= 24 then
    return string.sub(v, 21, 20 + string.byte(v, 20))
  end
  return ''
end

-- env_marked returns envelope v (version 5 without an epoch, as Store.Set
-- sends it, see envelope.go) with its mark set to seq and its epoch to
-- epoch.
local function env_marked(v, seq, epoch)
  return string.sub(v, 1, 3) .. struct.pack('>I8', seq) .. string.sub(v, 12, 51) ..
    string.char(#epoch) .. epoch .. string.sub(v, 53 + string.byte(v, 52))
end
