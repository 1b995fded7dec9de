// The redis transport across lost connections: its connections are killed from another client
// (CLIENT KILL), and it reports the loss, reconnects, re-establishes its subscriptions, keeps
// waiting receives waiting, and finds its queued messages and held leases intact.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createBus } from '../../src/bus/index.js';
import { createServer } from 'node:net';
import { createEnvelope, UnavailableError } from '../../src/protocol/index.js';
import { createRedisTransport } from '../../src/transport/redis/index.js';
import type { TransportStatus } from '../../src/transport/transport.js';
import { eventually, unique } from '../conformance/harness.js';
import { filePrefix, killConnections, openRedis, redisAvailable } from './redis-harness.js';

function recordStatus(statuses: AsyncIterable<TransportStatus>): TransportStatus['type'][] {
  const seen: TransportStatus['type'][] = [];
  void (async () => {
    for await (const s of statuses) seen.push(s.type);
  })();
  return seen;
}

function job(body: unknown) {
  return createEnvelope({ kind: 'event', subject: 'jobs', body });
}

if (await redisAvailable('redis transport reconnecting')) {
  const prefix = filePrefix();

  describe('redis transport - reconnecting', () => {
    test('after CLIENT KILL it reconnects; subscriptions, queues and leases are intact', async () => {
      const name = unique('victim');
      await using t = openRedis(prefix, { name, reconnect: { initialMs: 20, maxMs: 100 } });
      await using other = openRedis(prefix);
      const seen = recordStatus(t.status());
      const bus = createBus({ transport: t, source: 'victim', onError: () => undefined });
      const peer = createBus({ transport: other, source: 'peer', onError: () => undefined });
      const subject = unique('again');
      const got: number[] = [];
      await bus.subscribe<number>(subject, (m) => void got.push(m.body)).ready;
      const served = unique('served');
      await bus.serve(served, () => 'pong', { queue: 'svc' }).ready;
      await Promise.all([bus.ready, peer.ready]);
      const queueName = unique('kept');
      const q = t.queue(queueName, { leaseMs: 30_000 });
      for (let i = 0; i < 5; i++) await q.enqueue(job(i));
      const [held] = await q.receive({ max: 1, waitMs: 0 });
      const waitQueue = t.queue(unique('waiting'));
      const waiting = waitQueue.receive({ max: 1, waitMs: 10_000 });
      peer.publish(subject, 1);
      await eventually(() => got.length === 1);
      await eventually(() => seen.includes('connected'));

      assert.equal(await killConnections(name), 2, 'both connections found and killed');
      const during = q.enqueue(job(5)); // made while the connection is down: sent once it is back
      await eventually(() => seen.lastIndexOf('connected') > seen.indexOf('disconnected'));
      assert.deepEqual(seen, [
        'connecting',
        'connected',
        'disconnected',
        'reconnecting',
        'connected',
      ]);
      assert.equal((await during).duplicate, false);

      peer.publish(subject, 2);
      await eventually(() => got.length === 2);
      assert.deepEqual(got, [1, 2]);
      assert.equal((await peer.request(served, null)).body, 'pong', 'a queue group member again');
      assert.deepEqual(await q.stats(), { ready: 5, delayed: 0, leased: 1, dead: 0 });
      await held!.ack(); // the lease lives in Redis, not in the connection it was taken on
      const rest = await q.receive({ max: 10, waitMs: 1_000 });
      assert.deepEqual(
        rest.map((d) => d.envelope.body),
        [1, 2, 3, 4, 5],
      );

      await other.queue(waitQueue.name).enqueue(job('after the kill'));
      const [woken] = await waiting;
      assert.equal(woken?.envelope.body, 'after the kill', 'a receive waiting across the kill');
      await bus.close();
      await peer.close();
    });

    test('publishes made while disconnected are held up to a bound, then sent', async () => {
      const name = unique('outage');
      await using t = openRedis(prefix, {
        name,
        reconnect: { initialMs: 300, maxMs: 300 },
        maxBufferedBytes: 2_000,
      });
      await using other = openRedis(prefix);
      const seen = recordStatus(t.status());
      const subject = unique('held');
      const got: number[] = [];
      await other.subscribe(subject, (env) => void got.push(env.body as number)).ready;
      await t.flush();
      assert.equal(await killConnections(name), 2);
      await eventually(() => seen.includes('disconnected'));
      let held = 0;
      assert.throws(() => {
        for (;;) {
          t.publish(createEnvelope({ kind: 'event', subject, body: held }));
          held++;
        }
      }, UnavailableError);
      assert.ok(held > 5, `held ${held}`);
      await eventually(() => got.length === held);
      assert.deepEqual(
        got,
        Array.from({ length: held }, (_, i) => i),
      );
    });
  });
}

/** A loopback port nobody listens on. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

test('redis transport - with no Redis, status reports retries and queue calls fail unavailable', async () => {
  const port = await freePort();
  const t = createRedisTransport({
    url: `redis://127.0.0.1:${port}`,
    reconnect: { initialMs: 10, maxMs: 20 },
    redis: { maxRetriesPerRequest: 2 },
  });
  await using _closed = { [Symbol.asyncDispose]: () => t.close() };
  const seen = recordStatus(t.status());
  await assert.rejects(
    t.queue('jobs').enqueue(job('nowhere to go')),
    (err) => err instanceof UnavailableError && err.retryable,
  );
  assert.deepEqual(seen.slice(0, 3), ['connecting', 'reconnecting', 'reconnecting']);
  assert.equal(seen.includes('connected'), false);
  await t.close();
  await eventually(() => seen.at(-1) === 'closed');
});
