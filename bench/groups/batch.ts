// The batch group: live streams' time to first token on a real `llmwire up` while a 1,000-request
// batch (the OpenAI Batch API) runs beside them, against the same streams on the same process
// with no batch, in the same run.
import OpenAI, { toFile } from 'openai';
import type { BenchGroup, GroupContext } from '../group.js';
import { percentile } from '../harness.js';
import { LoadClient } from '../load/client.js';
import type { LoadResult } from '../load/job.js';
import { withSimUp, type UpProcess } from '../load/up-process.js';

const WORKERS = 2;
/** Slots per worker: 16 in all, of which the batch may hold half. */
const SLOTS = 8;
const LIVE = 8;
const BATCH = 1000;
const TTFT_MS = 20;
const ITL_MS = 10;
const LIVE_TOKENS = 16;
const BATCH_TOKENS = 48;

function batchFile(): string {
  let out = '';
  for (let i = 0; i < BATCH; i++) {
    out += `${JSON.stringify({
      custom_id: `b-${i}`,
      method: 'POST',
      url: '/v1/chat/completions',
      body: {
        model: 'sim',
        messages: [{ role: 'user', content: `Summarise record ${i}.` }],
        max_tokens: BATCH_TOKENS,
      },
    })}\n`;
  }
  return out;
}

async function live(ctx: GroupContext, up: UpProcess, client: LoadClient): Promise<number[]> {
  const r: LoadResult = await client.run({
    url: `${up.url}/v1/chat/completions`,
    bodies: [
      JSON.stringify({
        model: 'sim',
        messages: [{ role: 'user', content: 'Live question #N' }],
        max_tokens: LIVE_TOKENS,
        stream: true,
      }),
    ],
    uniqueMarker: '#N',
    concurrency: LIVE,
    durationMs: ctx.settings.roundMs,
    stream: true,
  });
  if (r.errors > 0) throw new Error(`live streams failed: ${r.errors} (${r.firstError})`);
  return [...r.latencyMs].sort((a, b) => a - b);
}

async function measure(ctx: GroupContext, up: UpProcess, client: LoadClient): Promise<void> {
  const sdk = new OpenAI({ baseURL: `${up.url}/v1`, apiKey: 'none', maxRetries: 0 });
  await live(ctx, up, client); // warm-up
  const alone = await live(ctx, up, client);
  const file = await sdk.files.create({
    file: await toFile(Buffer.from(batchFile()), 'batch.jsonl'),
    purpose: 'batch',
  });
  const batch = await sdk.batches.create({
    input_file_id: file.id,
    endpoint: '/v1/chat/completions',
    completion_window: '24h',
  });
  const counts = async () => (await sdk.batches.retrieve(batch.id)).request_counts?.completed ?? 0;
  while ((await counts()) === 0) await new Promise((r) => setTimeout(r, 50));
  const before = await counts();
  const beside = await live(ctx, up, client);
  const after = await counts();
  ctx.log(
    `the batch answered ${after - before} requests while the live streams ran ` +
      `(${before} before, ${BATCH} in all)`,
  );
  if (after - before === 0) throw new Error('the batch made no progress beside the live streams');
  const baseline = 'same live streams, no batch';
  for (const p of [50, 99]) {
    const value = percentile(beside, p);
    const base = percentile(alone, p);
    ctx.add({
      name: `live TTFT p${p} with a ${BATCH.toLocaleString('en')}-request batch running`,
      value,
      unit: 'ms',
      baseline,
      baselineValue: base,
      ratio: value / base,
      spread: null,
      baselineSpread: null,
      target: p === 50 ? { on: 'ratio', max: 1.5, note: 'live streams keep their TTFT' } : null,
    });
  }
  await sdk.batches.cancel(batch.id).catch(() => undefined);
}

export const batchGroup: BenchGroup = {
  name: 'batch',
  about:
    'Live streaming chat requests against a child process running the built CLI, ' +
    `\`llmwire up --workers ${WORKERS}\` (SQLite journal and blob store in a temporary ` +
    `--data-dir; sim backend ttft ${TTFT_MS} ms, itl ${ITL_MS} ms; ${SLOTS} slots per worker), ` +
    `${LIVE} streams kept in flight for the round, each asking ${LIVE_TOKENS} tokens. The ` +
    `subject runs them while a batch of ${BATCH.toLocaleString('en')} chat requests ` +
    `(${BATCH_TOKENS} tokens each), uploaded and created through the openai SDK's files and ` +
    'batches, runs on the same workers (at the lowest priority, on at most half the slots); ' +
    'the baseline is the same streams on the same process just before, with no batch. TTFT ' +
    'is measured by the load generator (another child process) from sending to the first ' +
    'token; the log line says how many batch requests were answered during the round.',
  settings: {
    full: { rounds: 1, roundMs: 8000, warmupMs: 0 },
    quick: { rounds: 1, roundMs: 2000, warmupMs: 0 },
  },
  async run(ctx) {
    await withSimUp(
      { workers: WORKERS, concurrency: SLOTS, ttftMs: TTFT_MS, itlMs: ITL_MS },
      (up, client) => measure(ctx, up, client),
    );
    return { rows: ctx.rows };
  },
};
