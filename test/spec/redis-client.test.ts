// A client written from docs/protocol.md ("Redis") with a bare ioredis client and JSON only,
// talking to llmwire sim workers on the Redis transport: a streamed chat, a whole answer in
// the request's encoding, and no responders read from PUBLISH's count.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { Redis } from 'ioredis';
import {
  decode,
  encode,
  encodingOf,
  ended,
  envelope,
  items,
  type Encoding,
  type Env,
} from './bare.js';
import { startRedisWorkers } from './llmwire-side.js';
import { REDIS_URL, redisAvailable } from '../transport/redis-harness.js';

if (await redisAvailable('spec redis client')) {
  test('spec - a bare Redis client streams a chat and gets a whole answer in its encoding', async () => {
    const prefix = `spec${randomBytes(4).toString('hex')}:`;
    await using _side = await startRedisWorkers(REDIS_URL, prefix, ['w1']);
    const pub = new Redis(REDIS_URL);
    const sub = new Redis(REDIS_URL);
    try {
      const inbox = `_INBOX.${randomBytes(6).toString('hex')}`;
      const got: { env: Env; encoding: Encoding }[] = [];
      sub.on('messageBuffer', (_channel: Buffer, message: Buffer) => {
        got.push({ env: decode(message), encoding: encodingOf(message) });
      });
      await sub.subscribe(`${prefix}s:${inbox}`);
      const until = async (done: () => boolean) => {
        const limit = Date.now() + 10_000;
        while (!done()) {
          assert.ok(Date.now() < limit, `timed out with ${got.map((g) => g.env.kind).join(', ')}`);
          await new Promise((r) => setTimeout(r, 20));
        }
      };
      const chat = { model: 'sim', messages: [{ role: 'user', content: 'hi' }], seed: 3 };
      const send = async (env: Env, encoding: Encoding) =>
        pub.publish(`${prefix}s:${env.subject}`, Buffer.from(encode(env, encoding)));

      // Heartbeats may start before our subscription; the worker serves as soon as it started.
      const stream = envelope('inference.request', 'llm.worker.w1.chat', chat, {
        replyTo: inbox,
        deadline: Date.now() + 10_000,
        credit: 64,
      });
      assert.equal(await send(stream, 'json'), 1, 'one subscriber: the worker');
      await until(() => ended(got.map((g) => g.env)));
      const streamed = got.map((g) => g.env);
      assert.deepEqual(streamed[0]!.body, { type: 'stream.open' });
      assert.equal(streamed.at(-1)!.kind, 'inference.result');
      assert.equal(streamed.at(-1)!.eos, true);
      const text = items(streamed)
        .map((b) => (b as { text: string }).text)
        .join('');
      assert.ok(text.length > 0);
      assert.deepEqual(new Set(got.map((g) => g.encoding)), new Set(['json']));

      got.length = 0;
      const whole = envelope('inference.request', 'llm.worker.w1.chat', chat, {
        replyTo: inbox,
        deadline: Date.now() + 10_000,
      });
      await send(whole, 'msgpack');
      await until(() => got.length > 0);
      assert.equal(got[0]!.env.kind, 'inference.result');
      assert.equal((got[0]!.env.body as { text: string }).text, text);
      assert.equal(got[0]!.encoding, 'msgpack', 'answered in the encoding of the request');

      const nobody = envelope('inference.request', 'llm.worker.nobody.chat', chat, {
        replyTo: inbox,
      });
      assert.equal(await send(nobody, 'json'), 0, 'PUBLISH counts no receiver: no responders');
    } finally {
      pub.disconnect();
      sub.disconnect();
    }
  });
}
