// A peer that bypasses the ws client and sends queue records with bad arguments straight to the
// hub gets a wire error with a stable code that says what was wrong, and keeps its connection
// (the rules: QUEUE_ARGUMENT_TABLE in src/transport/queue-contract.ts, docs/protocol.md).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createCodec } from '../../src/codec/codec.js';
import { createEnvelope } from '../../src/protocol/index.js';
import type { HubRecord, PeerRecord } from '../../src/transport/ws/wire.js';
import { unique } from '../conformance/harness.js';
import { RawPeer, startHub } from './ws-harness.js';

const codec = createCodec();

function frameOf(fields: Record<string, unknown> = {}): Uint8Array {
  const env = createEnvelope({ kind: 'event', subject: 'work', body: 'x' });
  return codec.encode(Object.assign(env, fields));
}

/** Sends one request and returns the hub's answer to it (`ok` or `err`). */
async function ask(raw: RawPeer, record: PeerRecord & { id: number }): Promise<HubRecord> {
  raw.send(record);
  return raw.next((r) => (r.op === 'ok' || r.op === 'err') && r.id === record.id);
}

/** Bad queue records, each with a word its error message must contain. */
const BAD: { name: string; record: (queue: string, id: number) => PeerRecord; says: RegExp }[] = [
  {
    name: 'receive with max 0',
    record: (queue, id) => ({ op: 'q.receive', id, queue, max: 0, waitMs: 0 }),
    says: /max/,
  },
  {
    name: 'receive with max 1.5',
    record: (queue, id) => ({ op: 'q.receive', id, queue, max: 1.5, waitMs: 0 }),
    says: /max/,
  },
  {
    name: 'enqueue of a message with prio 10',
    record: (queue, id) => ({ op: 'q.enqueue', id, queue, frame: frameOf({ prio: 10 }) }),
    says: /prio/,
  },
  {
    name: 'enqueue with ttlMs -1',
    record: (queue, id) => ({ op: 'q.enqueue', id, queue, frame: frameOf(), ttlMs: -1 }),
    says: /ttlMs/,
  },
  {
    name: 'enqueue with ttlMs 0',
    record: (queue, id) => ({ op: 'q.enqueue', id, queue, frame: frameOf(), ttlMs: 0 }),
    says: /ttlMs/,
  },
  {
    name: 'dead letters with limit 0',
    record: (queue, id) => ({ op: 'q.dead', id, queue, limit: 0 }),
    says: /limit/,
  },
  {
    name: 'a queue opened with leaseMs 0',
    record: (queue, id) => ({ op: 'q.stats', id, queue, opts: { leaseMs: 0 } }),
    says: /leaseMs/,
  },
];

describe('ws hub - bad queue arguments from a raw peer', () => {
  for (const bad of BAD) {
    test(`${bad.name} gets invalid_message and the connection stays open`, async () => {
      await using fx = await startHub();
      const raw = await RawPeer.connect(fx.hub.url);
      const queue = unique('q');
      const answer = await ask(raw, bad.record(queue, 1) as PeerRecord & { id: number });
      assert.ok(answer.op === 'err', `expected an err record, got ${answer.op}`);
      assert.equal(answer.error.code, 'invalid_message');
      assert.equal(answer.error.retryable, false);
      assert.match(answer.error.message, bad.says);
      const after = await ask(raw, { op: 'q.stats', id: 2, queue });
      assert.equal(after.op, 'ok', 'the same connection still answers');
      assert.deepEqual(fx.errors, [], 'a bad argument is not reported as a hub fault');
      raw.close();
    });
  }

  test('extend of a lease by 0 ms gets invalid_message and the lease is kept', async () => {
    await using fx = await startHub();
    const raw = await RawPeer.connect(fx.hub.url);
    const queue = unique('q');
    assert.equal((await ask(raw, { op: 'q.enqueue', id: 1, queue, frame: frameOf() })).op, 'ok');
    raw.send({ op: 'q.receive', id: 2, queue, max: 1, waitMs: 1000 });
    const dlv = await raw.next((r) => r.op === 'dlv' && r.id === 2);
    assert.ok(dlv.op === 'dlv');
    const answer = await ask(raw, { op: 'q.extend', id: 3, queue, h: dlv.h, ms: 0 });
    assert.ok(answer.op === 'err', `expected an err record, got ${answer.op}`);
    assert.equal(answer.error.code, 'invalid_message');
    assert.match(answer.error.message, /extend/);
    assert.equal((await ask(raw, { op: 'q.ack', id: 4, queue, h: dlv.h })).op, 'ok');
    const stats = await ask(raw, { op: 'q.stats', id: 5, queue });
    assert.ok(stats.op === 'ok');
    assert.deepEqual(stats.result, { ready: 0, delayed: 0, leased: 0, dead: 0 });
    raw.close();
  });
});
