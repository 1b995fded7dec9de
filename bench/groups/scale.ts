// The scale group: 1,000 concurrent streams held open against a real `llmwire up` process, and
// how much memory that process needs to hold them.
import { performance } from 'node:perf_hooks';
import type { BenchGroup, GroupContext } from '../group.js';
import { percentile, recordCpu } from '../harness.js';
import { LoadClient } from '../load/client.js';
import type { LoadResult } from '../load/job.js';
import { withSimUp, type UpProcess } from '../load/up-process.js';

const STREAMS = 1000;
const WORKERS = 2;
const TTFT_MS = 20;
const ITL_MS = 50;
const SAMPLE_MS = 50;
const MB = 1024 * 1024;

/** Reads the child's RSS every SAMPLE_MS while `during` runs; the highest reading wins. */
async function peakRss<T>(up: UpProcess, during: Promise<T>): Promise<{ peak: number; value: T }> {
  let peak = up.rss();
  const timer = setInterval(() => {
    peak = Math.max(peak, up.rss());
  }, SAMPLE_MS);
  try {
    const value = await during;
    return { peak: Math.max(peak, up.rss()), value };
  } finally {
    clearInterval(timer);
  }
}

/** One pass: the streams held open by one `llmwire up` process. */
interface Held {
  idle: number;
  peak: number;
  /** CPU of the process while the streams ran, and how long they ran. */
  cpuMs: number;
  wallMs: number;
  r: LoadResult;
}

async function hold(ctx: GroupContext, up: UpProcess, client: LoadClient): Promise<Held> {
  // Idle: started, workers joined, nothing served yet.
  await new Promise((r) => setTimeout(r, 500));
  const idle = up.rss();
  // Streams last about `roundMs`: long enough that all are open at once, with the peak sampled.
  const maxTokens = Math.round(ctx.settings.roundMs / ITL_MS);
  const body = JSON.stringify({
    model: 'sim',
    messages: [{ role: 'user', content: 'Tell me a long story about a message bus.' }],
    max_tokens: maxTokens,
    stream: true,
  });
  const start = performance.now();
  const cpu = up.cpuMs();
  const { peak, value: r } = await peakRss(
    up,
    client.run({
      url: `${up.url}/v1/chat/completions`,
      bodies: [body],
      concurrency: STREAMS,
      requests: STREAMS,
      stream: true,
    }),
  );
  const cpuMs = up.cpuMs() - cpu;
  report(ctx, r, maxTokens);
  ctx.log(`after the streams ended: RSS ${(up.rss() / MB).toFixed(0)} MB`);
  return { idle, peak, cpuMs, wallMs: performance.now() - start, r };
}

function measure(ctx: GroupContext, held: Held): void {
  const { idle, peak, r } = held;
  // The report's core share is the gateway process's: whether holding the streams saturated it.
  if (Number.isFinite(held.cpuMs)) recordCpu({ user: held.cpuMs * 1000, system: 0 }, held.wallMs);
  const baseline = `same process idle before load (${(idle / MB).toFixed(0)} MB)`;
  ctx.add({
    name: `peak RSS of llmwire up with ${STREAMS.toLocaleString('en')} streams open`,
    value: peak / MB,
    unit: 'MB',
    baseline,
    baselineValue: idle / MB,
    ratio: peak / idle,
    spread: null,
    baselineSpread: null,
    target: { on: 'value', max: 200 },
  });
  const sent = `streams sent (${STREAMS})`;
  ctx.fixed(
    'streams open at once (peak, seen by the client)',
    r.peakOpen,
    'streams',
    sent,
    STREAMS,
    {
      on: 'value',
      min: STREAMS,
    },
  );
  ctx.fixed('streams completed with data: [DONE]', r.completed, 'streams', sent, STREAMS, {
    on: 'value',
    min: STREAMS,
  });
}

/**
 * The same load on a process started with `node --optimize-for-size`: V8 then keeps a smaller
 * young generation and collects sooner, which trades CPU for memory (informational rows).
 */
function lean(ctx: GroupContext, usual: Held, small: Held): void {
  const all = small.r.peakOpen === STREAMS && small.r.completed === STREAMS;
  ctx.add({
    name:
      `peak RSS of llmwire up with ${STREAMS.toLocaleString('en')} streams open, under ` +
      `node --optimize-for-size${all ? '' : ` (only ${small.r.peakOpen} open at once)`}`,
    value: small.peak / MB,
    unit: 'MB',
    baseline: 'the same under plain node (row above)',
    baselineValue: usual.peak / MB,
    ratio: small.peak / usual.peak,
    spread: null,
    baselineSpread: null,
    target: null,
  });
  ctx.add({
    name: 'CPU of llmwire up while it holds the streams, under node --optimize-for-size',
    value: small.cpuMs,
    unit: 'ms',
    baseline: 'the same under plain node',
    baselineValue: usual.cpuMs,
    ratio: small.cpuMs / usual.cpuMs,
    spread: null,
    baselineSpread: null,
    target: null,
  });
}

function report(ctx: GroupContext, r: LoadResult, maxTokens: number): void {
  const ttft = [...r.latencyMs].sort((a, b) => a - b);
  const ideal = TTFT_MS + (maxTokens - 1) * ITL_MS;
  ctx.log(
    `${r.completed}/${r.requests} streams done in ${(r.elapsedMs / 1000).toFixed(1)} s ` +
      `(one stream alone: ${(ideal / 1000).toFixed(1)} s); ${r.tokens} tokens; ` +
      `TTFT p50 ${percentile(ttft, 50).toFixed(0)} ms, p99 ${percentile(ttft, 99).toFixed(0)} ms; ` +
      `${r.errors} errors${r.firstError === undefined ? '' : ` (${r.firstError})`}`,
  );
}

export const scaleGroup: BenchGroup = {
  name: 'scale',
  about:
    `${STREAMS.toLocaleString('en')} streaming chat requests sent at once to a child process ` +
    `running the built CLI as an operator would: \`llmwire up --port 0 --workers ${WORKERS}\` ` +
    'with its default transport (SQLite journal, here in a temporary --data-dir) and a config ' +
    `file giving each worker ${STREAMS} slots and the sim backend ttft ${TTFT_MS} ms, itl ` +
    `${ITL_MS} ms; each stream asks for enough tokens to last the round. The load generator is ` +
    'another child process (one keep-alive connection per stream). The gateway process\u2019s ' +
    `RSS (/proc/PID/status VmRSS) is read every ${SAMPLE_MS} ms while the streams run; the ` +
    'baseline is the same process idle after start-up, before any request, so the ratio is ' +
    'the growth under load. Two check rows say whether every stream was open at the same ' +
    'time and ended with `data: [DONE]`; the core share below is the `llmwire up` ' +
    'process\u2019s (from /proc/PID/stat) while the streams ran. The same load then runs ' +
    'on a second process started with `node --optimize-for-size`; its rows compare its peak ' +
    'RSS and the CPU it used holding the streams with the first process\u2019s.',
  settings: {
    // Long enough for V8 to run more than one full collection while the streams are open.
    full: { rounds: 1, roundMs: 10_000, warmupMs: 0 },
    quick: { rounds: 1, roundMs: 2000, warmupMs: 0 },
  },
  async run(ctx) {
    const fleet = { workers: WORKERS, concurrency: STREAMS, ttftMs: TTFT_MS, itlMs: ITL_MS };
    const usual = await withSimUp(fleet, (up, client) => hold(ctx, up, client));
    measure(ctx, usual);
    ctx.log('again under node --optimize-for-size:');
    const small = await withSimUp(
      { ...fleet, nodeOptions: ['--optimize-for-size'] },
      (up, client) => hold(ctx, up, client),
    );
    lean(ctx, usual, small);
    return { rows: ctx.rows };
  },
};
