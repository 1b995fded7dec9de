// The WebSocket client transport across lost connections: it reconnects and re-establishes its
// subscriptions, holds publishes made meanwhile up to a bound, and its queue leases do not
// outlive the connection they were given on.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { Socket } from 'node:net';
import { describe, test } from 'node:test';
import { createBus } from '../../src/bus/index.js';
import { NotFoundError, UnavailableError, WireError } from '../../src/protocol/index.js';
import { createMemoryTransport } from '../../src/transport/memory/index.js';
import type { TransportStatus } from '../../src/transport/transport.js';
import { createWebSocketTransport } from '../../src/transport/ws/client.js';
import { createBusHub } from '../../src/transport/ws/hub.js';
import { eventually, unique } from '../conformance/harness.js';
import { startHub } from './ws-harness.js';

const fastReconnect = { initialMs: 20, maxMs: 100 };

function recordStatus(statuses: AsyncIterable<TransportStatus>): TransportStatus['type'][] {
  const seen: TransportStatus['type'][] = [];
  void (async () => {
    for await (const s of statuses) seen.push(s.type);
  })();
  return seen;
}

describe('ws transport - reconnecting', () => {
  test('after the server side drops the socket, it reconnects and its subscriptions work again', async () => {
    const server = createServer();
    const sockets: Socket[] = [];
    server.on('upgrade', (_req, socket: Socket) => sockets.push(socket));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const local = createMemoryTransport();
    const hub = createBusHub(local, { server });
    const host = createBus({ transport: local, source: 'host' });
    const t = createWebSocketTransport({ url: hub.url, reconnect: fastReconnect });
    const remote = createBus({ transport: t, source: 'remote', onError: () => undefined });
    try {
      const seen = recordStatus(t.status());
      await remote.ready;
      const subject = unique('again');
      const got: number[] = [];
      await remote.subscribe<number>(subject, (m) => void got.push(m.body)).ready;
      const served = unique('served');
      await remote.serve(served, () => 'pong').ready;
      host.publish(subject, 1);
      await eventually(() => got.length === 1);
      const firstPeer = t.peerId;

      for (const s of sockets.splice(0)) s.destroy();
      await eventually(() => t.peerId !== undefined && t.peerId !== firstPeer);
      await eventually(() => hub.peers().length === 1 && hub.peers()[0]!.subscriptions === 3);
      host.publish(subject, 2);
      await eventually(() => got.length === 2);
      assert.deepEqual(got, [1, 2]);
      assert.equal((await host.request(served, null)).body, 'pong');
      assert.equal((await remote.request(served, null)).body, 'pong', 'its inbox is back too');
      assert.deepEqual(seen.slice(0, 5), [
        'connecting',
        'connected',
        'disconnected',
        'reconnecting',
        'connected',
      ]);
    } finally {
      await remote.close();
      await t.close();
      await host.close();
      await hub.close();
      server.closeAllConnections();
      server.close();
      await local.close();
    }
  });

  test('a peer the hub disconnects comes back on its own', async () => {
    await using fx = await startHub();
    const t = fx.join({ reconnect: fastReconnect });
    const remote = createBus({ transport: t, source: 'remote', onError: () => undefined });
    await remote.ready;
    const id = t.peerId!;
    assert.equal(fx.hub.disconnect(id), true);
    assert.equal(fx.hub.disconnect('nobody'), false);
    await eventually(() => t.peerId !== undefined && t.peerId !== id);
    const subject = unique('back');
    await remote.serve(subject, () => 'ok').ready;
    assert.equal((await remote.request(subject, null)).body, 'ok');
    await remote.close();
  });

  test('holds publishes while the hub is away, delivers them on return, fails past the bound', async () => {
    const local = createMemoryTransport();
    const first = createBusHub(local, { onError: () => undefined });
    await first.listening;
    const { port } = first.address;
    const host = createBus({ transport: local, source: 'host' });
    const subject = unique('held');
    const got: number[] = [];
    await host.subscribe<number>(subject, (m) => void got.push(m.body)).ready;
    const t = createWebSocketTransport({
      url: first.url,
      reconnect: fastReconnect,
      maxBufferedBytes: 4096,
      onError: () => undefined,
    });
    const remote = createBus({ transport: t, source: 'remote', onError: () => undefined });
    let second: ReturnType<typeof createBusHub> | undefined;
    try {
      const seen = recordStatus(t.status());
      await remote.ready;
      await first.close();
      await eventually(() => seen.includes('disconnected'));
      let sent = 0;
      let refused: unknown;
      for (; sent < 1000; sent++) {
        try {
          remote.publish(subject, sent);
        } catch (err) {
          refused = err;
          break;
        }
      }
      assert.ok(refused instanceof UnavailableError, `refused with ${String(refused)}`);
      assert.equal((refused as WireError).code, 'unavailable');
      assert.ok(sent > 5 && sent < 1000, `held ${sent} publishes`);

      second = createBusHub(local, { port, onError: () => undefined });
      await second.listening;
      await eventually(() => got.length === sent, 5000);
      assert.deepEqual(
        got,
        Array.from({ length: sent }, (_, i) => i),
      );
      await t.flush();
    } finally {
      await remote.close();
      await t.close();
      await host.close();
      await second?.close();
      await first.close();
      await local.close();
    }
  });

  test('leases end with their connection: nacked back at once, stale settles change nothing', async () => {
    await using fx = await startHub();
    const host = createBus({ transport: fx.local, source: 'host' });
    const t = fx.join({ reconnect: fastReconnect });
    const name = unique('lease');
    await host.queue(name).enqueue('job');
    const [d] = await t.queue(name).receive({ max: 1, waitMs: 1000 });
    assert.ok(d);
    const id = t.peerId!;
    fx.hub.disconnect(id);
    const [again] = await fx.local.queue(name).receive({ max: 1, waitMs: 3000 });
    assert.equal(again?.envelope.id, d.envelope.id);
    assert.equal(again?.attempt, 2);
    await eventually(() => t.peerId !== undefined && t.peerId !== id);
    await d.ack(); // stale: the lease went with the old connection
    await assert.rejects(d.extend(1000), NotFoundError);
    assert.equal((await host.queue(name).stats()).leased, 1, 'still leased to the host');
    await again?.ack();
    await host.close();
  });
});
