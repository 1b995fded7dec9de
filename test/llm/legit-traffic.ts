// Legitimate traffic to run beside an attack: OpenAI SDK calls, streamed and not, each checked
// against the exact text a sim worker gives for it, so harm to it shows as a failure.
import assert from 'node:assert/strict';
import { referenceText, type Stack } from './stack.js';

const messages = [{ role: 'user' as const, content: 'Answer while someone misbehaves.' }];

/** Runs `n` requests, `concurrency` at a time, over the SDK; asserts every answer is exact. */
export async function legitTraffic(stack: Stack, n: number, concurrency = 4): Promise<number> {
  const client = stack.client();
  let next = 0;
  let done = 0;
  const lane = async () => {
    while (next < n) {
      const i = next++;
      const request = { model: 'sim', messages, max_tokens: 12, seed: 1000 + i };
      const expected = await referenceText({}, request);
      if (i % 2 === 0) {
        const stream = await client.chat.completions.create({ ...request, stream: true });
        let text = '';
        for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
        assert.equal(text, expected, `streamed answer ${i} is exact`);
      } else {
        const data = await client.chat.completions.create(request);
        assert.equal(data.choices[0]?.message.content, expected, `answer ${i} is exact`);
      }
      done++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  assert.equal(done, n);
  return done;
}

/** Requests the workers of `stack` finished, all together. */
export function completed(stack: Stack): number {
  return stack.workers.reduce((sum, w) => sum + w.stats.completed, 0);
}
