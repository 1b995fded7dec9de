// Conformance: durable queues — leases, retries with backoff, dead letters, dedup, per-key
// ordering, priorities, TTL, replay and purge, and the consume() helper. Waits are real: the
// broker transports keep queue time on the broker, where an injected clock cannot move it; the
// exact timing rules run on a manual clock for memory and sqlite (transport/queue-clock.test.ts).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  createEnvelope,
  ForbiddenError,
  NotFoundError,
  OverloadedError,
} from '../../src/protocol/index.js';
import type { Delivery } from '../../src/transport/transport.js';
import { buses, eventually, sleep, unique, type TransportFactory } from './harness.js';

const fast = { backoff: { initialMs: 10, maxMs: 50, jitter: 0 } };

async function receiveOne(
  q: { receive: (o: { max: number; waitMs: number }) => Promise<Delivery[]> },
  waitMs = 2000,
): Promise<Delivery> {
  const [d] = await q.receive({ max: 1, waitMs });
  assert.ok(d, 'expected a delivery');
  return d;
}

export function queueSuite(factory: TransportFactory): void {
  const slack = factory.slackMs ?? 0;
  describe(`${factory.name} - durable queues`, () => {
    test('delivers an enqueued message and forgets it once acked', async () => {
      await using env = await buses(factory);
      const q = env.a.queue<{ n: number }>(unique('q'), fast);
      await q.enqueue({ n: 1 }, { kind: 'event', key: undefined });
      const d = await receiveOne(q.durable);
      assert.deepEqual(d.envelope.body, { n: 1 });
      assert.equal(d.attempt, 1);
      assert.equal(d.envelope.attempt, 1);
      await d.ack();
      await d.ack(); // idempotent
      assert.deepEqual(await q.durable.receive({ max: 1, waitMs: 50 }), []);
      assert.deepEqual(await q.stats(), { ready: 0, delayed: 0, leased: 0, dead: 0 });
    });

    test('redelivers after the lease expires, counting the attempt', async () => {
      await using env = await buses(factory);
      const q = env.a.queue(unique('lease'), { leaseMs: 100 + slack, ...fast });
      await q.enqueue('job');
      const first = await receiveOne(q.durable);
      const second = await receiveOne(q.durable, 3000 + slack);
      assert.equal(second.envelope.id, first.envelope.id);
      assert.equal(second.attempt, 2);
      await first.ack(); // a stale ack after losing the lease changes nothing
      await assert.rejects(first.extend(1000), NotFoundError);
      await second.ack();
    });

    test('extending a lease keeps the message from being redelivered', async () => {
      await using env = await buses(factory);
      const q = env.a.queue(unique('extend'), { leaseMs: 150 + slack, ...fast });
      await q.enqueue('job');
      const d = await receiveOne(q.durable);
      for (let i = 0; i < 3; i++) {
        await sleep(80);
        await d.extend(150 + slack);
      }
      assert.deepEqual(await q.durable.receive({ max: 1, waitMs: 0 }), []);
      await d.ack();
    });

    test('nack with a delay redelivers after that delay', async () => {
      await using env = await buses(factory);
      const q = env.a.queue(unique('nack'), fast);
      await q.enqueue('job');
      const d = await receiveOne(q.durable);
      const at = Date.now();
      await d.nack({ delayMs: 200 });
      const again = await receiveOne(q.durable, 3000 + slack);
      assert.ok(Date.now() - at >= 180, 'not before the delay');
      assert.equal(again.attempt, 2);
      await again.ack();
    });

    test('retries back off exponentially', async () => {
      await using env = await buses(factory);
      const q = env.a.queue(unique('backoff'), {
        maxAttempts: 4,
        backoff: { initialMs: 60, multiplier: 2, maxMs: 1000, jitter: 0 },
      });
      await q.enqueue('job');
      const times: number[] = [];
      for (let i = 0; i < 3; i++) {
        const d = await receiveOne(q.durable, 3000 + slack);
        times.push(Date.now());
        await d.nack();
      }
      const gap1 = times[1]! - times[0]!;
      const gap2 = times[2]! - times[1]!;
      assert.ok(gap1 >= 55, `first retry after ~60 ms, got ${gap1}`);
      assert.ok(gap2 >= 110, `second retry after ~120 ms, got ${gap2}`);
    });

    test('dead-letters after max attempts with the reason and the last error', async () => {
      await using env = await buses(factory);
      const q = env.a.queue(unique('dlq'), { maxAttempts: 2, ...fast });
      const { id } = await q.enqueue('poison');
      for (let i = 1; i <= 2; i++) {
        const d = await receiveOne(q.durable, 3000 + slack);
        await d.nack({ error: { code: 'upstream_error', message: `try ${i}`, retryable: true } });
      }
      await eventually(async () => (await q.stats()).dead === 1, 3000 + slack);
      const [letter] = await q.deadLetters();
      assert.equal(letter?.envelope.id, id);
      assert.equal(letter?.reason, 'max_attempts');
      assert.equal(letter?.attempts, 2);
      assert.equal(letter?.error?.message, 'try 2');
      assert.deepEqual(await q.durable.receive({ max: 1, waitMs: 50 }), []);
    });

    test('reject sends a poison message straight to the dead letters', async () => {
      await using env = await buses(factory);
      const q = env.a.queue(unique('reject'), fast);
      await q.enqueue('bad');
      const d = await receiveOne(q.durable);
      await d.reject({ code: 'invalid_message', message: 'cannot parse', retryable: false });
      const [letter] = await q.deadLetters();
      assert.equal(letter?.reason, 'rejected');
      assert.equal(letter?.error?.code, 'invalid_message');
    });

    test('replays and purges dead letters', async () => {
      await using env = await buses(factory);
      const q = env.a.queue<string>(unique('replay'), { maxAttempts: 1, ...fast });
      const a = await q.enqueue('a');
      await q.enqueue('b');
      for (let i = 0; i < 2; i++) await (await receiveOne(q.durable)).nack();
      await eventually(async () => (await q.stats()).dead === 2, 3000 + slack);
      assert.equal(await q.replayDeadLetters([a.id]), 1);
      const again = await receiveOne(q.durable, 3000 + slack);
      assert.equal(again.envelope.body, 'a');
      assert.equal(again.attempt, 1);
      await again.ack();
      assert.equal(await q.purgeDeadLetters(), 1);
      assert.equal((await q.stats()).dead, 0);
    });

    test('ignores a second enqueue of the same id inside the dedup window', async () => {
      await using env = await buses(factory);
      const q = env.a.queue(unique('dedup'), fast);
      const env1 = createEnvelope({ kind: 'event', subject: q.name, body: { type: 'x' } });
      const r1 = await q.durable.enqueue(env1);
      const r2 = await q.durable.enqueue(env1);
      assert.equal(r1.duplicate, false);
      assert.equal(r2.duplicate, true);
      const d = await receiveOne(q.durable);
      await d.ack();
      const r3 = await q.durable.enqueue(env1); // still inside the window after the ack
      assert.equal(r3.duplicate, true);
      assert.deepEqual(await q.durable.receive({ max: 1, waitMs: 50 }), []);
    });

    test('delivers messages of one key one at a time, in order', async () => {
      await using env = await buses(factory);
      const q = env.a.queue<number>(unique('keys'), fast);
      for (let i = 0; i < 6; i++) await q.enqueue(i, { key: i % 2 === 0 ? 'even' : 'odd' });
      const batch = await q.durable.receive({ max: 10, waitMs: 500 });
      assert.deepEqual(
        batch.map((d) => d.envelope.body),
        [0, 1],
        'only the head of each key',
      );
      const second = batch[0]!;
      await second.nack({ delayMs: 30 }); // the head of 'even' fails: 2 must still wait behind 0
      await batch[1]!.ack();
      const order: number[] = [];
      while (order.length < 5) {
        for (const d of await q.durable.receive({ max: 10, waitMs: 2000 + slack })) {
          order.push(d.envelope.body as number);
          await d.ack();
        }
      }
      assert.deepEqual(
        order.filter((n) => n % 2 === 0),
        [0, 2, 4],
      );
      assert.deepEqual(
        order.filter((n) => n % 2 === 1),
        [3, 5],
      );
    });

    test('delivers higher priorities first, FIFO within a priority', async () => {
      await using env = await buses(factory);
      const q = env.a.queue<string>(unique('prio'), fast);
      await q.enqueue('low1', { prio: 2 });
      await q.enqueue('norm1');
      await q.enqueue('high1', { prio: 8 });
      await q.enqueue('low2', { prio: 2 });
      await q.enqueue('high2', { prio: 8 });
      const got: string[] = [];
      while (got.length < 5) {
        for (const d of await q.durable.receive({ max: 1, waitMs: 1000 })) {
          got.push(d.envelope.body as string);
          await d.ack();
        }
      }
      assert.deepEqual(got, ['high1', 'high2', 'norm1', 'low1', 'low2']);
    });

    test('dead-letters a message whose TTL passes with reason expired', async () => {
      await using env = await buses(factory);
      const q = env.a.queue(unique('ttl'), fast);
      await q.enqueue('stale', { ttlMs: 50 });
      await q.enqueue('by-deadline', { deadline: Date.now() + 50 });
      await sleep(120);
      assert.deepEqual(await q.durable.receive({ max: 5, waitMs: 0 }), []);
      await eventually(async () => (await q.stats()).dead === 2, 3000 + slack);
      const letters = await q.deadLetters();
      assert.deepEqual(
        letters.map((l) => l.reason),
        ['expired', 'expired'],
      );
    });

    test('refuses enqueues past maxDepth with OverloadedError', async () => {
      await using env = await buses(factory);
      const q = env.a.queue(unique('full'), { maxDepth: 2 });
      await q.enqueue(1);
      await q.enqueue(2);
      await assert.rejects(q.enqueue(3), OverloadedError);
    });

    test('a waiting receive wakes when a message arrives', async () => {
      await using env = await buses(factory);
      const q = env.a.queue(unique('wake'), fast);
      const waiting = q.durable.receive({ max: 1, waitMs: 5000 });
      await sleep(30);
      const at = Date.now();
      await q.enqueue('now');
      const [d] = await waiting;
      assert.equal(d?.envelope.body, 'now');
      assert.ok(Date.now() - at < 2000, 'woke before its wait ran out');
      await d?.ack();
    });

    test('consume acks on success, retries failures and rejects non-retryable errors', async () => {
      await using env = await buses(factory);
      const q = env.b.queue<string>(unique('consume'), { maxAttempts: 3, ...fast });
      const attempts = new Map<string, number>();
      const doneIds: string[] = [];
      await q.enqueue('ok');
      await q.enqueue('flaky');
      await q.enqueue('forbidden');
      const consumer = q.consume(
        async (job) => {
          attempts.set(job.body, (attempts.get(job.body) ?? 0) + 1);
          if (job.body === 'flaky' && job.attempt < 2) throw new Error('transient');
          if (job.body === 'forbidden') throw new ForbiddenError('not allowed');
          doneIds.push(job.body);
        },
        { concurrency: 2, waitMs: 50 },
      );
      await eventually(
        async () => doneIds.length === 2 && (await q.stats()).dead === 1,
        5000 + slack,
      );
      await consumer.stop();
      assert.deepEqual(doneIds.sort(), ['flaky', 'ok']);
      assert.equal(attempts.get('flaky'), 2);
      assert.equal(attempts.get('forbidden'), 1);
      const [letter] = await q.deadLetters();
      assert.equal(letter?.reason, 'rejected');
      assert.equal(letter?.error?.code, 'forbidden');
    });

    test('consume dead-letters bodies that fail their kind schema instead of looping', async () => {
      await using env = await buses(factory);
      const q = env.b.queue(unique('schema'), fast);
      await q.enqueue({ model: '' }, { kind: 'inference.request' });
      let ran = false;
      const consumer = q.consume(() => void (ran = true), {
        kinds: ['inference.request'],
        waitMs: 50,
      });
      await eventually(async () => (await q.stats()).dead === 1, 5000 + slack);
      await consumer.stop();
      assert.equal(ran, false);
      const [letter] = await q.deadLetters();
      assert.equal(letter?.error?.code, 'invalid_message');
    });
  });
}
