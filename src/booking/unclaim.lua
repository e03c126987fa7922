-- booking: gives back a captcha response's claim that the probe made for an attempt refused afterwards by
-- the rate limits (so that the citizen's retry may use the same response), only if it is still this
-- attempt's claim. A claim taken from a captcha pass (ARGV[2], "v:<account>") becomes that pass again.
-- KEYS[1] bk:{OFF}:captcha:<sha256>   ARGV[1] the attempt's claim token   ARGV[2] the pass, or ""
if redis.call('GET', KEYS[1]) == ARGV[1] then
    if ARGV[2] and ARGV[2] ~= '' then
        redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
        return 1
    end
    return redis.call('DEL', KEYS[1])
end
return 0
