-- booking: gives back the seat of an attempt that failed after the reservation.
-- KEYS[1] bk:{OFF}:hold:<slot>:<seat>   KEYS[2] bk:{OFF}:holds   KEYS[3] person key   KEYS[4] free set
-- ARGV[1] "<slot>:<seat>"   ARGV[2] seat   ARGV[3] the hold's value for this attempt (the person key)
-- ARGV[4] "1": the seat is free again; "0": PostgreSQL says the seat is taken, drop it from Redis
-- The seat goes back only if the hold still belongs to this attempt (or expired without being reclaimed
-- yet); the person key goes only if it still names this hold. Returns 1 if the seat was settled here.
local done = 0
local v = redis.call('GET', KEYS[1])
if v == ARGV[3] or (not v and redis.call('ZSCORE', KEYS[2], ARGV[1])) then
    redis.call('DEL', KEYS[1])
    redis.call('ZREM', KEYS[2], ARGV[1])
    if ARGV[4] == '1' then
        redis.call('SADD', KEYS[4], ARGV[2])
    end
    done = 1
end
if ARGV[4] ~= '1' then
    redis.call('SREM', KEYS[4], ARGV[2])
end
if redis.call('GET', KEYS[3]) == ARGV[1] then
    redis.call('DEL', KEYS[3])
end
return done
