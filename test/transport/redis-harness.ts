// Shared set-up of the redis transport tests: which Redis (LLMWIRE_REDIS_URL), whether it
// answers (test/helpers/requires.ts), and a key prefix per test file, removed afterwards.
import { randomBytes } from 'node:crypto';
import { after } from 'node:test';
import { Redis } from 'ioredis';
import {
  createRedisTransport,
  type RedisTransportOptions,
} from '../../src/transport/redis/index.js';
import type { Transport } from '../../src/transport/transport.js';
import { NEEDS, REDIS_URL, requires } from '../helpers/requires.js';

export { REDIS_URL };

/** A plain client for checks and faults; one attempt to connect, no reconnecting. */
export function rawClient(): Redis {
  return new Redis(REDIS_URL, {
    lazyConnect: true,
    connectTimeout: 2_000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
}

/**
 * True when Redis answers; otherwise a stand-in test says why (skipped, or failed under CI)
 * and the caller registers nothing.
 */
export function redisAvailable(what: string): Promise<boolean> {
  return requires(what, NEEDS.redis);
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
