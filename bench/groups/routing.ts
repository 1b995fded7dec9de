// The routing group: prefix-cache affinity against round-robin on a workload of long shared
// system prompts, with the sim's prefix-cache model making uncached prefill cost time.
import type { SimBackendOptions, SimPrefill } from '../../src/llm/backends/sim/index.js';
import { PREFIX_BLOCK_CHARS } from '../../src/llm/routing/prefix.js';
import type { PolicyName } from '../../src/llm/routing/policy.js';
import type { BenchGroup, GroupContext } from '../group.js';
import { LoadClient } from '../load/client.js';
import { alternate, latencyRow } from '../load/compare.js';
import { startGatewayStack, type GatewayStack } from '../load/stack.js';

const WORKERS = 4;
/** Slots per worker; IN_FLIGHT keeps them about half full. */
const WORKER_CONCURRENCY = 8;
const IN_FLIGHT = 16;
const PREFIXES = 8;
/** Full blocks of each shared system prompt (the user's question adds one partial block). */
const PREFIX_BLOCKS = 32;
/** Each worker's cache holds three of the eight prompts: no one worker can hold them all. */
const CACHE_BLOCKS = 3 * PREFIX_BLOCKS;
const SIM: SimBackendOptions = {
  ttftMs: 2,
  itlMs: 5,
  prefillMsPerBlock: 3,
  cacheBlocks: CACHE_BLOCKS,
};
const MAX_TOKENS = 8;
const MARK = '@@SEQ@@';

const TOPICS = [
  'billing',
  'shipping',
  'returns',
  'warranty',
  'accounts',
  'orders',
  'stock',
  'legal',
];

/**
 * A system prompt that fills exactly PREFIX_BLOCKS blocks of the prompt text the router hashes
 * (`<|system|>…\n`), so that the question after it starts a block of its own.
 */
function systemPrompt(i: number): string {
  const size = PREFIX_BLOCKS * PREFIX_BLOCK_CHARS - '<|system|>\n'.length;
  const line = `You are the ${TOPICS[i]} assistant of a retail support team (policy ${i}). `;
  return line.repeat(Math.ceil(size / line.length)).slice(0, size);
}

const BODIES = Array.from({ length: PREFIXES }, (_, i) =>
  JSON.stringify({
    model: 'sim',
    messages: [
      { role: 'system', content: systemPrompt(i) },
      { role: 'user', content: `Ticket ${MARK}: where is my parcel, and can I change it?` },
    ],
    max_tokens: MAX_TOKENS,
    stream: true,
  }),
);

interface Side {
  stack: GatewayStack;
  /** Prompt blocks prefilled and found cached, while counting. */
  blocks: { prompt: number; cached: number };
  counting: boolean;
  completedBefore: number[];
}

async function start(policy: PolicyName): Promise<Side> {
  const side = { blocks: { prompt: 0, cached: 0 }, counting: false } as Side;
  side.stack = await startGatewayStack({
    workers: WORKERS,
    concurrency: WORKER_CONCURRENCY,
    policy,
    sim: {
      ...SIM,
      onPrefill: (p: SimPrefill) => {
        if (!side.counting) return;
        side.blocks.prompt += p.promptBlocks;
        side.blocks.cached += p.cachedBlocks;
      },
    },
  });
  return side;
}

function beginCounting(side: Side): void {
  side.counting = true;
  side.completedBefore = side.stack.workers.map((w) => w.stats.completed);
}

/** Requests each worker finished since counting began. */
function perWorker(side: Side): number[] {
  return side.stack.workers.map((w, i) => w.stats.completed - side.completedBefore[i]!);
}

function busiestOverMean(counts: number[]): number {
  const total = counts.reduce((a, b) => a + b, 0);
  return total === 0 ? NaN : Math.max(...counts) / (total / counts.length);
}

async function measure(ctx: GroupContext, client: LoadClient, prefix: Side, rr: Side) {
  const job = (side: Side) => ({
    url: `${side.stack.url}/v1/chat/completions`,
    bodies: BODIES,
    uniqueMarker: MARK,
    concurrency: IN_FLIGHT,
    durationMs: ctx.settings.roundMs,
    stream: true,
    seed: 7,
  });
  const sides = await alternate(ctx, client, job(prefix), job(rr), () => {
    beginCounting(prefix);
    beginCounting(rr);
  });
  const baseline = 'round-robin, same workers and load';
  const name = `time to first token, ${PREFIXES} shared prompts of ${PREFIX_BLOCKS} blocks`;
  latencyRow(
    ctx,
    {
      name: `${name}, p50 (prefix-affinity)`,
      baseline,
      p: 50,
      target: { on: 'ratio', max: 1 / 3, note: 'round-robin p50 ≥ 3x prefix-affinity p50' },
    },
    sides,
  );
  latencyRow(ctx, { name: `${name}, p99 (prefix-affinity)`, baseline, p: 99 }, sides);

  const prefixCounts = perWorker(prefix);
  const rrCounts = perWorker(rr);
  ctx.log(
    `requests per worker: prefix-affinity ${prefixCounts.join('/')}, round-robin ${rrCounts.join('/')}`,
  );
  const balance = busiestOverMean(prefixCounts);
  const rrBalance = busiestOverMean(rrCounts);
  ctx.add({
    name: "busiest worker's requests ÷ mean per worker (prefix-affinity)",
    value: balance,
    unit: 'x mean',
    baseline,
    baselineValue: rrBalance,
    ratio: balance / rrBalance,
    spread: null,
    baselineSpread: null,
    target: { on: 'value', max: 1.3 },
  });
  const hit = (s: Side) => (100 * s.blocks.cached) / Math.max(1, s.blocks.prompt);
  ctx.fixed(
    'prompt blocks found in the prefix cache (prefix-affinity)',
    hit(prefix),
    '%',
    baseline,
    hit(rr),
  );
}

export const routingGroup: BenchGroup = {
  name: 'routing',
  about:
    `Prefix-cache affinity against round-robin: two gateways (\`createGateway\`, memory ` +
    `transport), each with ${WORKERS} in-process sim workers of ${WORKER_CONCURRENCY} slots ` +
    `(heartbeat every 1 s, the worker default), one with \`routing.policy\` 'prefix-affinity' ` +
    `(default options), one with 'round-robin'. The sim prefills ${SIM.prefillMsPerBlock} ms per ` +
    `uncached ${PREFIX_BLOCK_CHARS}-character block and holds ${CACHE_BLOCKS} blocks in its ` +
    `prefix cache: three of the ${PREFIXES} shared system prompts of ${PREFIX_BLOCKS} blocks. ` +
    `Each request is one of those prompts, picked at random (the same seeded sequence on both ` +
    `sides), plus a short unique question; ${MAX_TOKENS} tokens at ${SIM.itlMs} ms. The load ` +
    `generator (a child process) keeps ${IN_FLIGHT} streams in flight and takes time to first ` +
    'token per request; rounds alternate between the gateways after a warm-up that fills the ' +
    'caches. Requests per worker are counted from the workers\u2019 stats over the timed rounds.',
  settings: {
    full: { rounds: 4, roundMs: 2500, warmupMs: 1500 },
    quick: { rounds: 2, roundMs: 500, warmupMs: 300 },
  },
  async run(ctx) {
    const client = await LoadClient.start();
    const prefix = await start('prefix-affinity');
    const rr = await start('round-robin');
    try {
      await measure(ctx, client, prefix, rr);
    } finally {
      await client.close();
      await prefix.stack.close();
      await rr.stack.close();
    }
    const errors = prefix.stack.errors.length + rr.stack.errors.length;
    if (errors > 0) throw new Error(`gateway buses reported ${errors} errors`);
    return { rows: ctx.rows };
  },
};
