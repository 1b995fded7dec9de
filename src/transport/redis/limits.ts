// Limit stores of the redis transport (transport/limits.ts): one hash per key,
// `<prefix>l:{<store>}:<key>` (keys.ts), with fields `<bucket>.l` (level in units * 60000) and
// `<bucket>.a` (ms of the server's TIME when it was set). One script refills, checks and charges
// a key's buckets, so gateways racing for a bucket's last units are served one at a time, and
// the time is the Redis server's, so gateways whose clocks disagree still agree. A key expires
// once its buckets would be full again: an absent key is a full bucket.
import type { Redis } from 'ioredis';
import {
  checkBuckets,
  LIMIT_IDLE_MS,
  type LimitBucket,
  type LimitStore,
  type LimitTake,
} from '../limits.js';
import type { KeyLayout } from './keys.js';
import { redisFailure } from './queue-store.js';

/**
 * KEYS[1]: the key's hash. ARGV[1]: 'take' or 'adjust'; then per bucket its name, perMinute and
 * amount. The step is transport/limits.ts stepBuckets. Returns { waitMs, bucket index (1-based,
 * 0 when taken) }.
 */
const STEP = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local M = 60000
local n = (#ARGV - 1) / 3
local names, rates, amounts, levels = {}, {}, {}, {}
for i = 1, n do
  local name = ARGV[3 * i - 1]
  local rate = tonumber(ARGV[3 * i])
  local cap = rate * M
  local v = redis.call('HMGET', KEYS[1], name .. '.l', name .. '.a')
  local level = cap
  if v[1] then
    level = tonumber(v[1])
    local at = tonumber(v[2]) or now
    if now > at then level = level + (now - at) * rate end
    if level > cap then level = cap end
  end
  names[i], rates[i], amounts[i], levels[i] = name, rate, tonumber(ARGV[3 * i + 1]), level
end
local wait, worst = 0, 0
if ARGV[1] == 'take' then
  for i = 1, n do
    local need = math.min(amounts[i], rates[i]) * M
    if levels[i] < need then
      local w = math.ceil((need - levels[i]) / rates[i])
      if w > wait then wait, worst = w, i end
    end
  end
end
local idle = 0
for i = 1, n do
  local level = levels[i]
  if wait == 0 then level = math.min(rates[i] * M, level - amounts[i] * M) end
  redis.call('HSET', KEYS[1], names[i] .. '.l', string.format('%.17g', level), names[i] .. '.a', now)
  local full = math.ceil((rates[i] * M - level) / rates[i])
  if full > idle then idle = full end
end
redis.call('PEXPIRE', KEYS[1], idle + ${LIMIT_IDLE_MS})
return { wait, worst }
`;

type StepCall = (key: string, ...args: (string | number)[]) => Promise<[number, number]>;

export class RedisLimits implements LimitStore {
  private readonly step: StepCall;

  constructor(
    readonly name: string,
    private readonly cmd: Redis,
    private readonly keys: KeyLayout,
  ) {
    cmd.defineCommand('llmwireLimitStep', { numberOfKeys: 1, lua: STEP });
    this.step = (cmd as unknown as Record<string, StepCall>)['llmwireLimitStep']!.bind(cmd);
  }

  async take(key: string, buckets: readonly LimitBucket[]): Promise<LimitTake> {
    const [waitMs, worst] = await this.run('take', key, buckets);
    return { waitMs, bucket: worst - 1 };
  }

  async adjust(key: string, buckets: readonly LimitBucket[]): Promise<void> {
    await this.run('adjust', key, buckets);
  }

  private async run(
    mode: 'take' | 'adjust',
    key: string,
    buckets: readonly LimitBucket[],
  ): Promise<[number, number]> {
    checkBuckets(buckets);
    const args: (string | number)[] = [mode];
    for (const b of buckets) args.push(b.name, b.perMinute, b.amount);
    try {
      return await this.step(this.keys.limitKey(this.name, key), ...args);
    } catch (err) {
      throw redisFailure(err, 'limit store');
    }
  }
}
