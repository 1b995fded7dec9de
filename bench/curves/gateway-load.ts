// Curve 1: the gateway's streamed tokens/s and p99 time to first token as concurrent streams
// grow, beside the bare node:http SSE server running the same sim (the gateway group's pair).
import { performance } from 'node:perf_hooks';
import { createSimBackend } from '../../src/llm/backends/sim/index.js';
import type { GroupContext } from '../group.js';
import { median, percentile } from '../harness.js';
import { APIS } from '../load/apis.js';
import { startBareServer } from '../load/bare-server.js';
import { LoadClient } from '../load/client.js';
import { alternate, clientShare } from '../load/compare.js';
import type { LoadResult } from '../load/job.js';
import { startGatewayStack } from '../load/stack.js';
import { PROMPT } from '../groups/gateway.js';
import { fig, publish } from './publish.js';

const LEVELS = [1, 4, 16, 64, 256, 1024, 4096];
const QUICK_LEVELS = [1, 16, 256];
const WORKERS = 2;
const TOKENS = 128;
const BASELINE = 'bare node:http SSE server, same sim';

interface Point {
  streams: number;
  gateway: { tokens: number; p50: number; p99: number; client: number };
  bare: { tokens: number; p50: number; p99: number; client: number };
  /** This process's CPU over wall time while the level ran: the servers' core share. */
  serverShare: number;
}

function side(rs: LoadResult[]) {
  const ttft = rs.flatMap((r) => r.latencyMs).sort((a, b) => a - b);
  return {
    tokens: median(rs.map((r) => (r.tokens * 1000) / r.elapsedMs)),
    p50: percentile(ttft, 50),
    p99: percentile(ttft, 99),
    client: clientShare(rs),
  };
}

/** The points measured, and why the sweep stopped before its last level, if it did. */
interface Sweep {
  points: Point[];
  stopped?: string;
}

async function sweep(ctx: GroupContext, client: LoadClient): Promise<Sweep> {
  const levels = ctx.quick ? QUICK_LEVELS : LEVELS;
  const max = levels[levels.length - 1]!;
  const sim = { ttftMs: 0, itlMs: 0 };
  const stack = await startGatewayStack({ workers: WORKERS, sim, concurrency: max });
  const bare = await startBareServer(createSimBackend({ ...sim, models: ['sim'] }));
  const body = APIS.chat.body({ prompt: PROMPT, maxTokens: TOKENS, stream: true });
  const points: Point[] = [];
  let stopped: string | undefined;
  try {
    for (const streams of levels) {
      const job = { bodies: [body], concurrency: streams, durationMs: ctx.settings.roundMs };
      const cpu = process.cpuUsage();
      const t0 = performance.now();
      let sides;
      try {
        sides = await alternate(
          ctx,
          client,
          { ...job, stream: true, url: `${stack.url}${APIS.chat.path}` },
          { ...job, stream: true, url: `${bare.url}${APIS.chat.path}` },
        );
      } catch (err) {
        // A level where requests fail ends the sweep; the levels before it stand.
        stopped = `at ${streams} streams (${(err as Error).message.replace(/^subject/, 'gateway').replace(/^baseline/, 'bare server')})`;
        ctx.log(`sweep stopped ${stopped}`);
        break;
      }
      const used = process.cpuUsage(cpu);
      const p: Point = {
        streams,
        gateway: side(sides.subject),
        bare: side(sides.baseline),
        serverShare: (used.user + used.system) / 1000 / (performance.now() - t0),
      };
      points.push(p);
      ctx.log(
        `${streams} streams: gateway ${fig(p.gateway.tokens)} tokens/s, TTFT p99 ` +
          `${fig(p.gateway.p99)} ms; bare ${fig(p.bare.tokens)} tokens/s, p99 ${fig(p.bare.p99)} ms; ` +
          `servers ${Math.round(p.serverShare * 100)}% of a core, load generator ` +
          `${Math.round(p.gateway.client * 100)}% / ${Math.round(p.bare.client * 100)}%`,
      );
    }
  } finally {
    const errors = stack.errors.length;
    await stack.close();
    await bare.close();
    if (errors > 0) ctx.log(`gateway bus reported ${errors} errors`);
  }
  return stopped === undefined ? { points } : { points, stopped };
}

/** The first level whose p99 is over `factor` times the one-stream p99. */
function kneeOf(points: Point[], pick: (p: Point) => number, factor: number): Point | undefined {
  const first = pick(points[0]!);
  return points.find((p) => pick(p) > first * factor);
}

function notes({ points, stopped }: Sweep): string {
  const peak = (pick: (p: Point) => number) =>
    points.reduce((best, p) => (pick(p) > pick(best) ? p : best), points[0]!);
  const g = peak((p) => p.gateway.tokens);
  const b = peak((p) => p.bare.tokens);
  const last = points[points.length - 1]!;
  const knee = kneeOf(points, (p) => p.gateway.p99, 4);
  const ratios = points.map((p) => p.gateway.tokens / p.bare.tokens);
  const shares = points.map((p) => Math.round(p.serverShare * 100));
  // A closed loop at a fixed rate: each of N streams waits for the others' tokens first.
  const queued = (last.streams * TOKENS * 1000) / last.gateway.tokens;
  const lines = [
    `Tokens/s is highest at ${g.streams} stream${g.streams === 1 ? '' : 's'} for the gateway ` +
      `(${fig(g.gateway.tokens)}) and at ${b.streams} for the bare server ` +
      `(${fig(b.bare.tokens)}); past that, more streams add no tokens/s to either. The ` +
      `gateway gives ${fig(Math.min(...ratios), 2)}x to ${fig(Math.max(...ratios), 2)}x the ` +
      `baseline's tokens/s over the sweep (${fig(ratios[ratios.length - 1], 2)}x at ${last.streams}).`,
    knee === undefined
      ? 'The gateway\u2019s p99 time to first token stays within 4x of its one-stream value.'
      : `The gateway\u2019s p99 time to first token passes 4x its one-stream value ` +
        `(${fig(points[0]!.gateway.p99)} ms) at ${knee.streams} streams (${fig(knee.gateway.p99)} ms) ` +
        `and reaches ${fig(last.gateway.p99)} ms at ${last.streams} (bare: ${fig(last.bare.p99)} ms).`,
    'Why it bends: once tokens/s stops rising, a closed loop of N streams can only queue; each ' +
      `stream waits for the others\u2019 tokens, about N \u00d7 ${TOKENS} / (tokens/s): ` +
      `${fig(queued)} ms at ${last.streams} streams for the gateway, against a measured TTFT ` +
      `p50 of ${fig(last.gateway.p50)} ms. Tokens/s stops rising because the CPU is used up: ` +
      `the servers\u2019 process got ${Math.min(...shares)}% to ${Math.max(...shares)}% of one ` +
      'core per level (one JavaScript thread; it shares the two cores with the load generator ' +
      'and, on a busy machine, with other work: see the load average above).',
  ];
  if (stopped !== undefined) lines.push(`The sweep stopped ${stopped}.`);
  return lines.join(' ');
}

export async function gatewayCurve(ctx: GroupContext): Promise<void> {
  const client = await LoadClient.start();
  let swept: Sweep;
  try {
    swept = await sweep(ctx, client);
  } finally {
    await client.close();
  }
  const points = swept.points;
  if (points.length === 0)
    throw new Error(`gateway sweep: no level measured, stopped ${swept.stopped}`);
  const series = (pick: (p: Point) => number) => points.map((p) => [p.streams, pick(p)] as const);
  const xLabel = `concurrent streams (log scale), ${TOKENS} tokens each, sim itl 0`;
  const head = [
    'Streams',
    'Gateway tokens/s',
    'Bare tokens/s',
    'Ratio',
    'Gateway TTFT p50 / p99 (ms)',
    'Bare TTFT p50 / p99 (ms)',
    'Servers core share',
    'Load generator core share',
  ];
  const rows = points.map((p) => [
    String(p.streams),
    fig(p.gateway.tokens),
    fig(p.bare.tokens),
    `${fig(p.gateway.tokens / p.bare.tokens, 2)}x`,
    `${fig(p.gateway.p50)} / ${fig(p.gateway.p99)}`,
    `${fig(p.bare.p50)} / ${fig(p.bare.p99)}`,
    `${Math.round(p.serverShare * 100)}%`,
    `${Math.round(p.gateway.client * 100)}% / ${Math.round(p.bare.client * 100)}%`,
  ]);
  const text = notes(swept);
  publish(ctx, {
    name: 'gateway-tokens',
    chart: {
      title: 'Gateway streamed tokens/s against concurrent streams',
      xLabel,
      yLabel: 'tokens/s (median of rounds)',
      series: [
        { name: 'llmwire gateway', points: series((p) => p.gateway.tokens) },
        { name: BASELINE, points: series((p) => p.bare.tokens), baseline: true },
      ],
    },
    notes: text,
    head,
    rows,
    xTicks: String,
  });
  publish(ctx, {
    name: 'gateway-ttft',
    chart: {
      title: 'Gateway p99 time to first token against concurrent streams',
      xLabel,
      yLabel: 'p99 TTFT, ms (log scale)',
      logY: true,
      series: [
        { name: 'llmwire gateway', points: series((p) => p.gateway.p99) },
        { name: BASELINE, points: series((p) => p.bare.p99), baseline: true },
      ],
    },
    notes: 'Same runs as the chart above; its table gives p50 and p99 of both servers.',
    head: ['Streams', 'Gateway p99 (ms)', 'Bare p99 (ms)', 'Added by the gateway (ms)'],
    rows: points.map((p) => [
      String(p.streams),
      fig(p.gateway.p99),
      fig(p.bare.p99),
      fig(p.gateway.p99 - p.bare.p99),
    ]),
    xTicks: String,
  });
}
