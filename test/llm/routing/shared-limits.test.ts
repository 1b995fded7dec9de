// Admission with tenant limits kept in a limit store that several gateways share
// (routing/shared-limits.ts): one tenant limit across controllers, estimate-then-settle on the
// shared buckets, refunds of requests that never ran, and fail-open to the gateway's own limits
// while the broker does not answer (a Redis transport with no Redis behind it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AdmissionController, type AdmissionTicket } from '../../../src/llm/routing/admission.js';
import { OverloadedError, RateLimitedError } from '../../../src/protocol/index.js';
import { MemoryLimits } from '../../../src/transport/memory/limits.js';
import { createRedisTransport } from '../../../src/transport/redis/index.js';
import { createLogger } from '../../../src/ops/index.js';
import { logSink } from '../../ops/otlp-receiver.js';
import { settle } from './helpers.js';

const ticket = (over: Partial<AdmissionTicket> = {}): AdmissionTicket => ({
  tenant: 't',
  model: 'm',
  estimatedTokens: 10,
  ...over,
});

function gateway(store: MemoryLimits | undefined, limits: Record<string, number>) {
  const admission = new AdmissionController({
    tenants: { t: limits },
    ...(store === undefined ? {} : { limitStore: store }),
  });
  admission.setCapacity('m', 100);
  return admission;
}

test('shared limits - two controllers on one store give a tenant one limit between them', async () => {
  const store = new MemoryLimits();
  const a = gateway(store, { requestsPerMinute: 3 });
  const b = gateway(store, { requestsPerMinute: 3 });
  await a.admit(ticket());
  await b.admit(ticket());
  await a.admit(ticket());
  const err = await b.admit(ticket()).then(
    () => assert.fail('the fourth request is over the shared limit'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof RateLimitedError);
  assert.equal(err.details?.limit, 'requests_per_minute');
  const wait = Number(err.details?.retryAfterMs);
  assert.ok(wait > 19_000 && wait <= 20_000, `one request back in 20 s: ${wait}`);
});

test('shared limits - a lease settles the shared token charge with the real usage', async () => {
  const store = new MemoryLimits();
  const a = gateway(store, { tokensPerMinute: 1000 });
  const b = gateway(store, { tokensPerMinute: 1000 });
  const lease = await a.admit(ticket({ estimatedTokens: 800 }));
  await assert.rejects(b.admit(ticket({ estimatedTokens: 800 })), RateLimitedError);
  lease.release({ tokensUsed: 100 });
  await settle();
  // 900 back in the shared bucket: the other gateway can take 800 now.
  await b.admit(ticket({ estimatedTokens: 800 }));
});

test('shared limits - a request the queue refuses gives its shared charge back', async () => {
  const store = new MemoryLimits();
  const admission = new AdmissionController({
    tenants: { t: { requestsPerMinute: 1 } },
    limitStore: store,
    maxQueueLength: 0,
  });
  admission.setCapacity('m', 0);
  await assert.rejects(admission.admit(ticket()), OverloadedError);
  await settle();
  admission.setCapacity('m', 1);
  await admission.admit(ticket());
});

test('shared limits - with the broker away the gateway own limits answer, and it says so once', async () => {
  const transport = createRedisTransport({
    url: 'redis://127.0.0.1:1',
    prefix: 'llmwire-away:',
    onError: () => undefined,
  });
  const sink = logSink();
  try {
    const admission = new AdmissionController({
      tenants: { t: { requestsPerMinute: 2 } },
      limitStore: transport.limits!('tenants'),
      limitTimeoutMs: 100,
      logger: createLogger({ level: 'warn', destination: sink }),
    });
    admission.setCapacity('m', 10);
    await admission.admit(ticket());
    await admission.admit(ticket());
    await assert.rejects(admission.admit(ticket()), RateLimitedError);
    const warnings = sink.lines.filter((l) => l.code === 'shared_limits_unavailable');
    assert.equal(warnings.length, 1, sink.text());
    assert.match(String(warnings[0]!.msg), /own limits apply/);
  } finally {
    await transport.close();
  }
});
