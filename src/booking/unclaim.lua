-- booking: gives back a captcha response's claim that the probe made for an attempt refused afterwards by
-- the rate limits (so that the citizen's retry may use the same response), only if it is still this
-- attempt's claim.
-- KEYS[1] bk:{OFF}:captcha:<sha256>   ARGV[1] the attempt's claim token
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
