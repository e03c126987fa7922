-- booking: a cancelled appointment's seat is free again at once (PostgreSQL has committed the cancel).
-- KEYS[1] cal:{OFF}:slot:<id>   KEYS[2] cal:{OFF}:free:<id>   KEYS[3] person key
-- ARGV[1] seat   ARGV[2] appointment code
-- The seat goes back only while the slot is loaded and the seat is within its capacity.
local cap = tonumber(redis.call('HGET', KEYS[1], 'capacity') or '0')
local seat = tonumber(ARGV[1])
local back = 0
if seat and seat >= 1 and seat <= cap then
    back = redis.call('SADD', KEYS[2], ARGV[1])
end
if redis.call('GET', KEYS[3]) == ARGV[2] then
    redis.call('DEL', KEYS[3])
end
return back
