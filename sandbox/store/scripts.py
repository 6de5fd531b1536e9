"""The Redis store's Lua scripts: each change of a session is one script, so it applies whole."""
from __future__ import annotations

# Every key of a session has its id as hash tag (P:s:{SID}:m), so that on a Redis Cluster a
# session's script stays in one slot. What spans sessions (a tenant's index and the senders'
# wake-up index) is in other slots there: a script given the session's meta key in an index's
# place leaves that index alone, and the cluster store updates it in a step of its own
# (sandbox/store/cluster.py). On one Redis each script does both at once.
#
# A change of a session is told on its channel of notices (P:c:{SID}, in its slot) by SPUBLISH
# from the script that made it: 's' for a commit or reset, 'j' for a journal entry. A process
# whose dashboard watches the session subscribes there (sandbox/store/redis_notices.py); with
# nobody subscribed a SPUBLISH costs the server a lookup, and no round trip is added.
#
# Over the count, take the least recently used sessions of one tenant out of its index of last
# use by sid (its default session and the one being made are never taken) and return them. It
# runs on the index in one script, so that many processes creating sessions at once never take
# the same ones; `drop` then deletes their keys (on a cluster, the caller does, slot by slot).
EVICTION = """
local function evict(index, kept, cutoff, default, new)
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
      redis.call('ZREM', index, sid)
      table.insert(gone, sid)
    end
  end
  return gone
end
local function drop(prefix, gone)
  for _, sid in ipairs(gone) do
    local base = prefix .. 's:{' .. sid .. '}:'
    redis.call('DEL', base .. 'm', base .. 'r', base .. 'j', base .. 'jn', base .. 'jt', base .. 'jv', base .. 'jr',
               base .. 'jb', base .. 't')
    redis.call('ZREM', prefix .. 'wake', sid)
  end
end
"""
# A session's meta hash: v (its version: commits so far), b (its incarnation: a new token each
# time the session is created, so a process never mistakes a recreated session's version for
# the one it remembers), rv (the version at which its records last changed), w (when a sender
# should look at it, as the last commit or reset said: '' for not until it changes; what a
# cluster's wake-up index is set from) and d (the rest).
# KEYS: meta, records, the senders' wake-up index (or meta again), the timeline. ARGV: expected version,
# incarnation, new meta, ttl (0: none), 1 if the records change, the session's id, when a sender
# should look at it ('': not until it changes), the session's channel of change notices, how many
# of the values after it are the timeline's (slot, entry pairs), then the records' field, value pairs.
# Returns 0 (moved on: nothing written) or {1, the w it replaced}.
COMMIT = """
local m = redis.call('HMGET', KEYS[1], 'v', 'b', 'w')
if m[1] ~= ARGV[1] or m[2] ~= ARGV[2] then return 0 end
local v = tonumber(ARGV[1]) + 1
local meta = {'v', v, 'd', ARGV[3], 'w', ARGV[7]}
if ARGV[5] == '1' then meta[7], meta[8] = 'rv', v end
redis.call('HSET', KEYS[1], unpack(meta))
if KEYS[3] ~= KEYS[1] then
  if ARGV[7] == '' then redis.call('ZREM', KEYS[3], ARGV[6]) else redis.call('ZADD', KEYS[3], ARGV[7], ARGV[6]) end
end
local records = 10 + tonumber(ARGV[9])
for i = 10, records - 1, 1000 do
  redis.call('HSET', KEYS[4], unpack(ARGV, i, math.min(i + 999, records - 1)))
end
for i = records, #ARGV, 1000 do
  redis.call('HSET', KEYS[2], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
if tonumber(ARGV[4]) > 0 then
  for i = 1, 4 do if i ~= 3 then redis.call('EXPIRE', KEYS[i], ARGV[4]) end end
end
redis.call('SPUBLISH', ARGV[8], 's')
return {1, m[3] or ''}
"""
# How a request reaches its session, in one round trip. KEYS: meta, the tenant's sessions index
# (or meta again), records, then the journal's keys. ARGV: 1 to mark the session used, ttl, the session's id, the
# time, the version, records version and incarnation this process holds ('' for none), then, to
# make the session if it is missing (else ''), its meta, a new incarnation, and eviction's sessions
# kept, prefix, idle cutoff and the tenant's default session. Returns {0} (no such session, none
# made), {1, v, b} (what the process holds is current), {2, fields, records or false} (the meta
# and, when they changed, the records), or {3, fields, evicted sessions} (made now; the eviction
# over the tenant's count, in the same step, never evicts the session it makes).
LOAD = EVICTION + """
local m = redis.call('HMGET', KEYS[1], 'v', 'b', 'rv', 'd')
if not m[1] then
  if ARGV[8] == '' then return {0} end
  redis.call('DEL', unpack(KEYS, 3))  -- what a late write left of an earlier incarnation
  redis.call('HSET', KEYS[1], 'v', 0, 'b', ARGV[9], 'rv', 0, 'd', ARGV[8])
  if tonumber(ARGV[2]) > 0 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
  local gone = {}
  if KEYS[2] ~= KEYS[1] then
    redis.call('ZADD', KEYS[2], ARGV[4], ARGV[3])
    gone = evict(KEYS[2], ARGV[10], ARGV[12], ARGV[13], ARGV[3])
    drop(ARGV[11], gone)
  end
  return {3, redis.call('HMGET', KEYS[1], 'v', 'b', 'rv', 'd'), gone}
end
if ARGV[1] == '1' then
  if KEYS[2] ~= KEYS[1] then redis.call('ZADD', KEYS[2], ARGV[4], ARGV[3]) end
  if tonumber(ARGV[2]) > 0 then
    redis.call('EXPIRE', KEYS[1], ARGV[2])
    for i = 3, #KEYS do redis.call('EXPIRE', KEYS[i], ARGV[2]) end
  end
end
if m[1] == ARGV[5] and m[2] == ARGV[7] then return {1, m[1], m[2]} end
if m[3] == '0' or (m[3] == ARGV[6] and m[2] == ARGV[7]) then return {2, m, false} end
return {2, m, redis.call('HGETALL', KEYS[3])}
"""
# KEYS: meta, wake-up index (or meta again), then what a reset empties (records, the journal, its tally and the
# entries it keeps apart). ARGV: meta of the reset session, expected version and incarnation, the
# session's id and wake-up time (as COMMIT), its channel. The version goes on; nothing happens if either
# moved since they were read.
RESET = """
local m = redis.call('HMGET', KEYS[1], 'v', 'b')
if m[1] ~= ARGV[2] or m[2] ~= ARGV[3] then return 0 end
local v = tonumber(ARGV[2]) + 1
redis.call('HSET', KEYS[1], 'v', v, 'rv', v, 'd', ARGV[1], 'w', ARGV[5])
redis.call('DEL', unpack(KEYS, 3))
if KEYS[2] ~= KEYS[1] then
  if ARGV[5] == '' then redis.call('ZREM', KEYS[2], ARGV[4]) else redis.call('ZADD', KEYS[2], ARGV[5], ARGV[4]) end
end
redis.call('SPUBLISH', ARGV[6], 's')
return v
"""
# A request's journal entry, which also marks its session used. KEYS: meta, records, the tenant's
# sessions index (or meta again), then the journal, its counter, its tally, the violations and the refusals it
# keeps apart, the bytes each of those three lists holds. ARGV: entry, entries kept, ttl (0: none),
# the tally's fields, separated by newlines ('': none), which of the two lists keeps the entry too (1, 2; 0: neither),
# bytes each list keeps, the two lists' names (sandbox/store/journal.py), the session's id, the
# time, then the version and incarnation the request read ('' when it committed a change: its
# commit checked them), and the session's channel ('': the entry is told to no one). Each list drops its oldest entries past either bound. Returns 1, or 0
# (nothing appended) when the session is gone or moved past what the request read: the request
# then runs again on the newer state, so a read costs one round trip and is never stale.
APPEND = """
local m = redis.call('HMGET', KEYS[1], 'v', 'b')
if not m[1] or (ARGV[11] ~= '' and (m[1] ~= ARGV[11] or m[2] ~= ARGV[12])) then return 0 end
local function keep(key, field, item)
  redis.call('RPUSH', key, item)
  local total = redis.call('HINCRBY', KEYS[9], field, #item)
  local n = redis.call('LLEN', key)
  while n > 0 and (n > tonumber(ARGV[2]) or total > tonumber(ARGV[6])) do
    total = redis.call('HINCRBY', KEYS[9], field, -#redis.call('LPOP', key))
    n = n - 1
  end
end
keep(KEYS[4], 'journal', ARGV[1])
local seq = redis.call('INCR', KEYS[5])
redis.call('HINCRBY', KEYS[6], '#', 1)
for field in string.gmatch(ARGV[4], '[^\\n]+') do redis.call('HINCRBY', KEYS[6], field, 1) end
local kept = tonumber(ARGV[5])
if kept > 0 then
  keep(KEYS[6 + kept], ARGV[6 + kept], seq .. ' ' .. ARGV[1])
end
if KEYS[3] ~= KEYS[1] then redis.call('ZADD', KEYS[3], ARGV[10], ARGV[9]) end
if tonumber(ARGV[3]) > 0 then
  redis.call('EXPIRE', KEYS[1], ARGV[3]); redis.call('EXPIRE', KEYS[2], ARGV[3])
  for i = 4, #KEYS do redis.call('EXPIRE', KEYS[i], ARGV[3]) end
end
if ARGV[13] ~= '' then redis.call('SPUBLISH', ARGV[13], 'j') end
return 1
"""
# A request's change and its journal entry in one step: the change was deferred to the entry
# (RedisStore.run_deferred), so a write on a session the process holds is one round trip. KEYS:
# COMMIT's four, then APPEND's. ARGV: how many of the values after it are COMMIT's, those, then
# APPEND's (its version and incarnation '': the commit checks them). Returns COMMIT's answer;
# the entry is appended only with the change.
COMMIT_APPEND = "local function commit(KEYS, ARGV)\n" + COMMIT + "end\nlocal function append(KEYS, ARGV)\n" + APPEND + """end
local n = tonumber(ARGV[1])
local ck, ca, ak, aa = {}, {}, {}, {}
for i = 1, 4 do ck[i] = KEYS[i] end
for i = 5, #KEYS do ak[#ak + 1] = KEYS[i] end
for i = 2, n + 1 do ca[#ca + 1] = ARGV[i] end
for i = n + 2, #ARGV do aa[#aa + 1] = ARGV[i] end
ca[4] = '0'  -- the entry's step sets every key's time to live, the commit's among them
local done = commit(ck, ca)
if done == 0 then return 0 end
append(ak, aa)
return done
"""
# On a cluster, a tenant's index after LOAD made a session there (sandbox/store/cluster.py).
# KEYS: the index, the sessions being evicted (by when they were taken). ARGV: sessions kept,
# idle cutoff, the tenant's default session, the session made, the time. Marks it used, takes
# the sessions over the count out of the index and returns them for the caller to delete,
# with those an earlier eviction took a minute ago or more but never confirmed deleted (its
# process died, or lost Redis, in between), unless they are in the index again: used since,
# they stay. Running it again is harmless.
EVICT = EVICTION + """
redis.call('ZADD', KEYS[1], ARGV[5], ARGV[4])
local gone = evict(KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4])
for _, sid in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', tonumber(ARGV[5]) - 60)) do
  redis.call('ZREM', KEYS[2], sid)
  if not redis.call('ZSCORE', KEYS[1], sid) then table.insert(gone, sid) end
end
for _, sid in ipairs(gone) do redis.call('ZADD', KEYS[2], ARGV[5], sid) end
return gone
"""
# On a cluster, a session's use marked in its tenant's index (sandbox/store/cluster.py). KEYS: the
# index, the sessions being evicted. ARGV: the time, the session. Marks only a session the index
# holds, or one an eviction took a minute ago or more and never finished (used since, it stays,
# as EVICT reads it): a session being made enters the index with its own EVICT, once it is
# whole, and one being evicted now is not put back while its keys are deleted. Either would
# leave the index naming a session that is gone, counted toward the cap.
TOUCH = """
local taken = redis.call('ZSCORE', KEYS[2], ARGV[2])
if redis.call('ZSCORE', KEYS[1], ARGV[2]) or (taken and tonumber(taken) <= tonumber(ARGV[1]) - 60) then
  redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
end
"""
# The built-in inboxes, bounded together. All their keys share the hash tag {inbox}. KEYS: the name's list, the order of every entry (one
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
