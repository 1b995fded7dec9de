// End-to-end sealing on the bus: a signed message reaching two subscriptions in one process is
// accepted by each, the same frame delivered again to one subscription is refused `replayed`,
// queue redeliveries are not replays, and the hub forwards sealed frames without keys.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, test } from 'node:test';
import { createBus, type Bus } from '../../src/bus/index.js';
import type { BusSecurity } from '../../src/bus/security.js';
import { createKeyring } from '../../src/codec/security/encryption.js';
import { createSigning } from '../../src/codec/security/signing.js';
import {
  ReplayError,
  SignatureError,
  UnknownKeyError,
  WireError,
  type Envelope,
} from '../../src/protocol/index.js';
import { createMemoryTransport } from '../../src/transport/memory/index.js';
import { createNatsTransport } from '../../src/transport/nats/index.js';
import type { Transport } from '../../src/transport/transport.js';
import { eventually, sleep, unique } from '../conformance/harness.js';
import { NATS_URL, NEEDS, requires } from '../helpers/requires.js';
import { startHub } from '../transport/ws-harness.js';

const hmac = randomBytes(32);
const k1 = randomBytes(32);
const k2 = randomBytes(32);

function security(current: 'k1' | 'k2' = 'k1', keys = { k1, k2 }): BusSecurity {
  return {
    integrity: true,
    signing: createSigning([{ alg: 'HS256', kid: 's1', secret: hmac }]),
    encryption: createKeyring({ current, keys }),
  };
}

/** A bus whose onError collects what it reports. */
function bus(transport: Transport, source: string, sec: BusSecurity | undefined = security()) {
  const errors: unknown[] = [];
  const b = createBus({
    transport,
    source,
    ...(sec === undefined ? {} : { security: sec }),
    onError: (err) => void errors.push(err),
  });
  return { bus: b, errors };
}

/** Two subscriptions to `subject` on `receiver`; returns what each got. */
async function twoSubscriptions(receiver: Bus, subject: string) {
  const got: [unknown[], unknown[]] = [[], []];
  const subs = [0, 1].map((i) => receiver.subscribe(subject, (m) => void got[i]!.push(m.body)));
  await Promise.all(subs.map((s) => s.ready));
  return got;
}

const replays = (errors: unknown[]) => errors.filter((e) => e instanceof ReplayError).length;

describe('bus sealing - memory', () => {
  test('a signed message reaches both subscriptions, and a replay of it neither', async () => {
    const transport = createMemoryTransport();
    const a = bus(transport, 'a');
    const b = bus(transport, 'b');
    const subject = unique('seal.two');
    const got = await twoSubscriptions(b.bus, subject);
    let sealed: Envelope | undefined;
    const tap = transport.subscribe(subject, (env) => (sealed ??= env));
    a.bus.publish(subject, { text: 'hello' });
    await eventually(() => got[0].length === 1 && got[1].length === 1);
    assert.deepEqual(got, [[{ text: 'hello' }], [{ text: 'hello' }]]);
    assert.ok(sealed?.payload !== undefined && sealed.body === undefined, 'carried sealed');
    assert.equal(sealed.enc?.kid, 'k1');
    transport.publish(sealed);
    await eventually(() => replays(b.errors) === 2);
    assert.equal(got[0].length + got[1].length, 2);
    tap.unsubscribe();
    await a.bus.close();
    await b.bus.close();
    await transport.close();
  });

  test('queue redeliveries of a signed job are not refused as replays', async () => {
    const transport = createMemoryTransport();
    const { bus: b, errors } = bus(transport, 'q');
    const q = b.queue<{ n: number }>(unique('seal_q'), {
      maxAttempts: 3,
      backoff: { initialMs: 1 },
    });
    await q.enqueue({ n: 7 });
    const attempts: number[] = [];
    const consumer = q.consume((job) => {
      attempts.push(job.attempt);
      assert.deepEqual(job.body, { n: 7 });
      if (job.attempt === 1) throw new Error('first try fails');
    });
    await eventually(() => attempts.length === 2);
    await consumer.stop();
    assert.deepEqual(attempts, [1, 2]);
    assert.equal(replays(errors), 0);
    await b.close();
    await transport.close();
  });

  test('queue deliveries read by hand come opened; one that fails to open is dead-lettered', async () => {
    const transport = createMemoryTransport();
    const { bus: b, errors } = bus(transport, 'q');
    const q = b.queue<{ n: number }>(unique('seal_hand'));
    await q.enqueue({ n: 1 });
    const stop = new AbortController();
    for await (const d of q.deliveries({ signal: stop.signal, waitMs: 100 })) {
      assert.deepEqual(d.envelope.body, { n: 1 });
      assert.equal(d.envelope.payload, undefined);
      await d.ack();
      stop.abort();
    }
    // Enqueued by a bus with another signing key: refused on delivery, dead-lettered.
    const other = bus(transport, 'x', {
      signing: createSigning([{ alg: 'HS256', kid: 's1', secret: randomBytes(32) }]),
    });
    await other.bus.queue(q.name).enqueue({ n: 2 });
    const consumer = q.consume(() => assert.fail('must not run'));
    await eventually(async () => (await q.deadLetters()).length === 1);
    await consumer.stop();
    assert.ok(errors.some((e) => e instanceof SignatureError));
    await other.bus.close();
    await b.close();
    await transport.close();
  });

  test('an unsigned request is answered bad_signature; a key the responder lacks unknown_key', async () => {
    const transport = createMemoryTransport();
    const responder = bus(transport, 'r', security('k1', { k1, k2: k2 }));
    const subject = unique('seal.req');
    const sub = responder.bus.serve(subject, (m) => ({ echo: m.body }));
    await sub.ready;
    // Verifies replies but signs nothing: its requests go out unsigned.
    const { verifier } = createSigning([{ alg: 'HS256', kid: 's1', secret: hmac }]);
    const unsigned = bus(transport, 'u', {
      signing: { verifier },
      encryption: createKeyring({ current: 'k1', keys: { k1 } }),
    });
    await assert.rejects(unsigned.bus.request(subject, 1, { timeoutMs: 2000 }), SignatureError);
    // Encrypts with k3, a key the responder does not hold.
    const k3 = randomBytes(32);
    const ahead = bus(transport, 'n', security('k2', { k1, k2: k3 }));
    await assert.rejects(ahead.bus.request(subject, 1, { timeoutMs: 2000 }), (err) => {
      assert.ok(err instanceof WireError);
      assert.ok(err instanceof UnknownKeyError || err.code === 'decrypt_failed', err.code);
      return true;
    });
    const ok = bus(transport, 'ok');
    assert.deepEqual((await ok.bus.request(subject, 2)).body, { echo: 2 });
    for (const x of [responder, unsigned, ahead, ok]) await x.bus.close();
    await transport.close();
  });
});

describe('bus sealing - ws hub', () => {
  test('the keyless hub forwards sealed frames; both subscriptions receive, a replay is refused', async () => {
    await using hub = await startHub();
    const ta = hub.join();
    const tb = hub.join();
    const a = bus(ta, 'a');
    const b = bus(tb, 'b');
    await Promise.all([a.bus.ready, b.bus.ready]);
    const subject = unique('seal.ws');
    const got = await twoSubscriptions(b.bus, subject);
    // A raw peer with no keys: it sees the sealed frame, and sends it again.
    const raw = hub.join();
    let sealed: Envelope | undefined;
    const tap = raw.subscribe(subject, (env) => (sealed ??= env));
    await tap.ready;
    a.bus.publish(subject, { secret: 'attack at dawn' });
    await eventually(() => got[0].length === 1 && got[1].length === 1 && sealed !== undefined);
    assert.deepEqual(got[0], [{ secret: 'attack at dawn' }]);
    assert.deepEqual(got[1], [{ secret: 'attack at dawn' }]);
    assert.equal(sealed!.body, undefined);
    assert.ok(!Buffer.from(sealed!.payload!).toString('latin1').includes('attack'));
    assert.deepEqual(hub.errors, [], 'the hub opened nothing and refused nothing');
    raw.publish(sealed!);
    await raw.flush();
    await eventually(() => replays(b.errors) === 2);
    await sleep(50);
    assert.equal(got[0].length + got[1].length, 2);
    await a.bus.close();
    await b.bus.close();
  });
});

describe('bus sealing - nats', async () => {
  if (!(await requires('bus sealing - nats', NEEDS.nats))) return;
  const opened: Transport[] = [];
  after(async () => {
    for (const t of opened) await t.close();
  });
  const nats = async () => {
    const t = await createNatsTransport({ servers: NATS_URL, streamPrefix: unique('SEAL') });
    opened.push(t);
    return t;
  };

  test('both subscriptions in one process receive a signed message; a replay is refused', async () => {
    const a = bus(await nats(), 'a');
    const tb = await nats();
    const b = bus(tb, 'b');
    await Promise.all([a.bus.ready, b.bus.ready]);
    const subject = unique('seal.nats');
    const got = await twoSubscriptions(b.bus, subject);
    const raw = await nats();
    let sealed: Envelope | undefined;
    const tap = raw.subscribe(subject, (env) => (sealed ??= env));
    await tap.ready;
    a.bus.publish(subject, { n: 1 });
    await eventually(() => got[0].length === 1 && got[1].length === 1 && sealed !== undefined);
    assert.deepEqual(got, [[{ n: 1 }], [{ n: 1 }]]);
    assert.ok(sealed!.sig !== undefined && sealed!.body === undefined);
    raw.publish(sealed!);
    await raw.flush();
    await eventually(() => replays(b.errors) === 2);
    assert.equal(got[0].length + got[1].length, 2);
    await a.bus.close();
    await b.bus.close();
  });
});
