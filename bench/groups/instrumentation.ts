// The instrumentation group: what the gateway's observability costs on the token path. The same
// gateway stack runs twice side by side, once with every observability option switched on and
// once with none, under the same load.
import { devNull } from 'node:os';
import { pino } from 'pino';
import type { GatewayOptions } from '../../src/llm/gateway/server.js';
import type { WorkerOptions } from '../../src/llm/worker/worker.js';
import { createLogger, setupTracing, type Tracer } from '../../src/ops/index.js';
import type { BenchGroup } from '../group.js';
import { LoadClient } from '../load/client.js';
import { rateRow, rotate } from '../load/compare.js';
import type { LoadResult } from '../load/job.js';
import { startOtlpReceiver } from '../load/otlp-receiver.js';
import { startGatewayStack, type GatewayStack } from '../load/stack.js';

const WORKERS = 2;
const STREAMS = 256;
const TOKENS = 128;
const PATH = '/v1/chat/completions';
const BASELINE = 'the same gateway with observability off';

/**
 * Every observability option the gateway and workers offer, switched on. This is the one place
 * that says what "instrumentation on" means: an option added to either belongs here. Logs are
 * JSON at info (a line per request from the gateway and one from the worker, written
 * synchronously to the null device, as the default destination writes to stderr); spans go to
 * `tracer`, which exports over OTLP/HTTP.
 */
export function instrumentationOn(tracer: Tracer | undefined): {
  gateway: Partial<GatewayOptions>;
  worker: Partial<WorkerOptions>;
} {
  const logger = createLogger({
    level: 'info',
    destination: pino.destination({ dest: devNull, sync: true }),
  });
  const traced = tracer === undefined ? {} : { tracer };
  return {
    gateway: { metrics: true, dashboard: true, logger, ...traced },
    worker: { logger, ...traced },
  };
}

/** One part of `instrumentationOn()`: the options named in `keys`, the rest left off. */
function partOf(
  on: ReturnType<typeof instrumentationOn>,
  keys: readonly string[],
): ReturnType<typeof instrumentationOn> {
  const pick = <T extends object>(o: T) =>
    Object.fromEntries(Object.entries(o).filter(([k]) => keys.includes(k))) as Partial<T>;
  return { gateway: pick(on.gateway), worker: pick(on.worker) };
}

/** Each part alone, beside the whole: where the cost of "on" goes. */
const PARTS = [
  { label: 'logs only (JSON at info, gateway and workers)', keys: ['logger'] },
  { label: 'tracing only (spans exported over OTLP/HTTP)', keys: ['tracer'] },
  { label: 'metrics and dashboard only', keys: ['metrics', 'dashboard'] },
] as const;

function body(): string {
  return JSON.stringify({
    model: 'sim',
    messages: [{ role: 'user', content: 'Stream a long answer so every token is measured.' }],
    max_tokens: TOKENS,
    stream: true,
  });
}

export const instrumentationGroup: BenchGroup = {
  name: 'instrumentation',
  about:
    'Streamed tokens/s through the gateway with its observability switched on ' +
    '(`instrumentationOn()` in bench/groups/instrumentation.ts: Prometheus metrics with the ' +
    'per-token inter-token-latency histogram, the dashboard, JSON logs at info on gateway and ' +
    'workers, OpenTelemetry spans exported over OTLP/HTTP to a local receiver) against the ' +
    'same stack with all of it off (trace ids still travel there: that cannot be switched ' +
    `off). Each stack: \`createGateway\` on a free port, memory transport, ${WORKERS} in-process ` +
    `sim workers (ttft 0, itl 0), ${STREAMS} concurrent streams of ${TOKENS} tokens from the ` +
    'load client process. Three more stacks each switch on one part alone (logs; tracing; ' +
    'metrics and the dashboard), so the rows say where the cost of the whole goes; all five ' +
    'stacks share this process, and rounds rotate them, each ratio taken against the stack ' +
    'with everything off in the same round. Target for the whole: at least 0.9x.',
  settings: {
    full: { rounds: 6, roundMs: 800, warmupMs: 400 },
    quick: { rounds: 2, roundMs: 200, warmupMs: 100 },
  },
  async run(ctx) {
    const sim = { ttftMs: 0, itlMs: 0 };
    const otlp = await startOtlpReceiver();
    const tracing = setupTracing({
      serviceName: 'llmwire-bench',
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: otlp.endpoint },
    });
    const all = instrumentationOn(tracing.tracer);
    const stacks: GatewayStack[] = [];
    const start = async (options: ReturnType<typeof instrumentationOn> | object) => {
      const stack = await startGatewayStack({
        workers: WORKERS,
        sim,
        concurrency: STREAMS,
        ...options,
      });
      stacks.push(stack);
      return stack;
    };
    const client = await LoadClient.start();
    try {
      const off = await start({});
      const on = await start(all);
      const parts = [];
      for (const part of PARTS) parts.push({ ...part, stack: await start(partOf(all, part.keys)) });
      const job = (stack: GatewayStack) => ({
        url: `${stack.url}${PATH}`,
        bodies: [body()],
        concurrency: STREAMS,
        durationMs: ctx.settings.roundMs,
        stream: true,
      });
      const [base, whole, ...alone] = await rotate(ctx, client, [
        { side: 'off', job: job(off) },
        { side: 'on', job: job(on) },
        ...parts.map((p) => ({ side: p.label, job: job(p.stack) })),
      ]);
      const rate = (r: LoadResult) => (r.tokens * 1000) / r.elapsedMs;
      const name = `streamed tokens/s, ${STREAMS} concurrent streams`;
      rateRow(
        ctx,
        {
          name: `${name}, instrumentation on`,
          unit: 'tokens/s',
          baseline: BASELINE,
          target: { on: 'ratio', min: 0.9 },
        },
        { subject: whole!, baseline: base! },
        rate,
      );
      parts.forEach((p, i) =>
        rateRow(
          ctx,
          { name: `${name}, ${p.label}`, unit: 'tokens/s', baseline: BASELINE },
          { subject: alone[i]!, baseline: base! },
          rate,
        ),
      );
      const scraped = await (await fetch(`${on.url}/metrics`)).text();
      const ttft = /^llmwire_gateway_time_to_first_token_seconds_count\{[^}]*\} (\d+)$/m.exec(
        scraped,
      );
      ctx.log(`instrumented stack measured ${ttft?.[1] ?? 0} first tokens`);
    } finally {
      await client.close();
      for (const stack of stacks) await stack.close();
      await tracing.shutdown();
      ctx.log(`OTLP receiver took ${otlp.exports} span exports`);
      await otlp.close();
    }
    const errors = stacks.reduce((n, s) => n + s.errors.length, 0);
    if (errors > 0) throw new Error(`gateway buses reported ${errors} errors`);
    return { rows: ctx.rows };
  },
};
