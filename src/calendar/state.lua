-- calendar: changes the state of a window and/or slots (close a window, cancel a day).
-- KEYS[1] = any key of the office (routing); ARGV[1] = office, ARGV[2] = new state ("closed" or
-- "cancelled"), ARGV[3] = window id ("" for none), ARGV[4..] = slot ids.
-- Only existing hashes change; closing never overrides "cancelled". Returns the slots changed.
local p = 'cal:{' .. ARGV[1] .. '}:'
local st = ARGV[2]
if ARGV[3] ~= '' and redis.call('EXISTS', p .. 'window:' .. ARGV[3]) == 1 then
    redis.call('HSET', p .. 'window:' .. ARGV[3], 'state', st)
end
local n = 0
for i = 4, #ARGV do
    local k = p .. 'slot:' .. ARGV[i]
    local cur = redis.call('HGET', k, 'state')
    if cur and cur ~= st and not (st == 'closed' and cur == 'cancelled') then
        redis.call('HSET', k, 'state', st)
        n = n + 1
    end
end
return n
