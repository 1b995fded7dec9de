// Delivery, leases, retries and dead letters of the sqlite durable queue.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import {
  createEnvelope,
  NotFoundError,
  type EnvelopeInit,
  type WireErrorBody,
} from '../../src/protocol/index.js';
import { createSqliteTransport } from '../../src/transport/sqlite/index.js';
import type { QueueOptions } from '../../src/transport/transport.js';

function tempQueue(t: TestContext, options: QueueOptions = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'llmwire-sqlite-'));
  const path = join(dir, 'queues.db');
  const transport = createSqliteTransport({ path });
  t.after(async () => {
    await transport.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { transport, path, queue: transport.queue('jobs', options) };
}

function message(body: unknown, init: Partial<EnvelopeInit> = {}) {
  return createEnvelope({ kind: 'event', subject: 'jobs.work', body, ...init });
}

const noBackoff = { backoff: { initialMs: 0, jitter: 0 } };
const failure: WireErrorBody = { code: 'upstream_error', message: 'model failed', retryable: true };

test('sqlite queue - delivers an enqueued message with attempt 1 and a lease', async (t) => {
  const { queue } = tempQueue(t, { leaseMs: 5_000 });
  const env = message({ text: 'hello' }, { key: 'k1', prio: 7 });
  assert.deepEqual(await queue.enqueue(env), { id: env.id, duplicate: false });
  const before = Date.now();
  const [d, ...rest] = await queue.receive({ max: 10, waitMs: 0 });
  assert.equal(rest.length, 0);
  assert.ok(d);
  assert.equal(d.envelope.id, env.id);
  assert.deepEqual(d.envelope.body, { text: 'hello' });
  assert.equal(d.envelope.key, 'k1');
  assert.equal(d.envelope.prio, 7);
  assert.equal(d.attempt, 1);
  assert.equal(d.envelope.attempt, 1);
  assert.ok(d.leaseUntil >= before + 5_000 && d.leaseUntil <= Date.now() + 5_000);
  assert.deepEqual(await queue.stats(), { ready: 0, delayed: 0, leased: 1, dead: 0 });
});

test('sqlite queue - ack removes the message durably and is idempotent', async (t) => {
  const { queue, path } = tempQueue(t);
  await queue.enqueue(message('once'));
  const [d] = await queue.receive({ max: 1, waitMs: 0 });
  await d!.ack();
  await d!.ack();
  assert.deepEqual(await queue.stats(), { ready: 0, delayed: 0, leased: 0, dead: 0 });
  const other = createSqliteTransport({ path });
  try {
    assert.deepEqual(await other.queue('jobs').receive({ max: 10, waitMs: 0 }), []);
  } finally {
    await other.close();
  }
});

test('sqlite queue - nack redelivers after the given delay with the next attempt', async (t) => {
  const { queue } = tempQueue(t);
  await queue.enqueue(message('retry me'));
  const [first] = await queue.receive({ max: 1, waitMs: 0 });
  const nackedAt = Date.now();
  await first!.nack({ delayMs: 150, error: failure });
  assert.deepEqual(await queue.receive({ max: 1, waitMs: 0 }), []);
  assert.deepEqual(await queue.stats(), { ready: 0, delayed: 1, leased: 0, dead: 0 });
  const [second] = await queue.receive({ max: 1, waitMs: 3_000 });
  assert.ok(Date.now() - nackedAt >= 140);
  assert.equal(second!.attempt, 2);
  assert.equal(second!.envelope.attempt, 2);
  assert.equal(second!.envelope.id, first!.envelope.id);
});

test('sqlite queue - nack without a delay waits for the backoff policy', async (t) => {
  const { queue } = tempQueue(t, { backoff: { initialMs: 200, multiplier: 2, jitter: 0 } });
  await queue.enqueue(message('backoff'));
  const [first] = await queue.receive({ max: 1, waitMs: 0 });
  let at = Date.now();
  await first!.nack();
  const [second] = await queue.receive({ max: 1, waitMs: 3_000 });
  assert.ok(Date.now() - at >= 190, 'first retry after initialMs');
  at = Date.now();
  await second!.nack();
  const [third] = await queue.receive({ max: 1, waitMs: 3_000 });
  assert.ok(Date.now() - at >= 390, 'second retry after initialMs * multiplier');
  assert.equal(third!.attempt, 3);
});

test('sqlite queue - nack on the last attempt dead-letters with max_attempts and the last error', async (t) => {
  const { queue } = tempQueue(t, { maxAttempts: 2, ...noBackoff });
  const env = message('doomed');
  await queue.enqueue(env);
  const [first] = await queue.receive({ max: 1, waitMs: 0 });
  await first!.nack({ error: { code: 'internal', message: 'first', retryable: true } });
  const [second] = await queue.receive({ max: 1, waitMs: 1_000 });
  await second!.nack({ error: failure });
  assert.deepEqual(await queue.receive({ max: 1, waitMs: 0 }), []);
  assert.deepEqual(await queue.stats(), { ready: 0, delayed: 0, leased: 0, dead: 1 });
  const [letter] = await queue.deadLetters();
  assert.equal(letter!.reason, 'max_attempts');
  assert.equal(letter!.attempts, 2);
  assert.deepEqual(letter!.error, failure);
  assert.equal(letter!.envelope.id, env.id);
  assert.equal(letter!.envelope.body, 'doomed');
  assert.ok(letter!.deadAt <= Date.now());
});

test('sqlite queue - a nack without an error keeps the earlier error for the dead letter', async (t) => {
  const { queue } = tempQueue(t, { maxAttempts: 2, ...noBackoff });
  await queue.enqueue(message('x'));
  const [first] = await queue.receive({ max: 1, waitMs: 0 });
  await first!.nack({ error: failure });
  const [second] = await queue.receive({ max: 1, waitMs: 1_000 });
  await second!.nack();
  const [letter] = await queue.deadLetters();
  assert.deepEqual(letter!.error, failure);
});

test('sqlite queue - redelivers after lease expiry, counting it as a failed attempt', async (t) => {
  const { queue } = tempQueue(t, { leaseMs: 100, backoff: { initialMs: 300, jitter: 0 } });
  await queue.enqueue(message('slow worker'));
  const [first] = await queue.receive({ max: 1, waitMs: 0 });
  await sleep(150);
  // The lease ended at +100 ms; backoff for a failed first attempt holds it until +400 ms.
  assert.deepEqual(await queue.receive({ max: 1, waitMs: 0 }), []);
  assert.deepEqual(await queue.stats(), { ready: 0, delayed: 1, leased: 0, dead: 0 });
  const [second] = await queue.receive({ max: 1, waitMs: 3_000 });
  assert.ok(Date.now() >= first!.leaseUntil + 290);
  assert.equal(second!.attempt, 2);
});

test('sqlite queue - a lease expiring on the last attempt dead-letters with worker_lost', async (t) => {
  const { queue } = tempQueue(t, { leaseMs: 60, maxAttempts: 1 });
  await queue.enqueue(message('lost'));
  await queue.receive({ max: 1, waitMs: 0 });
  await sleep(120);
  assert.deepEqual(await queue.stats(), { ready: 0, delayed: 0, leased: 0, dead: 1 });
  const [letter] = await queue.deadLetters();
  assert.equal(letter!.reason, 'max_attempts');
  assert.equal(letter!.attempts, 1);
  assert.deepEqual(letter!.error, {
    code: 'worker_lost',
    message: 'lease expired',
    retryable: true,
  });
});

test('sqlite queue - extend keeps the lease past its original end', async (t) => {
  const { queue } = tempQueue(t, { leaseMs: 150, ...noBackoff });
  await queue.enqueue(message('long job'));
  const [d] = await queue.receive({ max: 1, waitMs: 0 });
  const original = d!.leaseUntil;
  await sleep(60);
  await d!.extend(400);
  assert.ok(d!.leaseUntil > original + 200, 'leaseUntil reflects the extension');
  await sleep(150);
  assert.deepEqual(await queue.receive({ max: 1, waitMs: 0 }), []);
  assert.equal((await queue.stats()).leased, 1);
  await d!.ack();
  assert.deepEqual(await queue.stats(), { ready: 0, delayed: 0, leased: 0, dead: 0 });
});

test('sqlite queue - extend of a lost lease fails with NotFoundError', async (t) => {
  const { queue } = tempQueue(t, { leaseMs: 50 });
  await queue.enqueue(message('x'));
  const [d] = await queue.receive({ max: 1, waitMs: 0 });
  await sleep(100);
  await assert.rejects(d!.extend(1_000), (err: unknown) => {
    assert.ok(err instanceof NotFoundError);
    assert.equal(err.code, 'not_found');
    return true;
  });
});

test('sqlite queue - ack, nack and reject of a lost lease change nothing', async (t) => {
  const { queue } = tempQueue(t, { leaseMs: 50, ...noBackoff });
  await queue.enqueue(message('x'));
  const [stale] = await queue.receive({ max: 1, waitMs: 0 });
  await sleep(100);
  const [current] = await queue.receive({ max: 1, waitMs: 0 });
  assert.equal(current!.attempt, 2);
  await stale!.ack();
  await stale!.nack({ delayMs: 10_000 });
  await stale!.reject(failure);
  assert.deepEqual(await queue.stats(), { ready: 0, delayed: 0, leased: 1, dead: 0 });
  await current!.ack();
  assert.deepEqual(await queue.stats(), { ready: 0, delayed: 0, leased: 0, dead: 0 });
});

test('sqlite queue - reject sends the message straight to the dead letters as rejected', async (t) => {
  const { queue } = tempQueue(t, { maxAttempts: 5 });
  const env = message('poison');
  await queue.enqueue(env);
  const [d] = await queue.receive({ max: 1, waitMs: 0 });
  const poison: WireErrorBody = { code: 'invalid_message', message: 'bad body', retryable: false };
  await d!.reject(poison);
  await d!.ack(); // settled already: a no-op
  assert.deepEqual(await queue.stats(), { ready: 0, delayed: 0, leased: 0, dead: 1 });
  const [letter] = await queue.deadLetters();
  assert.equal(letter!.reason, 'rejected');
  assert.equal(letter!.attempts, 1);
  assert.deepEqual(letter!.error, poison);
  assert.equal(letter!.envelope.id, env.id);
});

test('sqlite queue - a stored frame the codec cannot read is dead-lettered, not redelivered', async (t) => {
  const { queue, path } = tempQueue(t);
  await queue.enqueue(message('fine'));
  const corrupt = message('to be corrupted');
  await queue.enqueue(corrupt);
  const raw = new Database(path);
  raw
    .prepare('UPDATE llmwire_queue_messages SET frame = ? WHERE id = ?')
    .run(Buffer.from([0xc1]), corrupt.id);
  raw.close();
  const got = await queue.receive({ max: 10, waitMs: 0 });
  assert.deepEqual(
    got.map((d) => d.envelope.body),
    ['fine'],
  );
  const [letter] = await queue.deadLetters();
  assert.equal(letter!.reason, 'rejected');
  assert.equal(letter!.error?.code, 'invalid_message');
  assert.equal(letter!.envelope.id, corrupt.id);
});
