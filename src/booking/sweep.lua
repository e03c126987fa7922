-- booking: before a rebuild, deletes an office's person keys that record a booking (no TTL); person keys
-- of holds in flight (with a TTL) stay. The rebuild then writes one for every active appointment.
-- KEYS[1] bk:{OFF}:holds (names the office's hash slot)   ARGV[1] "bk:{OFF}:person:*"
local cursor, n = '0', 0
repeat
    local r = redis.call('SCAN', cursor, 'MATCH', ARGV[1], 'COUNT', 1000)
    cursor = r[1]
    for _, k in ipairs(r[2]) do
        if redis.call('PTTL', k) == -1 then
            redis.call('DEL', k)
            n = n + 1
        end
    end
until cursor == '0'
return n
