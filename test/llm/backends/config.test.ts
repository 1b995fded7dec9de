// Backend configuration: createBackend picks the backend by kind, and every bad option is a
// ConfigError that names its field.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createBackend, createSimBackend } from '../../../src/llm/backends/index.js';
import { createOpenAIBackend } from '../../../src/llm/backends/openai/index.js';
import { ConfigError } from '../../../src/protocol/index.js';
import { run } from './helpers.js';

function configError(pattern: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    assert.match(err.message, pattern);
    return true;
  };
}

test('config - createBackend makes a working sim backend from a plain object', async () => {
  const backend = await createBackend({ kind: 'sim', models: ['demo'], seed: 3 });
  assert.equal(backend.kind, 'sim');
  assert.deepEqual(backend.models(), ['demo']);
  const { deltas } = await run(backend, { model: 'demo', prompt: 'hi', max_tokens: 4 });
  assert.equal(deltas.length, 4);
});

test('config - createBackend rejects a missing or unknown kind', async () => {
  await assert.rejects(
    createBackend({}),
    configError(/'kind' must be one of 'sim', 'openai', 'llama-cpp'/),
  );
  await assert.rejects(createBackend({ kind: 'vllm' }), configError(/got "vllm"/));
  await assert.rejects(createBackend('sim'), configError(/must be an object/));
  await assert.rejects(createBackend(null), configError(/must be an object/));
});

test('config - bad sim options name the field', () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ ttftMs: -1 }, /sim backend: 'ttftMs' must be a number of at least 0, got -1/],
    [{ itlMs: 'fast' }, /'itlMs'.*got "fast"/],
    [{ prefillMsPerBlock: Number.NaN }, /'prefillMsPerBlock'/],
    [{ jitter: 1.5 }, /'jitter' must be a number of at least 0 and at most 1/],
    [{ jitterMode: 'chaotic' }, /'jitterMode' must be one of 'seeded', 'random'/],
    [{ cacheBlocks: 2.5 }, /'cacheBlocks' must be an integer/],
    [{ seed: 1.5 }, /'seed' must be an integer/],
    [{ models: [] }, /'models' must be a non-empty array/],
    [{ models: ['a', 'a'] }, /'models' must be a non-empty array of distinct/],
    [{ minOutputTokens: 0 }, /'minOutputTokens' must be an integer of at least 1/],
    [
      { minOutputTokens: 10, maxOutputTokens: 5 },
      /'maxOutputTokens' \(5\) must be at least 'minOutputTokens' \(10\)/,
    ],
    [{ embeddingDimensions: 0 }, /'embeddingDimensions'/],
    [{ onPrefill: 'log' }, /'onPrefill' must be a function/],
    [{ ttftms: 5 }, /unknown option 'ttftms'/],
    [
      { failure: { mode: 'explode' } },
      /sim backend failure: 'mode' must be one of 'exit', 'throw'/,
    ],
    [
      { failure: { errorRate: 2 } },
      /failure: 'errorRate' must be a number of at least 0 and at most 1/,
    ],
    [{ failure: { crashAfterTokens: -1 } }, /failure: 'crashAfterTokens'/],
    [{ failure: { crash: 1 } }, /failure: unknown option 'crash'/],
    [{ failure: 5 }, /failure: options must be an object/],
  ];
  for (const [options, pattern] of cases) {
    assert.throws(() => createSimBackend(options), configError(pattern));
  }
});

test('config - bad openai options name the field', async () => {
  assert.throws(
    () => createOpenAIBackend({} as never),
    configError(/openai backend: 'baseURL' is required/),
  );
  assert.throws(
    () => createOpenAIBackend({ baseURL: 'localhost:8000' }),
    configError(/'baseURL' must be an http\(s\) URL/),
  );
  assert.throws(
    () => createOpenAIBackend({ baseURL: 'http://127.0.0.1:1/v1', timeoutMs: 0 }),
    configError(/'timeoutMs' must be an integer of at least 1/),
  );
  assert.throws(
    () => createOpenAIBackend({ baseURL: 'http://127.0.0.1:1/v1', headers: { a: 1 } as never }),
    configError(/'headers' must be an object of string values/),
  );
  assert.throws(
    () => createOpenAIBackend({ baseURL: 'http://127.0.0.1:1/v1', continuation: 'guess' as never }),
    configError(/'continuation' must be one of 'instruct', 'final-message'/),
  );
  await assert.rejects(
    createBackend({ kind: 'openai', baseURL: 'http://127.0.0.1:1/v1', apiKeys: 'x' }),
    configError(/unknown option 'apiKeys'/),
  );
});

test('config - a llama-cpp spec needs a model path from the spec or LLMWIRE_LLAMA_MODEL', async () => {
  await assert.rejects(
    createBackend({ kind: 'llama-cpp' }, {}),
    configError(/'modelPath' is required \(or set LLMWIRE_LLAMA_MODEL/),
  );
  await assert.rejects(
    createBackend({ kind: 'llama-cpp', modelPath: '/m.gguf', parallel: 0 }, {}),
    configError(/llama-cpp backend: 'parallel' must be an integer of at least 1/),
  );
});
