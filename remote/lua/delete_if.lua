-- Delete KEYS[1] if it still holds exactly ARGV[1] (a corrupt entry that
-- nobody has replaced since it was read).
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
