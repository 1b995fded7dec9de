// Expiry, dedup, priority, per-key ordering, depth limits, stats and dead-letter management of
// the sqlite durable queue.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createEnvelope, OverloadedError, type EnvelopeInit } from '../../src/protocol/index.js';
import { createSqliteTransport } from '../../src/transport/sqlite/index.js';
import type { DurableQueue, QueueOptions } from '../../src/transport/transport.js';

function tempQueue(t: TestContext, options: QueueOptions = {}): DurableQueue {
  const dir = mkdtempSync(join(tmpdir(), 'llmwire-sqlite-'));
  const transport = createSqliteTransport({ path: join(dir, 'queues.db') });
  t.after(async () => {
    await transport.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return transport.queue('jobs', options);
}

function message(body: unknown, init: Partial<EnvelopeInit> = {}) {
  return createEnvelope({ kind: 'event', subject: 'jobs.work', body, ...init });
}

async function bodies(queue: DurableQueue, max = 100): Promise<unknown[]> {
  return (await queue.receive({ max, waitMs: 0 })).map((d) => d.envelope.body);
}

test('sqlite queue - TTL expiry dead-letters with reason expired and never delivers', async (t) => {
  const queue = tempQueue(t);
  await queue.enqueue(message('stale'), { ttlMs: 50 });
  await queue.enqueue(message('fresh'), { ttlMs: 60_000 });
  await sleep(100);
  assert.deepEqual(await bodies(queue), ['fresh']);
  const [letter] = await queue.deadLetters();
  assert.equal(letter!.reason, 'expired');
  assert.equal(letter!.envelope.body, 'stale');
  assert.equal(letter!.attempts, 0);
});

test('sqlite queue - stats applies expiry of an envelope deadline', async (t) => {
  const queue = tempQueue(t);
  await queue.enqueue(message('late', { deadline: Date.now() - 1 }), { ttlMs: 60_000 });
  assert.deepEqual(await queue.stats(), { ready: 0, delayed: 0, leased: 0, dead: 1 });
  assert.deepEqual(await bodies(queue), []);
  assert.equal((await queue.deadLetters())[0]!.reason, 'expired');
});

test('sqlite queue - a message expiring while it waits for a retry is dead-lettered, not redelivered', async (t) => {
  const queue = tempQueue(t);
  await queue.enqueue(message('x'), { ttlMs: 150 });
  const [d] = await queue.receive({ max: 1, waitMs: 0 });
  await d!.nack({ delayMs: 250 });
  assert.deepEqual(await queue.receive({ max: 1, waitMs: 600 }), []);
  const [letter] = await queue.deadLetters();
  assert.equal(letter!.reason, 'expired');
  assert.equal(letter!.attempts, 1);
});

test('sqlite queue - a consumer holding a lease is not expired from under it', async (t) => {
  const queue = tempQueue(t);
  await queue.enqueue(message('x'), { ttlMs: 80 });
  const [d] = await queue.receive({ max: 1, waitMs: 0 });
  await sleep(120);
  assert.equal((await queue.stats()).leased, 1);
  await d!.ack();
  assert.deepEqual(await queue.stats(), { ready: 0, delayed: 0, leased: 0, dead: 0 });
});

test('sqlite queue - a second enqueue of an id within the dedup window is a duplicate', async (t) => {
  const queue = tempQueue(t);
  const env = message('once');
  assert.deepEqual(await queue.enqueue(env), { id: env.id, duplicate: false });
  assert.deepEqual(await queue.enqueue({ ...env, body: 'twice' }), { id: env.id, duplicate: true });
  const [d] = await queue.receive({ max: 10, waitMs: 0 });
  assert.equal(d!.envelope.body, 'once');
  await d!.ack();
  // Acked, but still inside the window: the id is remembered.
  assert.equal((await queue.enqueue(env)).duplicate, true);
  assert.deepEqual(await queue.stats(), { ready: 0, delayed: 0, leased: 0, dead: 0 });
});

test('sqlite queue - pruning the dedup ids keeps those of live messages, and only those', async (t) => {
  const queue = tempQueue(t, { dedupWindowMs: 100 });
  const live = message('live');
  await queue.enqueue(live);
  await sleep(1_100); // pruning runs at most once a second, on enqueue
  await queue.enqueue(message('triggers a prune'));
  assert.equal((await queue.enqueue(live)).duplicate, true, 'still in the queue');
  for (const d of await queue.receive({ max: 10, waitMs: 0 })) await d.ack();
  assert.equal((await queue.enqueue(live)).duplicate, false, 'gone and past its window');
});

test('sqlite queue - delivers higher priority first and FIFO within a priority', async (t) => {
  const queue = tempQueue(t);
  const plan: [string, number | undefined][] = [
    ['n1', undefined],
    ['low1', 1],
    ['high1', 9],
    ['n2', 5],
    ['high2', 9],
    ['low2', 1],
    ['mid', 7],
  ];
  for (const [body, prio] of plan) {
    await queue.enqueue(message(body, prio === undefined ? {} : { prio }));
  }
  assert.deepEqual(await bodies(queue, 3), ['high1', 'high2', 'mid']);
  assert.deepEqual(await bodies(queue), ['n1', 'n2', 'low1', 'low2']);
});

test('sqlite queue - the next message of a key waits until the one before it is acked', async (t) => {
  const queue = tempQueue(t);
  await queue.enqueue(message('a1', { key: 'a' }));
  await queue.enqueue(message('a2', { key: 'a' }));
  await queue.enqueue(message('b1', { key: 'b' }));
  await queue.enqueue(message('free'));
  const first = await queue.receive({ max: 10, waitMs: 0 });
  assert.deepEqual(
    first.map((d) => d.envelope.body),
    ['a1', 'b1', 'free'],
  );
  assert.deepEqual(await bodies(queue), []);
  await first[0]!.ack();
  assert.deepEqual(await bodies(queue), ['a2']);
});

test('sqlite queue - a key stays blocked while its head waits for a retry', async (t) => {
  const queue = tempQueue(t);
  await queue.enqueue(message('a1', { key: 'a' }));
  await queue.enqueue(message('a2', { key: 'a' }));
  const [head] = await queue.receive({ max: 10, waitMs: 0 });
  await head!.nack({ delayMs: 150 });
  assert.deepEqual(await bodies(queue), []);
  assert.deepEqual(await queue.stats(), { ready: 0, delayed: 2, leased: 0, dead: 0 });
  const [again] = await queue.receive({ max: 10, waitMs: 2_000 });
  assert.equal(again!.envelope.body, 'a1');
  assert.equal(again!.attempt, 2);
  assert.deepEqual(await bodies(queue), []);
  await again!.ack();
  assert.deepEqual(await bodies(queue), ['a2']);
});

test('sqlite queue - dead-lettering the head of a key releases the next one', async (t) => {
  const queue = tempQueue(t);
  await queue.enqueue(message('a1', { key: 'a' }));
  await queue.enqueue(message('a2', { key: 'a' }), { delayMs: 100 });
  const [head] = await queue.receive({ max: 10, waitMs: 0 });
  await head!.reject({ code: 'invalid_message', message: 'bad', retryable: false });
  // a2 is now the head but still delayed by its own delayMs.
  assert.deepEqual(await bodies(queue), []);
  const [next] = await queue.receive({ max: 10, waitMs: 2_000 });
  assert.equal(next!.envelope.body, 'a2');
});

test('sqlite queue - maxDepth refuses enqueue with OverloadedError until a message leaves', async (t) => {
  const queue = tempQueue(t, { maxDepth: 2 });
  await queue.enqueue(message('1'));
  await queue.enqueue(message('2'), { delayMs: 60_000 });
  await assert.rejects(queue.enqueue(message('3')), (err: unknown) => {
    assert.ok(err instanceof OverloadedError);
    assert.equal(err.code, 'overloaded');
    assert.equal(err.retryable, true);
    return true;
  });
  const [d] = await queue.receive({ max: 1, waitMs: 0 });
  // A leased message is still held: the queue stays full until it is acked.
  await assert.rejects(queue.enqueue(message('still full')), OverloadedError);
  await d!.ack();
  assert.equal((await queue.enqueue(message('4'))).duplicate, false);
});

test('sqlite queue - stats counts ready, delayed (by time or key), leased and dead', async (t) => {
  const queue = tempQueue(t);
  await queue.enqueue(message('leased', { key: 'k' }));
  await queue.enqueue(message('behind its key', { key: 'k' }));
  await queue.enqueue(message('later'), { delayMs: 60_000 });
  await queue.enqueue(message('dead'));
  const got = await queue.receive({ max: 2, waitMs: 0 });
  await got[1]!.reject({ code: 'invalid_message', message: 'no', retryable: false });
  await queue.enqueue(message('ready'));
  assert.deepEqual(await queue.stats(), { ready: 1, delayed: 2, leased: 1, dead: 1 });
});

test('sqlite queue - replay moves dead letters back to ready with attempts reset', async (t) => {
  const queue = tempQueue(t, { maxAttempts: 1 });
  const a = message('a', { deadline: Date.now() + 60_000 });
  const b = message('b');
  await queue.enqueue(a);
  await queue.enqueue(b);
  for (const d of await queue.receive({ max: 2, waitMs: 0 })) await d.nack({ delayMs: 0 });
  assert.equal((await queue.stats()).dead, 2);
  assert.equal(await queue.replayDeadLetters([a.id, 'no-such-id']), 1);
  assert.deepEqual(await queue.stats(), { ready: 1, delayed: 0, leased: 0, dead: 1 });
  const [again] = await queue.receive({ max: 1, waitMs: 0 });
  assert.equal(again!.envelope.id, a.id);
  assert.equal(again!.attempt, 1);
  assert.equal(again!.envelope.deadline, undefined);
  assert.equal(await queue.replayDeadLetters(), 1);
  assert.equal((await bodies(queue))[0], 'b');
});

test('sqlite queue - replay brings back a message whose deadline killed it', async (t) => {
  const queue = tempQueue(t);
  await queue.enqueue(message('late', { deadline: Date.now() - 1 }));
  assert.equal((await queue.stats()).dead, 1);
  assert.equal(await queue.replayDeadLetters(), 1);
  assert.deepEqual(await bodies(queue), ['late']);
});

test('sqlite queue - purge deletes dead letters by id or all of them', async (t) => {
  const queue = tempQueue(t);
  const ids: string[] = [];
  for (const body of ['x', 'y', 'z']) {
    const env = message(body, { deadline: Date.now() - 1 });
    ids.push(env.id);
    await queue.enqueue(env);
  }
  assert.equal((await queue.stats()).dead, 3);
  assert.equal(await queue.purgeDeadLetters([ids[0]!, 'no-such-id']), 1);
  assert.deepEqual(
    (await queue.deadLetters()).map((l) => l.envelope.id),
    [ids[1], ids[2]],
  );
  assert.equal(await queue.purgeDeadLetters(), 2);
  assert.deepEqual(await queue.deadLetters(), []);
});

test('sqlite queue - deadLetters lists oldest first up to the limit', async (t) => {
  const queue = tempQueue(t);
  for (const body of ['1', '2', '3']) {
    await queue.enqueue(message(body, { deadline: Date.now() - 1 }));
  }
  const letters = await queue.deadLetters({ limit: 2 });
  assert.deepEqual(
    letters.map((l) => l.envelope.body),
    ['1', '2'],
  );
});
