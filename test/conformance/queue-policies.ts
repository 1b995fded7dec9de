// Conformance: the finer queue rules, on the DurableQueue itself — what a dead letter carries,
// lost leases, key release, depth, stats, replay, purge, dead-letter listing, dedup windows, TTL
// and waiting receives. Times are real (brokers keep their own), with the factory's slack.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  createEnvelope,
  OverloadedError,
  type EnvelopeInit,
  type WireErrorBody,
} from '../../src/protocol/index.js';
import type { Delivery, DurableQueue, QueueOptions } from '../../src/transport/transport.js';
import { eventually, sleep, unique, type TransportFactory } from './harness.js';

const noBackoff = { backoff: { initialMs: 0, jitter: 0 } };
const failure: WireErrorBody = { code: 'upstream_error', message: 'model failed', retryable: true };
const poison: WireErrorBody = { code: 'invalid_message', message: 'bad body', retryable: false };

function message(queue: string, body: unknown, init: Partial<EnvelopeInit> = {}) {
  return createEnvelope({ kind: 'event', subject: queue, body, ...init });
}

async function one(q: DurableQueue, waitMs = 3000): Promise<Delivery> {
  const [d] = await q.receive({ max: 1, waitMs });
  assert.ok(d, 'expected a delivery');
  return d;
}

async function bodies(q: DurableQueue, waitMs = 0): Promise<unknown[]> {
  const got = await q.receive({ max: 100, waitMs });
  return got.map((d) => d.envelope.body);
}

export function queuePoliciesSuite(factory: TransportFactory): void {
  const slack = factory.slackMs ?? 0;
  const open = async (options: QueueOptions = {}) => {
    const transport = await factory.create();
    const q = transport.queue(unique('qp'), options);
    return {
      q,
      stats: () => q.stats(),
      [Symbol.asyncDispose]: () => transport.close(),
    };
  };
  /** Waits until the queue's stats read `want` (brokers count asynchronously). */
  const statsBecome = (q: DurableQueue, want: object) =>
    eventually(async () => {
      const s = await q.stats();
      return JSON.stringify(s) === JSON.stringify(want);
    }, 3000 + slack).catch(async () => {
      assert.deepEqual(await q.stats(), want);
    });

  describe(`${factory.name} - queue policies`, () => {
    test('a dead letter carries the last nack error, attempts and reason', async () => {
      await using env = await open({ maxAttempts: 2, ...noBackoff });
      const m = message(env.q.name, 'doomed');
      await env.q.enqueue(m);
      await (
        await one(env.q)
      ).nack({ error: { code: 'internal', message: 'first', retryable: true } });
      await (await one(env.q)).nack({ error: failure });
      await statsBecome(env.q, { ready: 0, delayed: 0, leased: 0, dead: 1 });
      const [letter] = await env.q.deadLetters();
      assert.equal(letter?.reason, 'max_attempts');
      assert.equal(letter?.attempts, 2);
      assert.deepEqual(letter?.error, failure);
      assert.equal(letter?.envelope.id, m.id);
      assert.equal(letter?.envelope.body, 'doomed');
      assert.ok(letter.deadAt <= Date.now() + 1000);
    });

    test('a nack without an error keeps the earlier error for the dead letter', async () => {
      await using env = await open({ maxAttempts: 2, ...noBackoff });
      await env.q.enqueue(message(env.q.name, 'x'));
      await (await one(env.q)).nack({ error: failure });
      await (await one(env.q)).nack();
      await statsBecome(env.q, { ready: 0, delayed: 0, leased: 0, dead: 1 });
      const [letter] = await env.q.deadLetters();
      assert.deepEqual(letter?.error, failure);
    });

    test('reject dead-letters at once with attempts and its error; later settles do nothing', async () => {
      await using env = await open({ maxAttempts: 5 });
      const m = message(env.q.name, 'poison');
      await env.q.enqueue(m);
      const d = await one(env.q);
      await d.reject(poison);
      await d.ack();
      await statsBecome(env.q, { ready: 0, delayed: 0, leased: 0, dead: 1 });
      const [letter] = await env.q.deadLetters();
      assert.equal(letter?.reason, 'rejected');
      assert.equal(letter?.attempts, 1);
      assert.deepEqual(letter?.error, poison);
      assert.equal(letter?.envelope.id, m.id);
    });

    test('a lease running out on the last attempt dead-letters with worker_lost', async () => {
      await using env = await open({ leaseMs: 100 + slack, maxAttempts: 1 });
      await env.q.enqueue(message(env.q.name, 'lost'));
      await one(env.q);
      await sleep(200 + 2 * slack);
      // A receive lets a transport that notices expiry on its next look do so.
      assert.deepEqual(await env.q.receive({ max: 1, waitMs: 100 + slack }), []);
      await statsBecome(env.q, { ready: 0, delayed: 0, leased: 0, dead: 1 });
      const [letter] = await env.q.deadLetters();
      assert.equal(letter?.reason, 'max_attempts');
      assert.equal(letter?.attempts, 1);
      assert.deepEqual(letter?.error, {
        code: 'worker_lost',
        message: 'lease expired',
        retryable: true,
      });
    });

    test('ack, nack and reject of a lost lease change nothing', async () => {
      await using env = await open({ leaseMs: 100 + slack, ...noBackoff });
      await env.q.enqueue(message(env.q.name, 'x'));
      const stale = await one(env.q);
      const current = await one(env.q, 3000 + slack);
      assert.equal(current.attempt, 2);
      await stale.ack();
      await stale.nack({ delayMs: 10_000 });
      await stale.reject(failure);
      await current.extend(30_000);
      await statsBecome(env.q, { ready: 0, delayed: 0, leased: 1, dead: 0 });
      await current.ack();
      await statsBecome(env.q, { ready: 0, delayed: 0, leased: 0, dead: 0 });
    });

    test('dead-lettering the head of a key releases the next one', async () => {
      await using env = await open();
      await env.q.enqueue(message(env.q.name, 'a1', { key: 'a' }));
      await env.q.enqueue(message(env.q.name, 'a2', { key: 'a' }));
      const head = await one(env.q);
      assert.equal(head.envelope.body, 'a1');
      assert.deepEqual(await bodies(env.q, 50), []);
      await head.reject(poison);
      const next = await one(env.q);
      assert.equal(next.envelope.body, 'a2');
      await next.ack();
    });

    test('maxDepth counts leased messages until they are acked', async () => {
      await using env = await open({ maxDepth: 2 });
      await env.q.enqueue(message(env.q.name, '1'));
      await env.q.enqueue(message(env.q.name, '2'));
      await assert.rejects(env.q.enqueue(message(env.q.name, '3')), (err: unknown) => {
        assert.ok(err instanceof OverloadedError);
        assert.equal(err.code, 'overloaded');
        assert.equal(err.retryable, true);
        return true;
      });
      const d = await one(env.q);
      await assert.rejects(env.q.enqueue(message(env.q.name, 'still full')), OverloadedError);
      await d.ack();
      await eventually(async () => {
        try {
          return !(await env.q.enqueue(message(env.q.name, '4'))).duplicate;
        } catch (err) {
          if (err instanceof OverloadedError) return false;
          throw err;
        }
      }, 3000 + slack);
    });

    test('stats counts ready, delayed (by time or key), leased and dead', async () => {
      await using env = await open();
      const q = env.q;
      await q.enqueue(message(q.name, 'leased', { key: 'k' }));
      await q.enqueue(message(q.name, 'behind its key', { key: 'k' }));
      await q.enqueue(message(q.name, 'later'), { delayMs: 60_000 });
      await q.enqueue(message(q.name, 'dead'));
      const got: Delivery[] = [];
      while (got.length < 2) got.push(...(await q.receive({ max: 2 - got.length, waitMs: 2000 })));
      const dead = got.find((d) => d.envelope.body === 'dead');
      assert.ok(dead, 'the unkeyed message and the head of the key are delivered');
      await dead.reject(poison);
      await q.enqueue(message(q.name, 'ready'));
      await statsBecome(q, { ready: 1, delayed: 2, leased: 1, dead: 1 });
    });

    test('replay resets attempts, drops the deadline and skips unknown ids', async () => {
      await using env = await open({ maxAttempts: 1 });
      const q = env.q;
      const a = message(q.name, 'a', { deadline: Date.now() + 60_000 });
      await q.enqueue(a);
      await q.enqueue(message(q.name, 'b'));
      for (let n = 0; n < 2;) {
        for (const d of await q.receive({ max: 2, waitMs: 2000 })) {
          await d.nack({ delayMs: 0 });
          n++;
        }
      }
      await eventually(async () => (await q.stats()).dead === 2, 3000 + slack);
      assert.equal(await q.replayDeadLetters([a.id, 'no-such-id']), 1);
      const again = await one(q);
      assert.equal(again.envelope.id, a.id);
      assert.equal(again.attempt, 1);
      assert.equal(again.envelope.deadline, undefined);
      await again.ack();
      assert.equal(await q.replayDeadLetters(), 1);
      assert.equal((await one(q)).envelope.body, 'b');
    });

    test('replay brings back a message its deadline killed', async () => {
      await using env = await open();
      await env.q.enqueue(message(env.q.name, 'late', { deadline: Date.now() - 1 }));
      assert.deepEqual(await bodies(env.q, 50), []);
      await eventually(async () => (await env.q.stats()).dead === 1, 3000 + slack);
      assert.equal(await env.q.replayDeadLetters(), 1);
      assert.equal((await one(env.q)).envelope.body, 'late');
    });

    test('purge deletes dead letters by id or all of them; deadLetters lists oldest first', async () => {
      await using env = await open();
      const q = env.q;
      const ids: string[] = [];
      for (const body of ['x', 'y', 'z']) {
        const m = message(q.name, body);
        ids.push(m.id);
        await q.enqueue(m);
        await (await one(q)).reject(poison);
      }
      await eventually(async () => (await q.stats()).dead === 3, 3000 + slack);
      assert.deepEqual(
        (await q.deadLetters({ limit: 2 })).map((l) => l.envelope.body),
        ['x', 'y'],
      );
      assert.equal(await q.purgeDeadLetters([ids[0]!, 'no-such-id']), 1);
      assert.deepEqual(
        (await q.deadLetters()).map((l) => l.envelope.id),
        [ids[1], ids[2]],
      );
      assert.equal(await q.purgeDeadLetters(), 2);
      assert.deepEqual(await q.deadLetters(), []);
    });

    test('an id still in the queue is a duplicate even after the dedup window', async () => {
      await using env = await open({ dedupWindowMs: 100 });
      const m = message(env.q.name, 'x');
      await env.q.enqueue(m);
      await sleep(200);
      assert.equal((await env.q.enqueue(m)).duplicate, true);
      assert.deepEqual(await bodies(env.q, 1000), ['x']);
    });

    test('an acked id is accepted again once the dedup window has passed', async () => {
      await using env = await open({ dedupWindowMs: 100 });
      const m = message(env.q.name, 'x');
      await env.q.enqueue(m);
      await (await one(env.q)).ack();
      await sleep(200 + slack);
      assert.equal((await env.q.enqueue(m)).duplicate, false);
      assert.equal((await one(env.q)).envelope.id, m.id);
    });

    test('a message past its TTL is never delivered and dead-letters with 0 attempts', async () => {
      await using env = await open();
      await env.q.enqueue(message(env.q.name, 'stale'), { ttlMs: 50 });
      await env.q.enqueue(message(env.q.name, 'fresh'), { ttlMs: 60_000 });
      await sleep(100);
      assert.deepEqual(await bodies(env.q, 1000), ['fresh']);
      await eventually(async () => (await env.q.stats()).dead === 1, 3000 + slack);
      const [letter] = await env.q.deadLetters();
      assert.equal(letter?.reason, 'expired');
      assert.equal(letter?.envelope.body, 'stale');
      assert.equal(letter?.attempts, 0);
    });

    test('a message expiring while it waits for a retry is dead-lettered, not redelivered', async () => {
      await using env = await open();
      // Long enough for a broker's first receive to set up its consumer before the TTL ends.
      const ttlMs = 500 + 10 * slack;
      await env.q.enqueue(message(env.q.name, 'x'), { ttlMs });
      await (await one(env.q)).nack({ delayMs: ttlMs + 200 });
      assert.deepEqual(await env.q.receive({ max: 1, waitMs: ttlMs + 600 }), []);
      await eventually(async () => (await env.q.stats()).dead === 1, 3000 + slack);
      const [letter] = await env.q.deadLetters();
      assert.equal(letter?.reason, 'expired');
      assert.equal(letter?.attempts, 1);
    });

    test('a consumer holding a lease is not expired from under it', async () => {
      await using env = await open();
      // Long enough for a broker's first receive to set up its consumer before the TTL ends.
      const ttlMs = 500 + 10 * slack;
      await env.q.enqueue(message(env.q.name, 'x'), { ttlMs });
      const d = await one(env.q);
      await sleep(ttlMs + 100);
      assert.equal((await env.q.stats()).leased, 1);
      await d.ack();
      await statsBecome(env.q, { ready: 0, delayed: 0, leased: 0, dead: 0 });
    });

    test('receive returns empty once waitMs passes, or at once when aborted', async () => {
      await using env = await open();
      assert.deepEqual(await env.q.receive({ max: 1, waitMs: 50 }), []);
      const abort = new AbortController();
      const waiting = env.q.receive({ max: 1, waitMs: 30_000, signal: abort.signal });
      await sleep(20);
      abort.abort();
      assert.deepEqual(await waiting, []);
    });
  });
}
