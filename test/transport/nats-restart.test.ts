// A NATS server killed mid-run: a test-owned nats-server (JetStream on a temporary store) is
// SIGKILLed while a producer enqueues, then restarted on the same port and store. Every enqueue
// that resolved (JetStream PubAck) is still there to consume, the client reports reconnecting
// then connected, and its subscriptions work again without being made anew.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createEnvelope } from '../../src/protocol/index.js';
import { createNatsTransport } from '../../src/transport/nats/index.js';
import type { TransportStatus } from '../../src/transport/transport.js';
import { NEEDS, requires } from '../helpers/requires.js';
import { freePort, NatsServerProcess, sleep, tempDir } from './fixtures/nats-server.js';
import { waitUntil } from '../wait.js';

const eventually = (check: () => boolean, ms: number, what: string) =>
  waitUntil(check, what, ms, 10);

if (await requires('nats restart', NEEDS.natsServer)) {
  test('nats transport - a server killed and restarted loses no acknowledged enqueue; the client reconnects', async () => {
    using dir = tempDir('llmwire-nats-restart-');
    await using server = await new NatsServerProcess({
      port: await freePort(),
      storeDir: dir.path,
    }).start();
    const transport = await createNatsTransport({
      servers: server.url,
      reconnectTimeWaitMs: 100,
      requestTimeoutMs: 1000,
      onError: () => undefined,
    });
    const statuses: TransportStatus['type'][] = [];
    const following = (async () => {
      for await (const s of transport.status()) statuses.push(s.type);
    })();
    const q = transport.queue('jobs', { leaseMs: 10_000 });
    const pings: unknown[] = [];
    const sub = transport.subscribe('live.ping', (env) => void pings.push(env.body));
    await sub.ready;

    // A producer that keeps enqueueing through the outage; only resolved enqueues are claims.
    const acked = new Set<string>();
    let failed = 0;
    let stop = false;
    const producer = (async () => {
      for (let i = 0; !stop; i++) {
        const env = createEnvelope({ kind: 'event', subject: 'jobs', body: i });
        try {
          await q.enqueue(env);
          acked.add(env.id);
        } catch {
          failed++;
          await sleep(20);
        }
      }
    })();

    await eventually(() => acked.size >= 200, 10_000, '200 enqueues');
    await server.kill('SIGKILL');
    await eventually(() => statuses.includes('reconnecting'), 5000, 'reconnecting');
    await sleep(300); // enqueues fail meanwhile
    await server.start();
    await eventually(
      () => statuses.lastIndexOf('connected') > statuses.indexOf('reconnecting'),
      10_000,
      'connected again',
    );
    const before = acked.size;
    await eventually(() => acked.size >= before + 100, 15_000, '100 enqueues after the restart');
    stop = true;
    await producer;
    assert.ok(failed > 0, 'some enqueues failed while the server was down');

    const seen = new Set<string>();
    for (let idle = 0; idle < 3;) {
      let batch;
      try {
        batch = await q.receive({ max: 256, waitMs: 300 });
      } catch {
        await sleep(100); // JetStream may still be recovering its streams
        continue;
      }
      idle = batch.length === 0 ? idle + 1 : 0;
      for (const d of batch) {
        seen.add(d.envelope.id);
        await d.ack();
      }
    }
    const lost = [...acked].filter((id) => !seen.has(id));
    assert.deepEqual(lost, [], `${lost.length} of ${acked.size} acknowledged enqueues lost`);

    transport.publish(createEnvelope({ kind: 'event', subject: 'live.ping', body: 'after' }));
    await eventually(() => pings.length === 1, 5000, 'the old subscription to deliver');
    assert.deepEqual(pings, ['after']);

    const i = statuses.indexOf('disconnected');
    assert.equal(statuses[0], 'connecting');
    assert.equal(statuses[1], 'connected');
    assert.ok(i > 1, `disconnected after connected: ${statuses.join(',')}`);
    assert.equal(statuses[i + 1], 'reconnecting');
    await transport.close();
    await following;
    assert.equal(statuses.at(-1), 'closed');
  });
}
