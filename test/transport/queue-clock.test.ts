// The time-based queue rules, exactly, on the transports that keep queue time in this process
// (memory, sqlite): each test moves an injected clock instead of sleeping. The broker transports
// keep time on the broker, so the conformance suite checks the same rules there in real time.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import {
  createEnvelope,
  NotFoundError,
  type EnvelopeInit,
  type WireErrorBody,
} from '../../src/protocol/index.js';
import { createMemoryTransport } from '../../src/transport/memory/index.js';
import { createSqliteTransport } from '../../src/transport/sqlite/index.js';
import type { DurableQueue, QueueOptions, Transport } from '../../src/transport/transport.js';
import { ManualClock } from './fixtures/clock.js';

const transports: { name: string; open: (t: TestContext) => Transport }[] = [
  {
    name: 'memory',
    open: (t) => {
      const transport = createMemoryTransport();
      t.after(() => transport.close());
      return transport;
    },
  },
  {
    name: 'sqlite',
    open: (t) => {
      const dir = mkdtempSync(join(tmpdir(), 'llmwire-clock-'));
      const transport = createSqliteTransport({ path: join(dir, 'queues.db') });
      t.after(async () => {
        await transport.close();
        rmSync(dir, { recursive: true, force: true });
      });
      return transport;
    },
  },
];

const failure: WireErrorBody = { code: 'upstream_error', message: 'model failed', retryable: true };
const noBackoff = { backoff: { initialMs: 0, jitter: 0 } };

function message(body: unknown, init: Partial<EnvelopeInit> = {}) {
  return createEnvelope({ kind: 'event', subject: 'jobs.work', body, ...init });
}

async function bodies(queue: DurableQueue): Promise<unknown[]> {
  return (await queue.receive({ max: 100, waitMs: 0 })).map((d) => d.envelope.body);
}

async function one(queue: DurableQueue) {
  const [d] = await queue.receive({ max: 1, waitMs: 0 });
  assert.ok(d, 'expected a delivery');
  return d;
}

for (const { name, open } of transports) {
  const setup = (t: TestContext, options: QueueOptions = {}) => {
    const clock = new ManualClock();
    const queue = open(t).queue('jobs', { ...options, clock });
    return { clock, queue };
  };

  describe(`${name} queue on a manual clock`, () => {
    test('a delivery is leased for leaseMs from the clock', async (t) => {
      const { clock, queue } = setup(t, { leaseMs: 5_000 });
      await queue.enqueue(message('x'));
      const d = await one(queue);
      assert.equal(d.leaseUntil, clock.now() + 5_000);
    });

    test('nack with a delay redelivers at that delay, not before', async (t) => {
      const { clock, queue } = setup(t);
      await queue.enqueue(message('retry me'));
      await (await one(queue)).nack({ delayMs: 150, error: failure });
      assert.deepEqual(await queue.stats(), { ready: 0, delayed: 1, leased: 0, dead: 0 });
      clock.advance(149);
      assert.deepEqual(await bodies(queue), []);
      clock.advance(1);
      const again = await one(queue);
      assert.equal(again.attempt, 2);
      assert.equal(again.envelope.attempt, 2);
    });

    test('nack without a delay follows the backoff policy exactly', async (t) => {
      const { clock, queue } = setup(t, {
        backoff: { initialMs: 200, multiplier: 2, maxMs: 60_000, jitter: 0 },
      });
      await queue.enqueue(message('backoff'));
      await (await one(queue)).nack();
      clock.advance(199);
      assert.deepEqual(await bodies(queue), []);
      clock.advance(1);
      await (await one(queue)).nack();
      clock.advance(399);
      assert.deepEqual(await bodies(queue), []);
      clock.advance(1);
      assert.equal((await one(queue)).attempt, 3);
    });

    test('a lease running out counts as a failed attempt and waits for the backoff', async (t) => {
      const { clock, queue } = setup(t, { leaseMs: 100, backoff: { initialMs: 300, jitter: 0 } });
      await queue.enqueue(message('slow worker'));
      const first = await one(queue);
      clock.advance(100);
      assert.deepEqual(await bodies(queue), []);
      assert.deepEqual(await queue.stats(), { ready: 0, delayed: 1, leased: 0, dead: 0 });
      clock.advance(300);
      const second = await one(queue);
      assert.equal(second.attempt, 2);
      await first.ack(); // a stale ack changes nothing
      assert.equal((await queue.stats()).leased, 1);
    });

    test('a lease running out on the last attempt dead-letters with worker_lost', async (t) => {
      const { clock, queue } = setup(t, { leaseMs: 60, maxAttempts: 1 });
      await queue.enqueue(message('lost'));
      await one(queue);
      clock.advance(60);
      assert.deepEqual(await queue.stats(), { ready: 0, delayed: 0, leased: 0, dead: 1 });
      const [letter] = await queue.deadLetters();
      assert.equal(letter?.reason, 'max_attempts');
      assert.equal(letter?.attempts, 1);
      assert.deepEqual(letter?.error, {
        code: 'worker_lost',
        message: 'lease expired',
        retryable: true,
      });
      assert.equal(letter?.deadAt, clock.now());
    });

    test('extend keeps the lease for ms more from the clock', async (t) => {
      const { clock, queue } = setup(t, { leaseMs: 150, ...noBackoff });
      await queue.enqueue(message('long job'));
      const d = await one(queue);
      clock.advance(60);
      await d.extend(400);
      assert.equal(d.leaseUntil, clock.now() + 400);
      clock.advance(399);
      assert.deepEqual(await bodies(queue), []);
      assert.equal((await queue.stats()).leased, 1);
      clock.advance(1);
      await assert.rejects(d.extend(1_000), NotFoundError);
      assert.equal((await one(queue)).attempt, 2);
    });

    test('TTL and deadline expire at their time, not before', async (t) => {
      const { clock, queue } = setup(t);
      await queue.enqueue(message('ttl'), { ttlMs: 50 });
      await queue.enqueue(message('deadline', { deadline: clock.now() + 80 }));
      await queue.enqueue(message('fresh'), { ttlMs: 60_000 });
      clock.advance(49);
      assert.deepEqual(await queue.stats(), { ready: 3, delayed: 0, leased: 0, dead: 0 });
      clock.advance(1);
      assert.equal((await queue.stats()).dead, 1);
      clock.advance(30);
      assert.deepEqual(await bodies(queue), ['fresh']);
      const letters = await queue.deadLetters();
      assert.deepEqual(
        letters.map((l) => [l.envelope.body, l.reason, l.attempts]),
        [
          ['ttl', 'expired', 0],
          ['deadline', 'expired', 0],
        ],
      );
    });

    test('a message whose TTL passes while it waits for a retry is dead-lettered', async (t) => {
      const { clock, queue } = setup(t);
      await queue.enqueue(message('x'), { ttlMs: 150 });
      await (await one(queue)).nack({ delayMs: 250 });
      clock.advance(250);
      assert.deepEqual(await bodies(queue), []);
      const [letter] = await queue.deadLetters();
      assert.equal(letter?.reason, 'expired');
      assert.equal(letter?.attempts, 1);
    });

    test('a held lease is not expired from under its consumer', async (t) => {
      const { clock, queue } = setup(t);
      await queue.enqueue(message('x'), { ttlMs: 80 });
      const d = await one(queue);
      clock.advance(120);
      assert.equal((await queue.stats()).leased, 1);
      await d.ack();
      assert.deepEqual(await queue.stats(), { ready: 0, delayed: 0, leased: 0, dead: 0 });
    });

    test('a delayed message becomes ready at its delay', async (t) => {
      const { clock, queue } = setup(t);
      await queue.enqueue(message('later'), { delayMs: 1_000 });
      clock.advance(999);
      assert.deepEqual(await bodies(queue), []);
      clock.advance(1);
      assert.deepEqual(await bodies(queue), ['later']);
    });

    test('an acked id is a duplicate inside the dedup window and new after it', async (t) => {
      const { clock, queue } = setup(t, { dedupWindowMs: 100 });
      const env = message('x');
      await queue.enqueue(env);
      await (await one(queue)).ack();
      clock.advance(100);
      assert.equal((await queue.enqueue(env)).duplicate, true);
      clock.advance(101);
      assert.equal((await queue.enqueue(env)).duplicate, false);
    });
  });
}
