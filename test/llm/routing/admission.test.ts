// Admission control: priority classes, weighted fair shares between tenants, per-tenant rate
// limits with exact retry hints, queue and deadline rejections, cancellation, and settling
// token estimates with real usage. Time is a manual clock; nothing here waits on a real timer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AdmissionController,
  type AdmissionOptions,
  type AdmissionTicket,
  type Lease,
} from '../../../src/llm/routing/admission.js';
import {
  CancelledError,
  ConfigError,
  DeadlineExceededError,
  OverloadedError,
  RateLimitedError,
  UnavailableError,
  type WireError,
} from '../../../src/protocol/index.js';
import { ManualClock, settle } from './helpers.js';

function setup(options: Omit<AdmissionOptions, 'clock'> = {}) {
  const clock = new ManualClock();
  const admission = new AdmissionController({ ...options, clock });
  return { clock, admission };
}

const ticket = (over: Partial<AdmissionTicket> = {}): AdmissionTicket => ({
  tenant: 't',
  model: 'm',
  estimatedTokens: 10,
  ...over,
});

/** Asserts the promise rejects with `type` and returns the error for closer checks. */
async function rejection(promise: Promise<unknown>, type: new (...args: never[]) => WireError) {
  let caught: unknown;
  await promise.then(
    () => assert.fail('expected a rejection'),
    (err: unknown) => (caught = err),
  );
  assert.ok(caught instanceof type, `expected ${type.name}, got ${String(caught)}`);
  return caught;
}

/** Runs `count` requests to completion one slot at a time, recording the grant order. */
async function serveInOrder(pending: { label: string; lease: Promise<Lease> }[], count: number) {
  const granted: { label: string; lease: Lease }[] = [];
  // Those left queued when the test closes the admission are rejected; that is expected.
  for (const p of pending) {
    p.lease.then(
      (lease) => granted.push({ label: p.label, lease }),
      () => {},
    );
  }
  const order: string[] = [];
  for (let i = 0; i < count; i++) {
    await settle();
    const next = granted.shift();
    assert.ok(next !== undefined, `nothing granted at step ${i}`);
    assert.equal(granted.length, 0, 'more than one slot was granted');
    order.push(next.label);
    next.lease.release();
  }
  return order;
}

test('admission - grants at once while a slot is free', async () => {
  const { admission } = setup();
  admission.setCapacity('m', 2);
  const a = await admission.admit(ticket());
  const b = await admission.admit(ticket());
  assert.equal(a.queuedMs, 0);
  assert.equal(a.queued, false);
  assert.deepEqual(
    { ...admission.snapshot('m'), serviceMs: 0 },
    { capacity: 2, share: 2, inflight: 2, queued: 0, serviceMs: 0, oldestEnqueuedAt: undefined },
  );
  b.release();
  b.release(); // idempotent
  assert.equal(admission.snapshot('m').inflight, 1);
});

test('admission - a lease says whether its request waited in the queue', async () => {
  const { admission } = setup();
  admission.setCapacity('m', 1);
  const first = await admission.admit(ticket());
  assert.equal(first.queued, false);
  const second = admission.admit(ticket());
  assert.equal(admission.snapshot('m').queued, 1);
  first.release();
  assert.equal((await second).queued, true);
});

test('admission - serves high before normal before low, whatever the arrival order', async () => {
  const { admission } = setup();
  const pending = [
    { label: 'low', lease: admission.admit(ticket({ priority: 1 })) },
    { label: 'normal', lease: admission.admit(ticket({ priority: 5 })) },
    { label: 'low2', lease: admission.admit(ticket({ priority: 3 })) },
    { label: 'high', lease: admission.admit(ticket({ priority: 9 })) },
    { label: 'high2', lease: admission.admit(ticket({ priority: 7 })) },
    { label: 'normal2', lease: admission.admit(ticket({ priority: 4 })) },
  ];
  admission.setCapacity('m', 1);
  const order = await serveInOrder(pending, pending.length);
  assert.deepEqual(order, ['high', 'high2', 'normal', 'normal2', 'low', 'low2']);
});

test('admission - shares a contended class between tenants by weight (2:1)', async () => {
  const { admission } = setup({ tenants: { gold: { weight: 2 }, bronze: { weight: 1 } } });
  const pending = [];
  for (let i = 0; i < 40; i++) {
    pending.push({
      label: 'gold',
      lease: admission.admit(ticket({ tenant: 'gold', estimatedTokens: 100 })),
    });
  }
  for (let i = 0; i < 40; i++) {
    pending.push({
      label: 'bronze',
      lease: admission.admit(ticket({ tenant: 'bronze', estimatedTokens: 100 })),
    });
  }
  admission.setCapacity('m', 1);
  const order = await serveInOrder(pending, 30);
  const gold = order.filter((t) => t === 'gold').length;
  assert.ok(gold >= 19 && gold <= 21, `gold got ${gold} of 30, bronze ${30 - gold}`);
  admission.close();
  await settle();
});

test('admission - fair shares count tokens: a tenant of big requests gets fewer of them', async () => {
  const { admission } = setup();
  const pending = [];
  for (let i = 0; i < 20; i++) {
    pending.push({
      label: 'big',
      lease: admission.admit(ticket({ tenant: 'big', estimatedTokens: 300 })),
    });
    pending.push({
      label: 'small',
      lease: admission.admit(ticket({ tenant: 'small', estimatedTokens: 100 })),
    });
  }
  admission.setCapacity('m', 1);
  const order = await serveInOrder(pending, 20);
  const big = order.filter((t) => t === 'big').length;
  assert.ok(big >= 4 && big <= 6, `big got ${big} of 20`);
  admission.close();
  await settle();
});

test('admission - aging lets a long-waiting low request past fresh high ones', async () => {
  const { clock, admission } = setup({ agingMs: 1000 });
  const low = admission.admit(ticket({ priority: 0 }));
  clock.advance(2500); // low now ranks 0 + 2.5, above any high request that just arrived
  const high = admission.admit(ticket({ priority: 9 }));
  admission.setCapacity('m', 1);
  const order = await serveInOrder(
    [
      { label: 'low', lease: low },
      { label: 'high', lease: high },
    ],
    2,
  );
  assert.deepEqual(order, ['low', 'high']);
});

test('admission - refuses past the requests-per-minute limit with the exact wait', async () => {
  const { clock, admission } = setup({ defaultTenantLimits: { requestsPerMinute: 2 } });
  admission.setCapacity('m', 10);
  await admission.admit(ticket());
  await admission.admit(ticket());
  const err = await rejection(admission.admit(ticket()), RateLimitedError);
  assert.deepEqual(err.details, { limit: 'requests_per_minute', retryAfterMs: 30_000 });
  clock.advance(10_000);
  const later = await rejection(admission.admit(ticket()), RateLimitedError);
  assert.equal(later.details?.retryAfterMs, 20_000);
  clock.advance(20_000);
  await admission.admit(ticket()); // one request refilled
  // Other tenants have their own buckets.
  await admission.admit(ticket({ tenant: 'other' }));
});

test('admission - refuses past the tokens-per-minute limit with the exact wait', async () => {
  const { admission } = setup({ tenants: { t: { tokensPerMinute: 1000 } } });
  admission.setCapacity('m', 10);
  await admission.admit(ticket({ estimatedTokens: 600 }));
  const err = await rejection(admission.admit(ticket({ estimatedTokens: 600 })), RateLimitedError);
  // 200 tokens short at 1000/min: 12 s.
  assert.deepEqual(err.details, { limit: 'tokens_per_minute', retryAfterMs: 12_000 });
});

test('admission - settling with real usage gives back or charges the difference', async () => {
  const { admission } = setup({ tenants: { t: { tokensPerMinute: 1000 } } });
  admission.setCapacity('m', 10);
  const lease = await admission.admit(ticket({ estimatedTokens: 600 }));
  lease.release({ tokensUsed: 100 }); // 500 given back: 900 available
  const second = await admission.admit(ticket({ estimatedTokens: 800 }));
  second.release({ tokensUsed: 1000 }); // 200 more charged: 900 - 1000 = -100
  const err = await rejection(admission.admit(ticket({ estimatedTokens: 50 })), RateLimitedError);
  assert.equal(err.details?.retryAfterMs, 9_000); // 150 tokens at 1000/min
});

test('admission - refuses when the model queue is full, hinting one service interval', async () => {
  const { clock, admission } = setup({ maxQueueLength: 2 });
  admission.setCapacity('m', 2);
  // Measure a service time of 400 ms.
  for (let i = 0; i < 3; i++) {
    const lease = await admission.admit(ticket());
    clock.advance(400);
    lease.release();
  }
  await admission.admit(ticket());
  await admission.admit(ticket());
  const queued = [admission.admit(ticket()), admission.admit(ticket())];
  const err = await rejection(admission.admit(ticket()), OverloadedError);
  assert.deepEqual(err.details, { reason: 'queue_full', retryAfterMs: 200 }); // 400 ms / 2 slots
  assert.equal(admission.snapshot('m').queued, 2);
  admission.close();
  await Promise.allSettled(queued);
});

test('admission - the snapshot gives when the longest-waiting request arrived, in any class', async () => {
  const { clock, admission } = setup();
  admission.setCapacity('m', 1);
  const running = await admission.admit(ticket());
  const t0 = clock.now();
  const low = admission.admit(ticket({ priority: 0 }));
  clock.advance(50);
  const high = admission.admit(ticket({ priority: 9 }));
  assert.equal(admission.snapshot('m').oldestEnqueuedAt, t0);
  running.release(); // the high one is served first; the low one has still waited longest
  const next = await high;
  assert.equal(admission.snapshot('m').oldestEnqueuedAt, t0);
  next.release();
  (await low).release();
  assert.equal(admission.snapshot('m').oldestEnqueuedAt, undefined);
  assert.deepEqual(admission.modelNames(), ['m']);
});

test('admission - refuses a request whose deadline the queue cannot meet', async () => {
  const { clock, admission } = setup();
  admission.setCapacity('m', 1);
  const first = await admission.admit(ticket());
  clock.advance(1000);
  first.release(); // service time 1000 ms
  await admission.admit(ticket());
  const queued = [admission.admit(ticket()), admission.admit(ticket())];
  // Two queued and one running ahead: about 3000 ms of wait against a 1000 ms budget.
  const deadline = clock.now() + 1000;
  const err = await rejection(admission.admit(ticket({ deadline })), OverloadedError);
  assert.deepEqual(err.details, {
    reason: 'deadline_unmeetable',
    estimatedWaitMs: 3000,
    retryAfterMs: 2000,
  });
  // A high request waits only for the slot: 1000 ms, which fits.
  const urgent = admission.admit(ticket({ priority: 9, deadline: clock.now() + 1500 }));
  assert.equal(admission.snapshot('m').queued, 3);
  // A deadline already gone is deadline_exceeded.
  await rejection(admission.admit(ticket({ deadline: clock.now() })), DeadlineExceededError);
  admission.close();
  await Promise.allSettled([...queued, urgent]);
});

test('admission - refuses when the expected wait exceeds maxQueueWaitMs', async () => {
  const { clock, admission } = setup({ models: { m: { maxQueueWaitMs: 1500 } } });
  admission.setCapacity('m', 1);
  const first = await admission.admit(ticket());
  clock.advance(1000);
  first.release();
  await admission.admit(ticket());
  const queued = admission.admit(ticket()); // expected wait 1000 ms: accepted
  const err = await rejection(admission.admit(ticket()), OverloadedError);
  assert.deepEqual(err.details, {
    reason: 'queue_wait',
    estimatedWaitMs: 2000,
    retryAfterMs: 1000,
  });
  admission.close();
  await Promise.allSettled([queued]);
});

test('admission - fails a queued request when its deadline or the queue wait runs out', async () => {
  const { clock, admission } = setup({ maxQueueWaitMs: 5000 });
  const byDeadline = admission.admit(ticket({ deadline: clock.now() + 2000 }));
  const byWait = admission.admit(ticket());
  const checks = [rejection(byDeadline, DeadlineExceededError), rejection(byWait, OverloadedError)];
  clock.advance(2000);
  await settle();
  assert.equal(admission.snapshot('m').queued, 1);
  clock.advance(3000);
  await Promise.all(checks);
  const waitErr = await checks[1]!;
  assert.equal(waitErr.details?.reason, 'queue_wait');
  assert.equal(admission.snapshot('m').queued, 0);
});

test('admission - a cancelled queued request leaves the queue and gets its quota back', async () => {
  const { admission } = setup({ defaultTenantLimits: { requestsPerMinute: 2 } });
  admission.setCapacity('m', 1);
  const running = await admission.admit(ticket());
  const controller = new AbortController();
  const queued = admission.admit(ticket({ signal: controller.signal }));
  assert.equal(admission.snapshot('m').queued, 1);
  controller.abort();
  await rejection(queued, CancelledError);
  assert.equal(admission.snapshot('m').queued, 0);
  // The cancelled request's rpm token was refunded, and the slot goes to the next one.
  const next = admission.admit(ticket());
  running.release();
  await next;
  // Already aborted: refused without queueing.
  await rejection(admission.admit(ticket({ signal: AbortSignal.abort() })), CancelledError);
});

test('admission - close fails queued requests and refuses new ones', async () => {
  const { admission } = setup();
  const queued = admission.admit(ticket());
  admission.close();
  await rejection(queued, UnavailableError);
  await rejection(admission.admit(ticket()), UnavailableError);
});

test('admission - a bad option is a ConfigError naming its field', () => {
  const cases: [Record<string, unknown>, string][] = [
    [
      { maxQueueLength: -1 },
      "'maxQueueLength' expected integer to be greater or equal to 0, got -1",
    ],
    [
      { models: { m: { maxQueueWaitMs: 2 ** 32 } } },
      "'models.m.maxQueueWaitMs' expected number to be less or equal to 2147483648, got 4294967296",
    ],
    [
      { tenants: { acme: { weight: 0 } } },
      "'tenants.acme.weight' expected number to be greater than 0, got 0",
    ],
    [
      { defaultTenantLimits: { requestsPerMinute: 'x' } },
      `'defaultTenantLimits.requestsPerMinute' expected number, got "x"`,
    ],
    [{ agingMs: 0 }, "'agingMs' expected number to be greater than 0, got 0"],
    [{ fairShareBy: 'bytes' }, `'fairShareBy' expected one of 'tokens', 'requests', got "bytes"`],
    [{ maxQueueLen: 3 }, "unknown option 'maxQueueLen'"],
  ];
  for (const [options, message] of cases) {
    assert.throws(() => setup(options), {
      name: 'ConfigError',
      message: `admission: ${message}`,
    });
  }
  const { admission } = setup();
  assert.throws(
    () => admission.setTenantLimits('acme', { tokensPerMinute: -5 }),
    (err: unknown) =>
      err instanceof ConfigError &&
      err.message ===
        "admission: 'tenants.acme.tokensPerMinute' expected number to be greater than 0, got -5",
  );
  admission.close();
});
