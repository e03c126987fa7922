-- booking: recomputes one slot's keys from PostgreSQL (citasctl rebuild-redis, start-up reconciliation).
-- KEYS[1] cal:{OFF}:slot:<id>   KEYS[2] cal:{OFF}:free:<id>   KEYS[3] bk:{OFF}:holds
-- KEYS[4] cal:{OFF}:proc:<procedure>
-- ARGV[1] slot id  ARGV[2] office  ARGV[3] procedure  ARGV[4] window id  ARGV[5] start (epoch s)
-- ARGV[6] local "YYYY-MM-DDTHH:MM"  ARGV[7] capacity  ARGV[8] release (epoch ms)  ARGV[9] state
-- ARGV[10] seats of active/checked-in appointments, comma-separated
-- Free seats = 1..capacity minus booked seats minus seats under a live hold (an attempt in flight keeps
-- its seat; its hold expires or is confirmed as usual). Holds on booked seats are settled.
local tag = string.match(KEYS[1], '^cal:({[^}]*}):')
local booked = {}
for s in string.gmatch(ARGV[10], '[0-9]+') do
    booked[tonumber(s)] = true
end
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('HSET', KEYS[1], 'office', ARGV[2], 'procedure', ARGV[3], 'window', ARGV[4], 'start', ARGV[5],
    'local', ARGV[6], 'capacity', ARGV[7], 'release', ARGV[8], 'state', ARGV[9])
local free = 0
for seat = 1, tonumber(ARGV[7]) do
    local m = ARGV[1] .. ':' .. seat
    local hold = 'bk:' .. tag .. ':hold:' .. m
    if booked[seat] then
        redis.call('DEL', hold)
        redis.call('ZREM', KEYS[3], m)
    elseif redis.call('EXISTS', hold) == 0 then
        redis.call('ZREM', KEYS[3], m)
        redis.call('SADD', KEYS[2], seat)
        free = free + 1
    end
end
if ARGV[9] == 'cancelled' then
    redis.call('ZREM', KEYS[4], ARGV[1])
else
    redis.call('ZADD', KEYS[4], ARGV[5], ARGV[1])
end
return free
