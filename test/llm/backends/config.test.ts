// Backend configuration: createBackend picks the backend by kind, and every bad option is a
// ConfigError that names its field.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createBackend, createSimBackend } from '../../../src/llm/backends/index.js';
import { createOpenAIBackend } from '../../../src/llm/backends/openai/index.js';
import { ConfigError } from '../../../src/protocol/index.js';
import { run } from './helpers.js';

/** A ConfigError whose message matches `expected` (a pattern) or is exactly it (a string). */
function configError(expected: RegExp | string) {
  return (err: unknown) => {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    if (typeof expected === 'string') assert.equal(err.message, expected);
    else assert.match(err.message, expected);
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
  await assert.rejects(createBackend({}), configError("backend: 'kind' is required"));
  await assert.rejects(
    createBackend({ kind: 'vllm' }),
    configError(`backend: 'kind' expected one of 'sim', 'openai', 'llama-cpp', got "vllm"`),
  );
  await assert.rejects(createBackend('sim'), configError('backend: expected object, got "sim"'));
  await assert.rejects(createBackend(null), configError('backend: expected object, got null'));
});

test('config - bad sim options name the field', () => {
  const cases: [Record<string, unknown>, string][] = [
    [{ ttftMs: -1 }, "'ttftMs' expected number to be greater or equal to 0, got -1"],
    [{ itlMs: 'fast' }, `'itlMs' expected number, got "fast"`],
    [{ prefillMsPerBlock: Number.NaN }, "'prefillMsPerBlock' expected number, got NaN"],
    [{ jitter: 1.5 }, "'jitter' expected number to be less or equal to 1, got 1.5"],
    [{ jitterMode: 'chaotic' }, `'jitterMode' expected one of 'seeded', 'random', got "chaotic"`],
    [{ cacheBlocks: 2.5 }, "'cacheBlocks' expected integer, got 2.5"],
    [{ seed: 1.5 }, "'seed' expected integer, got 1.5"],
    [{ models: [] }, "'models' expected array length to be greater or equal to 1, got an array"],
    [{ models: ['a', 'a'] }, "'models' expected array elements to be unique, got an array"],
    [
      { minOutputTokens: 0 },
      "'minOutputTokens' expected integer to be greater or equal to 1, got 0",
    ],
    [
      { minOutputTokens: 10, maxOutputTokens: 5 },
      "'maxOutputTokens' (5) must be at least 'minOutputTokens' (10)",
    ],
    [
      { embeddingDimensions: 0 },
      "'embeddingDimensions' expected integer to be greater or equal to 1, got 0",
    ],
    [{ onPrefill: 'log' }, `'onPrefill' expected function, got "log"`],
    [{ ttftms: 5 }, "unknown option 'ttftms'"],
    [
      { failure: { mode: 'explode' } },
      `'failure.mode' expected one of 'exit', 'throw', got "explode"`,
    ],
    [
      { failure: { errorRate: 2 } },
      "'failure.errorRate' expected number to be less or equal to 1, got 2",
    ],
    [
      { failure: { crashAfterTokens: -1 } },
      "'failure.crashAfterTokens' expected integer to be greater or equal to 0, got -1",
    ],
    [{ failure: { crash: 1 } }, "unknown option 'failure.crash'"],
    [{ failure: 5 }, "'failure' expected object, got 5"],
  ];
  for (const [options, message] of cases) {
    assert.throws(() => createSimBackend(options), configError(`sim backend: ${message}`));
  }
});

test('config - bad openai options name the field', async () => {
  const url = 'http://127.0.0.1:1/v1';
  const cases: [Record<string, unknown>, string][] = [
    [{}, "'baseURL' is required"],
    [{ baseURL: 'localhost:8000' }, `'baseURL' must be an http(s) URL, got "localhost:8000"`],
    [
      { baseURL: url, timeoutMs: 0 },
      "'timeoutMs' expected integer to be greater or equal to 1, got 0",
    ],
    [{ baseURL: url, headers: { a: 1 } }, "'headers.a' expected string, got 1"],
    [
      { baseURL: url, continuation: 'guess' },
      `'continuation' expected one of 'instruct', 'final-message', got "guess"`,
    ],
  ];
  for (const [options, message] of cases) {
    assert.throws(
      () => createOpenAIBackend(options as never),
      configError(`openai backend: ${message}`),
    );
  }
  await assert.rejects(
    createBackend({ kind: 'openai', baseURL: url, apiKeys: 'x' }),
    configError("openai backend: unknown option 'apiKeys'"),
  );
});

test('config - a llama-cpp spec needs a model path from the spec or LLMWIRE_LLAMA_MODEL', async () => {
  await assert.rejects(
    createBackend({ kind: 'llama-cpp' }, {}),
    configError(/'modelPath' is required \(or set LLMWIRE_LLAMA_MODEL/),
  );
  await assert.rejects(
    createBackend({ kind: 'llama-cpp', modelPath: '/m.gguf', parallel: 0 }, {}),
    configError(
      "llama-cpp backend: 'parallel' expected integer to be greater or equal to 1, got 0",
    ),
  );
});
