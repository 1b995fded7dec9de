// Failure paths of the WebSocket hub on purpose: a peer process killed with SIGKILL, a peer that
// stops reading, and records no well-behaved client would send. Each time the hub answers or cuts
// off that one peer and goes on serving the others.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { createBus } from '../../src/bus/index.js';
import { createCodec } from '../../src/codec/codec.js';
import { createEnvelope, NoRespondersError, OverloadedError } from '../../src/protocol/index.js';
import { CloseCode, encodeRecord, WIRE_VERSION } from '../../src/transport/ws/wire.js';
import { eventually, unique } from '../conformance/harness.js';
import { RawPeer, startHub, type HubFixture } from './ws-harness.js';

const PEER_SCRIPT = fileURLToPath(new URL('./fixtures/ws-peer.js', import.meta.url));
const codec = createCodec();

/** One request/reply from a remote bus to a host-side responder: the hub still serves others. */
async function stillServes(fx: HubFixture): Promise<void> {
  const host = createBus({ transport: fx.local, source: 'host' });
  const subject = unique('alive');
  const sub = host.serve(subject, (req) => ({ ok: req.body }));
  await sub.ready;
  const remote = await fx.remoteBus('probe');
  const reply = await remote.request(subject, 1, { timeoutMs: 3000 });
  assert.deepEqual(reply.body, { ok: 1 });
  await host.close();
}

function errOf(peer: RawPeer, id?: number) {
  return peer.next((r) => r.op === 'err' && (id === undefined || r.id === id));
}

describe('ws hub - a peer process killed with SIGKILL', () => {
  test('its subscriptions go (requests then get no_responders) and its leases come back', async () => {
    await using fx = await startHub();
    const host = createBus({ transport: fx.local, source: 'host', onError: () => undefined });
    const subject = unique('child');
    const queue = unique('childq');
    const q = host.queue(queue);
    await q.enqueue('held by the child');
    const other = await fx.remoteBus('other');
    const otherSubject = unique('other');
    await other.serve(otherSubject, () => 'still here').ready;

    const child = spawn(process.execPath, [PEER_SCRIPT, fx.hub.url, subject, queue], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      let out = '';
      child.stdout.setEncoding('utf8');
      child.stdout.on('data', (chunk: string) => (out += chunk));
      await eventually(() => out.includes('ready'), 10_000);
      const reply = await host.request<{ pid: number }>(subject, 'hi');
      assert.equal(reply.body.pid, child.pid);
      assert.equal((await q.stats()).leased, 1);
      assert.ok(fx.hub.peers().some((p) => p.name === 'child' && p.leases === 1));

      child.kill('SIGKILL');
      await once(child, 'exit');
      await eventually(() => !fx.hub.peers().some((p) => p.name === 'child'));

      await assert.rejects(host.request(subject, 'hi', { timeoutMs: 3000 }), NoRespondersError);
      await assert.rejects(other.request(subject, 'hi', { timeoutMs: 3000 }), NoRespondersError);
      const [again] = await q.durable.receive({ max: 1, waitMs: 3000 });
      assert.equal(again?.envelope.body, 'held by the child', 'nacked back, not left to expire');
      assert.equal(again?.attempt, 2);
      await again?.ack();
      const fromOther = await host.request(otherSubject, null);
      assert.equal(fromOther.body, 'still here');
    } finally {
      child.kill('SIGKILL');
      await host.close();
    }
  });
});

describe('ws hub - bad input', () => {
  test('random bytes get invalid_message, and the connection and hub stay up', async () => {
    await using fx = await startHub();
    const peer = await RawPeer.connect(fx.hub.url);
    for (let i = 0; i < 50; i++) peer.sendBytes(randomBytes(1 + ((i * 37) % 300)));
    await eventually(() => peer.received.filter((r) => r.op === 'err').length === 50);
    for (const r of peer.received) {
      if (r.op === 'err') assert.equal(r.error.code, 'invalid_message');
    }
    peer.send({ op: 'flush', id: 1 });
    await peer.next((r) => r.op === 'ok' && r.id === 1);
    await stillServes(fx);
    peer.close();
  });

  test('a truncated record, an unknown op and a bad field each get a typed err', async () => {
    await using fx = await startHub();
    const peer = await RawPeer.connect(fx.hub.url);
    const whole = encodeRecord({ op: 'sub', id: 7, sid: 1, pattern: 'a.b' });
    peer.sendBytes(whole.subarray(0, whole.byteLength - 3));
    const truncated = await errOf(peer);
    assert.equal(truncated.op === 'err' && truncated.error.code, 'invalid_message');

    peer.sendBytes(encodeRecord({ op: 'bogus', id: 9 } as never));
    const unknown = await errOf(peer, 9);
    assert.equal(unknown.op === 'err' && unknown.error.code, 'invalid_message');
    assert.match(unknown.op === 'err' ? unknown.error.message : '', /unknown record op 'bogus'/);

    peer.sendBytes(encodeRecord({ op: 'sub', id: 10, sid: 1, pattern: 5 } as never));
    const bad = await errOf(peer, 10);
    assert.match(bad.op === 'err' ? bad.error.message : '', /pattern/);

    peer.send({ op: 'pub', frame: Buffer.from('{"not":"an envelope"}') });
    const frame = await peer.next((r) => r.op === 'err' && /field|version/.test(r.error.message));
    assert.equal(frame.op === 'err' && frame.error.code, 'invalid_message');

    peer.send({ op: 'sub', id: 11, sid: 2, pattern: 'a.>.b' });
    const pattern = await errOf(peer, 11);
    assert.equal(pattern.op === 'err' && pattern.error.code, 'invalid_message');

    peer.ws.send('text is not a record');
    await eventually(() => peer.received.filter((r) => r.op === 'err').length === 6);
    await stillServes(fx);
    peer.close();
  });

  test('an oversize frame gets payload_too_large; a far larger message closes with 1009', async () => {
    await using fx = await startHub({ maxFrameBytes: 1024 });
    const peer = await RawPeer.connect(fx.hub.url);
    const big = codec.encode(
      createEnvelope({ kind: 'event', subject: 'big', body: 'x'.repeat(4000) }),
    );
    peer.send({ op: 'pub', frame: big });
    const pub = await errOf(peer);
    assert.equal(pub.op === 'err' && pub.error.code, 'payload_too_large');
    peer.send({ op: 'q.enqueue', id: 3, queue: 'big', frame: big });
    const enq = await errOf(peer, 3);
    assert.equal(enq.op === 'err' && enq.error.code, 'payload_too_large');

    peer.sendBytes(encodeRecord({ op: 'pub', frame: Buffer.alloc(200_000, 1) }));
    assert.equal(await peer.closed(), CloseCode.tooBig);
    await stillServes(fx);
  });

  test('a connection must start with hello in a version the hub speaks', async () => {
    await using fx = await startHub();
    const early = await RawPeer.connect(fx.hub.url, false);
    early.send({ op: 'flush', id: 1 });
    const first = await errOf(early, 1);
    assert.equal(first.op === 'err' && first.error.code, 'invalid_message');
    assert.equal(await early.closed(), CloseCode.protocolError);

    const future = await RawPeer.connect(fx.hub.url, false);
    future.send({ op: 'hello', v: WIRE_VERSION + 1 });
    const version = await errOf(future);
    assert.equal(version.op === 'err' && version.error.code, 'unsupported_version');
    assert.equal(await future.closed(), CloseCode.protocolError);

    const silent = await RawPeer.connect(fx.hub.url, false);
    await using quick = await startHub({ helloTimeoutMs: 50 });
    const mute = await RawPeer.connect(quick.hub.url, false);
    assert.equal(await mute.closed(), CloseCode.helloTimeout);
    silent.close();
    await stillServes(fx);
  });
});

describe('ws hub - slow consumers', () => {
  test('a peer that stops reading is disconnected once its backlog passes the bound', async () => {
    await using fx = await startHub({ maxBufferedBytes: 256 * 1024 });
    const subject = unique('flood');
    const slow = await RawPeer.connect(fx.hub.url);
    slow.send({ op: 'sub', id: 1, sid: 1, pattern: subject });
    await slow.next((r) => r.op === 'ok' && r.id === 1);
    slow.ws.pause();
    const host = createBus({ transport: fx.local, source: 'host' });
    const chunk = randomBytes(12 * 1024).toString('base64'); // incompressible, ~16 KiB
    // Loopback socket buffers absorb a few MiB before the hub's own backlog grows.
    for (let i = 0; i < 4000 && fx.hub.peers().some((p) => p.name === 'raw'); i++) {
      host.publish(subject, chunk);
      if (i % 50 === 0) await new Promise((r) => setImmediate(r));
    }
    assert.ok(!fx.hub.peers().some((p) => p.name === 'raw'), 'the slow peer was cut off');
    assert.ok(fx.errors.some((e) => e instanceof OverloadedError));
    slow.ws.resume();
    const code = await slow.closed(5000);
    assert.ok(code === CloseCode.slowConsumer || code === 1006, `closed with ${code}`);
    await stillServes(fx);
    await host.close();
  });
});
