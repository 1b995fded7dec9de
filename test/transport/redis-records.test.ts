// Record stores on Redis beyond the conformance suite: where a record lives (one string key
// `<prefix>r:{<store>}:<key>`, expiring by PX), and that another prefix is another namespace.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createRedisTransport } from '../../src/transport/redis/index.js';
import { filePrefix, rawClient, REDIS_URL, redisAvailable } from './redis-harness.js';

const bytes = (text: string) => new TextEncoder().encode(text);

if (await redisAvailable('redis record stores')) {
  const prefix = filePrefix();
  describe('redis - record stores', () => {
    test('records - a record is the key <prefix>r:{<store>}:<key>, with PX = ttlMs', async () => {
      const t = createRedisTransport({ url: REDIS_URL, prefix });
      const raw = rawClient();
      try {
        await raw.connect();
        await t.records!('responses', { ttlMs: 60_000 }).put('resp_1', bytes('{"a":1}'));
        await t.records!('responses').put('resp_2', bytes('kept'));
        const key = `${prefix}r:{responses}:resp_1`;
        assert.equal(await raw.get(key), '{"a":1}');
        const pttl = await raw.pttl(key);
        assert.ok(pttl > 55_000 && pttl <= 60_000, `PTTL ${pttl}`);
        assert.equal(await raw.pttl(`${prefix}r:{responses}:resp_2`), -1, 'no TTL: kept');
      } finally {
        raw.disconnect();
        await t.close();
      }
    });

    test('records - stores under another prefix are separate', async () => {
      const a = createRedisTransport({ url: REDIS_URL, prefix });
      const b = createRedisTransport({ url: REDIS_URL, prefix: `${prefix}other:` });
      try {
        await a.records!('ns').put('k', bytes('a'));
        assert.equal(await b.records!('ns').get('k'), undefined);
      } finally {
        await Promise.all([a.close(), b.close()]);
      }
    });
  });
}
