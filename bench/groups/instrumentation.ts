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
import { streamedTokensRow } from '../load/compare.js';
import { startOtlpReceiver } from '../load/otlp-receiver.js';
import { startGatewayStack } from '../load/stack.js';

const WORKERS = 2;
const STREAMS = 256;
const TOKENS = 128;
const PATH = '/v1/chat/completions';
const BASELINE = 'the same gateway with observability off';

/**
 * Every observability option the gateway and workers offer, switched on. This is the one place
 * that says what "instrumentation on" means: an option added to either belongs here. Logs are
 * JSON at info (one line per request, written synchronously to the null device); spans go to
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
    'same stack with all of it off (trace ids still travel there: that cannot be switched off). ' +
    `off. Each stack: \`createGateway\` on a free port, memory transport, ${WORKERS} in-process ` +
    `sim workers (ttft 0, itl 0), ${STREAMS} concurrent streams of ${TOKENS} tokens from the ` +
    'load client process; rounds alternate the two. Target: at least 0.9x.',
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
    const on = await startGatewayStack({
      workers: WORKERS,
      sim,
      concurrency: STREAMS,
      ...instrumentationOn(tracing.tracer),
    });
    const off = await startGatewayStack({ workers: WORKERS, sim, concurrency: STREAMS });
    const client = await LoadClient.start();
    try {
      await streamedTokensRow(
        ctx,
        client,
        { on: on.url, off: off.url, path: PATH, body: body(), concurrency: STREAMS },
        {
          name: `streamed tokens/s, ${STREAMS} concurrent streams, instrumentation on`,
          baseline: BASELINE,
          target: { on: 'ratio', min: 0.9 },
        },
      );
      const scraped = await (await fetch(`${on.url}/metrics`)).text();
      const ttft = /^llmwire_gateway_time_to_first_token_seconds_count\{[^}]*\} (\d+)$/m.exec(
        scraped,
      );
      ctx.log(`instrumented stack measured ${ttft?.[1] ?? 0} first tokens`);
    } finally {
      await client.close();
      await on.close();
      await off.close();
      await tracing.shutdown();
      ctx.log(`OTLP receiver took ${otlp.exports} span exports`);
      await otlp.close();
    }
    const errors = on.errors.length + off.errors.length;
    if (errors > 0) throw new Error(`gateway buses reported ${errors} errors`);
    return { rows: ctx.rows };
  },
};
