// The security group: what end-to-end message crypto costs on the token path. Each comparison
// runs a gateway whose worker sits on the far side of a real link (the WebSocket hub, or NATS)
// twice side by side, with the setting on and off, under the same streaming load.
import { randomBytes } from 'node:crypto';
import { createBus, type Bus } from '../../src/bus/index.js';
import type { BusSecurity } from '../../src/bus/security.js';
import { createKeyring } from '../../src/codec/security/encryption.js';
import { createSigning } from '../../src/codec/security/signing.js';
import { createSimBackend } from '../../src/llm/backends/sim/index.js';
import { createGateway } from '../../src/llm/gateway/server.js';
import { peerIdentity } from '../../src/llm/security/roles.js';
import { createWorker } from '../../src/llm/worker/worker.js';
import { createMemoryTransport } from '../../src/transport/memory/index.js';
import { createNatsTransport } from '../../src/transport/nats/index.js';
import type { Transport } from '../../src/transport/transport.js';
import { createBusHub } from '../../src/transport/ws/hub.js';
import { createWebSocketTransport } from '../../src/transport/ws/client.js';
import type { BenchGroup, GroupContext } from '../group.js';
import type { Target } from '../harness.js';
import { LoadClient } from '../load/client.js';
import { streamedTokensRow } from '../load/compare.js';
import { NATS_URL } from '../../test/helpers/broker-urls.js';

const STREAMS = 256;
const TOKENS = 64;
const PATH = '/v1/chat/completions';

const WORKER_KEY = randomBytes(16).toString('hex');
const hmac = randomBytes(32);
const aes = randomBytes(32);
const signed = (): BusSecurity => ({
  signing: createSigning([{ alg: 'HS256', kid: 'bench', secret: hmac }]),
});
const sealed = (): BusSecurity => ({
  ...signed(),
  integrity: true,
  encryption: createKeyring({ current: 'k1', keys: { k1: aes } }),
});

interface Stack {
  url: string;
  errors: unknown[];
  close(): Promise<void>;
}

/**
 * A gateway on its own bus and one sim worker (ttft 0, itl 0) on another, joined by `link`:
 * 'ws' (the worker's bus is a WebSocket client of the gateway's hub, as `llmwire worker
 * --connect ws://...`) or 'nats' (both buses on NATS, in a namespace of their own).
 */
async function startStack(
  link: 'ws' | 'nats',
  security: BusSecurity | undefined,
  /** The hub admits the worker as a `worker` identity and checks every record against it. */
  permissions = false,
): Promise<Stack> {
  const errors: unknown[] = [];
  const onError = (e: unknown) => void errors.push(e);
  const sec = security === undefined ? {} : { security };
  const namespace = `b${randomBytes(4).toString('hex')}`;
  const owned: { close(): Promise<void> }[] = [];
  let gatewayTransport: Transport;
  let workerTransport: Transport;
  if (link === 'ws') {
    gatewayTransport = createMemoryTransport();
  } else {
    gatewayTransport = await createNatsTransport({ servers: NATS_URL, onError });
  }
  const gatewayBus: Bus = createBus({ transport: gatewayTransport, source: 'gw', onError, ...sec });
  await gatewayBus.ready;
  const gateway = createGateway({ bus: gatewayBus, port: 0, namespace });
  const url = await gateway.listen();
  const identity = peerIdentity({ name: 'w1', role: 'worker' }, namespace);
  const hub =
    link === 'ws'
      ? createBusHub(gatewayTransport, {
          server: gateway.server,
          onError,
          ...(permissions
            ? { authenticate: (token) => (token === WORKER_KEY ? identity : undefined) }
            : {}),
        })
      : undefined;
  if (link === 'ws') {
    workerTransport = createWebSocketTransport({
      url: `${url.replace('http', 'ws')}/v1/bus`,
      onError,
      ...(permissions ? { token: WORKER_KEY } : {}),
    });
  } else {
    workerTransport = await createNatsTransport({ servers: NATS_URL, onError });
  }
  const workerBus = createBus({ transport: workerTransport, source: 'w1', onError, ...sec });
  await workerBus.ready;
  const worker = createWorker({
    bus: workerBus,
    backend: createSimBackend({ models: ['sim'], ttftMs: 0, itlMs: 0 }),
    id: 'w1',
    concurrency: STREAMS,
    namespace,
  });
  await worker.start();
  const until = Date.now() + 5000;
  while (!gateway.registry.all().some((w) => w.status === 'ready')) {
    if (Date.now() > until) throw new Error(`bench security: the ${link} worker did not join`);
    await new Promise((r) => setTimeout(r, 10));
  }
  owned.push(
    { close: () => worker.stop() },
    workerBus,
    workerTransport,
    ...(hub === undefined ? [] : [hub]),
    gateway,
    gatewayBus,
    gatewayTransport,
  );
  return {
    url,
    errors,
    async close() {
      for (const o of owned) await o.close();
    },
  };
}

function body(): string {
  return JSON.stringify({
    model: 'sim',
    messages: [{ role: 'user', content: 'Stream a long answer so every token is measured.' }],
    max_tokens: TOKENS,
    stream: true,
  });
}

/** Tokens/s of `on` against `off`, both started here and closed after. */
async function compare(
  ctx: GroupContext,
  client: LoadClient,
  spec: { name: string; baseline: string; target?: Target },
  start: (side: 'on' | 'off') => Promise<Stack>,
): Promise<void> {
  const on = await start('on');
  const off = await start('off');
  try {
    await streamedTokensRow(
      ctx,
      client,
      { on: on.url, off: off.url, path: PATH, body: body(), concurrency: STREAMS },
      spec,
    );
  } finally {
    await on.close();
    await off.close();
  }
  const errors = [...on.errors, ...off.errors];
  if (errors.length > 0) {
    throw new Error(`${spec.name}: buses reported ${errors.length} errors: ${String(errors[0])}`);
  }
}

type Comparison = (ctx: GroupContext, client: LoadClient) => Promise<void>;

const permissionsOverWs: Comparison = (ctx, client) =>
  compare(
    ctx,
    client,
    {
      name: `streamed tokens/s, ${STREAMS} concurrent streams through a WebSocket worker, hub permissions on`,
      baseline: 'the same stack with an open hub (no identities)',
      target: { on: 'ratio', min: 0.95 },
    },
    (side) => startStack('ws', undefined, side === 'on'),
  );

const signingOverWs: Comparison = (ctx, client) =>
  compare(
    ctx,
    client,
    {
      name: `streamed tokens/s, ${STREAMS} concurrent streams through a WebSocket worker, signing (HS256) on`,
      baseline: 'the same stack with signing off',
      target: { on: 'ratio', min: 0.5 },
    },
    (side) => startStack('ws', side === 'on' ? signed() : undefined),
  );

const sealedOverNats: Comparison = async (ctx, client) => {
  try {
    const probe = await createNatsTransport({ servers: NATS_URL, onError: () => undefined });
    await probe.close();
  } catch (err) {
    ctx.log(`skipped the NATS comparison: no NATS at ${NATS_URL} (${(err as Error).message})`);
    return;
  }
  await compare(
    ctx,
    client,
    {
      name: `streamed tokens/s, ${STREAMS} concurrent streams over NATS, signed + encrypted + checksummed`,
      baseline: 'the same stack over NATS in plain',
    },
    (side) => startStack('nats', side === 'on' ? sealed() : undefined),
  );
};

/**
 * The comparisons this group runs, in order. Another on-vs-off comparison of a security setting
 * (e.g. subject permissions on the hub) is one more function here, built with `compare`.
 */
export const SECURITY_COMPARISONS: Comparison[] = [
  permissionsOverWs,
  signingOverWs,
  sealedOverNats,
];

export const securityGroup: BenchGroup = {
  name: 'security',
  about:
    'Streamed tokens/s with a security setting on against the same stack with it off: hub ' +
    'permissions (the worker joins as a `worker` identity; every record it sends is checked ' +
    'and stamped, every request forwarded to it grants a reply), and end-to-end message crypto. ' +
    'Each stack: `createGateway` on a free port with its bus, and one worker on a bus of its ' +
    'own reached through a real link: the gateway\u2019s WebSocket hub (the worker\u2019s bus is ' +
    `a WebSocket client, as \`llmwire worker --connect ws://...\`) or NATS at ${NATS_URL}; sim ` +
    `backend with ttft 0 and itl 0, ${STREAMS} concurrent streams of ${TOKENS} tokens from the ` +
    'load client process; rounds alternate the two stacks. Signing is HS256 on every message ' +
    '(requests, chunks, credit, heartbeats), verified once per receiver with replay checks; ' +
    '"sealed" adds AES-256-GCM and a SHA-256 checksum. Target for signing over WebSocket: at ' +
    'least 0.5x; for permissions at least 0.95x. The NATS row is reported without a target.',
  settings: {
    full: { rounds: 8, roundMs: 2000, warmupMs: 1000 },
    quick: { rounds: 2, roundMs: 300, warmupMs: 150 },
  },
  async run(ctx) {
    const client = await LoadClient.start();
    try {
      for (const comparison of SECURITY_COMPARISONS) await comparison(ctx, client);
    } finally {
      await client.close();
    }
    return { rows: ctx.rows };
  },
};
