// Durable queues on the redis transport beyond the conformance suite: several transports (each
// standing for a process) sharing one queue, per-key order across them, wake-ups across them,
// leases extended past leaseMs, unreadable frames, `max` across priority levels, nothing left
// behind, and closing.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createCodec } from '../../src/codec/codec.js';
import { ClosedError, createEnvelope, type Envelope } from '../../src/protocol/index.js';
import type { DurableQueue } from '../../src/transport/transport.js';
import { unique } from '../conformance/harness.js';
import { filePrefix, keysUnder, openRedis, redisAvailable } from './redis-harness.js';

const fast = { backoff: { initialMs: 10, maxMs: 50, jitter: 0 } };

function job(body: unknown, fields: { key?: string; prio?: number } = {}): Envelope {
  return createEnvelope({ kind: 'event', subject: 'jobs', body, ...fields });
}

/** Takes and acks until `n` messages were handled, calling `work` on each first. */
async function drain(q: DurableQueue, n: () => boolean, work: (env: Envelope) => Promise<void>) {
  while (!n()) {
    for (const d of await q.receive({ max: 4, waitMs: 200 })) {
      await work(d.envelope);
      await d.ack();
    }
  }
}

if (await redisAvailable('redis transport durable queues')) {
  const prefix = filePrefix();

  describe('redis transport - durable queues', () => {
    test('consumers on two transports share a queue, each message leased to one', async () => {
      await using a = openRedis(prefix);
      await using b = openRedis(prefix);
      const name = unique('shared');
      const qa = a.queue(name, fast);
      const qb = b.queue(name, fast);
      await Promise.all(Array.from({ length: 200 }, (_, i) => qa.enqueue(job(i))));
      const got: string[] = [];
      const byWho = { a: 0, b: 0 };
      const run = (q: DurableQueue, who: 'a' | 'b') =>
        drain(
          q,
          () => got.length >= 200,
          async (env) => {
            got.push(`${String(env.body)}/${env.attempt}`);
            byWho[who]++;
            await sleep(0);
          },
        );
      await Promise.all([run(qa, 'a'), run(qb, 'b')]);
      assert.equal(new Set(got).size, 200, 'no delivery twice');
      assert.ok(got.every((g) => g.endsWith('/1')));
      assert.ok(byWho.a > 0 && byWho.b > 0, `a: ${byWho.a}, b: ${byWho.b}`);
      assert.deepEqual(await qa.stats(), { ready: 0, delayed: 0, leased: 0, dead: 0 });
    });

    test('per-key order holds across consumers on different transports', async () => {
      await using a = openRedis(prefix);
      await using b = openRedis(prefix);
      const name = unique('keys');
      const qa = a.queue(name, fast);
      for (let i = 0; i < 30; i++) await qa.enqueue(job(i, { key: `k${i % 3}` }));
      const inFlight = new Map<string, number>();
      const order = new Map<string, number[]>();
      let overlaps = 0;
      let done = 0;
      const work = async (env: Envelope) => {
        const key = env.key!;
        if ((inFlight.get(key) ?? 0) > 0) overlaps++;
        inFlight.set(key, (inFlight.get(key) ?? 0) + 1);
        await sleep(Math.random() * 5);
        order.set(key, [...(order.get(key) ?? []), env.body as number]);
        inFlight.set(key, inFlight.get(key)! - 1);
        done++;
      };
      await Promise.all([
        drain(qa, () => done >= 30, work),
        drain(b.queue(name, fast), () => done >= 30, work),
      ]);
      assert.equal(overlaps, 0, 'two messages of one key were out at once');
      for (const [key, bodies] of order) {
        assert.deepEqual(
          bodies,
          [...bodies].sort((x, y) => x - y),
          `order of ${key}`,
        );
      }
    });

    test('a receive waiting on one transport wakes on an enqueue made through another', async () => {
      await using a = openRedis(prefix, { pollMs: 60_000 });
      await using b = openRedis(prefix);
      const name = unique('wake');
      const waiting = a.queue(name).receive({ max: 1, waitMs: 10_000 });
      await sleep(50);
      const at = Date.now();
      await b.queue(name).enqueue(job('ring'));
      const [d] = await waiting;
      assert.equal(d?.envelope.body, 'ring');
      assert.ok(Date.now() - at < 1_000, 'woken by the bell, not by polling');
    });

    test('a receive waits for a delayed message without a bell or a poll', async () => {
      await using t = openRedis(prefix, { pollMs: 60_000 });
      const q = t.queue(unique('due'));
      await q.enqueue(job('later'), { delayMs: 150 });
      const at = Date.now();
      const [d] = await q.receive({ max: 1, waitMs: 10_000 });
      assert.equal(d?.envelope.body, 'later');
      assert.ok(Date.now() - at >= 100 && Date.now() - at < 2_000);
    });

    test('a lease extended past leaseMs holds for the time asked', async () => {
      await using t = openRedis(prefix);
      const q = t.queue(unique('long'), { leaseMs: 250, ...fast });
      await q.enqueue(job('long job'));
      const [d] = await q.receive({ max: 1, waitMs: 1_000 });
      await d!.extend(2_000);
      await sleep(600);
      assert.deepEqual(await q.receive({ max: 1, waitMs: 0 }), [], 'still leased');
      assert.equal((await q.stats()).leased, 1);
      await d!.ack();
    });

    test('a frame this codec cannot open is dead-lettered, not redelivered', async () => {
      await using writer = openRedis(prefix);
      await using reader = openRedis(prefix, { codec: createCodec({ requireEncryption: true }) });
      const name = unique('unreadable');
      await writer.queue(name, fast).enqueue(job('plain'));
      await writer.queue(name).enqueue(job('plain too'));
      assert.deepEqual(await reader.queue(name, fast).receive({ max: 5, waitMs: 100 }), []);
      const letters = await writer.queue(name).deadLetters();
      assert.deepEqual(
        letters.map((l) => [l.reason, l.error?.code, l.envelope.body]),
        [
          ['rejected', 'decrypt_failed', 'plain'],
          ['rejected', 'decrypt_failed', 'plain too'],
        ],
      );
    });

    test('receive takes at most max, highest levels first', async () => {
      await using t = openRedis(prefix);
      const q = t.queue(unique('levels'));
      for (const prio of [1, 9, 3, 7, 5]) await q.enqueue(job(prio, { prio }));
      const first = await q.receive({ max: 3, waitMs: 0 });
      assert.deepEqual(
        first.map((d) => d.envelope.body),
        [9, 7, 5],
      );
      assert.deepEqual(await q.stats(), { ready: 2, delayed: 0, leased: 3, dead: 0 });
    });

    test('once every message is acked or purged, no message keys are left', async () => {
      await using t = openRedis(prefix);
      const name = unique('tidy');
      const q = t.queue(name, { maxAttempts: 1, dedupWindowMs: 0, ...fast });
      for (let i = 0; i < 20; i++) await q.enqueue(job(i, { key: `k${i % 4}`, prio: i % 10 }));
      let handled = 0;
      while (handled < 20) {
        for (const d of await q.receive({ max: 5, waitMs: 500 })) {
          handled++;
          await (handled % 3 === 0 ? d.nack() : d.ack());
        }
      }
      assert.equal(await q.purgeDeadLetters(), 6);
      const left = (await keysUnder(`${prefix}q:{${name}}:`)).map((k) => k.split('}:')[1]);
      // Per level: the (empty) stream carrying the consumer group; the set of levels in use.
      assert.ok(
        left.every((k) => /^s:\d$/.test(k!) || k === 'lv' || k === 'n'),
        `left behind: ${left.join(', ')}`,
      );
      assert.deepEqual(await q.stats(), { ready: 0, delayed: 0, leased: 0, dead: 0 });
    });

    test('after close, queue calls throw ClosedError and a waiting receive returns empty', async () => {
      await using t = openRedis(prefix);
      const q = t.queue(unique('closing'));
      await q.enqueue(job('x'));
      const [d] = await q.receive({ max: 1, waitMs: 0 });
      const waiting = q.receive({ max: 1, waitMs: 10_000 });
      await sleep(50);
      const at = Date.now();
      await t.close();
      assert.deepEqual(await waiting, []);
      assert.ok(Date.now() - at < 2_000);
      await assert.rejects(q.enqueue(job('y')), ClosedError);
      await assert.rejects(q.receive({ max: 1, waitMs: 0 }), ClosedError);
      await assert.rejects(q.stats(), ClosedError);
      await assert.rejects(d!.ack(), ClosedError);
    });
  });
}
