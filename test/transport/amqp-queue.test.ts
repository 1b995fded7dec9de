// Durable-queue behaviour specific to the amqp transport: messages outliving the transport
// that enqueued them, per-key order with two consuming processes and a hand-over, the idle
// consumer giving its prefetch back, the limits of dedup, delays through the TTL ladder, and a
// queue declared twice with different settings.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createBus } from '../../src/bus/index.js';
import { ConfigError, createEnvelope } from '../../src/protocol/index.js';
import { eventually } from '../conformance/harness.js';
import { namespace, openTransport, withBroker } from './amqp-harness.js';

const fast = { backoff: { initialMs: 10, maxMs: 50, jitter: 0 } };

await withBroker('amqp transport durable queues', () => {
  describe('amqp - durable queues', () => {
    test('a confirmed enqueue outlives its transport and reaches the next one', async () => {
      const exchange = namespace();
      const first = await openTransport({ exchange, deleteOnClose: false });
      const q1 = first.queue('jobs');
      const ids: string[] = [];
      for (let i = 0; i < 50; i++) {
        const env = createEnvelope({ kind: 'event', subject: 'jobs', body: i, prio: i % 10 });
        ids.push((await q1.enqueue(env)).id);
      }
      await first.close();

      await using second = await openTransport({ exchange });
      const q2 = second.queue('jobs');
      const got: string[] = [];
      while (got.length < 50) {
        for (const d of await q2.receive({ max: 16, waitMs: 2000 })) {
          got.push(d.envelope.id);
          await d.ack();
        }
      }
      assert.deepEqual(got.sort(), ids.sort());
    });

    test('one key is worked one message at a time, in order, across two processes and a hand-over', async (t) => {
      const exchange = namespace();
      await using a = await openTransport({ exchange, deleteOnClose: false });
      await using b = await openTransport({ exchange });
      const keys = ['k0', 'k1', 'k2', 'k3'];
      const producer = createBus({ transport: b });
      const pq = producer.queue<{ key: string; n: number }>('ordered', fast);
      for (let n = 0; n < 25; n++) {
        for (const key of keys) await pq.enqueue({ key, n }, { key });
      }
      const done = new Map<string, number[]>(keys.map((k) => [k, []]));
      const byWho = { a: 0, b: 0 };
      const busy = new Set<string>();
      const overlaps: string[] = [];
      const work = (who: 'a' | 'b') => async (job: { body: { key: string; n: number } }) => {
        const { key, n } = job.body;
        if (busy.has(key)) overlaps.push(`${who}:${key}:${n}`);
        busy.add(key);
        await sleep(10);
        busy.delete(key);
        byWho[who]++;
        const list = done.get(key)!;
        if (!list.includes(n)) list.push(n);
      };
      const busA = createBus({ transport: a });
      const busB = createBus({ transport: b });
      const opts = { concurrency: 4, waitMs: 50 };
      type Job = { key: string; n: number };
      const total = () => [...done.values()].reduce((s, l) => s + l.length, 0);
      const consumerA = busA.queue<Job>('ordered', fast).consume(work('a'), opts);
      await eventually(() => total() >= 20, 10_000);
      // The keyed queue has a single active consumer: b waits on standby while a works.
      const consumerB = busB.queue<Job>('ordered', fast).consume(work('b'), opts);
      await sleep(100);
      assert.equal(byWho.b, 0, 'the standby process took nothing');
      // The active consumer goes away: the broker hands the keyed queue to b.
      await consumerA.stop();
      await busA.close();
      await a.close();
      await eventually(() => total() === 100, 20_000);
      await consumerB.stop();
      t.diagnostic(`a worked ${byWho.a}, b worked ${byWho.b}`);
      assert.ok(byWho.b > 0, 'b took over');
      assert.deepEqual(overlaps, [], 'never two messages of one key at once');
      for (const [key, list] of done) {
        assert.deepEqual(
          list,
          Array.from({ length: 25 }, (_, i) => i),
          `order of ${key}`,
        );
      }
      await producer.close();
      await busB.close();
    });

    test('a consumer that stops receiving gives its prefetched messages back', async () => {
      const exchange = namespace();
      await using a = await openTransport({ exchange, deleteOnClose: false, consumerIdleMs: 300 });
      await using b = await openTransport({ exchange });
      const qa = a.queue('idle', fast);
      for (let i = 0; i < 20; i++) {
        await qa.enqueue(createEnvelope({ kind: 'event', subject: 'idle', body: i }));
      }
      const [first] = await qa.receive({ max: 1, waitMs: 2000 });
      await first!.ack();
      const qb = b.queue('idle', fast);
      // a's consumer holds the other 19 in its prefetch until it has been idle a while.
      assert.deepEqual(await qb.receive({ max: 20, waitMs: 100 }), []);
      const got: unknown[] = [];
      while (got.length < 19) {
        for (const d of await qb.receive({ max: 20, waitMs: 3000 })) {
          got.push(d.envelope.body);
          await d.ack();
        }
      }
      assert.equal(got.length, 19);
    });

    test('dedup: a copy enqueued elsewhere after completion is dropped by the consumer that completed it', async () => {
      const exchange = namespace();
      await using a = await openTransport({ exchange });
      await using b = await openTransport({ exchange, deleteOnClose: false });
      const env = createEnvelope({ kind: 'event', subject: 'dd', body: 'once' });
      const qa = a.queue('dd', fast);
      assert.equal((await qa.enqueue(env)).duplicate, false);
      assert.equal((await qa.enqueue(env)).duplicate, true);
      const [d] = await qa.receive({ max: 1, waitMs: 2000 });
      await d!.ack();
      // Another process does not know the id (the stated limit) and stores a second copy...
      assert.equal((await b.queue('dd', fast).enqueue(env)).duplicate, false);
      // ...which the consumer that completed it drops inside the window.
      assert.deepEqual(await qa.receive({ max: 1, waitMs: 300 }), []);
      await eventually(async () => (await qa.stats()).ready === 0);
    });

    test('a nack delay goes through the TTL ladder and comes back on time', async (t) => {
      await using tr = await openTransport();
      const q = tr.queue('ladder', fast);
      await q.enqueue(createEnvelope({ kind: 'event', subject: 'ladder', body: 'x' }));
      let [d] = await q.receive({ max: 1, waitMs: 2000 });
      // 777 ms is 1100001001 in binary: four levels of the ladder; 45 ms is three others.
      for (const delayMs of [777, 45]) {
        const at = Date.now();
        await d!.nack({ delayMs }); // the first one also declares the ladder's levels
        const sent = Date.now();
        const stats = await q.stats();
        if (delayMs > 500) assert.equal(stats.delayed, 1, 'counted as delayed while on the ladder');
        // A 45 ms hop may be over before the stats come back, or between two levels of the
        // ladder (dead-lettered, counted by neither queue) when they are read: never counted
        // twice. That it is not lost is the receive below.
        else assert.ok(stats.delayed + stats.ready <= 1, 'never on the ladder and back at once');
        [d] = await q.receive({ max: 1, waitMs: delayMs + 3000 });
        const back = Date.now();
        t.diagnostic(`asked ${delayMs} ms, came back ${back - sent} ms after the nack resolved`);
        assert.ok(back - at >= delayMs - 5, `not early (${back - at} ms)`);
        // Hops between ladder levels take a little each; a loaded machine adds more.
        assert.ok(back - sent < delayMs + 600, `not much late (${back - sent} ms)`);
      }
      assert.equal(d!.attempt, 3);
      await d!.ack();
    });

    test('opening a queue that exists with other settings fails with ConfigError', async () => {
      const exchange = namespace();
      await using a = await openTransport({ exchange });
      await using b = await openTransport({ exchange, deleteOnClose: false });
      await a
        .queue('cfg', { maxDepth: 2 })
        .enqueue(createEnvelope({ kind: 'event', subject: 'cfg' }));
      await assert.rejects(
        b.queue('cfg', { maxDepth: 5 }).enqueue(createEnvelope({ kind: 'event', subject: 'cfg' })),
        ConfigError,
      );
    });
  });
});
