package redisrate

import "github.com/redis/go-redis/v9"

// Both scripts read the clock with TIME, so every instance uses the server's clock, and do all arithmetic on
// integers below 2^53 (Lua numbers are doubles; New checks the bounds). State is written only on admission,
// always with an expiry equal to the time until the quota is full again, so an idle key disappears and no key is
// ever left without one. Each returns {allowed, remaining, retry_after, reset_after} in the script's time unit.

// gcraScript is the generic cell rate algorithm on one string key holding the theoretical arrival time (TAT) in
// microseconds of server time.
//
// KEYS[1] state key; ARGV[1] emission interval T in µs; ARGV[2] burst; ARGV[3] n.
var gcraScript = redis.NewScript(`
local t = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local tau = burst * t
local tat = tonumber(redis.call('GET', KEYS[1]) or now) or now
if tat < now then tat = now end
local new_tat = tat + n * t
local allowed, retry = 0, 0
if new_tat - now > tau then
  retry = new_tat - tau - now
else
  allowed = 1
  if n > 0 then
    tat = new_tat
    redis.call('SET', KEYS[1], string.format('%d', tat), 'PX', math.ceil((tat - now) / 1000))
  end
end
local reset = tat - now
local remaining = math.floor((tau - reset) / t)
if remaining < 0 then remaining = 0 end
return {allowed, remaining, retry, reset}
`)

// slidingScript is the sliding-window counter on one hash key: w, the index of the current window, c its count
// and p the previous window's count. The estimate is p weighted by the part of the previous window still inside
// the sliding window, plus c; it is kept multiplied by the period so that it stays an integer.
//
// KEYS[1] state key; ARGV[1] limit; ARGV[2] period in units; ARGV[3] µs per unit; ARGV[4] n.
var slidingScript = redis.NewScript(`
local limit = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local unit = tonumber(ARGV[3])
local n = tonumber(ARGV[4])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * (1000000 / unit) + math.floor(tonumber(clock[2]) / unit)
local idx = math.floor(now / period)
local st = redis.call('HMGET', KEYS[1], 'w', 'c', 'p')
local w, cur, prev = tonumber(st[1]), tonumber(st[2]) or 0, tonumber(st[3]) or 0
if w == nil then
  cur, prev = 0, 0
elseif w > idx then
  idx = w -- the server clock went back: stay in the stored window
elseif w == idx - 1 then
  prev, cur = cur, 0
elseif w < idx then
  cur, prev = 0, 0
end
local elapsed = now - idx * period
if elapsed < 0 then elapsed = 0 end
local cap = limit * period
local used = prev * (period - elapsed) + cur * period
local allowed, retry = 0, 0
if used + n * period <= cap then
  allowed = 1
  if n > 0 then
    cur = cur + n
    used = used + n * period
    redis.call('HSET', KEYS[1], 'w', string.format('%d', idx), 'c', string.format('%d', cur), 'p', string.format('%d', prev))
    redis.call('PEXPIRE', KEYS[1], math.ceil(((idx + 2) * period - now) * unit / 1000))
  end
elseif n > limit then
  retry = -1
elseif cur + n <= limit then
  -- the previous window's weight decays enough within this window
  retry = period - math.floor((limit - cur - n) * period / prev) - elapsed
else
  -- wait for the next window, where this window's count is the decaying previous one
  retry = period - elapsed
  if cur > 0 then retry = retry + period - math.floor((limit - n) * period / cur) end
end
local reset = 0
if cur > 0 then reset = (idx + 2) * period - now elseif prev > 0 then reset = (idx + 1) * period - now end
local remaining = math.floor((cap - used) / period)
if remaining < 0 then remaining = 0 end
return {allowed, remaining, retry, reset}
`)
