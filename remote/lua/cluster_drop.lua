-- Cluster invalidation, step 3 of 4, in one entry's slot: delete the entry
-- if it still depends on the dependency (a member whose entry was put again
-- without it keeps its entry). An empty dependency deletes the entry
-- unconditionally (a deps.Key naming it). An entry that does not parse is
-- deleted: a reader would drop it anyway.
-- KEYS: entry.  ARGV: dependency or ''.
-- Returns 1 when the entry was deleted.
local v = redis.call('GET', KEYS[1])
if not v then
  return 0
end
if ARGV[1] ~= '' then
  local ds = entry_deps(v)
  if ds and not contains(ds, ARGV[1]) then
    return 0
  end
end
redis.call('DEL', KEYS[1])
return 1
