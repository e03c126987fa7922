-- calendar: availability of one procedure of one office, from Redis only.
-- KEYS[1] = cal:{OFF}:proc:<procedure>, KEYS[2] = bk:{OFF}:holds
-- ARGV[1] = office, ARGV[2] = first start (epoch s, inclusive), ARGV[3] = last start (exclusive),
-- ARGV[4] = most slots to return.
-- Returns {now ms, truncated (0|1), then per open slot: id, start, local, capacity, release ms, free}.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local p = 'cal:{' .. ARGV[1] .. '}:'
local b = 'bk:{' .. ARGV[1] .. '}:'
-- Expired holds go back to their free sets, with exactly the rule of booking's reserve.lua reclaim(): a
-- member whose hold key still lives is re-scored to its real expiry; one whose hold key is gone was never
-- confirmed (confirming removes the member), so its seat is free again.
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, 1000)
for _, m in ipairs(expired) do
    local pttl = redis.call('PTTL', b .. 'hold:' .. m)
    if pttl > 0 then
        redis.call('ZADD', KEYS[2], now + pttl, m)
    else
        local sep = string.find(m, ':', 1, true)
        if sep and pttl == -2 then
            redis.call('SADD', p .. 'free:' .. string.sub(m, 1, sep - 1), string.sub(m, sep + 1))
        end
        redis.call('ZREM', KEYS[2], m)
    end
end
local max = tonumber(ARGV[4])
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[2], '(' .. ARGV[3], 'LIMIT', 0, max + 1)
local out = {now, 0}
for i, id in ipairs(ids) do
    if i > max then
        out[2] = 1
        break
    end
    local h = redis.call('HMGET', p .. 'slot:' .. id, 'start', 'local', 'capacity', 'release', 'state')
    if h[5] == 'open' then
        out[#out + 1] = id
        out[#out + 1] = h[1]
        out[#out + 1] = h[2]
        out[#out + 1] = h[3]
        out[#out + 1] = h[4]
        out[#out + 1] = redis.call('SCARD', p .. 'free:' .. id)
    end
end
return out
