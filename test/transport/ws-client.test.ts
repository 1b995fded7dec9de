// The WebSocket client transport against hubs that misbehave (a stand-in speaking records by
// hand) and against a hub's limits: it checks what it is sent, notices a silent hub, and turns
// the hub's refusals into typed errors.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import { WebSocketServer, type WebSocket } from 'ws';
import { createCodec } from '../../src/codec/codec.js';
import {
  createEnvelope,
  InvalidMessageError,
  OverloadedError,
  PayloadTooLargeError,
  UnsupportedVersionError,
} from '../../src/protocol/index.js';
import type { TransportStatus } from '../../src/transport/transport.js';
import { createWebSocketTransport } from '../../src/transport/ws/client.js';
import {
  decodePeerRecord,
  encodeRecord,
  messageBytes,
  WIRE_VERSION,
  type PeerRecord,
} from '../../src/transport/ws/wire.js';
import { eventually, unique } from '../conformance/harness.js';
import { startHub } from './ws-harness.js';

/** A stand-in hub: each connection is handed to `onPeer` with the records it sends. */
async function fakeHub(onPeer: (ws: WebSocket, records: PeerRecord[]) => void) {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(wss, 'listening');
  let connections = 0;
  wss.on('connection', (ws) => {
    connections++;
    const records: PeerRecord[] = [];
    ws.on('message', (data) => {
      const d = decodePeerRecord(messageBytes(data));
      if (d.ok) records.push(d.record);
    });
    onPeer(ws, records);
  });
  return {
    url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/v1/bus`,
    get connections() {
      return connections;
    },
    [Symbol.asyncDispose]: async () => {
      for (const c of wss.clients) c.terminate();
      await new Promise((r) => wss.close(r));
    },
  };
}

const hello = (pingMs?: number) =>
  encodeRecord({
    op: 'hello',
    v: WIRE_VERSION,
    peer: 'fake',
    maxFrameBytes: 1 << 20,
    ...(pingMs === undefined ? {} : { pingMs }),
  });

describe('ws client - what the hub sends', () => {
  test('answers a malformed record with a typed err and stays connected', async () => {
    let peerRecords: PeerRecord[] = [];
    await using hub = await fakeHub((ws, records) => {
      peerRecords = records;
      ws.send(hello());
      ws.send(Buffer.from([0xc1, 0x00, 0xff]));
      ws.send(encodeRecord({ op: 'ok', id: 'one' } as never));
    });
    const errors: unknown[] = [];
    const t = createWebSocketTransport({ url: hub.url, onError: (e) => void errors.push(e) });
    try {
      await eventually(() => peerRecords.filter((r) => r.op === 'err').length === 2);
      assert.ok(errors.every((e) => e instanceof InvalidMessageError));
      assert.equal(t.peerId, 'fake');
      assert.equal(hub.connections, 1);
    } finally {
      await t.close();
    }
  });

  test('gives up a hub that falls silent and reconnects', async () => {
    await using hub = await fakeHub((ws) => ws.send(hello(40)));
    const t = createWebSocketTransport({
      url: hub.url,
      reconnect: { initialMs: 10, maxMs: 20 },
      onError: () => undefined,
    });
    try {
      await eventually(() => hub.connections >= 2, 5000);
    } finally {
      await t.close();
    }
  });

  test('stops for good when the hub does not speak its version', async () => {
    await using hub = await fakeHub((ws) => {
      ws.send(
        encodeRecord({
          op: 'err',
          error: { code: 'unsupported_version', message: 'no', retryable: false },
        }),
      );
      ws.close(1002);
    });
    const t = createWebSocketTransport({ url: hub.url, onError: () => undefined });
    const seen: TransportStatus[] = [];
    for await (const s of t.status()) seen.push(s);
    const error = seen.find((s) => s.type === 'error');
    assert.ok(error?.type === 'error' && error.error instanceof UnsupportedVersionError);
    assert.equal(seen.at(-1)?.type, 'closed');
  });
});

describe('ws client - the hub refusing', () => {
  test("a subscription past the hub's limit rejects its ready with OverloadedError", async () => {
    await using fx = await startHub({ maxSubscriptionsPerPeer: 2 });
    const t = fx.join();
    await t.subscribe(unique('a'), () => undefined).ready;
    await t.subscribe(unique('b'), () => undefined).ready;
    await assert.rejects(t.subscribe(unique('c'), () => undefined).ready, OverloadedError);
  });

  test("a publish larger than the hub's frame limit throws PayloadTooLargeError", async () => {
    await using fx = await startHub({ maxFrameBytes: 1024 });
    const t = fx.join({ codec: createCodec({ compression: false }) });
    await t.subscribe(unique('s'), () => undefined).ready;
    assert.equal(t.maxMessageBytes, 1024);
    const env = createEnvelope({ kind: 'event', subject: 'big', body: 'z'.repeat(2000) });
    assert.throws(() => t.publish(env), PayloadTooLargeError);
  });
});
