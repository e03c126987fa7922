-- calendar: loads one batch of a window's slots (see include/citas/calendar.h, calendar_load_lua).
-- KEYS[1] = cal:{OFF}:window:<id>; ARGV = office, procedure, window, release ms, window state, then six
-- per slot: id, start (epoch s), local, capacity, state, taken seats ("" or "3,17").
local off, proc, win, rel, wstate = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local p = 'cal:{' .. off .. '}:'
redis.call('HSET', KEYS[1], 'procedure', proc, 'release', rel, 'state', wstate)
local zkey = p .. 'proc:' .. proc
local n = 0
for i = 6, #ARGV - 5, 6 do
    local id, start, loc, cap, st, taken = ARGV[i], ARGV[i + 1], ARGV[i + 2], tonumber(ARGV[i + 3]),
        ARGV[i + 4], ARGV[i + 5]
    redis.call('HSET', p .. 'slot:' .. id, 'office', off, 'procedure', proc, 'window', win, 'start', start,
        'local', loc, 'capacity', cap, 'release', rel, 'state', st)
    local fkey = p .. 'free:' .. id
    redis.call('DEL', fkey)
    local t = {}
    for s in string.gmatch(taken, '%d+') do
        t[s] = true
    end
    local seats = {}
    for s = 1, cap do
        local k = tostring(s)
        if not t[k] then
            seats[#seats + 1] = k
        end
    end
    if #seats > 0 then
        redis.call('SADD', fkey, unpack(seats))
    end
    redis.call('ZADD', zkey, start, id)
    n = n + 1
end
return n
