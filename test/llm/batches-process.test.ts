// The Batch API on a real `llmwire up` (sim workers, the SQLite journal and blob store) through
// the official openai SDK: a batch of 1,000 chat requests runs to completion with one answer
// per custom_id, and one whose `llmwire up` is SIGKILLed mid-batch resumes after a restart and
// completes with every custom_id exactly once.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import OpenAI, { toFile } from 'openai';
import { spawnProcess, within, type WorkerProcess } from './process-stack.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const TIMEOUT = { timeout: 120_000 };
const N = 1000;

function chatLines(n: number): string {
  let out = '';
  for (let i = 0; i < n; i++) {
    out += `${JSON.stringify({
      custom_id: `task-${i}`,
      method: 'POST',
      url: '/v1/chat/completions',
      body: { model: 'sim', messages: [{ role: 'user', content: `item ${i}` }], max_tokens: 12 },
    })}\n`;
  }
  return out;
}

interface Up {
  p: WorkerProcess;
  client: OpenAI;
}

async function startUp(dir: string, config: string): Promise<Up> {
  const p = spawnProcess('up', CLI, ['up', '--port', '0', '--data-dir', dir, '--config', config]);
  await p.waitForOutput(/^ready;/m, 20_000);
  const url = /gateway +(http:\/\/[^/\s]+)\/v1/.exec(p.output())![1]!;
  return { p, client: new OpenAI({ baseURL: `${url}/v1`, apiKey: 'none', maxRetries: 0 }) };
}

async function kill(up: Up): Promise<void> {
  up.p.child.kill('SIGKILL');
  await within(up.p.exited, 'up to die', 5000);
}

async function waitFor(
  client: OpenAI,
  id: string,
  done: (b: OpenAI.Batch) => boolean,
  ms = 90_000,
): Promise<OpenAI.Batch> {
  const until = Date.now() + ms;
  for (;;) {
    const b = await client.batches.retrieve(id);
    if (done(b)) return b;
    if (Date.now() > until) throw new Error(`batch ${id}: ${b.status} ${JSON.stringify(b)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The output file's lines: one answer per custom_id, each exactly once. */
async function checkOutput(client: OpenAI, batch: OpenAI.Batch): Promise<void> {
  assert.equal(batch.status, 'completed', JSON.stringify(batch.errors));
  assert.deepEqual(batch.request_counts, { total: N, completed: N, failed: 0 });
  assert.equal(batch.error_file_id, null);
  const text = await (await client.files.content(batch.output_file_id!)).text();
  const lines = text
    .trim()
    .split('\n')
    .map(
      (l) =>
        JSON.parse(l) as {
          custom_id: string;
          response: {
            status_code: number;
            body: { choices: { message: { content: string } }[] };
          };
        },
    );
  assert.equal(lines.length, N);
  const seen = new Set<string>();
  for (const [i, l] of lines.entries()) {
    assert.equal(l.custom_id, `task-${i}`, 'in input order');
    assert.ok(!seen.has(l.custom_id), `${l.custom_id} once`);
    seen.add(l.custom_id);
    assert.equal(l.response.status_code, 200);
    assert.ok(l.response.body.choices[0]!.message.content.length > 0);
  }
}

describe('batches - llmwire up', () => {
  test(
    'a batch of 1,000 chat requests runs to completion: one answer per custom_id',
    TIMEOUT,
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'llmwire-batches-'));
      const config = join(dir, 'config.json');
      writeFileSync(config, JSON.stringify({ gateway: { batches: { progressMs: 200 } } }));
      const up = await startUp(dir, config);
      try {
        const file = await up.client.files.create({
          file: await toFile(Buffer.from(chatLines(N)), 'tasks.jsonl'),
          purpose: 'batch',
        });
        const batch = await up.client.batches.create({
          input_file_id: file.id,
          endpoint: '/v1/chat/completions',
          completion_window: '24h',
        });
        const done = await waitFor(up.client, batch.id, (b) =>
          ['completed', 'failed', 'cancelled'].includes(b.status),
        );
        await checkOutput(up.client, done);
      } finally {
        await kill(up);
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );

  test(
    'llmwire up SIGKILLed mid-batch and restarted resumes: each custom_id exactly once',
    TIMEOUT,
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'llmwire-batches-'));
      const config = join(dir, 'config.json');
      writeFileSync(
        config,
        JSON.stringify({
          gateway: { batches: { progressMs: 100, leaseMs: 2000, slotShare: 0.1 } },
        }),
      );
      let up = await startUp(dir, config);
      try {
        const file = await up.client.files.create({
          file: await toFile(Buffer.from(chatLines(N)), 'tasks.jsonl'),
          purpose: 'batch',
        });
        const batch = await up.client.batches.create({
          input_file_id: file.id,
          endpoint: '/v1/chat/completions',
          completion_window: '24h',
        });
        const mid = await waitFor(
          up.client,
          batch.id,
          (b) =>
            (b.request_counts?.completed ?? 0) >= 100 ||
            (b.status !== 'in_progress' && b.status !== 'validating'),
        );
        assert.equal(mid.status, 'in_progress', 'killed mid-batch');
        await kill(up);

        up = await startUp(dir, config);
        const resumed = await up.client.batches.retrieve(batch.id);
        assert.ok(resumed.request_counts!.completed >= 100, 'the progress was kept');
        const done = await waitFor(up.client, batch.id, (b) =>
          ['completed', 'failed', 'cancelled'].includes(b.status),
        );
        await checkOutput(up.client, done);
        // The input file survived the kill too.
        assert.equal(
          (await up.client.files.retrieve(file.id)).bytes,
          Buffer.byteLength(chatLines(N)),
        );
      } finally {
        await kill(up);
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});
