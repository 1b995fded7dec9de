// The simple routing policies and createPolicy: round-robin cycles, least-outstanding takes the
// least loaded, power-of-two never takes the busier of its two, and bad configuration is named.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPolicy, POLICY_NAMES } from '../../../src/llm/routing/index.js';
import { LeastOutstandingPolicy } from '../../../src/llm/routing/least-outstanding.js';
import { PowerOfTwoPolicy } from '../../../src/llm/routing/power-of-two.js';
import { RoundRobinPolicy } from '../../../src/llm/routing/round-robin.js';
import { ConfigError } from '../../../src/protocol/index.js';
import { ctx, lcg, worker } from './helpers.js';

const ids = (picks: readonly ({ id: string } | undefined)[]) => picks.map((w) => w?.id);

test('round-robin - cycles through every worker in turn', () => {
  const policy = new RoundRobinPolicy();
  const workers = [worker('a'), worker('b'), worker('c')];
  const picks = Array.from({ length: 7 }, () => policy.pick(workers));
  assert.deepEqual(ids(picks), ['a', 'b', 'c', 'a', 'b', 'c', 'a']);
});

test('round-robin - keeps its turn when candidates change order or one drops out', () => {
  const policy = new RoundRobinPolicy();
  const [a, b, c, d] = [worker('a'), worker('b'), worker('c'), worker('d')];
  assert.equal(policy.pick([c, a, d, b])?.id, 'a');
  assert.equal(policy.pick([d, c, b, a])?.id, 'b');
  assert.equal(policy.pick([a, b, d])?.id, 'd'); // c busy: skipped, not repeated
  assert.equal(policy.pick([b, a, c, d])?.id, 'a');
});

test('least-outstanding - picks the worker with the fewest in flight per slot', () => {
  const policy = new LeastOutstandingPolicy();
  const workers = [
    worker('a', { inflight: 3 }),
    worker('b', { inflight: 1 }),
    worker('c', { inflight: 2 }),
  ];
  assert.equal(policy.pick(workers)?.id, 'b');
  // 3 of 16 slots busy is less loaded than 2 of 4.
  const mixed = [
    worker('small', { inflight: 2, capacity: 4 }),
    worker('big', { inflight: 3, capacity: 16 }),
  ];
  assert.equal(policy.pick(mixed)?.id, 'big');
});

test('least-outstanding - rotates between equally loaded workers', () => {
  const policy = new LeastOutstandingPolicy();
  const workers = [
    worker('a', { inflight: 1 }),
    worker('b'),
    worker('c', { inflight: 1 }),
    worker('d'),
  ];
  const picks = ids(Array.from({ length: 4 }, () => policy.pick(workers)));
  assert.deepEqual(picks, ['b', 'd', 'b', 'd']);
});

test('power-of-two - never picks the more loaded of the two it samples', () => {
  // With distinct loads, the most loaded worker loses every pair it is drawn into.
  const policy = new PowerOfTwoPolicy({ random: lcg(7) });
  const workers = [0, 1, 2, 3, 4].map((n) => worker(`w${n}`, { inflight: n }));
  const counts = new Map<string, number>();
  for (let i = 0; i < 2000; i++) {
    const id = policy.pick(workers)!.id;
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  assert.equal(counts.get('w4'), undefined);
  // The least loaded wins every pair it is in: 2 of 5 pairs, about 40% of picks.
  const least = counts.get('w0') ?? 0;
  assert.ok(least > 700 && least < 900, `w0 picked ${least} times of 2000`);
  // Of two workers, always the less loaded.
  const two = [worker('busy', { inflight: 5 }), worker('idle')];
  for (let i = 0; i < 50; i++) assert.equal(policy.pick(two)?.id, 'idle');
});

test('power-of-two - samples two distinct workers even when the random source repeats', () => {
  const policy = new PowerOfTwoPolicy({ random: () => 0 });
  const workers = [worker('a', { inflight: 2 }), worker('b', { inflight: 1 }), worker('c')];
  assert.equal(policy.pick(workers)?.id, 'b'); // a vs b, not a vs a
  assert.equal(policy.pick([worker('only')])?.id, 'only');
});

test('createPolicy - makes every named policy', () => {
  for (const name of POLICY_NAMES) assert.equal(createPolicy(name).name, name);
  const policy = createPolicy('least-outstanding');
  assert.equal(policy.pick([worker('a', { inflight: 1 }), worker('b')], ctx())?.id, 'b');
});

test('createPolicy - names an unknown policy in a ConfigError', () => {
  assert.throws(
    () => createPolicy('random-walk'),
    (err: unknown) =>
      err instanceof ConfigError &&
      err.message.includes("'random-walk'") &&
      err.message.includes('round-robin'),
  );
});

test('createPolicy - names an option the policy does not take or a bad value', () => {
  const cases: [string, Record<string, unknown>, string][] = [
    ['round-robin', { epsilon: 0.5 }, "unknown option 'epsilon'"],
    [
      'session-affinity',
      { epsilon: -1 },
      "'epsilon' expected number to be greater or equal to 0, got -1",
    ],
    ['session-affinity', { virtualNodes: 2.5 }, "'virtualNodes' expected integer, got 2.5"],
    ['prefix-affinity', { maxImbalance: Number.NaN }, "'maxImbalance' expected number, got NaN"],
    ['power-of-two', { random: 3 }, "'random' expected function, got 3"],
  ];
  for (const [name, options, message] of cases) {
    assert.throws(() => createPolicy(name, options), {
      name: 'ConfigError',
      message: `routing policy '${name}': ${message}`,
    });
  }
  // An option a config file leaves unset is no option at all.
  assert.equal(createPolicy('round-robin', { epsilon: undefined }).name, 'round-robin');
});
