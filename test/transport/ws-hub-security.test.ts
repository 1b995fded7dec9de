// The hub's defences with real sockets (docs/security.md): identical subscriptions that cost the
// hub once, refused subscriptions that leave nothing behind, inboxes bound to their connection,
// replies taken only from the responder asked, and a request no peer can be sent failing its
// requester at once.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createBus } from '../../src/bus/index.js';
import {
  ForbiddenError,
  InvalidMessageError,
  OverloadedError,
  type WireError,
} from '../../src/protocol/index.js';
import type { PeerIdentity } from '../../src/transport/ws/hub.js';
import { eventually, unique } from '../conformance/harness.js';
import { RawPeer, startHub } from './ws-harness.js';

const OPERATOR: PeerIdentity = { name: 'op', role: 'operator', source: 'operator:op' };
const identities: Record<string, PeerIdentity> = {
  'token-op': OPERATOR,
  'token-a': {
    name: 'a',
    role: 'client',
    source: 'client:a',
    tenant: 'a',
    publish: { allow: ['svc.>'] },
    subscribe: { allow: [] },
    queues: { allow: [] },
  },
  'token-b': {
    name: 'b',
    role: 'client',
    source: 'client:b',
    tenant: 'b',
    publish: { allow: ['svc.>'] },
    subscribe: { allow: [] },
  },
  'token-w': {
    name: 'w',
    role: 'worker',
    source: 'worker:w',
    publish: { allow: [] },
    subscribe: { allow: ['svc.w'] },
  },
};
const authenticate = (token: string | undefined) =>
  token === undefined ? undefined : identities[token];

describe('ws hub - security', () => {
  test('identical subscriptions are one subscription on the hub: a message goes out once', async () => {
    await using fx = await startHub();
    const host = createBus({ transport: fx.local, source: 'host' });
    const raw = await RawPeer.connect(fx.hub.url);
    const subject = unique('amp');
    const n = 10_000;
    // In batches: past 1,024 unanswered requests a connection's next ones are refused.
    for (let sid = 1; sid <= n; sid++) {
      raw.send({ op: 'sub', id: sid, sid, pattern: `${subject}.>` });
      if (sid % 500 === 0) await raw.next((r) => r.op === 'ok' && r.id === sid, 10_000);
    }
    assert.equal(fx.hub.peers()[0]!.subscriptions, n);
    host.publish(`${subject}.x`, 'hello');
    const msg = await raw.next((r) => r.op === 'msg');
    assert.ok(msg.op === 'msg');
    assert.equal(msg.sids?.length, n, 'one record names every subscription');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(
      raw.received.filter((r) => r.op === 'msg').length,
      1,
      'sent once, not 10,000 times',
    );
    raw.close();
    await host.close();
  });

  test('a refused subscription is not registered', async () => {
    await using fx = await startHub({ maxSubscriptionsPerPeer: 3 });
    const host = createBus({ transport: fx.local, source: 'host' });
    const raw = await RawPeer.connect(fx.hub.url);
    const subject = unique('limit');
    for (let sid = 1; sid <= 4; sid++)
      raw.send({ op: 'sub', id: sid, sid, pattern: `${subject}.${sid}` });
    const refused = await raw.next((r) => r.op === 'err' && r.id === 4);
    assert.ok(refused.op === 'err');
    assert.equal(refused.error.code, new OverloadedError('').code);
    for (let i = 1; i <= 4; i++) host.publish(`${subject}.${i}`, i);
    await raw.next((r) => r.op === 'msg' && r.sid === 3);
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(
      raw.received.flatMap((r) => (r.op === 'msg' ? [r.sid] : [])),
      [1, 2, 3],
      'the fourth subscription sees nothing',
    );
    raw.close();
    await host.close();
  });

  test('an inbox belongs to the connection that claimed it, and stays reserved to its identity', async () => {
    await using fx = await startHub({ authenticate });
    const a = await RawPeer.connect(`${fx.hub.url}?token=token-a`);
    const b = await RawPeer.connect(`${fx.hub.url}?token=token-b`);
    a.send({ op: 'sub', id: 1, sid: 1, pattern: '_INBOX.secretA' });
    assert.equal((await a.next((r) => 'id' in r && r.id === 1)).op, 'ok');
    for (const [i, pattern] of [
      '_INBOX.secretA',
      '_INBOX.secretA.>',
      '_INBOX.*',
      '_INBOX.>',
      '>',
    ].entries()) {
      b.send({ op: 'sub', id: 10 + i, sid: 10 + i, pattern });
      const r = await b.next((rec) => 'id' in rec && rec.id === 10 + i);
      assert.ok(r.op === 'err' && r.error.code === 'forbidden', `${pattern}: ${JSON.stringify(r)}`);
    }
    a.close();
    await eventually(() => fx.hub.peers().length === 1);
    b.send({ op: 'sub', id: 20, sid: 20, pattern: '_INBOX.secretA' });
    const late = await b.next((rec) => 'id' in rec && rec.id === 20);
    assert.ok(late.op === 'err' && late.error.code === 'forbidden', 'still reserved to a');
    const again = await RawPeer.connect(`${fx.hub.url}?token=token-a`);
    again.send({ op: 'sub', id: 1, sid: 1, pattern: '_INBOX.secretA' });
    assert.equal(
      (await again.next((r) => 'id' in r && r.id === 1)).op,
      'ok',
      'a gets its inbox back',
    );
    again.close();
    b.close();
  });

  test("a peer that saw a request cannot take the host's inbox it names", async () => {
    await using fx = await startHub({ authenticate });
    const host = createBus({ transport: fx.local, source: 'host', onError: () => undefined });
    const worker = fx.join({ token: 'token-w' });
    let replyTo: string | undefined;
    await worker.subscribe('svc.w', (env) => (replyTo = env.replyTo)).ready;
    await assert.rejects(host.request('svc.w', 'hello', { timeoutMs: 300 }));
    const inbox = replyTo ?? '';
    assert.ok(inbox.startsWith('_INBOX.'), inbox);
    await assert.rejects(worker.subscribe(inbox, () => undefined).ready, ForbiddenError);
    await assert.rejects(worker.subscribe(`${inbox}.>`, () => undefined).ready, ForbiddenError);
    await host.close();
  });

  test('stamps source and tenant from the identity; a client cannot aim replies at others', async () => {
    await using fx = await startHub({ authenticate });
    const seen: { source?: string; tenant?: string }[] = [];
    const subject = `svc.${unique('stamp')}`;
    fx.local.subscribe(subject, (env) => seen.push({ source: env.source, tenant: env.tenant }));
    const errors: WireError[] = [];
    const t = fx.join({ token: 'token-a', onError: (e) => errors.push(e as WireError) });
    const a = createBus({ transport: t, source: 'pretends-to-be-b', onError: () => undefined });
    await a.ready;
    a.publish(subject, 1, { tenant: 'b' });
    await eventually(() => seen.length === 1);
    assert.deepEqual(seen[0], { source: 'client:a', tenant: 'a' });
    // A request whose replies would go to a subject a may not receive.
    a.publish(subject, 2, { replyTo: 'svc.w' });
    await eventually(() => errors.some((e) => e.code === 'forbidden'));
    assert.equal(seen.length, 1);
    await a.close();
  });

  test('a requester takes replies only from the responder it asked', async () => {
    await using fx = await startHub({ authenticate });
    const host = createBus({ transport: fx.local, source: 'host', onError: () => undefined });
    const worker = await fx.remoteBus('w', { token: 'token-w' });
    const forger = await fx.remoteBus('op', { token: 'token-op' });
    await worker.serve('svc.w', async () => {
      await new Promise((r) => setTimeout(r, 50));
      return 'real';
    }).ready;
    // The operator may listen anywhere: it hears the request and answers first.
    await forger.serve('svc.w', () => 'forged').ready;
    const reply = await host.request('svc.w', null, { from: 'worker:w', timeoutMs: 5000 });
    assert.equal(reply.body, 'real');
    assert.equal(reply.envelope.source, 'worker:w');
    const stream = host.stream<string>('svc.w', null, { from: 'worker:w', timeoutMs: 5000 });
    for await (const _ of stream) {
      // no items
    }
    assert.equal(await stream.result, 'real');
    await host.close();
  });

  test('a request that cannot be sent to a remote responder fails its requester at once', async () => {
    await using fx = await startHub();
    const host = createBus({ transport: fx.local, source: 'host', onError: () => undefined });
    const remote = await fx.remoteBus('remote');
    const subject = unique('deep');
    let served = 0;
    await remote.serve(subject, () => ++served).ready;
    let deep: Record<string, unknown> = {};
    const root = deep;
    for (let i = 0; i < 5000; i++) {
      const next = {};
      deep.x = next;
      deep = next;
    }
    await assert.rejects(
      host.request(subject, { extra: root }, { timeoutMs: 60_000 }),
      InvalidMessageError,
    );
    // The responder is not blocked: an ordinary request beside it is answered.
    assert.equal((await host.request(subject, 'ok')).body, 1);
    await host.close();
  });

  test('durable queues only for identities whose queue permission names them', async () => {
    await using fx = await startHub({ authenticate });
    const client = fx.join({ token: 'token-a' });
    const operator = fx.join({ token: 'token-op' });
    const name = unique('jobs');
    await assert.rejects(client.queue(name).stats(), ForbiddenError);
    await assert.rejects(
      client.queue(name).enqueue(createBus({ transport: client }).envelope(name, 1)),
      ForbiddenError,
    );
    assert.deepEqual(await operator.queue(name).stats(), {
      ready: 0,
      delayed: 0,
      leased: 0,
      dead: 0,
    });
  });

  test('permissions refuse with forbidden and the hub reports who tried what', async () => {
    const denied: string[] = [];
    await using fx = await startHub({
      authenticate,
      onDenied: (e) => denied.push(`${e.identity}:${e.action}:${e.target}`),
    });
    const w = fx.join({ token: 'token-w' });
    await assert.rejects(w.subscribe('svc.other', () => undefined).ready, ForbiddenError);
    assert.deepEqual(denied, ['w:subscribe:svc.other']);
  });
});
