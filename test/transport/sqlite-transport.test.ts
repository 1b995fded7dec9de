// The sqlite transport as a whole: long-polling receive, durability across reopen, sharing one
// file between connections, group commit, closing, and in-process publish/subscribe.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import {
  ClosedError,
  ConfigError,
  createEnvelope,
  OverloadedError,
  type Envelope,
} from '../../src/protocol/index.js';
import {
  createSqliteTransport,
  type SqliteTransportOptions,
} from '../../src/transport/sqlite/index.js';
import { ManualClock } from './fixtures/clock.js';

function tempFile(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'llmwire-sqlite-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'queues.db');
}

function open(t: TestContext, path: string, options: Partial<SqliteTransportOptions> = {}) {
  const transport = createSqliteTransport({ path, ...options });
  t.after(() => transport.close());
  return transport;
}

function message(body: unknown) {
  return createEnvelope({ kind: 'event', subject: 'jobs.work', body });
}

test('sqlite transport - receive waits and wakes early on an enqueue in this process', async (t) => {
  const queue = open(t, tempFile(t), { pollMs: 60_000 }).queue('jobs');
  const started = Date.now();
  setTimeout(() => void queue.enqueue(message('late arrival')), 50);
  const got = await queue.receive({ max: 5, waitMs: 10_000 });
  assert.deepEqual(
    got.map((d) => d.envelope.body),
    ['late arrival'],
  );
  assert.ok(Date.now() - started < 2_000, 'woken by the enqueue, not by a poll or the timeout');
});

test('sqlite transport - a waiting receive wakes when a delayed message becomes due', async (t) => {
  const queue = open(t, tempFile(t), { pollMs: 60_000 }).queue('jobs');
  await queue.enqueue(message('due soon'), { delayMs: 100 });
  const started = Date.now();
  const got = await queue.receive({ max: 5, waitMs: 10_000 });
  assert.equal(got.length, 1);
  assert.ok(Date.now() - started < 2_000);
});

test('sqlite transport - a connection sees messages written by another one through polling', async (t) => {
  const path = tempFile(t);
  const consumer = open(t, path, { pollMs: 20 }).queue('jobs');
  const producer = open(t, path).queue('jobs');
  const started = Date.now();
  setTimeout(() => void producer.enqueue(message('from elsewhere')), 50);
  const got = await consumer.receive({ max: 5, waitMs: 10_000 });
  assert.deepEqual(
    got.map((d) => d.envelope.body),
    ['from elsewhere'],
  );
  assert.ok(Date.now() - started < 2_000);
  await got[0]!.ack();
  assert.deepEqual(await producer.stats(), { ready: 0, delayed: 0, leased: 0, dead: 0 });
});

test('sqlite transport - messages and dead letters survive close and reopen', async (t) => {
  const path = tempFile(t);
  const first = createSqliteTransport({ path });
  const q1 = first.queue('jobs', { maxAttempts: 1 });
  await q1.enqueue(message('kept'));
  await q1.enqueue({ ...message('dead'), deadline: Date.now() - 1 });
  assert.equal((await q1.stats()).dead, 1);
  await first.close();
  const q2 = open(t, path).queue('jobs');
  assert.deepEqual(await q2.stats(), { ready: 1, delayed: 0, leased: 0, dead: 1 });
  const [d] = await q2.receive({ max: 5, waitMs: 0 });
  assert.equal(d!.envelope.body, 'kept');
});

test('sqlite transport - leases held by a closed transport come back once they end', async (t) => {
  const path = tempFile(t);
  const clock = new ManualClock();
  const options = { leaseMs: 100, backoff: { initialMs: 0, jitter: 0 }, clock };
  const first = createSqliteTransport({ path });
  const q1 = first.queue('jobs', options);
  await q1.enqueue(message('in flight'));
  assert.equal((await q1.receive({ max: 1, waitMs: 0 })).length, 1);
  await first.close();
  const q2 = open(t, path).queue('jobs', options);
  assert.deepEqual(await q2.receive({ max: 1, waitMs: 0 }), [], 'still leased');
  clock.advance(100);
  const [d] = await q2.receive({ max: 1, waitMs: 0 });
  assert.equal(d!.envelope.body, 'in flight');
  assert.equal(d!.attempt, 2);
});

test('sqlite transport - queues of the same file are independent', async (t) => {
  const transport = open(t, tempFile(t));
  await transport.queue('a').enqueue(message('for a'));
  assert.deepEqual(await transport.queue('b').receive({ max: 5, waitMs: 0 }), []);
  assert.equal((await transport.queue('a').stats()).ready, 1);
});

test('sqlite transport - enqueues issued together all commit and keep their order', async (t) => {
  const queue = open(t, tempFile(t)).queue('jobs');
  const envs = Array.from({ length: 500 }, (_, i) => message(i));
  const results = await Promise.all(envs.map((env) => queue.enqueue(env)));
  assert.ok(results.every((r) => !r.duplicate));
  const got = await queue.receive({ max: 1_000, waitMs: 0 });
  assert.deepEqual(
    got.map((d) => d.envelope.body),
    envs.map((_, i) => i),
  );
});

test('sqlite transport - one refused enqueue does not fail the others committed with it', async (t) => {
  const queue = open(t, tempFile(t)).queue('jobs', { maxDepth: 3 });
  const outcomes = await Promise.allSettled(
    Array.from({ length: 5 }, (_, i) => queue.enqueue(message(i))),
  );
  assert.deepEqual(
    outcomes.map((o) => o.status),
    ['fulfilled', 'fulfilled', 'fulfilled', 'rejected', 'rejected'],
  );
  const refused = outcomes[3] as PromiseRejectedResult;
  assert.ok(refused.reason instanceof OverloadedError);
  assert.equal((await queue.stats()).ready, 3);
});

test('sqlite transport - close commits writes issued just before it', async (t) => {
  const path = tempFile(t);
  const first = createSqliteTransport({ path });
  const pending = first.queue('jobs').enqueue(message('last words'));
  await first.close();
  assert.equal((await pending).duplicate, false);
  const [d] = await open(t, path).queue('jobs').receive({ max: 1, waitMs: 0 });
  assert.equal(d!.envelope.body, 'last words');
});

test('sqlite transport - a receive waiting when the transport closes returns empty', async (t) => {
  const transport = createSqliteTransport({ path: tempFile(t) });
  const waiting = transport.queue('jobs').receive({ max: 1, waitMs: 10_000 });
  await sleep(30);
  const started = Date.now();
  await transport.close();
  assert.deepEqual(await waiting, []);
  assert.ok(Date.now() - started < 2_000);
});

test('sqlite transport - operations after close throw ClosedError', async (t) => {
  const transport = createSqliteTransport({ path: tempFile(t) });
  const queue = transport.queue('jobs');
  await queue.enqueue(message('x'));
  const [d] = await queue.receive({ max: 1, waitMs: 0 });
  await transport.close();
  await transport.close(); // idempotent
  const isClosed = (err: unknown) => err instanceof ClosedError && err.code === 'closed';
  assert.throws(() => transport.queue('jobs'), isClosed);
  await assert.rejects(queue.enqueue(message('y')), isClosed);
  await assert.rejects(queue.receive({ max: 1, waitMs: 0 }), isClosed);
  await assert.rejects(queue.stats(), isClosed);
  await assert.rejects(queue.deadLetters(), isClosed);
  await assert.rejects(d!.ack(), isClosed);
  await assert.rejects(d!.extend(100), isClosed);
  assert.throws(() => transport.publish(message('z')), isClosed);
});

test('sqlite transport - publish and subscribe are delivered in-process', async (t) => {
  const transport = open(t, tempFile(t));
  assert.equal(transport.name, 'sqlite');
  const seen: Envelope[] = [];
  const sub = transport.subscribe('jobs.*', (env) => seen.push(env));
  await sub.ready;
  transport.publish(message('broadcast'));
  await transport.flush();
  assert.deepEqual(
    seen.map((e) => e.body),
    ['broadcast'],
  );
  sub.unsubscribe();
});

test('sqlite transport - refuses bad options and bad queue names with ConfigError', async (t) => {
  const path = tempFile(t);
  assert.throws(() => createSqliteTransport({ path: '' }), ConfigError);
  assert.throws(() => createSqliteTransport({ path, pollMs: 0 }), ConfigError);
  const transport = open(t, path);
  assert.throws(() => transport.queue('no spaces allowed'), ConfigError);
  assert.throws(() => transport.queue('jobs', { leaseMs: 0 }), ConfigError);
  await assert.rejects(transport.queue('jobs').receive({ max: 0, waitMs: 0 }), ConfigError);
});

test('sqlite transport - refuses a file written with another layout version', (t) => {
  const path = tempFile(t);
  const raw = new Database(path);
  raw.pragma('user_version = 99');
  raw.close();
  assert.throws(
    () => createSqliteTransport({ path }),
    (err: unknown) => err instanceof ConfigError && /layout version 99/.test(err.message),
  );
});
