"""The Redis store's Lua scripts: each change of a session is one script, so it applies whole."""
from __future__ import annotations

# Over the count, drop the least recently used sessions of one tenant (from its index of last use by sid, where
# its default session is never dropped),
# in the step that made the new one, so that many processes creating sessions at once do not
# all delete the same ones.
EVICTION = """
local function evict(index, kept, prefix, cutoff, default, new)
  if cutoff ~= '' then
    local score = redis.call('ZSCORE', index, default)
    redis.call('ZREMRANGEBYSCORE', index, '-inf', cutoff)
    if score then redis.call('ZADD', index, score, default) end
  end
  local n = redis.call('ZCARD', index)
  if redis.call('ZSCORE', index, default) then n = n - 1 end
  local excess, gone = n - tonumber(kept), {}
  if excess <= 0 then return gone end
  for _, sid in ipairs(redis.call('ZRANGE', index, 0, excess + 1)) do  -- the default and the new one may be among them
    if sid ~= default and sid ~= new and #gone < excess then
      local base = prefix .. 's:' .. sid .. ':'
      redis.call('DEL', base .. 'm', base .. 'r', base .. 'j', base .. 'jn', base .. 'jt', base .. 'jv', base .. 'jr',
                 base .. 'jb')
      redis.call('ZREM', index, sid)
      redis.call('ZREM', prefix .. 'wake', sid)
      table.insert(gone, sid)
    end
  end
  return gone
end
"""
# A session's meta hash: v (its version: commits so far), b (its incarnation: a new token each
# time the session is created, so a process never mistakes a recreated session's version for
# the one it remembers), rv (the version at which its records last changed) and d (the rest).
# KEYS: meta, records, the senders' wake-up index. ARGV: expected version, incarnation, new meta,
# ttl (0: none), 1 if the records change, the session's id, when a sender should look at it
# ('': not until it changes), then field, value pairs.
COMMIT = """
local m = redis.call('HMGET', KEYS[1], 'v', 'b')
if m[1] ~= ARGV[1] or m[2] ~= ARGV[2] then return 0 end
local v = tonumber(ARGV[1]) + 1
redis.call('HSET', KEYS[1], 'v', v, 'd', ARGV[3])
if ARGV[5] == '1' then redis.call('HSET', KEYS[1], 'rv', v) end
if ARGV[7] == '' then redis.call('ZREM', KEYS[3], ARGV[6]) else redis.call('ZADD', KEYS[3], ARGV[7], ARGV[6]) end
for i = 8, #ARGV, 1000 do
  redis.call('HSET', KEYS[2], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
if tonumber(ARGV[4]) > 0 then
  redis.call('EXPIRE', KEYS[1], ARGV[4]); redis.call('EXPIRE', KEYS[2], ARGV[4])
end
return 1
"""
# KEYS: meta, the tenant's sessions index, records, then the journal's keys. ARGV: meta of a new session, ttl,
# incarnation, then eviction's sessions kept, prefix, idle cutoff and the tenant's default session, then the
# session's id and the time. Unless another process made the session
# first, makes it and evicts over the count, in the same step. Returns its fields and the
# sessions evicted.
CREATE = EVICTION + """
local gone = {}
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('DEL', unpack(KEYS, 3))  -- what a late write left of an earlier incarnation
  redis.call('HSET', KEYS[1], 'v', 0, 'b', ARGV[3], 'rv', 0, 'd', ARGV[1])
  if tonumber(ARGV[2]) > 0 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
  redis.call('ZADD', KEYS[2], ARGV[9], ARGV[8])
  gone = evict(KEYS[2], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8])  -- never the session it makes
end
return {redis.call('HMGET', KEYS[1], 'v', 'b', 'rv', 'd'), gone}
"""
# KEYS: meta, wake-up index, then what a reset empties (records, the journal, its tally and the
# entries it keeps apart). ARGV: meta of the reset session, expected version and incarnation, the
# session's id and wake-up time (as COMMIT). The version goes on; nothing happens if either
# moved since they were read.
RESET = """
local m = redis.call('HMGET', KEYS[1], 'v', 'b')
if m[1] ~= ARGV[2] or m[2] ~= ARGV[3] then return 0 end
local v = tonumber(ARGV[2]) + 1
redis.call('HSET', KEYS[1], 'v', v, 'rv', v, 'd', ARGV[1])
redis.call('DEL', unpack(KEYS, 3))
if ARGV[5] == '' then redis.call('ZREM', KEYS[2], ARGV[4]) else redis.call('ZADD', KEYS[2], ARGV[5], ARGV[4]) end
return v
"""
# KEYS: journal, its counter, its tally, the violations and the refusals it keeps apart, the
# bytes each of those three lists holds. ARGV: entry, entries kept, ttl (0: none), the tally's
# field ('': none), which of the two lists keeps the entry too (1, 2; 0: neither), bytes each
# list keeps, then the two lists' names (sandbox/store/journal.py). Each list drops its
# oldest entries past either bound.
APPEND = """
local function keep(key, field, item)
  redis.call('RPUSH', key, item)
  local total = redis.call('HINCRBY', KEYS[6], field, #item)
  local n = redis.call('LLEN', key)
  while n > 0 and (n > tonumber(ARGV[2]) or total > tonumber(ARGV[6])) do
    total = redis.call('HINCRBY', KEYS[6], field, -#redis.call('LPOP', key))
    n = n - 1
  end
end
keep(KEYS[1], 'journal', ARGV[1])
local seq = redis.call('INCR', KEYS[2])
redis.call('HINCRBY', KEYS[3], '#', 1)
if ARGV[4] ~= '' then redis.call('HINCRBY', KEYS[3], ARGV[4], 1) end
local kept = tonumber(ARGV[5])
if kept > 0 then
  keep(KEYS[3 + kept], ARGV[6 + kept], seq .. ' ' .. ARGV[1])
end
if tonumber(ARGV[3]) > 0 then
  for i = 1, #KEYS do redis.call('EXPIRE', KEYS[i], ARGV[3]) end
end
"""
# The built-in inboxes, bounded together. KEYS: the name's list, the order of every entry (one
# record "<seq> <bytes> <name>" each, oldest first), the bytes those records count, the seq
# counter. ARGV: the entry, its name, entries kept per name, the bytes all inboxes keep, ttl,
# the prefix of a name's list. Each entry is kept as "<seq> <entry>", so a record whose entry
# is gone already (cleared, trimmed, expired) drops nothing newer; the count covers such
# records until they come up, so it is never below what the inboxes hold.
INBOX = """
local seq = redis.call('INCR', KEYS[4])
local size = #ARGV[1] + #ARGV[2]
redis.call('RPUSH', KEYS[1], seq .. ' ' .. ARGV[1])
redis.call('LTRIM', KEYS[1], -tonumber(ARGV[3]), -1)
redis.call('RPUSH', KEYS[2], seq .. ' ' .. size .. ' ' .. ARGV[2])
local total = redis.call('INCRBY', KEYS[3], size)
while total > tonumber(ARGV[4]) do
  local record = redis.call('LPOP', KEYS[2])
  if not record then redis.call('SET', KEYS[3], 0); break end
  local old, bytes, name = string.match(record, '^(%d+) (%d+) (.*)$')
  total = redis.call('DECRBY', KEYS[3], bytes)
  local box = ARGV[6] .. name
  local head = redis.call('LINDEX', box, 0)
  if head and string.sub(head, 1, #old + 1) == old .. ' ' then redis.call('LPOP', box) end
end
for i = 1, #KEYS do redis.call('EXPIRE', KEYS[i], ARGV[5]) end
"""
