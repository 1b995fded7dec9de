// The OpenAI Files and Batch APIs through the official openai SDK, against in-process sim
// workers: upload (JSONL checked line by line), list, content and delete of files; batches of
// chat and embedding requests run to completion, cancelled, refused; and tenants, who see only
// their own files and batches.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import OpenAI, { APIError, toFile } from 'openai';
import { IdentityTable } from '../../src/llm/security/identities.js';
import { startStack, type Stack } from './stack.js';

/** A line of a batch's output or error file. */
interface OutputLine {
  id: string;
  custom_id: string;
  response: {
    status_code: number;
    request_id: string;
    body: {
      object?: string;
      choices?: { message: { content: string } }[];
      data?: { embedding: number[] }[];
      error?: { code: string };
    };
  };
  error: null | { code: string; message: string };
}

async function failure(promise: Promise<unknown>): Promise<APIError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(err instanceof APIError, `expected an APIError, got ${String(err)}`);
  return err;
}

export function chatLines(n: number, prefix = 'req'): string {
  let out = '';
  for (let i = 0; i < n; i++) {
    out += `${JSON.stringify({
      custom_id: `${prefix}-${i}`,
      method: 'POST',
      url: '/v1/chat/completions',
      body: { model: 'sim', messages: [{ role: 'user', content: `question ${i}` }], max_tokens: 8 },
    })}\n`;
  }
  return out;
}

async function upload(client: OpenAI, text: string, name = 'input.jsonl') {
  return client.files.create({ file: await toFile(Buffer.from(text), name), purpose: 'batch' });
}

async function waitDone(client: OpenAI, id: string, ms = 60_000): Promise<OpenAI.Batch> {
  const until = Date.now() + ms;
  for (;;) {
    const b = await client.batches.retrieve(id);
    if (['completed', 'failed', 'cancelled', 'expired'].includes(b.status)) return b;
    if (Date.now() > until) throw new Error(`batch ${id} still ${b.status} after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function tenants(): IdentityTable {
  return new IdentityTable([
    { key: 'key-a', identity: { name: 'acme', role: 'client', tenant: { name: 'acme' } } },
    { key: 'key-b', identity: { name: 'globex', role: 'client', tenant: { name: 'globex' } } },
    { key: 'key-w', identity: { name: 'w1', role: 'worker' } },
    { key: 'key-o', identity: { name: 'watch', role: 'observer' } },
  ]);
}

async function stackWithTenants(extra: Parameters<typeof startStack>[0] = {}): Promise<Stack> {
  return startStack({ workers: 2, ...extra, gateway: { identities: tenants(), ...extra.gateway } });
}

describe('files - upload, read, list, delete', () => {
  test('a JSONL upload is kept and read back byte for byte', async () => {
    await using stack = await startStack({ workers: 1 });
    const client = stack.client();
    const text = chatLines(5);
    const file = await upload(client, text, 'five.jsonl');
    assert.match(file.id, /^file-[0-9a-f]{24}$/);
    assert.equal(file.object, 'file');
    assert.equal(file.purpose, 'batch');
    assert.equal(file.bytes, Buffer.byteLength(text));
    assert.equal(file.filename, 'five.jsonl');
    assert.equal(file.status, 'processed');
    const got = await client.files.retrieve(file.id);
    assert.deepEqual(got, file);
    const content = await (await client.files.content(file.id)).text();
    assert.equal(content, text);
    const listed = [];
    for await (const f of client.files.list()) listed.push(f.id);
    assert.deepEqual(listed, [file.id]);
    const deleted = await client.files.delete(file.id);
    assert.deepEqual(deleted, { id: file.id, object: 'file', deleted: true });
    const gone = await failure(client.files.retrieve(file.id));
    assert.equal(gone.status, 404);
  });

  test('a bad line is refused naming the line, and nothing is kept', async () => {
    await using stack = await startStack({ workers: 1 });
    const client = stack.client();
    const lines = chatLines(4).split('\n');
    lines[2] = JSON.stringify({
      custom_id: 'bad',
      method: 'POST',
      url: '/v1/chat/completions',
      body: { model: 'sim', messages: [{ role: 'wizard', content: 'x' }] },
    });
    const err = await failure(upload(client, lines.join('\n')));
    assert.equal(err.status, 400);
    assert.match(err.message, /^400 line 3: /);
    assert.match(String(err.param), /^body\.messages/);
    const notJson = await failure(upload(client, `${chatLines(1)}{nope\n`));
    assert.match(notJson.message, /line 2: is not valid JSON/);
    const dup = await failure(upload(client, chatLines(2) + chatLines(1)));
    assert.match(dup.message, /line 3: custom_id 'req-0' is used twice/);
    const wrongUrl = await failure(
      upload(client, chatLines(1).replace('/v1/chat/completions', '/v1/images/generations')),
    );
    assert.match(wrongUrl.message, /line 1: url must be one of/);
    const empty = await failure(upload(client, '\n\n'));
    assert.match(empty.message, /no requests/);
    const list = await client.files.list();
    assert.equal(list.data.length, 0);
  });

  test('an upload over the size limit gets 413, another purpose 400', async () => {
    await using stack = await startStack({
      workers: 1,
      gateway: { batches: { maxFileBytes: 2048 } },
    });
    const client = stack.client();
    const big = await failure(upload(client, chatLines(40)));
    assert.equal(big.status, 413);
    const other = await failure(
      client.files.create({
        file: await toFile(Buffer.from(chatLines(1)), 'a.jsonl'),
        purpose: 'fine-tune',
      }),
    );
    assert.equal(other.status, 400);
    assert.equal(other.param, 'purpose');
    assert.equal((await client.files.list()).data.length, 0);
  });

  test('JSON instead of multipart gets 415', async () => {
    await using stack = await startStack({ workers: 1 });
    const res = await fetch(`${stack.url}/v1/files`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"purpose":"batch"}',
    });
    assert.equal(res.status, 415);
  });
});

describe('batches - run, cancel, refuse', () => {
  test('a batch of chat requests completes with one answer per custom_id', async () => {
    await using stack = await startStack({ workers: 2 });
    const client = stack.client();
    const file = await upload(client, chatLines(50));
    const created = await client.batches.create({
      input_file_id: file.id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
      metadata: { job: 'nightly' },
    });
    assert.match(created.id, /^batch_[0-9a-f]{28}$/);
    assert.equal(created.status, 'validating');
    assert.deepEqual(created.metadata, { job: 'nightly' });
    const done = await waitDone(client, created.id);
    assert.equal(done.status, 'completed', JSON.stringify(done.errors));
    assert.deepEqual(done.request_counts, { total: 50, completed: 50, failed: 0 });
    assert.ok(done.in_progress_at !== null && done.completed_at !== null);
    assert.equal(done.error_file_id, null);
    assert.ok(done.usage !== undefined && done.usage.output_tokens > 0);
    const output = await (await client.files.content(done.output_file_id!)).text();
    const lines = output
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as OutputLine);
    assert.equal(lines.length, 50);
    assert.deepEqual(
      lines.map((l) => l.custom_id),
      Array.from({ length: 50 }, (_, i) => `req-${i}`),
    );
    for (const l of lines) {
      assert.equal(l.response.status_code, 200);
      assert.equal(l.response.body.object, 'chat.completion');
      assert.ok(l.response.body.choices![0]!.message.content.length > 0);
      assert.equal(l.error, null);
    }
    const out = await client.files.retrieve(done.output_file_id!);
    assert.equal(out.purpose, 'batch_output');
    const listed = await client.batches.list();
    assert.deepEqual(
      listed.data.map((b) => b.id),
      [created.id],
    );
  });

  test('a batch of embeddings completes', async () => {
    await using stack = await startStack({ workers: 1 });
    const client = stack.client();
    const text = [0, 1, 2]
      .map((i) =>
        JSON.stringify({
          custom_id: `e${i}`,
          method: 'POST',
          url: '/v1/embeddings',
          body: { model: 'sim', input: `text ${i}` },
        }),
      )
      .join('\n');
    const file = await upload(client, text);
    const b = await client.batches.create({
      input_file_id: file.id,
      endpoint: '/v1/embeddings',
      completion_window: '24h',
    });
    const done = await waitDone(client, b.id);
    assert.equal(done.status, 'completed', JSON.stringify(done.errors));
    const out = (await (await client.files.content(done.output_file_id!)).text())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as OutputLine);
    assert.deepEqual(
      out.map((l) => l.custom_id),
      ['e0', 'e1', 'e2'],
    );
    assert.equal(out[0]!.response.body.object, 'list');
    assert.ok(out[0]!.response.body.data![0]!.embedding.length > 0);
  });

  test('a request that fails goes to the error file with its status and error', async () => {
    await using stack = await startStack({
      workers: 1,
      gateway: {
        identities: new IdentityTable([
          {
            key: 'key-a',
            identity: { name: 'acme', role: 'client', tenant: { name: 'acme', models: ['sim'] } },
          },
        ]),
      },
    });
    const client = stack.client('key-a');
    const text =
      chatLines(2) +
      JSON.stringify({
        custom_id: 'forbidden-model',
        method: 'POST',
        url: '/v1/chat/completions',
        body: { model: 'gpt-x', messages: [{ role: 'user', content: 'x' }] },
      });
    const file = await upload(client, text);
    const b = await client.batches.create({
      input_file_id: file.id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    const done = await waitDone(client, b.id);
    assert.equal(done.status, 'completed');
    assert.deepEqual(done.request_counts, { total: 3, completed: 2, failed: 1 });
    const errors = (await (await client.files.content(done.error_file_id!)).text())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as OutputLine);
    assert.equal(errors.length, 1);
    assert.equal(errors[0]!.custom_id, 'forbidden-model');
    assert.equal(errors[0]!.response.status_code, 403);
    assert.equal(errors[0]!.response.body.error!.code, 'forbidden');
    const out = (await (await client.files.content(done.output_file_id!)).text())
      .trim()
      .split('\n');
    assert.equal(out.length, 2);
  });

  test('a batch whose lines are for another endpoint fails validation naming the lines', async () => {
    await using stack = await startStack({ workers: 1 });
    const client = stack.client();
    const file = await upload(client, chatLines(3));
    const b = await client.batches.create({
      input_file_id: file.id,
      endpoint: '/v1/embeddings',
      completion_window: '24h',
    });
    const done = await waitDone(client, b.id);
    assert.equal(done.status, 'failed');
    assert.deepEqual(
      done.errors?.data?.map((e) => e.line),
      [1, 2, 3],
    );
    assert.equal(done.errors?.data?.[0]?.code, 'mismatched_endpoint');
  });

  test('create refuses an unknown file, endpoint or window', async () => {
    await using stack = await startStack({ workers: 1 });
    const client = stack.client();
    const missing = await failure(
      client.batches.create({
        input_file_id: 'file-000000000000000000000000',
        endpoint: '/v1/chat/completions',
        completion_window: '24h',
      }),
    );
    assert.equal(missing.status, 404);
    const file = await upload(client, chatLines(1));
    const endpoint = await failure(
      client.batches.create({
        input_file_id: file.id,
        endpoint: '/v1/images/generations',
        completion_window: '24h',
      }),
    );
    assert.equal(endpoint.param, 'endpoint');
    const window = await failure(
      client.batches.create({
        input_file_id: file.id,
        endpoint: '/v1/chat/completions',
        completion_window: '1h' as '24h',
      }),
    );
    assert.equal(window.param, 'completion_window');
    const none = await failure(client.batches.retrieve('batch_nope'));
    assert.equal(none.status, 404);
  });

  test('cancel stops a running batch; what finished is in the output', async () => {
    await using stack = await startStack({
      workers: 1,
      concurrency: 2,
      sim: { itlMs: 20 },
    });
    const client = stack.client();
    const file = await upload(client, chatLines(200));
    const b = await client.batches.create({
      input_file_id: file.id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    const until = Date.now() + 10_000;
    while ((await client.batches.retrieve(b.id)).request_counts!.completed < 2) {
      assert.ok(Date.now() < until, 'no progress');
      await new Promise((r) => setTimeout(r, 50));
    }
    const cancelling = await client.batches.cancel(b.id);
    assert.equal(cancelling.status, 'cancelling');
    const done = await waitDone(client, b.id);
    assert.equal(done.status, 'cancelled');
    assert.ok(done.cancelled_at !== null && done.cancelling_at !== null);
    const counts = done.request_counts!;
    assert.ok(counts.completed >= 2 && counts.completed < 200, JSON.stringify(counts));
    const out = (await (await client.files.content(done.output_file_id!)).text())
      .trim()
      .split('\n');
    assert.equal(out.length, counts.completed);
    const again = await failure(client.batches.cancel(b.id));
    assert.equal(again.status, 400);
  });
});

describe('files and batches - tenants', () => {
  test("another tenant's key gets 404 on a file and a batch, and lists none of them", async () => {
    await using stack = await stackWithTenants();
    const a = stack.client('key-a');
    const b = stack.client('key-b');
    const file = await upload(a, chatLines(3));
    for (const call of [
      () => b.files.retrieve(file.id),
      () => b.files.content(file.id),
      () => b.files.delete(file.id),
      () =>
        b.batches.create({
          input_file_id: file.id,
          endpoint: '/v1/chat/completions',
          completion_window: '24h',
        }),
    ]) {
      assert.equal((await failure(call())).status, 404);
    }
    assert.equal((await b.files.list()).data.length, 0);
    const batch = await a.batches.create({
      input_file_id: file.id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    assert.equal((await failure(b.batches.retrieve(batch.id))).status, 404);
    assert.equal((await failure(b.batches.cancel(batch.id))).status, 404);
    assert.equal((await b.batches.list()).data.length, 0);
    const done = await waitDone(a, batch.id);
    assert.equal(done.status, 'completed');
    assert.equal((await failure(b.files.content(done.output_file_id!))).status, 404);
    // The file is still there for its owner.
    assert.equal((await a.files.retrieve(file.id)).id, file.id);
  });

  test('a wrong key gets 401; a worker or observer key 403 on every route', async () => {
    await using stack = await stackWithTenants();
    const file = await upload(stack.client('key-a'), chatLines(1));
    const wrong = stack.client('wrong');
    assert.equal((await failure(wrong.files.list())).status, 401);
    assert.equal((await failure(wrong.batches.list())).status, 401);
    for (const key of ['key-w', 'key-o']) {
      const c = stack.client(key);
      for (const call of [
        () => c.files.list(),
        () => c.files.retrieve(file.id),
        () => c.files.content(file.id),
        () => upload(c, chatLines(1)),
        () => c.batches.list(),
        () =>
          c.batches.create({
            input_file_id: file.id,
            endpoint: '/v1/chat/completions',
            completion_window: '24h',
          }),
      ]) {
        assert.equal((await failure(call())).status, 403, key);
      }
    }
  });
});
