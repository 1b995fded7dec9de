// Prefix-cache affinity: the longest cached prefix wins within the load bound, ties go to the
// less loaded, and a burst sharing a new prefix lands together before any heartbeat shows it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PrefixAffinityPolicy } from '../../../src/llm/routing/prefix-affinity.js';
import type { WorkerView } from '../../../src/llm/routing/policy.js';
import { ctx, withInflight, worker } from './helpers.js';

const request = ctx({ prefixHashes: ['h1', 'h2', 'h3', 'h4'] });

test('prefix affinity - prefers the worker holding the longest leading prefix', () => {
  const policy = new PrefixAffinityPolicy();
  const workers = [
    worker('one-block', { prefixHashes: ['h1'] }),
    worker('three-blocks', { prefixHashes: ['h1', 'h2', 'h3'] }),
    // Later blocks without the first are no use: the cache is a prefix.
    worker('holes', { prefixHashes: ['h2', 'h3', 'h4'] }),
    worker('cold'),
  ];
  assert.equal(policy.pick(workers, request)?.id, 'three-blocks');
});

test('prefix affinity - breaks equal matches by lower load', () => {
  const policy = new PrefixAffinityPolicy();
  const workers = [
    worker('a', { inflight: 2, prefixHashes: ['h1', 'h2'] }),
    worker('b', { inflight: 1, prefixHashes: ['h1', 'h2'] }),
    worker('c'),
  ];
  assert.equal(policy.pick(workers, request)?.id, 'b');
});

test('prefix affinity - skips a cached worker busier than the least loaded by more than maxImbalance', () => {
  const policy = new PrefixAffinityPolicy({ maxImbalance: 0.25 });
  // Least load 0; bound 0.25 of a worker's slots.
  const workers = [
    worker('best-but-busy', { inflight: 4, prefixHashes: ['h1', 'h2', 'h3', 'h4'] }),
    worker('partial', { inflight: 2, prefixHashes: ['h1'] }),
    worker('idle'),
  ];
  assert.equal(policy.pick(workers, request)?.id, 'partial');
  // With no cached worker within the bound it falls back to the least loaded.
  const noneWithin = [workers[0]!, withInflight(workers[1]!, 3), workers[2]!];
  assert.equal(
    policy.pick(noneWithin, ctx({ prefixHashes: ['h1', 'h2', 'h3', 'h4'] }))?.id,
    'idle',
  );
});

test('prefix affinity - without any cached match, picks the least loaded', () => {
  const policy = new PrefixAffinityPolicy();
  const workers = [
    worker('a', { inflight: 3 }),
    worker('b', { inflight: 1 }),
    worker('c', { inflight: 2 }),
  ];
  assert.equal(policy.pick(workers, ctx({ prefixHashes: ['x1'] }))?.id, 'b');
  assert.equal(policy.pick(workers, ctx())?.id, 'b'); // a prompt shorter than one block
});

test('prefix affinity - keeps a burst with a new prefix together before heartbeats, within the bound', () => {
  let now = 0;
  const policy = new PrefixAffinityPolicy({ maxImbalance: 0.25, now: () => now });
  // No worker reports the prefix yet; the router counts what it sends (capacity 8 each).
  let workers: WorkerView[] = [worker('a'), worker('b'), worker('c')];
  const send = (hashes: readonly string[]) => {
    const chosen = policy.pick(workers, ctx({ prefixHashes: hashes }))!;
    workers = workers.map((w) => (w.id === chosen.id ? withInflight(w, w.inflight + 1) : w));
    return chosen.id;
  };
  const burst = ['p1', 'p2', 'p3'];
  const first = send(burst);
  now += 100;
  // Up to 2 of 8 slots above the idle workers is within 0.25: three requests together.
  assert.equal(send(burst), first);
  assert.equal(send([...burst, 'longer']), first);
  // The fourth would put it 3/8 above the idle ones: over the bound, so it goes elsewhere.
  assert.notEqual(send(burst), first);
});

test('prefix affinity - forgets a placement after rememberMs', () => {
  let now = 0;
  const policy = new PrefixAffinityPolicy({ rememberMs: 1000, now: () => now });
  const idle = [worker('a'), worker('b'), worker('c')];
  const first = policy.pick(idle, ctx({ prefixHashes: ['q1'] }))!.id;
  const busier = idle.map((w) => (w.id === first ? withInflight(w, 1) : w));
  now = 999;
  assert.equal(policy.pick(busier, ctx({ prefixHashes: ['q1'] }))?.id, first);
  now = 999 + 1000;
  assert.notEqual(policy.pick(busier, ctx({ prefixHashes: ['q1'] }))?.id, first);
});
