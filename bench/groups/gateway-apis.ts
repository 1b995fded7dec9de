// The gateway-apis group: the Responses and Messages routes against chat completions on the same
// gateway, in the same rounds, so what each API's shape costs over the one inference path shows.
import { createSimBackend } from '../../src/llm/backends/sim/index.js';
import type { BenchGroup, GroupContext } from '../group.js';
import type { Target } from '../harness.js';
import { APIS, type ApiName, type ApiRequest } from '../load/apis.js';
import { startBareServer } from '../load/bare-server.js';
import { LoadClient } from '../load/client.js';
import { latencyRow, rateRow, rotate } from '../load/compare.js';
import type { LoadJob, LoadResult } from '../load/job.js';
import { startGatewayStack } from '../load/stack.js';
import { PROMPT } from './gateway.js';

const WORKERS = 2;
const STREAMS = 256;
const SEQ_TOKENS = 16;
const STREAM_TOKENS = 128;
const SIM = { ttftMs: 0, itlMs: 0 };
const BARE = 'bare node:http SSE server (chat), same sim in-process';
const CHAT = `${APIS.chat.path} on the same gateway`;
/** The routes measured beside chat completions, and the bar each must clear against it. */
const ROUTES: readonly { api: ApiName; label: string; store?: boolean; target?: Target }[] = [
  {
    api: 'responses',
    label: `${APIS.responses.path} (store: false)`,
    target: { on: 'ratio', min: 0.9 },
  },
  { api: 'messages', label: APIS.messages.path, target: { on: 'ratio', min: 0.9 } },
  { api: 'responses', label: `${APIS.responses.path} (store: true)`, store: true },
];

type Make = (api: ApiName, request: Omit<ApiRequest, 'prompt'>, job: JobShape) => LoadJob;
type JobShape = Omit<LoadJob, 'url' | 'api' | 'bodies'>;

const tokensPerSecond = (r: LoadResult) => (r.tokens * 1000) / r.elapsedMs;

/** Sequential streams: each route's time to first token, and chat's, over the bare server's. */
async function firstToken(ctx: GroupContext, client: LoadClient, make: Make, bare: string) {
  const shape = { concurrency: 1, durationMs: ctx.settings.roundMs, stream: true };
  const request = { maxTokens: SEQ_TOKENS, stream: true };
  const routes = [{ api: 'chat' as const, label: APIS.chat.path }, ...ROUTES.slice(0, 2)];
  const [base, ...subjects] = await rotate(ctx, client, [
    { side: 'bare', job: { ...make('chat', request, shape), url: `${bare}${APIS.chat.path}` } },
    ...routes.map((r) => ({ side: r.label, job: make(r.api, request, shape) })),
  ]);
  const name = 'time to first token p50, sequential streams, sim ttft 0 / itl 0';
  const rows = routes.map((r, i) =>
    latencyRow(
      ctx,
      { name: `${name}, ${r.label}`, baseline: BARE, p: 50, target: { on: 'added', max: 1 } },
      { subject: subjects[i]!, baseline: base! },
    ),
  );
  const added = rows.map((r) => r.value - r.baselineValue);
  ctx.log(
    `  added over the bare server: ${routes.map((r, i) => `${r.label} ${added[i]!.toFixed(2)} ms`).join(', ')}`,
  );
}

/** 256 concurrent unpaced streams: each route's tokens/s against chat's, rounds rotating. */
async function streams(ctx: GroupContext, client: LoadClient, make: Make) {
  const shape = { concurrency: STREAMS, durationMs: ctx.settings.roundMs, stream: true };
  const request = { maxTokens: STREAM_TOKENS, stream: true };
  const [chat, ...subjects] = await rotate(ctx, client, [
    { side: APIS.chat.path, job: make('chat', request, shape) },
    ...ROUTES.map((r) => ({
      side: r.label,
      job: make(r.api, { ...request, store: r.store ?? false }, shape),
    })),
  ]);
  ROUTES.forEach((r, i) =>
    rateRow(
      ctx,
      {
        name: `streamed tokens/s, ${STREAMS} concurrent streams, unpaced (itl 0), ${r.label}`,
        unit: 'tokens/s',
        baseline: CHAT,
        ...(r.target === undefined ? {} : { target: r.target }),
      },
      { subject: subjects[i]!, baseline: chat! },
      tokensPerSecond,
    ),
  );
}

export const gatewayApisGroup: BenchGroup = {
  name: 'gateway-apis',
  about:
    'The three HTTP APIs on one gateway (the gateway group\u2019s stack: `createGateway`, memory ' +
    `transport, ${WORKERS} in-process sim workers, worker concurrency ${STREAMS}, sim ttft 0 / ` +
    `itl 0): the OpenAI Responses API (\`POST ${APIS.responses.path}\`, typed ` +
    '`response.output_text.delta` events) and the Anthropic Messages API (`POST ' +
    `${APIS.messages.path}\`, \`content_block_delta\` events with a \`text_delta\`) against ` +
    `OpenAI chat completions (\`POST ${APIS.chat.path}\`), the same prompt and token count ` +
    'on each. The load generator is the gateway group\u2019s (bench/load/sse-client.ts, a ' +
    'child process) with a small table per API (bench/load/apis.ts: request body, and the ' +
    'bytes that mark a text delta and the end of a stream, counted without parsing the JSON). ' +
    'Time to first token: sequential streams of ' +
    `${SEQ_TOKENS} tokens on each route and on the bare \`node:http\` SSE server of the ` +
    'gateway group (the backend\u2019s own time to first token), so each row\u2019s value minus ' +
    'its baseline is what that route adds, to compare with the chat row. Tokens/s: ' +
    `${STREAMS} concurrent streams of ${STREAM_TOKENS} tokens, each route against chat ` +
    'completions measured in the same rounds. Responses are sent with `store: false` so they ' +
    'measure the path; the `store: true` row adds writing each finished response (its JSON ' +
    'with this turn\u2019s input and answer) to the memory transport\u2019s record store, ' +
    'where `llmwire up --transport memory` keeps them. Rounds rotate over every endpoint ' +
    '(round r starts at endpoint r mod n) so machine noise hits all of them alike.',
  settings: {
    full: { rounds: 6, roundMs: 800, warmupMs: 400 },
    quick: { rounds: 3, roundMs: 200, warmupMs: 100 },
  },
  async run(ctx) {
    const client = await LoadClient.start();
    const stack = await startGatewayStack({ workers: WORKERS, sim: SIM, concurrency: STREAMS });
    const bare = await startBareServer(createSimBackend({ ...SIM, models: ['sim'] }));
    const make: Make = (api, request, shape) => ({
      ...shape,
      api,
      url: `${stack.url}${APIS[api].path}`,
      bodies: [APIS[api].body({ prompt: PROMPT, ...request })],
    });
    try {
      await firstToken(ctx, client, make, bare.url);
      await streams(ctx, client, make);
    } finally {
      await stack.close();
      await bare.close();
      await client.close();
    }
    if (stack.errors.length > 0) {
      throw new Error(`gateway bus reported ${stack.errors.length} errors`);
    }
    return { rows: ctx.rows };
  },
};
