// Durable queues on JetStream beyond the conformance suite: per-key order held across separate
// connections, delayed enqueues, parked followers given back on close, and how a queue maps onto
// streams, consumers and dead-letter headers.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, test } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { createEnvelope } from '../../src/protocol/index.js';
import { createNatsTransport } from '../../src/transport/nats/index.js';
import type { Transport } from '../../src/transport/transport.js';
import { NATS_URL, NEEDS, requires } from '../helpers/requires.js';
import { deleteStreams, sleep } from './fixtures/nats-server.js';

const prefix = `T${randomBytes(4).toString('hex')}`;
const fast = { backoff: { initialMs: 10, maxMs: 50, jitter: 0 } };

function unique(name: string): string {
  return `${name}_${randomBytes(4).toString('hex')}`;
}

if (await requires('nats queues', NEEDS.nats)) {
  describe('nats transport - durable queues on JetStream', () => {
    const open: Transport[] = [];
    const transport = async () => {
      const t = await createNatsTransport({
        servers: NATS_URL,
        streamPrefix: prefix,
        queuePollMs: 50,
        onError: () => undefined,
      });
      open.push(t);
      return t;
    };
    after(async () => {
      for (const t of open) await t.close();
      await deleteStreams(NATS_URL, prefix);
    });

    test('keeps per-key order across consumers on separate connections', async () => {
      const name = unique('keys');
      const [producer, c1, c2] = [await transport(), await transport(), await transport()];
      const q = producer.queue(name, fast);
      const keys = ['a', 'b', 'c'];
      for (let i = 0; i < 45; i++) {
        const key = keys[i % 3]!;
        await q.enqueue(createEnvelope({ kind: 'event', subject: name, key, body: i }));
      }
      const order = new Map<string, number[]>();
      const busy = new Set<string>();
      let overlaps = 0;
      let done = 0;
      const consume = async (t: Transport) => {
        const cq = t.queue(name, fast);
        while (done < 45) {
          for (const d of await cq.receive({ max: 4, waitMs: 200 })) {
            const key = d.envelope.key!;
            if (busy.has(key)) overlaps++;
            busy.add(key);
            await sleep(Math.random() * 5);
            order.set(key, [...(order.get(key) ?? []), d.envelope.body as number]);
            busy.delete(key);
            await d.ack();
            done++;
          }
        }
      };
      await Promise.all([consume(c1), consume(c2)]);
      assert.equal(overlaps, 0, 'never two messages of one key out at once');
      for (const [i, key] of keys.entries()) {
        const expected = Array.from({ length: 15 }, (_, n) => n * 3 + i);
        assert.deepEqual(order.get(key), expected, `order of key ${key}`);
      }
    });

    test('a delayed enqueue waits out its delay and then counts attempt 1', async () => {
      const q = (await transport()).queue(unique('delay'), fast);
      const at = Date.now();
      await q.enqueue(createEnvelope({ kind: 'event', subject: 'x', body: 'later' }), {
        delayMs: 300,
      });
      assert.deepEqual(await q.receive({ max: 1, waitMs: 0 }), []);
      assert.equal((await q.stats()).delayed, 1);
      const [d] = await q.receive({ max: 1, waitMs: 3000 });
      assert.ok(d, 'delivered once due');
      assert.ok(Date.now() - at >= 290, 'not before the delay');
      assert.equal(d.attempt, 1);
      await d.ack();
      assert.deepEqual(await q.stats(), { ready: 0, delayed: 0, leased: 0, dead: 0 });
    });

    test('a follower parked behind its key goes back on close without losing an attempt', async () => {
      const name = unique('park');
      const holder = await transport();
      const q = holder.queue(name, { ...fast, leaseMs: 30_000, maxAttempts: 1 });
      for (const body of ['head', 'next']) {
        await q.enqueue(createEnvelope({ kind: 'event', subject: name, key: 'k', body }));
      }
      const batch = await q.receive({ max: 5, waitMs: 1000 });
      assert.deepEqual(
        batch.map((d) => d.envelope.body),
        ['head'],
      );
      await batch[0]!.ack();
      await holder.close(); // 'next' was pulled and parked: it must not wait out its lease
      const other = (await transport()).queue(name, { ...fast, maxAttempts: 1 });
      const [d] = await other.receive({ max: 1, waitMs: 3000 });
      assert.equal(d?.envelope.body, 'next');
      assert.equal(d?.attempt, 1, 'being held back was not an attempt');
      await d?.ack();
      assert.equal((await other.stats()).dead, 0);
    });

    test('maps onto a work-queue stream, per-class consumers and a dead-letter stream', async () => {
      const name = unique('layout');
      const q = (await transport()).queue(name, {
        leaseMs: 1234,
        dedupWindowMs: 60_000,
        maxDepth: 10,
        maxAttempts: 1,
      });
      await q.enqueue(createEnvelope({ kind: 'event', subject: name, body: 'x', prio: 9 }));
      const [d] = await q.receive({ max: 1, waitMs: 1000 });
      await d!.nack({ error: { code: 'upstream_error', message: 'é boom', retryable: true } });

      const nc = await connect({ servers: NATS_URL });
      try {
        const jsm = await jetstreamManager(nc);
        const work = await jsm.streams.info(`${prefix}_Q_${name}`);
        assert.equal(work.config.retention, 'workqueue');
        assert.equal(work.config.duplicate_window, 60_000 * 1e6);
        assert.equal(work.config.max_msgs, 10);
        assert.equal(work.config.discard, 'new');
        const high = await jsm.consumers.info(`${prefix}_Q_${name}`, 'h');
        assert.equal(high.config.ack_wait, 1234 * 1e6);
        assert.equal(high.config.filter_subject, `${prefix}.q.${name}.h.>`);
        const dead = await jsm.streams.getMessage(`${prefix}_DLQ_${name}`, {
          last_by_subj: `${prefix}.dlq.${name}.${d!.envelope.id}`,
        });
        assert.equal(dead?.header.get('Llmwire-Dead-Reason'), 'max_attempts');
        assert.equal(dead?.header.get('Llmwire-Dead-Attempts'), '1');
        const error = JSON.parse(dead?.header.get('Llmwire-Dead-Error') ?? '{}') as {
          message: string;
        };
        assert.equal(error.message, 'é boom');
        assert.equal((await q.deadLetters())[0]?.error?.message, 'é boom');
      } finally {
        await nc.close();
      }
    });
  });
}
