// What only the sqlite durable queue has: acks durable in the shared file, rows the codec cannot
// read, and pruning of the dedup table. The generic queue rules are in test/conformance (run on
// sqlite by sqlite.test.ts) and, on a manual clock, in queue-clock.test.ts.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { createEnvelope, type EnvelopeInit } from '../../src/protocol/index.js';
import { createSqliteTransport } from '../../src/transport/sqlite/index.js';
import type { QueueOptions } from '../../src/transport/transport.js';
import { ManualClock } from './fixtures/clock.js';

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

test('sqlite queue - an ack is durable: another connection to the file sees nothing', async (t) => {
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

test('sqlite queue - pruning the dedup ids keeps those of live messages, and only those', async (t) => {
  const clock = new ManualClock();
  const { queue } = tempQueue(t, { dedupWindowMs: 100, clock });
  const live = message('live');
  await queue.enqueue(live);
  clock.advance(1_100); // pruning runs at most once a second, on enqueue
  await queue.enqueue(message('triggers a prune'));
  assert.equal((await queue.enqueue(live)).duplicate, true, 'still in the queue');
  for (const d of await queue.receive({ max: 10, waitMs: 0 })) await d.ack();
  assert.equal((await queue.enqueue(live)).duplicate, false, 'gone and past its window');
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
