// The Lua helpers every queue script starts with (lua.ts): the policy arguments, the server
// clock, and the moves of a message between ready, leased, delayed, blocked and dead. Each keeps
// the structures consistent on its own, since a script that fails half-way is not rolled back.

/** The shared helpers; QueueStore.call sends the policy arguments every script takes first. */
export const PRELUDE = `
local B = KEYS[1]
local LEASE_MS = tonumber(ARGV[1])
local MAX_ATTEMPTS = tonumber(ARGV[2])
local BO_INIT = tonumber(ARGV[3])
local BO_MAX = tonumber(ARGV[4])
local BO_MULT = tonumber(ARGV[5])
local BO_JITTER = tonumber(ARGV[6])
local BO_RANDOM = tonumber(ARGV[7])
local DEDUP_MS = tonumber(ARGV[8])
local GROUP = 'llmwire'
local t = redis.call('TIME')
local NOW = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local LEASE_LOST = '{"code":"worker_lost","message":"lease expired","retryable":true}'
local rang = false

local function msg(id) return B .. 'm:' .. id end

-- A ready message is one stream entry at its priority; the group reads highest level first.
local function make_ready(id, lvl)
  local s = B .. 's:' .. lvl
  if redis.call('SADD', B .. 'lv', lvl) == 1 then
    redis.pcall('XGROUP', 'CREATE', s, GROUP, '0', 'MKSTREAM')
  end
  local sid = redis.call('XADD', s, '*', 'm', id)
  redis.call('HSET', msg(id), 'st', 'R', 'sid', sid)
  rang = true
end

-- A message allowed to go next (the head of its key, or keyless): ready now or when due.
-- Callers that have its due time and priority at hand pass them.
local function release(id, av, p)
  local h = msg(id)
  if av == nil then
    local f = redis.call('HMGET', h, 'av', 'p')
    if not f[1] then return end
    av, p = tonumber(f[1]), f[2]
  end
  if av > NOW then
    redis.call('ZADD', B .. 'dl', av, id)
    redis.call('HSET', h, 'st', 'D')
  else
    make_ready(id, p)
  end
end

-- The head of a key left the queue: the next message of that key, if any, may go.
local function advance_key(key)
  local nxt = redis.call('LPOP', B .. 'k:' .. key)
  if nxt then
    redis.call('HSET', B .. 'kh', key, nxt)
    release(nxt)
  else
    redis.call('HDEL', B .. 'kh', key)
  end
end

-- Takes a message out of whichever structure holds it; returns its state and key.
local function detach(id)
  local f = redis.call('HMGET', msg(id), 'st', 'sid', 'p', 'k')
  local st, sid, p, k = f[1], f[2], f[3], f[4]
  if st == 'R' or st == 'L' then
    local s = B .. 's:' .. p
    redis.call('XACK', s, GROUP, sid)
    redis.call('XDEL', s, sid)
    redis.call('ZREM', B .. 'ls', id)
  elseif st == 'D' then
    redis.call('ZREM', B .. 'dl', id)
  elseif st == 'B' then
    redis.call('LREM', B .. 'k:' .. k, 1, id)
  end
  return st, k
end

-- Forgets a live message; the next of its key goes if it was the key's head.
local function remove(id)
  local st, k = detach(id)
  redis.call('ZREM', B .. 'ex', id)
  redis.call('DEL', msg(id))
  redis.call('DECR', B .. 'n')
  if k and st ~= 'B' then advance_key(k) end
end

local function kill(id, reason, err)
  local f = redis.call('HMGET', msg(id), 'f', 'a', 'e')
  local e = f[3]
  if err and err ~= '' then e = err end
  local old = redis.call('HGET', B .. 'di', id)
  if old then redis.call('XDEL', B .. 'dead', old) end
  local dsid = redis.call('XADD', B .. 'dead', '*', 'id', id, 'r', reason, 'a', f[2],
    'e', e or '', 't', NOW, 'f', f[1])
  redis.call('HSET', B .. 'di', id, dsid)
  remove(id)
end

-- The same formula as backoffDelay in queue-policy.ts, with the caller's random draw.
local function backoff(attempt)
  local base = math.min(BO_MAX, BO_INIT * BO_MULT ^ math.max(0, attempt - 1))
  local spread = base * BO_JITTER
  return math.max(0, math.floor(base - spread + BO_RANDOM * 2 * spread + 0.5))
end

-- A failed delivery: dead once attempts are used up or it expired, else retried when due.
local function fail(id, err, delay, failed_at)
  local h = msg(id)
  if err and err ~= '' then redis.call('HSET', h, 'e', err) end
  local f = redis.call('HMGET', h, 'a', 'x')
  local a = tonumber(f[1])
  if a >= MAX_ATTEMPTS then return kill(id, 'max_attempts', nil) end
  if f[2] and tonumber(f[2]) <= NOW then return kill(id, 'expired', nil) end
  detach(id)
  local av = failed_at + (delay or backoff(a))
  redis.call('HSET', h, 'av', av)
  release(id, av, redis.call('HGET', h, 'p'))
end

-- The lease named by (id, sid) is still held: not superseded, not ended.
local function held(id, sid)
  local f = redis.call('HMGET', msg(id), 'st', 'sid')
  if f[1] ~= 'L' or f[2] ~= sid then return false end
  local until_ = redis.call('ZSCORE', B .. 'ls', id)
  return until_ and tonumber(until_) > NOW
end

-- Applies the clock: ended leases fail, expired messages die (never while leased: they are
-- judged when the lease ends), due delays become ready. Bounded per call; a caller that finds
-- more due work is told to come back at once.
local function maintain()
  local ended = redis.call('ZRANGEBYSCORE', B .. 'ls', '-inf', NOW, 'WITHSCORES', 'LIMIT', 0, 100)
  for i = 1, #ended, 2 do
    if redis.call('HGET', msg(ended[i]), 'st') == 'L' then
      fail(ended[i], LEASE_LOST, nil, tonumber(ended[i + 1]))
    else
      redis.call('ZREM', B .. 'ls', ended[i])
    end
  end
  local expired = redis.call('ZRANGEBYSCORE', B .. 'ex', '-inf', NOW, 'LIMIT', 0, 100)
  for _, id in ipairs(expired) do
    local st = redis.call('HGET', msg(id), 'st')
    if st and st ~= 'L' then
      kill(id, 'expired', nil)
    else
      redis.call('ZREM', B .. 'ex', id)
    end
  end
  local due = redis.call('ZRANGEBYSCORE', B .. 'dl', '-inf', NOW, 'LIMIT', 0, 100)
  for _, id in ipairs(due) do
    redis.call('ZREM', B .. 'dl', id)
    local p = redis.call('HGET', msg(id), 'p')
    if p then make_ready(id, p) end
  end
end

-- Stores a new message and routes it: behind its key's head, or released.
local function insert(id, frame, prio, key, av, x)
  local h = msg(id)
  redis.call('HSET', h, 'f', frame, 'p', prio, 'a', 0, 'av', av)
  redis.call('INCR', B .. 'n')
  if x then
    redis.call('HSET', h, 'x', x)
    redis.call('ZADD', B .. 'ex', x, id)
  end
  if key ~= '' then
    redis.call('HSET', h, 'k', key)
    if redis.call('HSETNX', B .. 'kh', key, id) == 0 then
      redis.call('RPUSH', B .. 'k:' .. key, id)
      redis.call('HSET', h, 'st', 'B')
      return
    end
  end
  release(id, av, prio)
end

local function ring()
  if rang then redis.call('PUBLISH', B .. 'bell', '1') end
end

local function first_score(key)
  local r = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  if r[2] then return tonumber(r[2]) end
  return nil
end
`;
