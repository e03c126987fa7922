-- calendar: forgets the Redis pre-check of appointments cancelled with their day.
-- KEYS = bk:{OFF}:person:<doc_hash>:<procedure> keys; ARGV = the matching appointment codes. A key is
-- deleted only while it still names that appointment. Returns the keys deleted.
local n = 0
for i = 1, #KEYS do
    if redis.call('GET', KEYS[i]) == ARGV[i] then
        redis.call('DEL', KEYS[i])
        n = n + 1
    end
end
return n
