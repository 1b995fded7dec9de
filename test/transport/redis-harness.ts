// Shared set-up of the redis transport tests: which Redis (LLMWIRE_REDIS_URL), whether it
// answers (with CI set a missing Redis fails the run; elsewhere the suites are skipped with a
// printed line), and a key prefix per test file, removed afterwards.
import { randomBytes } from 'node:crypto';
import { after, test } from 'node:test';
import { Redis } from 'ioredis';
import {
  createRedisTransport,
  type RedisTransportOptions,
} from '../../src/transport/redis/index.js';
import type { Transport } from '../../src/transport/transport.js';

export const REDIS_URL = process.env['LLMWIRE_REDIS_URL'] ?? 'redis://127.0.0.1:6379';

const inCI = (() => {
  const ci = process.env['CI'];
  return ci !== undefined && ci !== '' && ci !== '0' && ci.toLowerCase() !== 'false';
})();

/** A plain client for checks and faults; one attempt to connect, no reconnecting. */
export function rawClient(): Redis {
  return new Redis(REDIS_URL, {
    lazyConnect: true,
    connectTimeout: 2_000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
}

async function problemReaching(): Promise<string | undefined> {
  const client = rawClient();
  let cause: Error | undefined; // the socket's error says more than the failed connect()
  client.on('error', (err: Error) => (cause ??= err));
  try {
    await client.connect();
    await client.ping();
    return undefined;
  } catch (err) {
    return (cause ?? (err as Error)).message;
  } finally {
    client.disconnect();
  }
}

/**
 * True when Redis answers. Otherwise registers a failing test under CI, or a skipped one
 * (and prints what was skipped) elsewhere, and returns false: the caller registers nothing.
 */
export async function redisAvailable(what: string): Promise<boolean> {
  const problem = await problemReaching();
  if (problem === undefined) return true;
  const why = `no Redis at ${REDIS_URL} (${problem})`;
  if (inCI) {
    test(`${what} - needs Redis`, () => {
      throw new Error(`${why}; CI is set, so a missing broker fails the run`);
    });
  } else {
    console.log(`skipped: ${what}: ${why}; set LLMWIRE_REDIS_URL or start redis-server`);
    test(what, { skip: why }, () => undefined);
  }
  return false;
}

/**
 * A key prefix for one test file, and an `after` hook deleting every key under it. Subjects
 * need no clean-up: Redis keeps nothing for a channel.
 */
export function filePrefix(): string {
  const prefix = `llmwire-test-${randomBytes(5).toString('hex')}:`;
  after(() => dropKeys(prefix));
  return prefix;
}

export async function dropKeys(prefix: string): Promise<number> {
  const client = rawClient();
  await client.connect();
  let n = 0;
  try {
    const pattern = `${prefix.replace(/[*?[\]\\]/g, (c) => `\\${c}`)}*`;
    for (let cursor = '0'; ;) {
      const [next, found] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      if (found.length > 0) n += await client.unlink(...found);
      cursor = next;
      if (cursor === '0') return n;
    }
  } finally {
    client.disconnect();
  }
}

/** Keys under a prefix right now (to check that nothing is left behind). */
export async function keysUnder(prefix: string): Promise<string[]> {
  const client = rawClient();
  await client.connect();
  try {
    const out: string[] = [];
    for (let cursor = '0'; ;) {
      const [next, found] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      out.push(...found);
      cursor = next;
      if (cursor === '0') return out.sort();
    }
  } finally {
    client.disconnect();
  }
}

/** A transport on the test Redis under `prefix`, closed when the disposable is. */
export function openRedis(
  prefix: string,
  options: Partial<RedisTransportOptions> = {},
): Transport & AsyncDisposable {
  const transport = createRedisTransport({ url: REDIS_URL, prefix, ...options });
  return Object.assign(transport, {
    [Symbol.asyncDispose]: () => transport.close(),
  });
}

/** Kills every connection whose CLIENT LIST name starts with `name:`; returns how many. */
export async function killConnections(name: string): Promise<number> {
  const admin = rawClient();
  await admin.connect();
  try {
    const list = (await admin.client('LIST')) as string;
    const ids = list
      .split('\n')
      .filter((line) => line.includes(` name=${name}:`))
      .map((line) => /(?:^|\s)id=(\d+)/.exec(line)?.[1])
      .filter((id): id is string => id !== undefined);
    for (const id of ids) await admin.client('KILL', 'ID', id);
    return ids.length;
  } finally {
    admin.disconnect();
  }
}
