-- Rate limits, checked and taken in one atomic call (GCRA: a token bucket kept as one number).
-- KEYS[i]: a limit; ARGV[2i-1]: its capacity; ARGV[2i]: its period in ms (capacity calls per period, the
-- bucket refilled continuously). Each key holds its theoretical arrival time: the ms (server clock, with
-- a fraction) at which the bucket would be full again; a call adds period/capacity to it, and is refused
-- when that would put it more than a period ahead of now. So a bucket holds capacity - (tat - now) *
-- capacity / period tokens.
-- Takes one token from every bucket and returns {1, 0}, or, if any bucket holds less than one token,
-- takes none and returns {0, ms until every bucket holds one}. Scripts do not roll back: all checks
-- come before the first write. A key expires once its bucket would be full again.
-- A key with capacity 0 is a penalty (a plain key with a TTL, see guard_penalize()): while it lives, the
-- call is refused for its remaining time and no token is taken.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local tat = {}
local wait = 0
for i = 1, #KEYS do
    local cap = tonumber(ARGV[2 * i - 1])
    if cap == 0 then
        local left = redis.call('PTTL', KEYS[i])
        if left > wait then
            wait = left
        end
    else
        local period = tonumber(ARGV[2 * i])
        local at = tonumber(redis.call('GET', KEYS[i]))
        if at == nil or at < now then
            at = now
        end
        at = at + period / cap
        tat[i] = at
        local w = at - now - period
        if w > wait then
            wait = math.ceil(w)
        end
    end
end
if wait > 0 then
    return {0, wait}
end
for i = 1, #KEYS do
    if tat[i] then
        redis.call('SET', KEYS[i], tat[i], 'PX', math.ceil(tat[i] - now))
    end
end
return {1, 0}
