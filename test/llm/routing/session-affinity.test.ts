// Session affinity by consistent hashing with bounded loads: keys stick to their owner, a new
// worker takes about 1/n of the keys and only from others, and no worker runs past the bound.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SessionAffinityPolicy } from '../../../src/llm/routing/session-affinity.js';
import type { WorkerView } from '../../../src/llm/routing/policy.js';
import { ctx, withInflight, worker } from './helpers.js';

const pool = (n: number) => Array.from({ length: n }, (_, i) => worker(`w${i}`));

test('session affinity - sends a session key to the same worker every time', () => {
  const policy = new SessionAffinityPolicy();
  const workers = pool(4);
  const first = policy.pick(workers, ctx({ sessionKey: 'user-42' }))!.id;
  for (let i = 0; i < 50; i++) {
    assert.equal(policy.pick([...workers].reverse(), ctx({ sessionKey: 'user-42' }))?.id, first);
  }
  // A fresh policy (another gateway) builds the same ring and agrees.
  assert.equal(
    new SessionAffinityPolicy().pick(workers, ctx({ sessionKey: 'user-42' }))?.id,
    first,
  );
});

test('session affinity - spreads different keys over all workers', () => {
  const policy = new SessionAffinityPolicy();
  const workers = pool(4);
  const counts = new Map<string, number>();
  for (let k = 0; k < 4000; k++) {
    const id = policy.pick(workers, ctx({ sessionKey: `s${k}` }))!.id;
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  for (const w of workers) {
    const n = counts.get(w.id) ?? 0;
    assert.ok(n > 600 && n < 1400, `${w.id} owns ${n} of 4000 keys`);
  }
});

test('session affinity - a joining worker takes about 1/n of the keys, all moved to it', () => {
  const policy = new SessionAffinityPolicy();
  const before = pool(10);
  const after = [...before, worker('w10')];
  const keys = Array.from({ length: 5000 }, (_, k) => `session-${k}`);
  const owner = new Map(keys.map((k) => [k, policy.pick(before, ctx({ sessionKey: k }))!.id]));
  let moved = 0;
  for (const k of keys) {
    const now = policy.pick(after, ctx({ sessionKey: k }))!.id;
    if (now !== owner.get(k)) {
      moved++;
      assert.equal(now, 'w10', `key ${k} moved between two old workers`);
    }
  }
  const share = moved / keys.length; // expected 1/11 = 0.09
  assert.ok(share > 0.04 && share < 0.15, `moved ${share}`);
  // And when it leaves again, every key goes back to where it was.
  for (const k of keys) assert.equal(policy.pick(before, ctx({ sessionKey: k }))?.id, owner.get(k));
});

test('session affinity - moves a key to the next worker on the ring when its owner is over the bound', () => {
  const policy = new SessionAffinityPolicy({ epsilon: 0.25 });
  const workers = pool(4);
  const key = ctx({ sessionKey: 'hot' });
  const owner = policy.pick(workers, key)!;
  const successor = policy.pick(
    workers.filter((w) => w.id !== owner.id),
    key,
  )!;
  const loaded = (n: number) => workers.map((w) => (w.id === owner.id ? withInflight(w, n) : w));
  // Mean load 1/4 -> bound ceil(1.25 * 0.25) = 1: one request in flight is still within it.
  assert.equal(policy.pick(loaded(1), key)?.id, owner.id);
  // Mean load 2/4 -> bound ceil(0.625) = 1: two is over, so the successor takes it.
  assert.equal(policy.pick(loaded(2), key)?.id, successor.id);
});

test('session affinity - keeps every worker within the bound when all traffic has one key', () => {
  const epsilon = 0.25;
  const policy = new SessionAffinityPolicy({ epsilon });
  let workers: WorkerView[] = pool(5);
  for (let i = 0; i < 200; i++) {
    const chosen = policy.pick(workers, ctx({ sessionKey: 'everyone' }))!;
    const total = workers.reduce((sum, w) => sum + w.inflight, 0);
    const bound = Math.ceil(((1 + epsilon) * total) / workers.length);
    assert.ok(
      chosen.inflight <= bound,
      `picked a worker at ${chosen.inflight} over bound ${bound}`,
    );
    workers = workers.map((w) => (w.id === chosen.id ? withInflight(w, w.inflight + 1) : w));
  }
  const loads = workers.map((w) => w.inflight);
  assert.ok(
    Math.max(...loads) <= Math.ceil(((1 + epsilon) * 200) / 5) + 1,
    `loads ${loads.join(',')}`,
  );
});

test('session affinity - without a session key, picks the least loaded', () => {
  const policy = new SessionAffinityPolicy();
  const workers = [worker('a', { inflight: 2 }), worker('b'), worker('c', { inflight: 1 })];
  assert.equal(policy.pick(workers, ctx())?.id, 'b');
});
