// The Lua scripts behind the Redis durable queues. Each queue operation that reads then writes
// runs as one script, so consumers in different processes see every state change whole: a
// message is in exactly one of ready (an entry in its priority's stream, not yet read by the
// group), leased (read by the group: in the PEL and in the lease set), delayed (in the delay
// set) or blocked (behind an earlier message of its key, in that key's list).
//
// Leases are taken inside a script (XREADGROUP without BLOCK, which Redis refuses in scripts
// anyway): a blocking XREADGROUP over several priority streams returns entries from every stream
// that has some, which would break `max` and strict priority, and could not gate keys or count
// attempts in the same step; waiting for a message is bells.ts. Lease ends are kept in a sorted
// set rather than read from the PEL's idle time with XAUTOCLAIM: extend(ms) may reach past
// leaseMs, which XCLAIM cannot express (it clamps a delivery time to now), and an ended lease is
// a failure like any other (backoff, maxAttempts, dead letter), where XAUTOCLAIM would hand it
// straight to the claimer. Attempts live in the message hash, since a retry is a new stream
// entry whose delivery count starts over. The PEL still shows who holds what (XPENDING, XINFO).
//
// Times are the Redis server's clock (TIME), so processes on hosts whose clocks disagree still
// agree on leases, delays and expiry. Every script gets the queue's base key as KEYS[1] and the
// queue policy as ARGV[1..8]; its own arguments follow. Keys built from the base share its hash
// tag, so one queue lives in one cluster slot.
import { PRELUDE } from './lua-helpers.js';

/**
 * ARGV 9..: id, frame, prio, key ('' for none), delayMs, ttlMs and deadline ('' for none),
 * maxDepth (-1 for unbounded). Returns 1 stored, 0 duplicate, -1 full.
 */
const ENQUEUE = `
local id = ARGV[9]
if redis.call('EXISTS', msg(id)) == 1 then return 0 end
local d = B .. 'd:' .. id
if DEDUP_MS > 0 and redis.call('EXISTS', d) == 1 then return 0 end
local max_depth = tonumber(ARGV[16])
if max_depth >= 0 and tonumber(redis.call('GET', B .. 'n') or '0') >= max_depth then return -1 end
if DEDUP_MS > 0 then redis.call('SET', d, '1', 'PX', DEDUP_MS) end
local x = nil
if ARGV[14] ~= '' then x = NOW + tonumber(ARGV[14]) end
if ARGV[15] ~= '' and (x == nil or tonumber(ARGV[15]) < x) then x = tonumber(ARGV[15]) end
insert(id, ARGV[10], ARGV[11], ARGV[12], NOW + tonumber(ARGV[13]), x)
ring()
return 1
`;

/**
 * ARGV 9..: consumer, max. Returns { ms until the next due delay, lease end or expiry (-1 for
 * none), then id, stream id, attempt, frame per leased message }.
 */
const TAKE = `
maintain()
local out = { -1 }
local left = tonumber(ARGV[10])
local levels = redis.call('SMEMBERS', B .. 'lv')
table.sort(levels, function(a, b) return tonumber(a) > tonumber(b) end)
for _, lvl in ipairs(levels) do
  if left <= 0 then break end
  local s = B .. 's:' .. lvl
  local r = redis.call('XREADGROUP', 'GROUP', GROUP, ARGV[9], 'COUNT', left, 'STREAMS', s, '>')
  if r then
    for _, e in ipairs(r[1][2]) do
      local sid, id = e[1], e[2] and e[2][2]
      local h = msg(id or '')
      local f = redis.call('HMGET', h, 'f', 'sid')
      if id and f[1] and f[2] == sid then
        local a = redis.call('HINCRBY', h, 'a', 1)
        redis.call('HSET', h, 'st', 'L')
        redis.call('ZADD', B .. 'ls', NOW + LEASE_MS, id)
        table.insert(out, id)
        table.insert(out, sid)
        table.insert(out, a)
        table.insert(out, f[1])
        left = left - 1
      else
        redis.call('XACK', s, GROUP, sid)
        redis.call('XDEL', s, sid)
      end
    end
  end
end
if #out == 1 then
  local next_due = nil
  for _, k in ipairs({ 'ls', 'dl', 'ex' }) do
    local sc = first_score(B .. k)
    if sc and (next_due == nil or sc < next_due) then next_due = sc end
  end
  if next_due then out[1] = math.max(0, next_due - NOW) end
end
ring()
return out
`;

/** ARGV 9..: id, stream id. Returns 1 when the lease was held and the message is gone. */
const ACK = `
if not held(ARGV[9], ARGV[10]) then return 0 end
remove(ARGV[9])
ring()
return 1
`;

/** ARGV 9..: id, stream id, delay ms, error JSON ('' for none). */
const NACK = `
if not held(ARGV[9], ARGV[10]) then return 0 end
fail(ARGV[9], ARGV[12], tonumber(ARGV[11]), NOW)
ring()
return 1
`;

/** ARGV 9..: id, stream id, error JSON. */
const REJECT = `
if not held(ARGV[9], ARGV[10]) then return 0 end
kill(ARGV[9], 'rejected', ARGV[11])
ring()
return 1
`;

/** ARGV 9..: id, stream id, ms. Returns 1 when the lease was held and now ends ms from now. */
const EXTEND = `
if not held(ARGV[9], ARGV[10]) then return 0 end
redis.call('ZADD', B .. 'ls', 'XX', NOW + tonumber(ARGV[11]), ARGV[9])
return 1
`;

/** Returns { ready, delayed (blocked included), leased, dead }. */
const STATS = `
maintain()
local stored = 0
for _, lvl in ipairs(redis.call('SMEMBERS', B .. 'lv')) do
  stored = stored + redis.call('XLEN', B .. 's:' .. lvl)
end
local leased = redis.call('ZCARD', B .. 'ls')
local ready = stored - leased
local depth = tonumber(redis.call('GET', B .. 'n') or '0')
ring()
return { ready, depth - ready - leased, leased, redis.call('XLEN', B .. 'dead') }
`;

/** ARGV 9..: stream id to start after ('-' for the start), count. Dead letters in order. */
const DEAD_LIST = `
maintain()
ring()
local start = ARGV[9]
if start ~= '-' then start = '(' .. start end
return redis.call('XRANGE', B .. 'dead', start, '+', 'COUNT', tonumber(ARGV[10]))
`;

/** ARGV 9..: ids. The dead-letter entries of those ids that have one. */
const DEAD_GET = `
local out = {}
for i = 9, #ARGV do
  local dsid = redis.call('HGET', B .. 'di', ARGV[i])
  if dsid then
    local r = redis.call('XRANGE', B .. 'dead', dsid, dsid)
    if r[1] then table.insert(out, r[1]) end
  end
end
return out
`;

/**
 * ARGV 9..: id, dead-letter stream id, frame, prio, key. Moves one dead letter back as a new
 * message (attempts reset); 0 when that letter changed meanwhile or the id is live again.
 */
const REPLAY = `
local id = ARGV[9]
if redis.call('HGET', B .. 'di', id) ~= ARGV[10] then return 0 end
if redis.call('EXISTS', msg(id)) == 1 then return 0 end
redis.call('XDEL', B .. 'dead', ARGV[10])
redis.call('HDEL', B .. 'di', id)
local d = B .. 'd:' .. id
redis.call('DEL', d)
if DEDUP_MS > 0 then redis.call('SET', d, '1', 'PX', DEDUP_MS) end
insert(id, ARGV[11], ARGV[12], ARGV[13], NOW, nil)
ring()
return 1
`;

/** ARGV 9..: ids; none purges every dead letter. Returns how many went. */
const PURGE = `
if #ARGV == 8 then
  local n = redis.call('XLEN', B .. 'dead')
  redis.call('DEL', B .. 'dead', B .. 'di')
  return n
end
local n = 0
for i = 9, #ARGV do
  local dsid = redis.call('HGET', B .. 'di', ARGV[i])
  if dsid then
    redis.call('XDEL', B .. 'dead', dsid)
    redis.call('HDEL', B .. 'di', ARGV[i])
    n = n + 1
  end
end
return n
`;

/** ARGV 9..: consumer. Drops it from each level's group where it holds nothing. */
const RETIRE = `
for _, lvl in ipairs(redis.call('SMEMBERS', B .. 'lv')) do
  local s = B .. 's:' .. lvl
  local mine = redis.pcall('XPENDING', s, GROUP, '-', '+', 1, ARGV[9])
  if type(mine) == 'table' and #mine == 0 then
    redis.pcall('XGROUP', 'DELCONSUMER', s, GROUP, ARGV[9])
  end
end
return 1
`;

export const QUEUE_SCRIPTS = {
  llmwireEnqueue: ENQUEUE,
  llmwireTake: TAKE,
  llmwireAck: ACK,
  llmwireNack: NACK,
  llmwireReject: REJECT,
  llmwireExtend: EXTEND,
  llmwireStats: STATS,
  llmwireDeadList: DEAD_LIST,
  llmwireDeadGet: DEAD_GET,
  llmwireReplay: REPLAY,
  llmwirePurge: PURGE,
  llmwireRetire: RETIRE,
} as const;

export type QueueScript = keyof typeof QUEUE_SCRIPTS;

/** The full source of one script: the shared helpers, then its body. */
export function scriptSource(name: QueueScript): string {
  return PRELUDE + QUEUE_SCRIPTS[name];
}
