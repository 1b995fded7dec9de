// A worker written from docs/protocol.md alone (bare-worker.ts, a bare NATS client) serving the
// llmwire gateway's HTTP clients (the `openai` SDK): streamed and whole chats, embeddings,
// cancel reaching the worker, errors before and after the first token, and frames over
// max_payload both ways.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { APIError } from 'openai';
import { BarePeer } from './bare.js';
import { BareWorker } from './bare-worker.js';
import { namespace, startGateway } from './llmwire-side.js';
import { NATS_URL, NEEDS, requires } from '../helpers/requires.js';
import { freePort, NatsServerProcess } from '../transport/fixtures/nats-server.js';

async function withWorker(
  url: string,
  run: (w: BareWorker, gw: Awaited<ReturnType<typeof startGateway>>) => Promise<void>,
  address?: (ns: string, id: string) => string,
  announced?: (ns: string) => string,
): Promise<void> {
  const ns = namespace();
  await using gw = await startGateway(url, ns);
  const peer = await BarePeer.connect(url, 'json');
  const worker = new BareWorker(peer, ns, 'bare1', address?.(ns, 'bare1'), announced?.(ns));
  try {
    await worker.start();
    await gw.waitForWorker('bare1');
    await run(worker, gw);
  } finally {
    await worker.stop();
    await peer.close();
  }
}

if (await requires('spec nats worker', NEEDS.nats)) {
  describe('spec - a bare NATS worker serving the llmwire gateway', () => {
    test('spec - streamed and whole chat completions reach the announced address', async () => {
      await withWorker(
        NATS_URL,
        async (worker, gw) => {
          const stream = await gw.client.chat.completions.create({
            model: 'bare',
            messages: [{ role: 'user', content: 'hello' }],
            stream: true,
          });
          let text = '';
          for await (const part of stream) text += part.choices[0]?.delta.content ?? '';
          assert.equal(text, 'bare answer to 5 characters');
          const whole = await gw.client.chat.completions.create({
            model: 'bare',
            messages: [{ role: 'user', content: 'hi' }],
          });
          assert.equal(whole.choices[0]?.message.content, 'bare answer to 2 characters');
          assert.equal(whole.choices[0]?.finish_reason, 'stop');
          const req = worker.requests[0]!;
          assert.equal(req.subject, worker.address, 'sent to heartbeat.address');
          assert.ok(
            req.credit !== undefined && req.replyTo !== undefined && req.deadline !== undefined,
          );
        },
        (ns, id) => `${ns}.llm.worker.${id}.chat-v2`,
      );
    });

    test('spec - an announced address outside its own subjects is ignored', async () => {
      await withWorker(
        NATS_URL,
        async (worker, gw) => {
          const whole = await gw.client.chat.completions.create({
            model: 'bare',
            messages: [{ role: 'user', content: 'hi' }],
          });
          assert.equal(whole.choices[0]?.message.content, 'bare answer to 2 characters');
          assert.equal(worker.requests[0]!.subject, worker.address, 'sent to its chat subject');
        },
        undefined,
        (ns) => `${ns}.llm.worker.someone-else.chat`,
      );
    });

    test('spec - embeddings, as the SDK asks for them (base64 floats)', async () => {
      await withWorker(NATS_URL, async (worker, gw) => {
        const res = await gw.client.embeddings.create({ model: 'bare', input: ['abc', 'de'] });
        assert.deepEqual(
          res.data.map((d) => d.embedding),
          [
            [3, 0, 0.5],
            [2, 1, 0.5],
          ],
        );
        assert.equal(worker.requests[0]!.kind, 'embedding.request');
      });
    });

    test('spec - a client that stops reading cancels the stream at the bare worker', async () => {
      await withWorker(NATS_URL, async (worker, gw) => {
        const stream = await gw.client.chat.completions.create({
          model: 'bare-slow',
          messages: [{ role: 'user', content: 'go' }],
          stream: true,
        });
        let seen = 0;
        for await (const _ of stream) if (++seen === 3) break; // the SDK aborts the response
        assert.equal(seen, 3);
        const until = Date.now() + 5000;
        while (worker.cancelled.length === 0 && Date.now() < until)
          await new Promise((r) => setTimeout(r, 20));
        assert.deepEqual(worker.cancelled, [worker.requests[0]!.id]);
      });
    });

    test('spec - errors from the bare worker before and after the first token', async () => {
      await withWorker(NATS_URL, async (_worker, gw) => {
        await assert.rejects(
          gw.client.chat.completions.create({
            model: 'bare-refuse',
            messages: [{ role: 'user', content: 'x' }],
          }),
          (err: unknown) =>
            err instanceof APIError && err.status === 400 && err.code === 'invalid_message',
        );
        const stream = await gw.client.chat.completions.create({
          model: 'bare-fail',
          messages: [{ role: 'user', content: 'x' }],
          stream: true,
        });
        let text = '';
        await assert.rejects(async () => {
          for await (const part of stream) text += part.choices[0]?.delta.content ?? '';
        });
        assert.equal(text, 'bare answer', 'the chunks before the failure reached the client');
      });
    });
  });
}

if (await requires('spec nats worker, small max_payload', NEEDS.nats, NEEDS.natsServer)) {
  describe('spec - a bare worker and the gateway over a small max_payload', () => {
    test('spec - an oversized request reaches the bare worker and its oversized chunk reaches the client', async () => {
      await using server = await new NatsServerProcess({
        port: await freePort(),
        config: ['max_payload: 16384'],
      }).start();
      await withWorker(server.url, async (worker, gw) => {
        const prompt = randomBytes(45_000).toString('base64'); // 60 KB that gzip cannot shrink
        const whole = await gw.client.chat.completions.create({
          model: 'bare',
          messages: [{ role: 'user', content: prompt }],
        });
        assert.equal(
          whole.choices[0]?.message.content,
          `bare answer to ${prompt.length} characters`,
        );
        assert.equal(worker.peer.claims, 1, 'the request reached the bare worker in parts');
        const stream = await gw.client.chat.completions.create({
          model: 'bare-big',
          messages: [{ role: 'user', content: 'big' }],
          stream: true,
        });
        let text = '';
        for await (const part of stream) text += part.choices[0]?.delta.content ?? '';
        assert.equal(text, 'x'.repeat(40_000));
        assert.equal(
          (worker.requests[0]!.body as { messages: { content: string }[] }).messages[0]!.content,
          prompt,
        );
      });
    });
  });
}
