// Queue groups over Redis pub/sub, which hands every message to every subscribed connection:
// each process with members of a group receives it, and one script call per process elects the
// one that delivers it. The first call for a message picks, in turn, one of the processes that
// take part in that group on that subject (so traffic is spread across processes, not won by
// whichever is nearest to Redis); the chosen one delivers it when its own call arrives. If the
// chosen process never calls (it died, or its subscriber connection is down), another takes the
// message over after `takeoverMs`, so a lost member delays messages but loses none. Exactly one
// process delivers each message, whatever the timing: the script is atomic.
//
// A process takes part from its first claim on the subject, or from the moment it subscribes a
// member on a literal subject (refreshed by a heartbeat), until it unsubscribes, closes, or has
// not been heard of for WINDOW_MS. Members on wildcard patterns join at their first claim only,
// so the first burst on a new subject goes to the process that claims first.
import type { Redis } from 'ioredis';
import type { Envelope } from '../../protocol/index.js';
import type { KeyLayout } from './keys.js';

/**
 * ARGV: message id, this process, 'first' or 'takeover', window ms, claim ttl ms. Returns 1:
 * deliver it; 2: another process was chosen and has not taken it yet; 0: taken by another.
 */
const CLAIM = `
local G = KEYS[1]
local id, me, phase = ARGV[1], ARGV[2], ARGV[3]
local window, ttl = tonumber(ARGV[4]), tonumber(ARGV[5])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local m = G .. 'm:' .. id
local v = redis.call('GET', m)
-- Answering 1 again to the process that took it: ioredis re-sends a command whose reply a
-- dropped connection lost, and the retry must not lose the message.
if v == 't:' .. me then return 1 end
if phase == 'takeover' then
  if v and string.sub(v, 1, 2) == 'w:' then
    redis.call('SET', m, 't:' .. me, 'PX', ttl)
    return 1
  end
  return 0
end
redis.call('ZADD', G .. 'seen', now, me)
redis.call('PEXPIRE', G .. 'seen', window * 2)
if not v then
  redis.call('ZREMRANGEBYSCORE', G .. 'seen', '-inf', now - window)
  local members = redis.call('ZRANGE', G .. 'seen', 0, -1)
  table.sort(members)
  local turn = redis.call('INCR', G .. 'turn')
  redis.call('PEXPIRE', G .. 'turn', window * 2)
  local chosen = members[(turn % #members) + 1]
  if chosen == me then
    redis.call('SET', m, 't:' .. me, 'PX', ttl)
    return 1
  end
  redis.call('SET', m, 'w:' .. chosen, 'PX', ttl)
  return 2
end
if v == 'w:' .. me then
  redis.call('SET', m, 't:' .. me, 'PX', ttl)
  return 1
end
if string.sub(v, 1, 2) == 'w:' then return 2 end
return 0
`;

/** ARGV: this process, window ms, 'join' or 'leave'. */
const MEMBERSHIP = `
local seen = KEYS[1] .. 'seen'
if ARGV[3] == 'leave' then return redis.call('ZREM', seen, ARGV[1]) end
local t = redis.call('TIME')
redis.call('ZADD', seen, tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000), ARGV[1])
redis.call('PEXPIRE', seen, tonumber(ARGV[2]) * 2)
return 1
`;

/** A process takes part in a group's traffic for this long after it was last heard of. */
const WINDOW_MS = 30_000;
/**
 * How long the election of one message is kept: longer than any live process lags behind on
 * its subscriber connection (Redis drops a subscriber that falls far behind), short enough that
 * the records of a busy group stay few.
 */
const CLAIM_TTL_MS = 10_000;

type ScriptCall = (key: string, ...args: (string | number)[]) => Promise<number>;

export class GroupClaims {
  private readonly pending = new Set<Promise<unknown>>();
  private readonly timers = new Set<NodeJS.Timeout>();
  /**
   * Messages this process already claims, in two generations swapped every few seconds: a
   * message reaching two of its subscriptions (a channel and a glob) is claimed once, since the
   * script answers a process the same way each time it asks.
   */
  private claiming = new Set<string>();
  private claimed = new Set<string>();
  private readonly swap: NodeJS.Timeout;
  /** Literal subjects this process has group members on: group base key -> member count. */
  private readonly joined = new Map<string, number>();
  private readonly heartbeat: NodeJS.Timeout;
  private closed = false;

  constructor(
    private readonly cmd: Redis,
    private readonly keys: KeyLayout,
    /** This process, as the claims name it. */
    private readonly me: string,
    private readonly takeoverMs: number,
    private readonly onError: (err: unknown) => void,
  ) {
    cmd.defineCommand('llmwireGroupClaim', { numberOfKeys: 1, lua: CLAIM });
    cmd.defineCommand('llmwireGroupMembership', { numberOfKeys: 1, lua: MEMBERSHIP });
    this.heartbeat = setInterval(() => {
      for (const key of this.joined.keys()) this.track(this.membership(key, 'join'));
    }, WINDOW_MS / 3);
    this.heartbeat.unref();
    this.swap = setInterval(() => {
      this.claimed = this.claiming;
      this.claiming = new Set();
    }, 5_000);
    this.swap.unref();
  }

  /** A member of `group` subscribed on the literal `subject`: this process takes part now. */
  join(group: string, subject: string): void {
    const key = this.keys.groupBase(group, subject);
    const n = this.joined.get(key) ?? 0;
    this.joined.set(key, n + 1);
    if (n === 0) this.track(this.membership(key, 'join'));
  }

  leave(group: string, subject: string): void {
    const key = this.keys.groupBase(group, subject);
    const n = this.joined.get(key) ?? 0;
    if (n > 1) {
      this.joined.set(key, n - 1);
      return;
    }
    this.joined.delete(key);
    if (!this.closed) this.track(this.membership(key, 'leave'));
  }

  private membership(key: string, op: 'join' | 'leave'): Promise<number> {
    return this.script('llmwireGroupMembership').call(this.cmd, key, this.me, WINDOW_MS, op);
  }

  private script(name: string): ScriptCall {
    return (this.cmd as unknown as Record<string, ScriptCall>)[name]!;
  }

  /** Calls `deliver` if and when this process is the one to deliver `env` to `group`. */
  claim(group: string, env: Envelope, deliver: () => void): void {
    const key = this.keys.groupBase(group, env.subject);
    const once = `${key}${env.id}`;
    if (this.claiming.has(once) || this.claimed.has(once)) return;
    this.claiming.add(once);
    this.track(
      this.call(key, env.id, 'first').then((outcome) => {
        if (outcome === 1) deliver();
        else if (outcome === 2) this.takeoverLater(key, env.id, deliver);
      }),
    );
  }

  private takeoverLater(key: string, id: string, deliver: () => void): void {
    if (this.closed) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (this.closed) return;
      this.track(
        this.call(key, id, 'takeover').then((outcome) => {
          if (outcome === 1) deliver();
        }),
      );
    }, this.takeoverMs);
    this.timers.add(timer);
  }

  private call(key: string, id: string, phase: 'first' | 'takeover'): Promise<number> {
    const claim = this.script('llmwireGroupClaim');
    return claim.call(this.cmd, key, id, this.me, phase, WINDOW_MS, CLAIM_TTL_MS);
  }

  private track(p: Promise<unknown>): void {
    const tracked = p.catch(this.onError);
    this.pending.add(tracked);
    void tracked.finally(() => this.pending.delete(tracked));
  }

  /** Resolves once the claims made so far have been answered (not waiting out takeovers). */
  async settled(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  /** Stops taking part: in-flight takeovers are dropped, memberships given up (best effort). */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.heartbeat);
    clearInterval(this.swap);
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    const keys = [...this.joined.keys()];
    this.joined.clear();
    await Promise.allSettled(keys.map((key) => this.membership(key, 'leave')));
  }
}
