-- booking: the reservation, atomically (Redis runs a script alone; it does not roll back, so every
-- check comes before the first write).
-- KEYS[1] cal:{OFF}:slot:<id>   KEYS[2] cal:{OFF}:free:<id>   KEYS[3] bk:{OFF}:holds
-- KEYS[4] bk:{OFF}:person:<doc_hash>:<procedure>   KEYS[5] cal:{OFF}:proc:<procedure>
-- ARGV[1] slot id   ARGV[2] procedure   ARGV[3] hold TTL (ms)
-- ARGV[4] code of the appointment being rescheduled ("" for a new booking)   ARGV[5] next dates wanted (0:
--         none; citasd then suggests from its availability cache)
-- ARGV[6] "probe": check everything but the person and take nothing (KEYS[4] is then the captcha's claim
--         or any key of the office); answers {"free"} when a seat is there. Attempts probe first so that
--         the losers of a sold-out slot are answered before the captcha is spent (no siteverify, no
--         PostgreSQL for them).
-- ARGV[7] a random non-negative integer: where each day's choice of a suggested slot starts.
-- ARGV[8] probe only, may be "": this attempt's token for the captcha response's claim, KEYS[4] (in the
--         office's keys): a probe that finds a seat claims the response (SET with ARGV[9] seconds to live)
--         unless another attempt holds the claim ({"captcha_reused"}); the same attempt probing again keeps it.
-- ARGV[10] probe only, with ARGV[8]: the value of this account's captcha pass ("v:<account>", see
--         captcha_pass.c): a claim key holding it is the response verified beforehand for this account; the
--         probe takes it like a free response and answers "1" as the fourth element of {"free"}; a claim
--         key holding "x" is a response siteverify refused there: {"captcha_refused"}.
-- Replies: {"ok", seat, start, local, window}, {"no_slot"}, {"wrong_procedure"}, {"closed"}, {"past"},
-- {"not_released", release_ms}, {"already", person_value}, {"sold_out", id1, start1, local1, id2, ...},
-- {"free", release_ms, now_ms, passed}, {"captcha_reused"}, {"captcha_refused"} (probe only)
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local tag = string.match(KEYS[1], '^cal:({[^}]*}):')

-- Expired holds go back to their slot's free set (only if the hold key is gone; a confirmed booking has
-- already left the ZSET). calendar's availability script does the same inline.
local function reclaim()
    local exp = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now_ms, 'LIMIT', 0, 100)
    for _, m in ipairs(exp) do
        local pttl = redis.call('PTTL', 'bk:' .. tag .. ':hold:' .. m)
        if pttl > 0 then
            redis.call('ZADD', KEYS[3], now_ms + pttl, m)
        else
            local sep = string.find(m, ':', 1, true)
            if sep and pttl == -2 then
                redis.call('SADD', 'cal:' .. tag .. ':free:' .. string.sub(m, 1, sep - 1), string.sub(m, sep + 1))
            end
            redis.call('ZREM', KEYS[3], m)
        end
    end
end

-- Up to `want` next days (office-local) with a free seat in an open, released slot of the procedure, one
-- slot per day. Under a surge most attempts lose and all of them ask: the candidates (up to 500 slots with
-- seats, by day) are cached for a second, and each answer picks, per day, a slot that still has a seat
-- starting at a position given by ARGV[7] (a random number from the caller), so that the losers of one
-- moment spread over a day's slots instead of all retrying its first one.
-- The cache is one string read without decoding (a JSON cache cost ~100 us of Redis a sold-out answer to
-- decode): a header line with the time it was built and each day's count of candidates, then fixed-width
-- records "id start local".
-- When the cached days run out (a day without a seat left, or many sold-out records passed over) and the
-- cache is REBUILD_MS old, it is built again at once: otherwise, for the rest of its second, every loser
-- was sent to the last seats of the cached days (thousands of 409s for a few seats) while the days after
-- them, not in the cache, still had seats.
local REC = 64
local REBUILD_MS = 100
local STALE_DEAD = 24
local function build_dates(cache, want)
    local days, index = {}, {}
    local ids = redis.call('ZRANGEBYSCORE', KEYS[5], math.floor(now_ms / 1000) + 1, '+inf', 'LIMIT', 0, 500)
    for _, id in ipairs(ids) do
        if redis.call('SCARD', 'cal:' .. tag .. ':free:' .. id) > 0 then
            local h = redis.call('HMGET', 'cal:' .. tag .. ':slot:' .. id, 'state', 'local', 'start', 'release')
            local rec = h[2] and h[3] and (id .. ' ' .. h[3] .. ' ' .. h[2])
            if h[1] == 'open' and rec and #rec < REC and tonumber(h[4] or '0') <= now_ms then
                local day = string.sub(h[2], 1, 10)
                if not index[day] then
                    if #days >= want then
                        break
                    end
                    days[#days + 1] = {}
                    index[day] = #days
                end
                local d = days[index[day]]
                d[#d + 1] = rec .. string.rep(' ', REC - #rec)
            end
        end
    end
    local counts, recs = {now_ms}, {}
    for i, d in ipairs(days) do
        counts[i + 1] = #d
        recs[i] = table.concat(d)
    end
    local c = table.concat(counts, ' ') .. '\n' .. table.concat(recs)
    redis.call('SET', cache, c, 'PX', 1000)
    return c
end

-- Per cached day, the first record from a random position with a seat left. Returns the suggestions, the
-- cache's build time, and whether the cached days are running out.
local function pick_dates(c)
    local body = string.find(c, '\n', 1, true) or #c
    local out = {}
    local r = tonumber(ARGV[7] or '0') or 0
    local first = 0 -- the index of the day's first record
    local built, dead, empty = nil, 0, false
    for count in string.gmatch(string.sub(c, 1, body - 1), '%d+') do
        if not built then
            built = tonumber(count)
        else
            local n = tonumber(count)
            local found = false
            for k = 0, n - 1 do
                local at = body + (first + (r + k) % n) * REC
                local id, start, loc = string.match(string.sub(c, at + 1, at + REC), '^(%S+) (%S+) (%S+)')
                if id and redis.call('SCARD', 'cal:' .. tag .. ':free:' .. id) > 0 then
                    out[#out + 1] = id
                    out[#out + 1] = start
                    out[#out + 1] = loc
                    found = true
                    break
                end
                dead = dead + 1
            end
            empty = empty or not found
            first = first + n
        end
    end
    return out, built or 0, empty or dead > STALE_DEAD
end

local function next_dates(want)
    local cache = 'bk:' .. tag .. ':nextdates:' .. ARGV[2]
    local c = redis.call('GET', cache)
    if not c then
        return (pick_dates(build_dates(cache, want)))
    end
    local out, built, stale = pick_dates(c)
    if stale and now_ms - built >= REBUILD_MS then
        out = pick_dates(build_dates(cache, want))
    end
    return out
end

local s = redis.call('HMGET', KEYS[1], 'procedure', 'state', 'start', 'local', 'release', 'window')
if not s[1] then
    return {'no_slot'}
end
if s[1] ~= ARGV[2] then
    return {'wrong_procedure'}
end
if s[2] ~= 'open' then
    return {'closed'}
end
if s[6] and redis.call('HGET', 'cal:' .. tag .. ':window:' .. s[6], 'state') == 'closed' then
    return {'closed'}
end
if now_ms < tonumber(s[5] or '0') then
    return {'not_released', s[5]}
end
if tonumber(s[3] or '0') * 1000 <= now_ms then
    return {'past'}
end
local probe = ARGV[6] == 'probe'
if not probe then
    local p = redis.call('GET', KEYS[4])
    if p and not (ARGV[4] ~= '' and p == ARGV[4]) then
        return {'already', p}
    end
end

reclaim()
local seat = nil
if probe then
    if redis.call('SCARD', KEYS[2]) > 0 then
        local passed = '0'
        if ARGV[8] and ARGV[8] ~= '' then
            local c = redis.call('GET', KEYS[4])
            if c and c ~= ARGV[8] then
                if ARGV[10] and ARGV[10] ~= '' and c == ARGV[10] then
                    passed = '1'
                elseif c == 'x' then
                    return {'captcha_refused'}
                else
                    return {'captcha_reused'}
                end
            end
            redis.call('SET', KEYS[4], ARGV[8], 'EX', ARGV[9])
        end
        return {'free', s[5] or '0', tostring(now_ms), passed}
    end
else
    seat = redis.call('SPOP', KEYS[2])
end
if not seat then
    local r = {'sold_out'}
    local want = tonumber(ARGV[5]) or 0
    if want > 0 then -- 0: citasd suggests from its availability cache
        for _, v in ipairs(next_dates(want)) do
            r[#r + 1] = v
        end
    end
    return r
end
local ttl = tonumber(ARGV[3])
local member = ARGV[1] .. ':' .. seat
redis.call('SET', 'bk:' .. tag .. ':hold:' .. member, KEYS[4], 'PX', ttl)
redis.call('ZADD', KEYS[3], now_ms + ttl, member)
if ARGV[4] == '' then
    redis.call('SET', KEYS[4], member, 'PX', ttl)
end
return {'ok', seat, s[3], s[4], s[6] or ''}
