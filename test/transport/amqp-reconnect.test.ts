// The amqp transport losing its connection: closed by the broker, and cut by the network with
// the broker unreachable for a while. It reconnects with backoff, reports each step on
// status(), declares its subscriptions and consumers again, and loses no enqueue the broker
// confirmed.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createBus } from '../../src/bus/index.js';
import type { AmqpTransport } from '../../src/transport/amqp/index.js';
import type { TransportStatus } from '../../src/transport/transport.js';
import { brokerCloses, startProxy } from './amqp-broker.js';
import { openTransport, withBroker } from './amqp-harness.js';
import { eventually } from '../conformance/harness.js';

function record(transport: AmqpTransport): TransportStatus[] {
  const seen: TransportStatus[] = [];
  void (async () => {
    for await (const s of transport.status()) seen.push(s);
  })();
  return seen;
}

const disconnects = (statuses: TransportStatus[]) =>
  statuses.filter((s) => s.type === 'disconnected').length;

/**
 * Runs a producer, a consumer and a subscription across `cut`, which starts once 150 enqueues
 * are confirmed; the producer keeps going until 300 more are confirmed after the cut. Checks
 * that enqueues were in flight when the link went, that every confirmed one is consumed, and
 * that the subscription works again.
 */
async function acrossACut(
  t: TestContext,
  transport: AmqpTransport,
  cut: () => Promise<void>,
): Promise<TransportStatus[]> {
  const statuses = record(transport);
  const bus = createBus({ transport, source: 'reconnect', onError: () => undefined });
  const q = bus.queue<number>('work', { leaseMs: 10_000 });
  const pings: number[] = [];
  const sub = bus.subscribe<number>('ping', (m) => void pings.push(m.body));
  await sub.ready;
  const consumed = new Set<string>();
  const consumer = q.consume((job) => void consumed.add(job.id), { concurrency: 8, waitMs: 100 });

  const confirmed: string[] = [];
  let cutting: Promise<void> | undefined;
  let cutDone = false;
  let confirmedAtCut = 0;
  let straddled = 0;
  for (let i = 0; i < 2000; i++) {
    const before = disconnects(statuses);
    const window = Array.from({ length: 10 }, (_, j) => q.enqueue(i * 10 + j));
    for (const r of await Promise.all(window)) confirmed.push(r.id);
    if (disconnects(statuses) > before) straddled++;
    if (confirmed.length >= 150 && cutting === undefined) {
      cutting = cut().then(() => {
        cutDone = true;
        confirmedAtCut = confirmed.length;
      });
    }
    if (cutDone && confirmed.length >= confirmedAtCut + 300) break;
  }
  await eventually(() => confirmed.every((id) => consumed.has(id)), 20_000);
  t.diagnostic(`${confirmed.length} confirmed, ${consumed.size} consumed`);
  assert.ok(straddled > 0, 'some enqueues were waiting for their confirm when the link went');

  // The subscription was bound again on the new connection.
  await eventually(async () => {
    bus.publish('ping', pings.length);
    await sleep(20);
    return pings.length > 0;
  }, 10_000);
  await consumer.stop();
  await bus.close();
  return statuses;
}

function kinds(statuses: TransportStatus[]): string[] {
  return statuses.map((s) => s.type);
}

await withBroker('amqp transport reconnection', () => {
  describe('amqp - reconnection', () => {
    test(
      'reconnects after the broker closes the connection and loses no confirmed enqueue',
      { timeout: 60_000 },
      async (t) => {
        const connectionName = `llmwire-test-${randomBytes(6).toString('hex')}`;
        const proxy = await startProxy();
        await using _p = { [Symbol.asyncDispose]: () => proxy.close() };
        await using transport = await openTransport({ connectionName, url: proxy.url });
        let how: string | undefined;
        const statuses: TransportStatus[] = await acrossACut(t, transport, async () => {
          how = await brokerCloses(connectionName);
          // No management plugin and no rabbitmqctl here: cut the socket instead.
          if (how === undefined) {
            how = 'socket destroyed (no management API or rabbitmqctl)';
            proxy.drop();
          }
        });
        t.diagnostic(`connection cut by: ${how}`);
        const seq = kinds(statuses);
        const lostAt = seq.indexOf('disconnected');
        assert.ok(lostAt > 0, `a disconnect was reported: ${seq.join(' ')}`);
        assert.equal(seq[lostAt + 1], 'reconnecting');
        assert.ok(seq.slice(lostAt).includes('connected'), `reconnected: ${seq.join(' ')}`);
      },
    );

    test(
      'keeps trying with backoff while the broker is unreachable, then carries on',
      { timeout: 60_000 },
      async (t) => {
        const proxy = await startProxy();
        await using _p = { [Symbol.asyncDispose]: () => proxy.close() };
        await using transport = await openTransport({
          url: proxy.url,
          reconnect: { initialMs: 50, maxMs: 400 },
        });
        const statuses = await acrossACut(t, transport, async () => {
          proxy.shut();
          proxy.drop();
          await sleep(1200);
          proxy.open();
        });
        const attempts = statuses.flatMap((s) => (s.type === 'reconnecting' ? [s.attempt] : []));
        t.diagnostic(`status: ${kinds(statuses).join(' ')}`);
        assert.ok(attempts.length >= 3, `several attempts while refused: ${attempts.join(',')}`);
        assert.deepEqual(
          attempts,
          attempts.map((_, i) => i + 1),
          'attempts counted up from 1',
        );
        assert.equal(statuses.at(-1)?.type, 'connected');
      },
    );
  });
});
