-- calendar: seats taken (booked or held) of one window, from Redis.
-- KEYS[1] = cal:{OFF}:proc:<procedure>; ARGV[1] = office, ARGV[2] = window id, ARGV[3], ARGV[4] = first
-- and last start of its slots (epoch s). Returns {seats taken, slots found in Redis}.
local p = 'cal:{' .. ARGV[1] .. '}:'
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[3], ARGV[4])
local taken, found = 0, 0
for _, id in ipairs(ids) do
    local h = redis.call('HMGET', p .. 'slot:' .. id, 'window', 'capacity', 'state')
    if h[1] == ARGV[2] then
        found = found + 1
        if h[3] ~= 'cancelled' then
            taken = taken + tonumber(h[2]) - redis.call('SCARD', p .. 'free:' .. id)
        end
    end
end
return {taken, found}
