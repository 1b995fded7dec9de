// The simulated backend's timing and failures: prefix-cache prefill, cancellation, the
// timer-free fast path, and injected crashes, errors and stalls.
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { describe, test } from 'node:test';
import { setTimeout as delay, setImmediate as nextMacrotask } from 'node:timers/promises';
import {
  PREFIX_BLOCK_CHARS,
  prefixBlockHashes,
  promptText,
} from '../../../src/llm/routing/prefix.js';
import { createSimBackend, type SimPrefill } from '../../../src/llm/backends/sim/index.js';
import {
  CancelledError,
  DeadlineExceededError,
  UpstreamError,
  WorkerLostError,
  type InferenceRequest,
} from '../../../src/protocol/index.js';
import { run } from './helpers.js';

const MODEL = 'llmwire-sim';

function chat(content: string, extra: Partial<InferenceRequest> = {}): InferenceRequest {
  return { model: MODEL, messages: [{ role: 'user', content }], ...extra };
}

/** A prompt of `blocks` full blocks plus a partial one. */
function longPrompt(seed: string, blocks: number): string {
  return `${seed} `.repeat(Math.ceil((blocks * PREFIX_BLOCK_CHARS) / (seed.length + 1))) + 'end?';
}

describe('sim backend prefix cache', () => {
  test('sim - a repeated long prompt finds its blocks cached and costs less prefill', async () => {
    const prefills: SimPrefill[] = [];
    const sim = createSimBackend({ prefillMsPerBlock: 5, onPrefill: (p) => prefills.push(p) });
    const request = chat(longPrompt('shared context', 12), { max_tokens: 3 });
    const fullBlocks = prefixBlockHashes(promptText(request)).length;
    assert.ok(fullBlocks >= 12);

    const started = Date.now();
    const stream = sim.generate(request, { signal: new AbortController().signal });
    await stream.next();
    const firstTtft = Date.now() - started;
    for (let s = await stream.next(); s.done !== true; s = await stream.next());

    const [cold] = prefills;
    assert.ok(cold !== undefined);
    assert.equal(cold.cachedBlocks, 0);
    assert.equal(cold.prefillMs, cold.promptBlocks * 5);
    // The prefill is really waited for (timers do not fire early).
    assert.ok(firstTtft >= cold.prefillMs - 1, `ttft ${firstTtft} ms`);

    const warm = await run(sim, request);
    const hot = prefills[1];
    assert.ok(hot !== undefined);
    assert.equal(hot.cachedBlocks, fullBlocks);
    assert.equal(hot.prefillMs, (hot.promptBlocks - fullBlocks) * 5);
    assert.ok(hot.prefillMs < cold.prefillMs);
    assert.equal(warm.end.usage.cached_tokens, fullBlocks * (PREFIX_BLOCK_CHARS / 4));
    assert.deepEqual(
      new Set(sim.cachedPrefixes()),
      new Set(prefixBlockHashes(promptText(request))),
    );
  });

  test('sim - a prompt sharing only a prefix reuses only the shared blocks', async () => {
    const sim = createSimBackend({ prefillMsPerBlock: 1 });
    const shared = longPrompt('system prompt', 4);
    await run(sim, chat(`${shared} first question`, { max_tokens: 1 }));
    const next = chat(`${shared} a different, longer second question ${'x'.repeat(600)}`);
    const sharedBlocks = Math.floor(promptText(chat(shared)).length / PREFIX_BLOCK_CHARS);
    const { cachedBlocks, promptBlocks } = sim.prefillFor(next);
    assert.equal(cachedBlocks, sharedBlocks);
    assert.ok(promptBlocks > cachedBlocks);
  });

  test('sim - the cache evicts least recently used blocks, prompt tails first', async () => {
    const sim = createSimBackend({ cacheBlocks: 4 });
    const a = chat(longPrompt('alpha', 3), { max_tokens: 1 });
    const b = chat(longPrompt('bravo', 3), { max_tokens: 1 });
    await run(sim, a);
    await run(sim, b);
    assert.equal(sim.cachedPrefixes().length, 4);
    assert.equal(sim.prefillFor(b).cachedBlocks, 3);
    // a's first block outlived its later ones, so a still has a cached head.
    assert.equal(sim.prefillFor(a).cachedBlocks, 1);
  });

  test('sim - cacheBlocks 0 disables the cache', async () => {
    const sim = createSimBackend({ cacheBlocks: 0 });
    const request = chat(longPrompt('nothing kept', 3), { max_tokens: 1 });
    await run(sim, request);
    const again = await run(sim, request);
    assert.equal(again.end.usage.cached_tokens, 0);
    assert.deepEqual(sim.cachedPrefixes(), []);
  });
});

describe('sim backend timing', () => {
  test('sim - with no latency configured a whole answer is produced without any timer', async () => {
    const sim = createSimBackend();
    let macrotaskRan = false;
    const tick = nextMacrotask().then(() => (macrotaskRan = true));
    const { deltas } = await run(sim, chat('fast path', { max_tokens: 500 }));
    assert.equal(deltas.length, 500);
    assert.equal(macrotaskRan, false);
    await tick;
  });

  test('sim - aborting mid-stream stops at once with CancelledError', async () => {
    const sim = createSimBackend({ itlMs: 2000 });
    const controller = new AbortController();
    const stream = sim.generate(chat('long', { max_tokens: 1000 }), { signal: controller.signal });
    assert.equal((await stream.next()).done, false);
    const pending = stream.next();
    const started = Date.now();
    setTimeout(() => controller.abort(), 20);
    await assert.rejects(pending, CancelledError);
    assert.ok(Date.now() - started < 1000, 'rejected long before the next token was due');
  });

  test('sim - a paced stream adds one abort listener to its signal, and leaves none', async () => {
    const sim = createSimBackend({ ttftMs: 1, itlMs: 1 });
    for (const stopEarly of [false, true]) {
      const controller = new AbortController();
      const signal = controller.signal;
      let added = 0;
      const add = signal.addEventListener.bind(signal);
      signal.addEventListener = (...args: Parameters<typeof add>) => {
        added++;
        add(...args);
      };
      let tokens = 0;
      for await (const _ of sim.generate(chat('paced', { max_tokens: 20 }), { signal })) {
        if (stopEarly && ++tokens === 5) break;
      }
      assert.equal(added, 1, 'one listener for the whole call, not one per sleep');
      const left = getEventListeners(signal, 'abort').length;
      assert.equal(left, 0, stopEarly ? 'after the consumer stopped' : 'after the end');
    }
  });

  test('sim - aborting during time to first token stops with the deadline reason', async () => {
    const sim = createSimBackend({ ttftMs: 5000 });
    const controller = new AbortController();
    const pending = run(sim, chat('slow start'), controller.signal);
    setTimeout(() => controller.abort(new DeadlineExceededError('deadline passed')), 20);
    await assert.rejects(pending, DeadlineExceededError);
  });

  test('sim - an already aborted signal fails before any work', async () => {
    const sim = createSimBackend();
    await assert.rejects(run(sim, chat('x'), AbortSignal.abort()), CancelledError);
  });

  test('sim - inter-token latency spaces the tokens', async () => {
    const sim = createSimBackend({ itlMs: 15, jitter: 0.2 });
    const started = Date.now();
    await run(sim, chat('paced', { max_tokens: 5 }));
    // Four gaps of at least 15 * 0.8 ms each.
    assert.ok(Date.now() - started >= 4 * 12 - 1);
  });
});

describe('sim backend failure injection', () => {
  test('sim - crashAfterTokens in throw mode ends the stream with WorkerLostError', async () => {
    const sim = createSimBackend({ failure: { crashAfterTokens: 3, mode: 'throw' } });
    const stream = sim.generate(chat('crash', { max_tokens: 10 }), {
      signal: new AbortController().signal,
    });
    for (let i = 0; i < 3; i++) assert.equal((await stream.next()).done, false);
    await assert.rejects(stream.next(), (err: unknown) => {
      assert.ok(err instanceof WorkerLostError);
      assert.equal(err.retryable, true);
      return true;
    });
  });

  test('sim - crashAfterTokens 0 fails before the first token', async () => {
    const sim = createSimBackend({ failure: { crashAfterTokens: 0 } });
    await assert.rejects(run(sim, chat('crash now')), WorkerLostError);
  });

  test('sim - errorRate 1 fails every request with UpstreamError before the first token', async () => {
    const sim = createSimBackend({ failure: { errorRate: 1 } });
    await assert.rejects(run(sim, chat('fail')), UpstreamError);
  });

  test('sim - errorRate failures follow the failure seed, request by request', async () => {
    const pattern = async (seed: number) => {
      const sim = createSimBackend({ failure: { errorRate: 0.5, seed } });
      const out: boolean[] = [];
      for (let i = 0; i < 40; i++) {
        out.push(
          await run(sim, chat('same request')).then(
            () => true,
            () => false,
          ),
        );
      }
      return out;
    };
    const first = await pattern(3);
    assert.deepEqual(await pattern(3), first);
    assert.ok(first.includes(true) && first.includes(false));
    assert.notDeepEqual(await pattern(4), first);
  });

  test('sim - stallAfterTokens hangs after that many tokens until aborted', async () => {
    const sim = createSimBackend({ failure: { stallAfterTokens: 2 } });
    const controller = new AbortController();
    const stream = sim.generate(chat('stall', { max_tokens: 10 }), { signal: controller.signal });
    await stream.next();
    await stream.next();
    const pending = stream.next();
    const state = await Promise.race([pending.then(() => 'moved'), delay(100, 'hanging')]);
    assert.equal(state, 'hanging');
    controller.abort();
    await assert.rejects(pending, CancelledError);
  });
});
