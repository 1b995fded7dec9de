// The Batch API on NATS with the users `llmwire nats-config` writes: a gateway confined to its
// NATS user runs a batch (files on the Object Store, batches in their KV bucket, the batch and
// line queues on JetStream) for the openai SDK with a worker confined to its own; a client's NATS
// user may not touch the batch queue, its records or its cancels.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import OpenAI, { toFile } from 'openai';
import { publishRefused, startConfinedNats, startConfinedPair } from './confined-nats.js';
import { NEEDS, requires } from '../helpers/requires.js';
import { NatsServerProcess, sleep, tempDir } from '../transport/fixtures/nats-server.js';
import { within, type WorkerProcess } from './process-stack.js';

const KEYS = {
  'tenant-a': 'tenant-a-key-0123456789',
  'gpu-1': 'gpu-1-key-0123456789abc',
  ops: 'ops-key-0123456789abcdef',
  gateway: 'gateway-pass-0123456789',
} as const;
type User = keyof typeof KEYS;

if (await requires('nats batch grants', NEEDS.natsServer)) {
  const dir = tempDir('llmwire-nats-batches-');
  let server: NatsServerProcess;
  let port = 0;
  const processes: WorkerProcess[] = [];
  const open: NatsConnection[] = [];
  const url = (user: User) => `nats://${user}:${KEYS[user]}@127.0.0.1:${port}`;

  before(async () => {
    ({ server, port } = await startConfinedNats(
      dir.path,
      [
        { name: 'tenant-a', role: 'client', key: KEYS['tenant-a'] },
        { name: 'gpu-1', role: 'worker', key: KEYS['gpu-1'] },
        { name: 'ops', role: 'operator', key: KEYS.ops },
      ],
      { user: 'gateway', password: KEYS.gateway },
    ));
  });

  after(async () => {
    await Promise.all(open.map((nc) => nc.close().catch(() => undefined)));
    for (const p of processes) {
      p.child.kill('SIGKILL');
      await within(p.exited, `${p.id} to exit`, 5000).catch(() => undefined);
    }
    await server?.kill();
    dir[Symbol.dispose]();
  });

  test(
    'nats grants - a confined gateway runs a batch for the openai SDK',
    { timeout: 90_000 },
    async () => {
      const config = join(dir.path, 'gateway.json');
      writeFileSync(
        config,
        JSON.stringify({
          identities: [
            { name: 'tenant-a', role: 'client', key: KEYS['tenant-a'] },
            { name: 'ops', role: 'operator', key: KEYS.ops },
          ],
          gateway: { host: '127.0.0.1', port: 0, batches: { progressMs: 200 } },
        }),
      );
      const { base, gateway } = await startConfinedPair(
        url,
        config,
        join(dir.path, 'gw'),
        processes,
      );
      const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: KEYS['tenant-a'], maxRetries: 0 });
      let lines = '';
      for (let i = 0; i < 20; i++) {
        lines += `${JSON.stringify({
          custom_id: `c${i}`,
          method: 'POST',
          url: '/v1/chat/completions',
          body: {
            model: 'sim',
            messages: [{ role: 'user', content: `q${i}` }],
            max_tokens: 4,
          },
        })}\n`;
      }
      const file = await client.files.create({
        file: await toFile(Buffer.from(lines), 'in.jsonl'),
        purpose: 'batch',
      });
      const batch = await client.batches.create({
        input_file_id: file.id,
        endpoint: '/v1/chat/completions',
        completion_window: '24h',
      });
      const until = Date.now() + 60_000;
      let b = batch;
      while (!['completed', 'failed', 'cancelled'].includes(b.status)) {
        if (Date.now() > until) assert.fail(`batch still ${b.status}:\n${gateway.output()}`);
        await sleep(200);
        b = await client.batches.retrieve(batch.id);
      }
      assert.equal(b.status, 'completed', `${JSON.stringify(b.errors)}\n${gateway.output()}`);
      const errors =
        b.error_file_id === null || b.error_file_id === undefined
          ? ''
          : await (await client.files.content(b.error_file_id)).text();
      assert.deepEqual(b.request_counts, { total: 20, completed: 20, failed: 0 }, errors);
      const out = (await (await client.files.content(b.output_file_id!)).text()).trim().split('\n');
      assert.deepEqual(
        out.map((l) => (JSON.parse(l) as { custom_id: string }).custom_id),
        Array.from({ length: 20 }, (_, i) => `c${i}`),
      );
      assert.doesNotMatch(gateway.output(), /Permissions Violation/i);
    },
  );

  test('nats grants - a client user may not touch the batch queue, records or cancels', async () => {
    const nc = await connect({
      servers: `127.0.0.1:${port}`,
      user: 'tenant-a',
      pass: KEYS['tenant-a'],
      inboxPrefix: '_INBOX.tenant-a',
    });
    open.push(nc);
    const errors: Error[] = [];
    void (async () => {
      for await (const s of nc.status()) if (s.type === 'error') errors.push(s.error);
    })();
    for (const subject of [
      'LLMWIRE.q.llm-batches.n.u',
      '$KV.LLMWIRE_REC_batches.batch_x',
      'llm.gateway.batches.cancel',
      '$JS.API.STREAM.INFO.LLMWIRE_Q_llm-batches',
    ]) {
      nc.publish(subject, new Uint8Array([1]));
      await publishRefused(errors, subject);
    }
  });
}
