-- booking: turns a hold into a booking once PostgreSQL has committed it (also used to settle an attempt
-- whose commit was uncertain and turned out to have happened: the seat may have been reclaimed meanwhile,
-- so it is taken out of the free set again).
-- KEYS[1] bk:{OFF}:hold:<slot>:<seat>   KEYS[2] bk:{OFF}:holds   KEYS[3] person key   KEYS[4] free set
-- Reschedule only: KEYS[5] the old slot's free set   KEYS[6] the old slot's hash
-- ARGV[1] "<slot>:<seat>"   ARGV[2] appointment code   ARGV[3] seat   ARGV[4] old seat (reschedule)
-- The seat leaves the free set only if the hold had expired (it may have been reclaimed): while the hold
-- is there the seat is out of the set unless a cancel or a reschedule of this very appointment, answered
-- before this confirm ran (citasd answers at the commit and confirms beside it), has put it back.
if redis.call('DEL', KEYS[1]) == 0 then
    redis.call('SREM', KEYS[4], ARGV[3])
end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('SET', KEYS[3], ARGV[2])
if #KEYS >= 6 and redis.call('EXISTS', KEYS[6]) == 1 then
    redis.call('SADD', KEYS[5], ARGV[4])
end
return 1
