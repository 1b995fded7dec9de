// The WebSocket hub with real sockets: a host bus on the local transport and a remote bus over
// ws talking both ways, authentication before the upgrade, and attaching to a server that
// serves other things too.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, request, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import { WebSocket, WebSocketServer } from 'ws';
import { createBus } from '../../src/bus/index.js';
import { ClosedError, NoRespondersError, UnauthorizedError } from '../../src/protocol/index.js';
import { createMemoryTransport } from '../../src/transport/memory/index.js';
import type { TransportStatus } from '../../src/transport/transport.js';
import { createBusHub } from '../../src/transport/ws/hub.js';
import { createWebSocketTransport } from '../../src/transport/ws/client.js';
import { eventually, unique } from '../conformance/harness.js';
import { RawPeer, startHub } from './ws-harness.js';

describe('ws hub - host and remote buses together', () => {
  test('request/reply and streams cross the hub in both directions', async () => {
    await using fx = await startHub();
    const host = createBus({ transport: fx.local, source: 'host' });
    const remote = await fx.remoteBus('remote');
    const toRemote = unique('to_remote');
    const toHost = unique('to_host');
    await remote.serve(toRemote, (req) => ({ remote: req.body })).ready;
    await host.serve(toHost, async function* (req) {
      for (let i = 0; i < 20; i++) yield `${String(req.body)}${i}`;
      return 'end';
    }).ready;

    const r1 = await host.request(toRemote, 1);
    assert.deepEqual(r1.body, { remote: 1 });
    assert.equal(r1.envelope.source, 'remote');

    const stream = remote.stream<string>(toHost, 't', { credit: 4 });
    const got: string[] = [];
    for await (const chunk of stream) got.push(chunk);
    assert.deepEqual(
      got,
      Array.from({ length: 20 }, (_, i) => `t${i}`),
    );
    assert.equal(await stream.result, 'end');

    const streamBack = unique('stream_back');
    await remote.serve(streamBack, async function* () {
      yield 'a';
      yield 'b';
    }).ready;
    const back: string[] = [];
    for await (const c of host.stream<string>(streamBack, null)) back.push(c);
    assert.deepEqual(back, ['a', 'b']);

    await assert.rejects(remote.request(unique('nobody'), 1), NoRespondersError);
    await host.close();
  });

  test('a queue group spans host and remote members; a queue is shared by both', async () => {
    await using fx = await startHub();
    const host = createBus({ transport: fx.local, source: 'host' });
    const remote = await fx.remoteBus('remote');
    const subject = unique('group');
    const counts = { host: 0, remote: 0 };
    await host.subscribe(subject, () => void counts.host++, { queue: 'g' }).ready;
    await remote.subscribe(subject, () => void counts.remote++, { queue: 'g' }).ready;
    for (let i = 0; i < 40; i++) host.publish(subject, i);
    await eventually(() => counts.host + counts.remote === 40);
    assert.ok(counts.host > 0 && counts.remote > 0, `spread: ${JSON.stringify(counts)}`);

    const name = unique('shared');
    await host.queue<number>(name).enqueue(42);
    const done: number[] = [];
    const consumer = remote.queue<number>(name).consume((job) => void done.push(job.body), {
      waitMs: 100,
    });
    await eventually(() => done.length === 1);
    await consumer.stop();
    assert.deepEqual(await host.queue(name).stats(), { ready: 0, delayed: 0, leased: 0, dead: 0 });
    await host.close();
  });

  test('lists peers with their names and subscription counts', async () => {
    await using fx = await startHub();
    const remote = await fx.remoteBus('lister', { name: 'worker-7' });
    await remote.subscribe(unique('a'), () => undefined).ready;
    const [peer] = fx.hub.peers();
    assert.equal(peer?.name, 'worker-7');
    assert.equal(peer?.subscriptions, 2, 'its inbox and one subscription');
    assert.equal(peer?.remoteAddress, '127.0.0.1');
  });
});

describe('ws hub - authentication', () => {
  const authenticate = (token: string | undefined, req: IncomingMessage) =>
    token === 'sesame' && req.url !== undefined;

  test('a wrong token gets HTTP 401 and no upgrade', async () => {
    await using fx = await startHub({ authenticate });
    const { port } = fx.hub.address;
    const req = request({
      host: '127.0.0.1',
      port,
      path: '/v1/bus',
      headers: {
        connection: 'Upgrade',
        upgrade: 'websocket',
        'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
        'sec-websocket-version': '13',
        authorization: 'Bearer wrong',
      },
    });
    let upgraded = false;
    req.on('upgrade', () => (upgraded = true));
    req.end();
    const [res] = (await once(req, 'response')) as [IncomingMessage];
    assert.equal(res.statusCode, 401);
    assert.equal(res.headers['www-authenticate'], 'Bearer');
    res.resume();
    assert.equal(upgraded, false);
    assert.equal(fx.hub.peers().length, 0);
  });

  test('the right token is accepted from the header or the query', async () => {
    await using fx = await startHub({ authenticate });
    const bus = await fx.remoteBus('authed', { token: 'sesame' });
    const subject = unique('authed');
    await bus.serve(subject, () => 'in').ready;
    assert.equal((await bus.request(subject, null)).body, 'in');
    const raw = await RawPeer.connect(`${fx.hub.url}?token=sesame`);
    assert.equal(fx.hub.peers().length, 2);
    raw.close();
  });

  test('a client transport with a wrong token reports UnauthorizedError and closes', async () => {
    await using fx = await startHub({ authenticate });
    const t = fx.join({ token: 'nope' });
    const seen: TransportStatus[] = [];
    for await (const s of t.status()) seen.push(s);
    assert.deepEqual(
      seen.map((s) => s.type),
      ['connecting', 'error', 'closed'],
    );
    const error = seen[1]?.type === 'error' ? seen[1].error : undefined;
    assert.ok(error instanceof UnauthorizedError);
    assert.throws(() => t.subscribe('x', () => undefined), ClosedError);
  });
});

describe('ws hub - attached to an existing server', () => {
  test('serves its path and leaves other requests and upgrade paths alone', async () => {
    const server = createServer((_req, res) => res.end('plain http'));
    const echo = new WebSocketServer({ noServer: true });
    echo.on('connection', (ws) => ws.on('message', (m) => ws.send(m)));
    server.on('upgrade', (req, socket, head) => {
      if (req.url === '/other')
        echo.handleUpgrade(req, socket, head, (ws) => echo.emit('connection', ws));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    const local = createMemoryTransport();
    const hub = createBusHub(local, { server, path: '/bus' });
    await hub.listening;
    try {
      assert.equal(hub.url, `ws://127.0.0.1:${port}/bus`);
      const t = createWebSocketTransport({ url: hub.url });
      const bus = createBus({ transport: t });
      await bus.ready;
      const other = new WebSocket(`ws://127.0.0.1:${port}/other`);
      await once(other, 'open');
      other.send('ping');
      const [reply] = (await once(other, 'message')) as [Buffer];
      assert.equal(reply.toString(), 'ping');
      other.close();
      assert.equal(await (await fetch(`http://127.0.0.1:${port}/`)).text(), 'plain http');
      await bus.close();
      await t.close();

      await hub.close();
      assert.equal(server.listening, true, 'the hub does not close a server it was given');
      assert.equal(await (await fetch(`http://127.0.0.1:${port}/`)).text(), 'plain http');
    } finally {
      await hub.close();
      echo.close();
      server.closeAllConnections();
      server.close();
      await local.close();
    }
  });
});
