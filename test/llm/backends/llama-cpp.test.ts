// The llama.cpp backend. With a real model (LLMWIRE_LLAMA_MODEL and node-llama-cpp installed)
// it generates for real; without one, the adapter is checked against a stand-in module of the
// same shape, and a missing package must fail with the install hint.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  INSTALL_HINT,
  NODE_LLAMA_CPP,
  createLlamaCppBackend,
} from '../../../src/llm/backends/llama-cpp/index.js';
import type {
  ChatHistoryItem,
  LlamaGenerationOptions,
  LlamaGenerationResult,
} from '../../../src/llm/backends/llama-cpp/module.js';
import {
  CancelledError,
  ConfigError,
  InvalidMessageError,
  UpstreamError,
  type InferenceRequest,
} from '../../../src/protocol/index.js';
import { run } from './helpers.js';

const LLAMA_MODEL = process.env['LLMWIRE_LLAMA_MODEL'];
const installed = await import(NODE_LLAMA_CPP).then(
  () => true,
  () => false,
);

let dir = '';
let modelPath = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'llmwire-llama-'));
  modelPath = join(dir, 'tiny-test.gguf');
  await writeFile(modelPath, 'not really a model');
});
after(async () => rm(dir, { recursive: true, force: true }));

interface Seen {
  history?: ChatHistoryItem[];
  input?: string;
  options: LlamaGenerationOptions;
}

/** A stand-in for node-llama-cpp: streams `pieces` through onTextChunk, honouring the signal. */
function standIn(pieces: string[], { stopReason = 'eogToken', delayMs = 0, failAfter = -1 } = {}) {
  const seen: Seen[] = [];
  const generate = async (options: LlamaGenerationOptions): Promise<LlamaGenerationResult> => {
    let response = '';
    for (const [i, piece] of pieces.entries()) {
      if (options.maxTokens !== undefined && i >= options.maxTokens) {
        return { response, metadata: { stopReason: 'maxTokens' } };
      }
      if (i === failAfter) throw new Error('GGML_ASSERT failed');
      if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
      // node-llama-cpp throws the signal's reason when aborted.
      if (options.signal?.aborted === true) throw options.signal.reason;
      options.onTextChunk?.(piece);
      response += piece;
    }
    return { response, metadata: { stopReason } };
  };
  const model = {
    createContext: async () => ({ getSequence: () => ({ dispose() {} }), dispose: async () => {} }),
    createEmbeddingContext: async () => ({
      getEmbeddingFor: async () => ({ vector: [0.6, 0.8] }),
      dispose: async () => {},
    }),
    tokenize: (text: string) => text.split(/\s+/).filter((t) => t !== ''),
    dispose: async () => {},
  };
  const module = {
    getLlama: async () => ({ loadModel: async () => model, dispose: async () => {} }),
    LlamaChat: class {
      generateResponse(history: ChatHistoryItem[], options: LlamaGenerationOptions) {
        seen.push({ history: structuredClone(history), options });
        return generate(options);
      }
      dispose() {}
    },
    LlamaCompletion: class {
      generateCompletionWithMeta(input: string, options: LlamaGenerationOptions) {
        seen.push({ input, options });
        return generate(options);
      }
      dispose() {}
    },
  };
  return { seen, importModule: async () => module };
}

describe('llama-cpp backend without node-llama-cpp', () => {
  test(
    'llama-cpp - fails with a ConfigError that says how to install node-llama-cpp',
    { skip: installed ? 'node-llama-cpp is installed here' : false },
    async () => {
      await assert.rejects(createLlamaCppBackend({ modelPath }), (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.match(err.message, /npm install node-llama-cpp/);
        assert.ok(err.message.includes(INSTALL_HINT));
        return true;
      });
    },
  );

  test('llama-cpp - a module without the v3 exports is a ConfigError', async () => {
    await assert.rejects(
      createLlamaCppBackend({ modelPath, importModule: async () => ({ LlamaModel: {} }) }),
      (err: unknown) => err instanceof ConfigError && /version 3 is required/.test(err.message),
    );
  });

  test('llama-cpp - a model file that cannot be read is a ConfigError naming modelPath', async () => {
    const { importModule } = standIn([]);
    await assert.rejects(
      createLlamaCppBackend({ modelPath: join(dir, 'missing.gguf'), importModule }),
      (err: unknown) =>
        err instanceof ConfigError && /'modelPath'.*missing\.gguf/.test(err.message),
    );
  });
});

describe('llama-cpp backend adapter (stand-in module)', () => {
  const chat = (extra: Partial<InferenceRequest> = {}): InferenceRequest => ({
    model: 'tiny-test',
    messages: [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: [{ type: 'text', text: 'Hi there' }] },
      { role: 'assistant', content: 'Hello.' },
      { role: 'user', content: 'Again' },
    ],
    ...extra,
  });

  test('llama-cpp - streams text chunks and gives the chat as a history', async () => {
    const { seen, importModule } = standIn(['Hi', ' again', '!']);
    const backend = await createLlamaCppBackend({ modelPath, importModule });
    assert.deepEqual(backend.models(), ['tiny-test']);
    const { deltas, end } = await run(backend, chat({ temperature: 0.5, seed: 9 }));
    assert.deepEqual(deltas, ['Hi', ' again', '!']);
    assert.equal(end.finish_reason, 'stop');
    assert.deepEqual(seen[0]?.history, [
      { type: 'system', text: 'Be brief.' },
      { type: 'user', text: 'Hi there' },
      { type: 'model', response: ['Hello.'] },
      { type: 'user', text: 'Again' },
    ]);
    assert.equal(seen[0]?.options.temperature, 0.5);
    assert.equal(seen[0]?.options.seed, 9);
    assert.equal(end.usage.completion_tokens, 2);
  });

  test('llama-cpp - continue_from extends the model turn and counts against max tokens', async () => {
    const { seen, importModule } = standIn(['one', ' two', ' three']);
    const backend = await createLlamaCppBackend({ modelPath, importModule });
    const { deltas, end } = await run(
      backend,
      chat({ continue_from: 'Sure: zero', max_tokens: 4 }),
    );
    assert.deepEqual(seen[0]?.history?.at(-1), { type: 'model', response: ['Sure: zero'] });
    // The stand-in tokenizer counts 2 tokens in the text already sent.
    assert.equal(seen[0]?.options.maxTokens, 2);
    assert.deepEqual(deltas, ['one', ' two']);
    assert.equal(end.finish_reason, 'length');
    assert.equal(end.usage.completion_tokens, 2 + 2);
  });

  test('llama-cpp - prompt requests complete the prompt, with stop sequences as triggers', async () => {
    const { seen, importModule } = standIn(['a', 'b'], { stopReason: 'customStopTrigger' });
    const backend = await createLlamaCppBackend({ modelPath, importModule, models: ['tiny'] });
    const { end } = await run(backend, {
      model: 'tiny',
      prompt: 'Count:',
      continue_from: ' 1',
      stop: ['\n', ''],
    });
    assert.equal(seen[0]?.input, 'Count: 1');
    assert.deepEqual(seen[0]?.options.customStopTriggers, ['\n']);
    assert.equal(end.finish_reason, 'stop');
  });

  test('llama-cpp - aborting mid-stream stops the model call and frees its sequence', async () => {
    const { importModule } = standIn(['x', 'y', 'z', 'w'], { delayMs: 30 });
    const backend = await createLlamaCppBackend({ modelPath, importModule, parallel: 1 });
    const controller = new AbortController();
    const stream = backend.generate(chat(), { signal: controller.signal });
    await stream.next();
    // A second request waits for the only sequence.
    const waiting = run(backend, chat());
    const pending = stream.next();
    controller.abort();
    await assert.rejects(pending, CancelledError);
    assert.equal((await waiting).text, 'xyzw');
  });

  test('llama-cpp - a failing model call is an upstream_error after the text so far', async () => {
    const { importModule } = standIn(['x', 'y', 'z'], { failAfter: 1 });
    const backend = await createLlamaCppBackend({ modelPath, importModule });
    const stream = backend.generate(chat(), { signal: new AbortController().signal });
    assert.deepEqual(await stream.next(), { done: false, value: { text: 'x' } });
    await assert.rejects(stream.next(), UpstreamError);
  });

  test('llama-cpp - images, tools and tool messages are invalid_message', async () => {
    const { importModule } = standIn(['x']);
    const backend = await createLlamaCppBackend({ modelPath, importModule });
    const image = chat({
      messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'x' } }] }],
    });
    await assert.rejects(run(backend, image), InvalidMessageError);
    const tools = chat({ tools: [{ type: 'function', function: { name: 'f' } }] });
    await assert.rejects(run(backend, tools), InvalidMessageError);
    const tool = chat({ messages: [{ role: 'tool', content: 'r', tool_call_id: '1' }] });
    await assert.rejects(run(backend, tool), InvalidMessageError);
  });

  test('llama-cpp - embeddings exist only when enabled', async () => {
    const { importModule } = standIn([]);
    const plain = await createLlamaCppBackend({ modelPath, importModule });
    assert.equal(plain.embed, undefined);
    const withEmbeddings = await createLlamaCppBackend({
      modelPath,
      importModule,
      embeddings: true,
    });
    const result = await withEmbeddings.embed?.(
      { model: 'tiny-test', input: ['a b', 'c'] },
      { signal: new AbortController().signal },
    );
    assert.deepEqual(result?.data[1], { index: 1, embedding: [0.6, 0.8] });
    assert.equal(result?.usage.prompt_tokens, 3);
  });
});

describe('llama-cpp backend with a real model', () => {
  const skip =
    LLAMA_MODEL === undefined
      ? 'LLMWIRE_LLAMA_MODEL is not set: no GGUF model file is available here'
      : !installed
        ? 'node-llama-cpp is not installed (npm install node-llama-cpp)'
        : false;

  test(
    'llama-cpp - generates, stops on max tokens, and cancels a real model call',
    { skip },
    async () => {
      const backend = await createLlamaCppBackend({ modelPath: LLAMA_MODEL ?? '' });
      try {
        const [model] = backend.models();
        assert.ok(model !== undefined);
        const request: InferenceRequest = {
          model,
          messages: [{ role: 'user', content: 'Count from one to twenty in words.' }],
          max_tokens: 12,
          temperature: 0,
        };
        const { text, end } = await run(backend, request);
        assert.ok(text.length > 0);
        assert.ok(end.usage.completion_tokens > 0 && end.usage.completion_tokens <= 13);
        const controller = new AbortController();
        const stream = backend.generate(
          { ...request, max_tokens: 200 },
          { signal: controller.signal },
        );
        await stream.next();
        controller.abort();
        // A chunk already produced may still come out; then the stream must fail.
        await assert.rejects(async () => {
          for (let s = await stream.next(); s.done !== true; s = await stream.next());
        }, CancelledError);
      } finally {
        await backend.close();
      }
    },
  );
});
