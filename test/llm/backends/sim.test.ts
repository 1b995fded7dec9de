// The simulated backend's text: deterministic, cut by max tokens and stop sequences, and
// resumable from any prefix of itself with continue_from.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createSimBackend } from '../../../src/llm/backends/sim/index.js';
import {
  InvalidMessageError,
  NotFoundError,
  type InferenceRequest,
} from '../../../src/protocol/index.js';
import { run } from './helpers.js';

const MODEL = 'llmwire-sim';

function chat(content: string, extra: Partial<InferenceRequest> = {}): InferenceRequest {
  return { model: MODEL, messages: [{ role: 'user', content }], ...extra };
}

describe('sim backend text', () => {
  test('sim - the same request gives the same text on separate instances', async () => {
    const a = createSimBackend({ seed: 7 });
    const b = createSimBackend({ seed: 7 });
    for (const prompt of ['hello', 'tell me about message buses', '']) {
      const first = await run(a, chat(prompt));
      const second = await run(b, chat(prompt));
      assert.deepEqual(second.deltas, first.deltas);
      assert.deepEqual(second.end, first.end);
      assert.ok(first.text.length > 0);
    }
  });

  test('sim - the text depends on prompt, model and seed', async () => {
    const sim = createSimBackend({ models: [MODEL, 'other'], seed: 1 });
    const base = (await run(sim, chat('hello'))).text;
    assert.notEqual((await run(sim, chat('hello!'))).text, base);
    assert.notEqual((await run(sim, chat('hello', { model: 'other' }))).text, base);
    assert.notEqual((await run(sim, chat('hello', { seed: 2 }))).text, base);
    // A request's seed wins over the backend's.
    const other = createSimBackend({ models: [MODEL, 'other'], seed: 99 });
    assert.equal((await run(other, chat('hello', { seed: 1 }))).text, base);
  });

  test('sim - without max tokens the answer has 16 to 64 tokens and finishes with stop', async () => {
    const sim = createSimBackend();
    for (let i = 0; i < 20; i++) {
      const { deltas, end } = await run(sim, chat(`prompt ${i}`));
      assert.ok(deltas.length >= 16 && deltas.length <= 64, `${deltas.length} tokens`);
      assert.equal(end.finish_reason, 'stop');
      assert.equal(end.usage.completion_tokens, deltas.length);
    }
  });

  test('sim - max_tokens sets the length, finishes with length, and keeps the same start', async () => {
    const sim = createSimBackend();
    const short = await run(sim, chat('count', { max_tokens: 7 }));
    assert.equal(short.deltas.length, 7);
    assert.equal(short.end.finish_reason, 'length');
    assert.equal(short.end.usage.completion_tokens, 7);
    const long = await run(sim, chat('count', { max_completion_tokens: 300 }));
    assert.equal(long.deltas.length, 300);
    assert.ok(long.text.startsWith(short.text));
  });

  test('sim - a stop sequence ends the text before it with finish stop', async () => {
    const sim = createSimBackend();
    const full = (await run(sim, chat('stops', { max_tokens: 200 }))).text;
    // Stop strings that start mid-token and span token boundaries.
    for (const at of [10, 57, 133]) {
      const stop = full.slice(at, at + 6);
      const expected = full.slice(0, full.indexOf(stop));
      const { text, deltas, end } = await run(sim, chat('stops', { max_tokens: 200, stop }));
      assert.equal(text, expected);
      assert.equal(end.finish_reason, 'stop');
      assert.ok(deltas.every((d) => !d.includes(stop)));
    }
    const many = await run(
      sim,
      chat('stops', { max_tokens: 200, stop: ['zzz', full.slice(40, 44)] }),
    );
    assert.equal(many.text, full.slice(0, full.indexOf(full.slice(40, 44))));
    const none = await run(sim, chat('stops', { max_tokens: 200, stop: ['not in the text'] }));
    assert.equal(none.text, full);
    assert.equal(none.end.finish_reason, 'length');
  });

  test('sim - usage counts the prompt at four characters a token', async () => {
    const sim = createSimBackend();
    const request = chat('x'.repeat(101), { max_tokens: 5 });
    const { end } = await run(sim, request);
    // promptText wraps the message as "<|user|>...\n": 8 + 101 + 1 characters.
    assert.equal(end.usage.prompt_tokens, Math.ceil(110 / 4));
    assert.equal(end.usage.total_tokens, end.usage.prompt_tokens + 5);
  });

  test('sim - plain prompt requests are answered too', async () => {
    const sim = createSimBackend();
    const a = await run(sim, { model: MODEL, prompt: 'Once upon a time', max_tokens: 12 });
    const b = await run(sim, { model: MODEL, prompt: ['Once upon a time'], max_tokens: 12 });
    assert.equal(a.deltas.length, 12);
    assert.equal(b.text, a.text);
  });
});

describe('sim backend continue_from', () => {
  async function assertContinues(request: InferenceRequest): Promise<void> {
    const sim = createSimBackend();
    const full = await run(sim, request);
    for (let i = 0; i <= full.deltas.length; i++) {
      const sent = full.deltas.slice(0, i).join('');
      const rest = await run(sim, { ...request, continue_from: sent });
      assert.equal(sent + rest.text, full.text, `split after ${i} deltas`);
      assert.deepEqual(rest.deltas, full.deltas.slice(i));
      assert.equal(rest.end.finish_reason, full.end.finish_reason);
      assert.equal(rest.end.usage.completion_tokens, full.end.usage.completion_tokens);
    }
  }

  test('sim - continuing at every token boundary gives exactly the rest', async () => {
    await assertContinues(chat('continue me', { max_tokens: 40 }));
    await assertContinues(chat('continue me too'));
  });

  test('sim - continuing mid-token yields the rest of that token first', async () => {
    const sim = createSimBackend();
    const request = chat('mid token', { max_tokens: 30 });
    const full = await run(sim, request);
    let checked = 0;
    for (let i = 0; i < full.deltas.length; i++) {
      const token = full.deltas[i] ?? '';
      if (token.length < 3) continue;
      const before = full.deltas.slice(0, i).join('');
      for (const cut of [1, token.length - 1]) {
        const rest = await run(sim, { ...request, continue_from: before + token.slice(0, cut) });
        assert.equal(rest.deltas[0], token.slice(cut));
        assert.equal(before + token.slice(0, cut) + rest.text, full.text);
        checked++;
      }
    }
    assert.ok(checked >= 10);
  });

  test('sim - continuing works with stop sequences in play', async () => {
    const sim = createSimBackend();
    const text = (await run(sim, chat('with stops', { max_tokens: 120 }))).text;
    await assertContinues(chat('with stops', { max_tokens: 120, stop: [text.slice(90, 95)] }));
  });

  test('sim - continue_from that is not a prefix of the answer fails with invalid_message', async () => {
    const sim = createSimBackend();
    const request = chat('prefix check', { max_tokens: 10 });
    const full = await run(sim, request);
    for (const wrong of ['not the answer', `${full.text} and more`, `${full.text.slice(0, 5)}#`]) {
      await assert.rejects(run(sim, { ...request, continue_from: wrong }), (err: unknown) => {
        assert.ok(err instanceof InvalidMessageError);
        assert.equal(err.code, 'invalid_message');
        return true;
      });
    }
  });
});

describe('sim backend requests', () => {
  test('sim - an unknown model is not_found; too many tokens, n > 1 and several prompts are invalid', async () => {
    const sim = createSimBackend({ maxTokensLimit: 100 });
    await assert.rejects(run(sim, chat('x', { model: 'gpt-nope' })), NotFoundError);
    await assert.rejects(run(sim, chat('x', { max_tokens: 101 })), InvalidMessageError);
    await assert.rejects(run(sim, chat('x', { n: 2 })), InvalidMessageError);
    await assert.rejects(run(sim, { model: MODEL, prompt: ['a', 'b'] }), InvalidMessageError);
  });
});
