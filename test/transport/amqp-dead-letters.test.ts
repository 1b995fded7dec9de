// Dead-letter tools on amqp right after a listing: a listing gives the letters back to the
// broker, and a replay or purge that follows at once must still find every one of them.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createEnvelope } from '../../src/protocol/index.js';
import type { DurableQueue } from '../../src/transport/transport.js';
import { eventually } from '../conformance/harness.js';
import { openTransport, withBroker } from './amqp-harness.js';

const fast = { maxAttempts: 1, backoff: { initialMs: 10, maxMs: 50, jitter: 0 } };

async function killed(q: DurableQueue, n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const env = createEnvelope({ kind: 'event', subject: q.name, body: i });
    ids.push((await q.enqueue(env)).id);
  }
  let dead = 0;
  while (dead < n) {
    for (const d of await q.receive({ max: n, waitMs: 2000 })) {
      await d.nack();
      dead++;
    }
  }
  await eventually(async () => (await q.stats()).dead === n, 10_000);
  return ids;
}

await withBroker('amqp transport dead letters', () => {
  describe('amqp - dead letters', () => {
    test('replay by id right after a listing moves the letters it names', async () => {
      await using t = await openTransport();
      const q = t.queue('dlq-replay', fast);
      const ids = await killed(q, 3);
      assert.equal((await q.deadLetters()).length, 3);
      assert.equal(await q.replayDeadLetters([ids[0]!, ids[2]!]), 2);
      const letters = await q.deadLetters();
      assert.deepEqual(
        letters.map((l) => l.envelope.id),
        [ids[1]],
      );
      const back = await q.receive({ max: 2, waitMs: 2000 });
      assert.deepEqual(back.map((d) => d.envelope.id).sort(), [ids[0], ids[2]].sort());
      for (const d of back) await d.ack();
    });

    test('purge by id right after a listing deletes the letters it names', async () => {
      await using t = await openTransport();
      const q = t.queue('dlq-purge', fast);
      const ids = await killed(q, 3);
      assert.equal((await q.deadLetters()).length, 3);
      assert.equal(await q.purgeDeadLetters([ids[1]!]), 1);
      assert.equal((await q.deadLetters()).length, 2);
      assert.equal(await q.purgeDeadLetters([ids[0]!, ids[2]!]), 2);
      assert.equal((await q.stats()).dead, 0);
    });

    test('replay and purge of everything right after a listing take every letter', async () => {
      await using t = await openTransport();
      const q = t.queue('dlq-all', fast);
      await killed(q, 4);
      await q.deadLetters({ limit: 2 });
      assert.equal(await q.replayDeadLetters(), 4);
      const back = [];
      while (back.length < 4) back.push(...(await q.receive({ max: 4, waitMs: 2000 })));
      for (const d of back) await d.nack();
      await eventually(async () => (await q.stats()).dead === 4, 10_000);
      await q.deadLetters();
      assert.equal(await q.purgeDeadLetters(), 4);
      assert.equal((await q.stats()).dead, 0);
    });

    test('replay and purge of ids that are not dead letters touch nothing', async () => {
      await using t = await openTransport();
      const q = t.queue('dlq-none', fast);
      await killed(q, 2);
      await q.deadLetters();
      assert.equal(await q.replayDeadLetters(['no-such-id']), 0);
      assert.equal(await q.purgeDeadLetters(['no-such-id']), 0);
      assert.equal((await q.deadLetters()).length, 2);
    });
  });
});
