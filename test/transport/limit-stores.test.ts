// Limit stores (transport/limits.ts) on every transport that has one, against the in-memory
// reference: full buckets to start, all-or-nothing takes with the worst bucket's wait, give-backs
// capped at a full bucket, debt for an amount over the bucket, and processes racing for the
// last units of one bucket, where exactly the bucket's size gets through.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, test } from 'node:test';
import { MemoryLimits } from '../../src/transport/memory/limits.js';
import { createNatsTransport } from '../../src/transport/nats/index.js';
import { createRedisTransport } from '../../src/transport/redis/index.js';
import type { LimitStore } from '../../src/transport/limits.js';
import { NATS_URL, NEEDS, REDIS_URL, requires } from '../helpers/requires.js';
import { deleteStreams } from './fixtures/nats-server.js';

interface Opened {
  stores: LimitStore[];
  close(): Promise<void>;
}

/** Two stores of one name that reach the same buckets (two processes' worth). */
type Factory = (name: string) => Promise<Opened>;

const quiet = { onError: () => undefined };
const natsPrefix = `L${randomBytes(4).toString('hex')}`;
const factories: [string, Factory][] = [
  [
    'memory',
    (name) => {
      const store = new MemoryLimits(name);
      return Promise.resolve({ stores: [store, store], close: () => Promise.resolve() });
    },
  ],
];
if (await requires('redis limit stores', NEEDS.redis)) {
  const prefix = `llmwire-test-${randomBytes(4).toString('hex')}:`;
  factories.push([
    'redis',
    (name) => {
      const ts = [0, 1].map(() => createRedisTransport({ url: REDIS_URL, prefix }));
      return Promise.resolve({
        stores: ts.map((t) => t.limits!(name)),
        close: async () => void (await Promise.all(ts.map((t) => t.close()))),
      });
    },
  ]);
}
if (await requires('nats limit stores', NEEDS.nats)) {
  after(() => deleteStreams(NATS_URL, natsPrefix));
  factories.push([
    'nats',
    async (name) => {
      const ts = await Promise.all(
        [0, 1].map(() =>
          createNatsTransport({ servers: NATS_URL, streamPrefix: natsPrefix, ...quiet }),
        ),
      );
      return {
        stores: ts.map((t) => t.limits!(name)),
        close: async () => void (await Promise.all(ts.map((t) => t.close()))),
      };
    },
  ]);
}

const unique = () => `k${randomBytes(4).toString('hex')}`;

for (const [transport, open] of factories) {
  describe(`${transport} - limit stores`, () => {
    test('limits - a new key is full; a take past it answers the worst wait and takes nothing', async () => {
      const o = await open('contract');
      try {
        const [a] = o.stores as [LimitStore];
        const key = unique();
        const buckets = (tokens: number) => [
          { name: 'requests', perMinute: 3, amount: 1 },
          { name: 'tokens', perMinute: 600, amount: tokens },
        ];
        for (let i = 0; i < 3; i++)
          assert.deepEqual(await a.take(key, buckets(100)), { waitMs: 0, bucket: -1 });
        const refused = await a.take(key, buckets(100));
        assert.equal(refused.bucket, 0, 'the requests bucket is the one short');
        assert.ok(
          refused.waitMs > 19_000 && refused.waitMs <= 20_000,
          `one request back in 20 s: ${refused.waitMs}`,
        );
        // Tokens short (300 left, 400 asked): nothing taken, so a request is still there to give.
        const key2 = unique();
        assert.deepEqual(await a.take(key2, buckets(300)), { waitMs: 0, bucket: -1 });
        const short = await a.take(key2, buckets(400));
        assert.equal(short.bucket, 1, 'the tokens bucket is the one short');
        assert.deepEqual(await a.take(key2, buckets(300)), { waitMs: 0, bucket: -1 });
      } finally {
        await o.close();
      }
    });

    test('limits - adjust gives back up to a full bucket; an amount over the bucket leaves debt', async () => {
      const o = await open('contract');
      try {
        const [a] = o.stores as [LimitStore];
        const key = unique();
        const tokens = (amount: number) => [{ name: 'tokens', perMinute: 600, amount }];
        // 900 asked of 600: a full bucket lets it through and leaves 300 of debt.
        assert.equal((await a.take(key, tokens(900))).waitMs, 0);
        const debt = await a.take(key, tokens(1));
        assert.ok(debt.waitMs > 30_000, `in debt: ${debt.waitMs}`);
        // Settling at 100 used gives back 800: 500 there now.
        await a.adjust(key, tokens(100 - 900));
        assert.equal((await a.take(key, tokens(500))).waitMs, 0);
        assert.ok((await a.take(key, tokens(50))).waitMs > 0);
        // A give-back past full is capped: 600 at most.
        await a.adjust(key, tokens(-10_000));
        assert.ok(
          (await a.take(key, tokens(601))).waitMs === 0,
          'over the bucket needs a full one',
        );
        assert.ok((await a.take(key, tokens(1))).waitMs > 0, 'and leaves none');
      } finally {
        await o.close();
      }
    });

    test('limits - two stores racing for one bucket give out exactly its size', async () => {
      const o = await open('race');
      try {
        const key = unique();
        const takes = await Promise.all(
          Array.from({ length: 40 }, (_, i) =>
            o.stores[i % 2]!.take(key, [{ name: 'requests', perMinute: 10, amount: 1 }]),
          ),
        );
        assert.equal(takes.filter((t) => t.waitMs === 0).length, 10);
      } finally {
        await o.close();
      }
    });
  });
}
