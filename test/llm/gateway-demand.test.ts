// Demand in gateway heartbeats on the memory transport (llm/gateway-presence.ts GatewayPeers,
// routing/shared-slots.ts): a gateway gives up part of a model's slots to a peer that wants
// them, takes them back when the peer stops, drops a malformed demand with a warning and goes
// on serving, and a request every worker refuses as overloaded waits for a slot instead of
// failing.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createBus } from '../../src/bus/index.js';
import { GATEWAY_HEARTBEAT } from '../../src/llm/gateway-presence.js';
import { llmSubjects } from '../../src/llm/subjects.js';
import { createLogger } from '../../src/ops/index.js';
import { logSink } from '../ops/otlp-receiver.js';
import { startStack } from './stack.js';
import { waitUntil } from '../wait.js';

const subjects = llmSubjects();

/** Publishes a heartbeat as gateway `id` would, with `data` over the usual fields. */
function beat(
  bus: ReturnType<typeof createBus>,
  id: string,
  data: Record<string, unknown> = {},
): void {
  bus.publish(
    subjects.gatewayHeartbeat(id),
    {
      type: GATEWAY_HEARTBEAT,
      data: { gateway: id, inbox: `_INBOX.${id}`, intervalMs: 1000, status: 'ready', ...data },
    },
    { kind: 'event' },
  );
}

test('gateway demand - a peer that wants a model takes its share of the slots, and gives it back when it stops', async () => {
  await using stack = await startStack({ workers: 1, concurrency: 4 });
  const peer = createBus({ transport: stack.transport, onError: () => undefined });
  await peer.ready;
  const share = () => stack.gateway.admission.snapshot('sim').share;
  assert.equal(share(), 4, 'alone, the gateway holds every slot');
  // A backlogged tenant of weight 3 at the peer; nothing wanted here: the peer takes what it
  // wants and the spare slot is split, so this gateway keeps at most one.
  beat(peer, 'g-peer', {
    demand: [{ model: 'sim', tenants: [{ tenant: 'b', weight: 3, want: 3 }] }],
  });
  await waitUntil(() => share() <= 1, 'the share to shrink');
  // Requests still run here: this gateway's own want counts at once.
  const answer = await stack
    .client()
    .chat.completions.create({ model: 'sim', messages: [{ role: 'user', content: 'hi' }] });
  assert.ok(answer.choices[0]!.message.content!.length > 0);
  beat(peer, 'g-peer', { status: 'stopped' });
  await waitUntil(() => share() === 4, 'the share to come back');
  await peer.close();
});

test('gateway demand - a malformed demand is dropped with a warning; the gateway goes on serving', async () => {
  const sink = logSink();
  await using stack = await startStack({
    workers: 1,
    concurrency: 4,
    gateway: { logger: createLogger({ level: 'warn', destination: sink }) },
  });
  const peer = createBus({ transport: stack.transport, onError: () => undefined });
  await peer.ready;
  for (const demand of [
    [{ model: 'sim', tenants: [{ tenant: 'b', weight: 3, want: -5 }] }],
    [{ model: 'sim', tenants: [{ tenant: 'b', weight: 'heavy', want: 2 }] }],
    [
      {
        model: 'sim',
        tenants: Array.from({ length: 1000 }, (_, i) => ({ tenant: `t${i}`, weight: 1, want: 1 })),
      },
    ],
    { sim: 5 },
    'everything',
  ]) {
    beat(peer, 'g-bad', { demand });
  }
  // A heartbeat naming another gateway than its subject does is not one.
  peer.publish(
    subjects.gatewayHeartbeat('g-bad'),
    {
      type: GATEWAY_HEARTBEAT,
      data: { gateway: 'g-other', inbox: 'x', intervalMs: 1000, status: 'ready' },
    },
    { kind: 'event' },
  );
  await waitUntil(
    () => sink.lines.some((l) => l.msg?.toString().startsWith('bad gateway heartbeat') === true),
    'a warning',
  );
  assert.equal(
    sink.lines.filter((l) => String(l.msg).startsWith('bad gateway heartbeat')).length,
    1,
    'one warning, not one per heartbeat',
  );
  assert.equal(stack.gateway.admission.snapshot('sim').share, 4, 'no demand taken from them');
  const answer = await stack
    .client()
    .chat.completions.create({ model: 'sim', messages: [{ role: 'user', content: 'hi' }] });
  assert.ok(answer.choices[0]!.message.content!.length > 0);
  await peer.close();
});

test('gateway demand - a request every worker refuses as overloaded waits for a slot instead of failing', async () => {
  // One worker of one slot, taken by a stream the gateway does not know of (as another
  // gateway's request would be before this one hears its demand).
  await using stack = await startStack({
    workers: 1,
    concurrency: 1,
    sim: { ttftMs: 0, itlMs: 20 },
  });
  const other = createBus({ transport: stack.transport, onError: () => undefined });
  await other.ready;
  const abort = new AbortController();
  const stream = other.stream(
    subjects.chat('w1'),
    { model: 'sim', prompt: 'a long story', max_tokens: 10_000 },
    { kind: 'inference.request', timeoutMs: 60_000, signal: abort.signal },
  );
  let chunks = 0;
  const reading = (async () => {
    try {
      for await (const _ of stream) chunks++;
    } catch {
      // cancelled below
    }
  })();
  await waitUntil(() => chunks > 0, 'the other stream to hold the slot');
  const asked = stack.client().chat.completions.create({
    model: 'sim',
    messages: [{ role: 'user', content: 'hi' }],
    max_tokens: 4,
  });
  // Long enough for several refusals and pauses.
  await new Promise((r) => setTimeout(r, 400));
  assert.equal(stack.workers[0]!.stats.completed, 0, 'nothing has run yet');
  abort.abort();
  await reading;
  const answer = await asked;
  assert.equal(answer.choices[0]!.finish_reason, 'length', 'answered once the slot was free');
  await other.close();
});
