// The NATS transport on a three-node cluster (three nats-server processes routed on loopback,
// JetStream with three replicas). The node the requesting client is connected to is killed
// mid-run: the client fails over to another node from its server list, and publish/subscribe,
// request/reply and the replicated durable queue keep working.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { createBus } from '../../src/bus/index.js';
import { createEnvelope } from '../../src/protocol/index.js';
import { createNatsTransport } from '../../src/transport/nats/index.js';
import type { Transport, TransportStatus } from '../../src/transport/transport.js';
import { NEEDS, requires } from '../helpers/requires.js';
import { sleep, startCluster, tempDir } from './fixtures/nats-server.js';
import { waitUntil } from '../wait.js';

const eventually = (check: () => boolean | Promise<boolean>, ms: number, what: string) =>
  waitUntil(check, what, ms, 20);

/** Retries `fn` until it resolves (cluster elections, interest still spreading over routes). */
async function retry<T>(fn: () => Promise<T>, ms: number, what: string): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > until) throw new Error(`${what} kept failing`, { cause: err });
      await sleep(100);
    }
  }
}

if (await requires('nats cluster', NEEDS.natsServer)) {
  test('nats transport - a cluster node killed mid-run: traffic and the R3 queue go on', async () => {
    using dir = tempDir('llmwire-nats-cluster-');
    const nodes = await startCluster(dir.path);
    const transports: Transport[] = [];
    try {
      const urls = nodes.map((n) => n.url);
      // noRandomize: each client starts on a known node, so the test kills the requester's.
      const open = async (first: number) => {
        const t = await createNatsTransport({
          servers: [...urls.slice(first), ...urls.slice(0, first)],
          replicas: 3,
          reconnectTimeWaitMs: 100,
          requestTimeoutMs: 2000,
          connection: { noRandomize: true },
          onError: () => undefined,
        });
        transports.push(t);
        return t;
      };
      const near = await open(0);
      const far = await open(1);
      const statuses: TransportStatus['type'][] = [];
      void (async () => {
        for await (const s of near.status()) statuses.push(s.type);
      })();

      const client = createBus({ transport: near, source: 'client', onError: () => undefined });
      const server = createBus({ transport: far, source: 'server', onError: () => undefined });
      await Promise.all([client.ready, server.ready]);
      const events: number[] = [];
      const served = server.serve('cl.echo', (req) => ({ echo: req.body }), { queue: 'workers' });
      const listening = server.subscribe<number>('cl.events', (m) => void events.push(m.body));
      await Promise.all([served.ready, listening.ready]);
      await retry(() => client.request('cl.echo', 0, { timeoutMs: 1000 }), 10_000, 'first request');

      const q = near.queue('clusterjobs', { leaseMs: 5000 });
      const workers = far.queue('clusterjobs', { leaseMs: 5000 });
      const enqueued: string[] = [];
      const put = async (n: number) => {
        const env = createEnvelope({ kind: 'event', subject: 'clusterjobs', body: n });
        await retry(() => q.enqueue(env), 20_000, 'enqueue');
        enqueued.push(env.id);
      };
      await retry(() => q.stats(), 20_000, 'R3 queue setup (JetStream cluster ready)');
      const raw = await connect({ servers: nodes[1]!.url });
      const info = await (await jetstreamManager(raw)).streams.info('LLMWIRE_Q_clusterjobs');
      await raw.close();
      assert.equal(info.config.num_replicas, 3, 'the queue stream is replicated on all three');
      for (let i = 0; i < 20; i++) await put(i);

      // Steady traffic from the client; then its node dies.
      let answered = 0;
      let stop = false;
      let sent = 0;
      const traffic = (async () => {
        while (!stop) {
          client.publish('cl.events', sent++);
          try {
            const r = await client.request<{ echo: number }>('cl.echo', sent, { timeoutMs: 500 });
            if (r.body.echo === sent) answered++;
          } catch {
            // during the failover
          }
          await sleep(10);
        }
      })();
      await eventually(() => answered >= 20, 5000, 'traffic before the kill');
      await nodes[0]!.kill('SIGKILL');
      await eventually(() => statuses.includes('disconnected'), 5000, 'disconnected');
      await eventually(
        () => statuses.lastIndexOf('connected') > statuses.indexOf('disconnected'),
        10_000,
        'failover to another node',
      );
      const afterFailover = answered;
      const eventsBefore = events.length;
      await eventually(() => answered >= afterFailover + 50, 10_000, 'requests after the kill');
      await eventually(() => events.length >= eventsBefore + 50, 10_000, 'events after the kill');
      stop = true;
      await traffic;

      for (let i = 20; i < 40; i++) await put(i);
      const got = new Set<string>();
      await eventually(
        async () => {
          const batch = await workers.receive({ max: 64, waitMs: 200 }).catch(() => []);
          for (const d of batch) {
            got.add(d.envelope.id);
            await d.ack().catch(() => undefined);
          }
          return got.size >= enqueued.length;
        },
        20_000,
        'every enqueued job consumed',
      );
      assert.deepEqual([...got].sort(), [...enqueued].sort());
      await client.close();
      await server.close();
    } finally {
      for (const t of transports) await t.close();
      for (const n of nodes) await n.kill();
    }
  });
}
