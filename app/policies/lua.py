"""The scripts the shared counters run in Redis (`shared_counters.py`): each one atomic."""

from __future__ import annotations

# One request's admission, or a process taking permits ahead (a refill, `check` 0).
#
# KEYS: requests, tokens, in-flight, budget 1..n ('': not limited)
# ARGV: 1 check (1: an admission, whose limits refuse it; 0: a refill, never refused),
#       2 requests limit, 3 requests needed, 4 requests wished for ahead,
#       5 tokens limit,
#       6 in-flight limit, 7 places needed, 8 places wished for ahead,
#       9 place name prefix, 10 first place number, 11 now ms, 12 places stale before ms,
#       13.. budget limits 1..n
# Answers {outcome, budget index, requests granted, requests counted, tokens, places granted,
#          places held, used 1..n (-1: the budget counter does not exist)}.
#
# Beyond what it needs, a caller gets what it wished for, up to an eighth of what is left after
# its need: nothing once fewer than eight are left, so the last permits of a limit go one at a
# time to whichever process has a request for them.
ADMIT = """
local check = ARGV[1] == '1'
local function ahead(room, wish)
  if wish <= 0 or room < 8 then return 0 end
  return math.min(wish, math.floor(room / 8))
end
local requests, tokens, places = 0, 0, 0
if KEYS[1] ~= '' then requests = tonumber(redis.call('GET', KEYS[1]) or '0') end
if KEYS[2] ~= '' then tokens = tonumber(redis.call('GET', KEYS[2]) or '0') end
if KEYS[3] ~= '' then
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', ARGV[12])
  places = redis.call('ZCARD', KEYS[3])
end
local used = {}
for i = 4, #KEYS do
  local value = redis.call('GET', KEYS[i])
  used[#used + 1] = value and tonumber(value) or -1
end
local function answer(outcome, index, requests_granted, places_granted)
  local result = {outcome, index, requests_granted, requests, tokens, places_granted, places}
  for i = 1, #used do result[#result + 1] = used[i] end
  return result
end
local requests_limit, tokens_limit, places_limit =
  tonumber(ARGV[2]), tonumber(ARGV[5]), tonumber(ARGV[6])
local requests_needed, places_needed = tonumber(ARGV[3]), tonumber(ARGV[7])
if check then
  if requests_needed > 0 and requests + requests_needed > requests_limit then
    return answer('requests_per_minute', -1, 0, 0)
  end
  if KEYS[2] ~= '' and tokens >= tokens_limit then
    return answer('tokens_per_minute', -1, 0, 0)
  end
  if places_needed > 0 and places + places_needed > places_limit then
    return answer('concurrency', -1, 0, 0)
  end
  for i = 1, #used do
    if used[i] < 0 then return answer('seed', i - 1, 0, 0) end
    if used[i] >= tonumber(ARGV[12 + i]) then return answer('budget', i - 1, 0, 0) end
  end
else
  requests_needed, places_needed = 0, 0
end
local requests_granted, places_granted = 0, 0
if KEYS[1] ~= '' then
  local room = requests_limit - requests - requests_needed
  requests_granted = requests_needed + ahead(room, tonumber(ARGV[4]))
  if requests_granted > 0 then
    requests = redis.call('INCRBY', KEYS[1], requests_granted)
    redis.call('PEXPIRE', KEYS[1], 120000)
  end
end
if KEYS[3] ~= '' then
  local room = places_limit - places - places_needed
  places_granted = places_needed + ahead(room, tonumber(ARGV[8]))
  local first = tonumber(ARGV[10])
  for i = 0, places_granted - 1 do
    redis.call('ZADD', KEYS[3], ARGV[11], ARGV[9] .. (first + i))
  end
  if places_granted > 0 then
    places = places + places_granted
    redis.call('PEXPIRE', KEYS[3], 2 * (tonumber(ARGV[11]) - tonumber(ARGV[12])))
  end
end
return answer('admitted', -1, requests_granted, places_granted)
"""

# What requests used, added when their responses have ended.
# KEYS: counters 1..n
# ARGV: amount 1..n, ttl ms 1..n, create 1..n (0: only if the counter exists: a budget counter
#       that does not must be seeded from the usage recorded, which already holds the amount)
ADD = """
local n = #KEYS
for i = 1, n do
  if ARGV[2 * n + i] == '1' or redis.call('EXISTS', KEYS[i]) == 1 then
    redis.call('INCRBY', KEYS[i], ARGV[i])
    redis.call('PEXPIRE', KEYS[i], ARGV[n + i])
  end
end
return n
"""

# Requests permitted ahead and never used, given back (never below zero: a counter that expired
# meanwhile is not brought back).
# KEYS: counters 1..n
# ARGV: amount 1..n
GIVE_BACK = """
for i = 1, #KEYS do
  local value = redis.call('GET', KEYS[i])
  if value then
    redis.call('DECRBY', KEYS[i], math.min(tonumber(ARGV[i]), tonumber(value)))
  end
end
return #KEYS
"""
