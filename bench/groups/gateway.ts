// The gateway group: what the real gateway (HTTP parsing, admission, routing, the bus stream to a
// worker, SSE out) costs over a bare node:http SSE server running the same sim backend itself.
import { createSimBackend, type SimBackendOptions } from '../../src/llm/backends/sim/index.js';
import type { BenchGroup, GroupContext } from '../group.js';
import { APIS } from '../load/apis.js';
import { startBareServer } from '../load/bare-server.js';
import { LoadClient } from '../load/client.js';
import { alternate, latencyRow, rateRow } from '../load/compare.js';
import type { LoadJob } from '../load/job.js';
import { startGatewayStack } from '../load/stack.js';

const WORKERS = 2;
const STREAMS = 256;
/** Requests in flight for the non-stream row. */
const CALLS = 64;
const SEQ_TOKENS = 16;
const STREAM_TOKENS = 128;
const PACED_ITL_MS = 20;
const PACED_TOKENS = 32;
const PATH = APIS.chat.path;
const BASELINE = 'bare node:http SSE server, same sim in-process';
export const PROMPT =
  'Summarise the customer review below in two sentences and classify its sentiment as ' +
  'positive, negative or mixed. The kettle boils quickly and quietly, but the lid feels flimsy.';

function body(maxTokens: number, stream: boolean): string {
  return APIS.chat.body({ prompt: PROMPT, maxTokens, stream });
}

/** Both servers on sims with the same options, and jobs that differ only in the URL. */
async function pair(sim: SimBackendOptions) {
  const stack = await startGatewayStack({ workers: WORKERS, sim, concurrency: STREAMS });
  const bare = await startBareServer(createSimBackend({ ...sim, models: ['sim'] }));
  const jobs = (job: Omit<LoadJob, 'url'>) => ({
    subject: { ...job, url: `${stack.url}${PATH}` },
    baseline: { ...job, url: `${bare.url}${PATH}` },
  });
  return {
    jobs,
    async close() {
      const errors = stack.errors.length;
      await stack.close();
      await bare.close();
      if (errors > 0) throw new Error(`gateway bus reported ${errors} errors`);
    },
  };
}

async function unpaced(ctx: GroupContext, client: LoadClient): Promise<void> {
  const servers = await pair({ ttftMs: 0, itlMs: 0 });
  try {
    const ms = ctx.settings.roundMs;
    const seq = servers.jobs({
      bodies: [body(SEQ_TOKENS, true)],
      concurrency: 1,
      durationMs: ms,
      stream: true,
    });
    const ttft = await alternate(ctx, client, seq.subject, seq.baseline);
    const name = 'time to first token, sequential streams, sim ttft 0 / itl 0';
    latencyRow(
      ctx,
      { name: `${name}, p50`, baseline: BASELINE, p: 50, target: { on: 'added', max: 1 } },
      ttft,
    );
    latencyRow(ctx, { name: `${name}, p99`, baseline: BASELINE, p: 99 }, ttft);

    const many = servers.jobs({
      bodies: [body(STREAM_TOKENS, true)],
      concurrency: STREAMS,
      durationMs: ms,
      stream: true,
    });
    const streams = await alternate(ctx, client, many.subject, many.baseline);
    rateRow(
      ctx,
      {
        name: `streamed tokens/s, ${STREAMS} concurrent streams, unpaced (itl 0)`,
        unit: 'tokens/s',
        baseline: BASELINE,
        target: { on: 'ratio', min: 0.8 },
      },
      streams,
      (r) => (r.tokens * 1000) / r.elapsedMs,
    );

    const calls = servers.jobs({
      bodies: [body(SEQ_TOKENS, false)],
      concurrency: CALLS,
      durationMs: ms,
      stream: false,
    });
    const plain = await alternate(ctx, client, calls.subject, calls.baseline);
    rateRow(
      ctx,
      {
        name: `non-stream requests/s, ${CALLS} in flight, ${SEQ_TOKENS} tokens each`,
        unit: 'requests/s',
        baseline: BASELINE,
        target: { on: 'ratio', min: 0.6 },
      },
      plain,
      (r) => (r.completed * 1000) / r.elapsedMs,
    );
  } finally {
    await servers.close();
  }
}

async function paced(ctx: GroupContext, client: LoadClient): Promise<void> {
  const servers = await pair({ ttftMs: 0, itlMs: PACED_ITL_MS });
  try {
    // A paced stream lasts PACED_TOKENS x 20 ms: longer rounds hold about two of them.
    const many = servers.jobs({
      bodies: [body(PACED_TOKENS, true)],
      concurrency: STREAMS,
      durationMs: ctx.settings.roundMs * 1.5,
      stream: true,
    });
    const streams = await alternate(ctx, client, many.subject, many.baseline);
    rateRow(
      ctx,
      {
        name: `streamed tokens/s, ${STREAMS} concurrent streams, paced (itl ${PACED_ITL_MS} ms)`,
        unit: 'tokens/s',
        baseline: BASELINE,
      },
      streams,
      (r) => (r.tokens * 1000) / r.elapsedMs,
    );
  } finally {
    await servers.close();
  }
}

export const gatewayGroup: BenchGroup = {
  name: 'gateway',
  about:
    `The real gateway (\`createGateway\` on a free port, memory transport, ${WORKERS} in-process ` +
    `workers with the sim backend, worker concurrency ${STREAMS}) against a bare \`node:http\` ` +
    'SSE server in the same process that runs the same sim (`createSimBackend`, same options) ' +
    'itself and writes the same `data: {chunk}` events and `data: [DONE]`. Load comes from a ' +
    'child process (bench/load/sse-client.ts: keep-alive HTTP/1.1 over node:net reading whole ' +
    'socket buffers, since node:http\u2019s client costs a JS callback per chunk, i.e. per ' +
    'token, and held the baseline back; closed loop; token deltas counted without parsing ' +
    'the JSON) so its CPU is not charged to the servers; both ' +
    'servers share this process and its one core of the two, and the core share below is the ' +
    "servers'. Time to first token is taken by the client, from sending the request to the " +
    `first token delta; sequential streams ask for ${SEQ_TOKENS} tokens, unpaced concurrent ` +
    `streams for ${STREAM_TOKENS}, paced ones for ${PACED_TOKENS}. Rounds alternate gateway ` +
    'and baseline. For scale only, not measured here: the issue notes that Portkey\u2019s ' +
    'gateway added about 30 ms to TTFT p50 and gave 0.19x the tokens/s of its baseline ' +
    'unpaced at 256 streams and 0.86x at 20 ms/token.',
  settings: {
    full: { rounds: 5, roundMs: 800, warmupMs: 400 },
    quick: { rounds: 2, roundMs: 200, warmupMs: 100 },
  },
  async run(ctx) {
    const client = await LoadClient.start();
    try {
      await unpaced(ctx, client);
      await paced(ctx, client);
    } finally {
      await client.close();
    }
    return { rows: ctx.rows };
  },
};
