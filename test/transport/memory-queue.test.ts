// A memory queue edge the conformance suite leaves to each adapter: a replay into a full queue
// keeps the dead letters it cannot take back.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createEnvelope } from '../../src/protocol/index.js';
import { createMemoryTransport } from '../../src/transport/memory/index.js';

test('memory queue - a replay into a full queue keeps the dead letters it cannot take', async () => {
  const t = createMemoryTransport();
  const q = t.queue('replay_full', { maxDepth: 1, maxAttempts: 1 });
  for (const n of [1, 2]) {
    await q.enqueue(createEnvelope({ kind: 'event', subject: 'q', body: { type: String(n) } }));
    const [d] = await q.receive({ max: 1, waitMs: 0 });
    await d!.nack();
  }
  assert.equal((await q.stats()).dead, 2);
  assert.equal(await q.replayDeadLetters(), 1);
  const stats = await q.stats();
  assert.equal(stats.ready, 1);
  assert.equal(stats.dead, 1, 'the letter that did not fit is still a dead letter');
  await t.close();
});
