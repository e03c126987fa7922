-- Token buckets, checked and taken in one atomic call.
-- KEYS[i]: a bucket (hash: tokens, ts); ARGV[2i-1]: its capacity; ARGV[2i]: its refill period in ms
-- (capacity tokens per period, refilled continuously). Uses the server's clock.
-- Takes one token from every bucket and returns {1, 0}, or, if any bucket holds less than one token,
-- takes none and returns {0, ms until every bucket holds one}. Scripts do not roll back: all checks
-- come before the first write. A bucket expires once it would be full again.
-- A key with capacity 0 is a penalty (a plain key with a TTL, see guard_penalize()): while it lives, the
-- call is refused for its remaining time and no token is taken.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local level = {}
local wait = 0
for i = 1, #KEYS do
    local cap = tonumber(ARGV[2 * i - 1])
    local period = tonumber(ARGV[2 * i])
    if cap == 0 then
        local left = redis.call('PTTL', KEYS[i])
        if left > wait then
            wait = left
        end
    else
        local tokens = cap
        local b = redis.call('HMGET', KEYS[i], 'tokens', 'ts')
        local had, ts = tonumber(b[1]), tonumber(b[2])
        if had and ts then
            local elapsed = now - ts
            if elapsed < 0 then
                elapsed = 0
            end
            tokens = math.min(cap, had + elapsed * cap / period)
        end
        level[i] = tokens
        if tokens < 1 then
            local w = math.ceil((1 - tokens) * period / cap)
            if w > wait then
                wait = w
            end
        end
    end
end
if wait > 0 then
    return {0, wait}
end
for i = 1, #KEYS do
    local cap = tonumber(ARGV[2 * i - 1])
    local period = tonumber(ARGV[2 * i])
    if cap > 0 then
        local left = level[i] - 1
        redis.call('HSET', KEYS[i], 'tokens', string.format('%.6f', left), 'ts', string.format('%d', now))
        redis.call('PEXPIRE', KEYS[i], string.format('%d', math.ceil((cap - left) * period / cap) + 1000))
    end
end
return {1, 0}
