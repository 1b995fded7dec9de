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
  type LlamaCppBackend,
  NODE_LLAMA_CPP,
  createLlamaCppBackend,
} from '../../../src/llm/backends/llama-cpp/index.js';
import type {
  ChatHistoryItem,
  LlamaChatGenerationOptions,
  LlamaFunctionCall,
  LlamaGenerationOptions,
  LlamaGenerationResult,
} from '../../../src/llm/backends/llama-cpp/module.js';
import {
  CancelledError,
  ConfigError,
  InvalidMessageError,
  UpstreamError,
  type ChatMessage,
  type InferenceRequest,
  type ToolCallDelta,
} from '../../../src/protocol/index.js';
import { AnswerJoiner } from '../../../src/llm/answer.js';
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
  options: LlamaChatGenerationOptions;
}

/**
 * A stand-in for node-llama-cpp: streams `pieces` through onTextChunk, honouring the signal,
 * then ends with `functionCalls` when given (as LlamaChat does when the model called functions).
 */
function standIn(
  pieces: string[],
  {
    stopReason = 'eogToken',
    delayMs = 0,
    failAfter = -1,
    functionCalls = undefined as LlamaFunctionCall[] | undefined,
  } = {},
) {
  const seen: Seen[] = [];
  const grammars: unknown[] = [];
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
    if (functionCalls !== undefined) {
      return { response, functionCalls, metadata: { stopReason: 'functionCalls' } };
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
    getLlama: async () => ({
      loadModel: async () => model,
      // Grammars are opaque to the backend: these record what they were made from.
      createGrammarForJsonSchema: async (schema: unknown) => {
        grammars.push(schema);
        return { grammar: `schema ${grammars.length}` };
      },
      getGrammarFor: async (type: string) => {
        grammars.push(type);
        return { grammar: type };
      },
      dispose: async () => {},
    }),
    LlamaChat: class {
      generateResponse(history: ChatHistoryItem[], options: LlamaChatGenerationOptions) {
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
  return { seen, grammars, importModule: async () => module };
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

  test('llama-cpp - images and tool messages answering no call are invalid_message', async () => {
    const { importModule } = standIn(['x']);
    const backend = await createLlamaCppBackend({ modelPath, importModule });
    const image = chat({
      messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'x' } }] }],
    });
    await assert.rejects(run(backend, image), InvalidMessageError);
    const tool = chat({ messages: [{ role: 'tool', content: 'r', tool_call_id: '1' }] });
    await assert.rejects(run(backend, tool), InvalidMessageError);
  });

  const weather = {
    type: 'function' as const,
    function: {
      name: 'get_weather',
      parameters: { type: 'object', properties: { city: { type: 'string' } } },
    },
  };

  test('llama-cpp - tools go to LlamaChat as functions and its calls come back as tool-call deltas', async () => {
    const { seen, importModule } = standIn(['Checking.'], {
      functionCalls: [{ functionName: 'get_weather', params: { city: 'Paris' } }],
    });
    const backend = await createLlamaCppBackend({ modelPath, importModule });
    const stream = backend.generate(chat({ tools: [weather] }), {
      signal: new AbortController().signal,
    });
    assert.deepEqual(await stream.next(), { done: false, value: { text: 'Checking.' } });
    const calls = await stream.next();
    assert.equal(calls.done, false);
    const [delta] = calls.value.tool_calls ?? [];
    assert.deepEqual(
      { ...(delta as object), id: 'id' },
      {
        index: 0,
        id: 'id',
        type: 'function',
        function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
      },
    );
    assert.match((delta as { id: string }).id, /^call_/);
    const end = await stream.next();
    assert.equal(end.done, true);
    assert.equal(end.value.finish_reason, 'tool_calls');
    assert.deepEqual(seen[0]?.options.functions, {
      get_weather: { params: { type: 'object', properties: { city: { type: 'string' } } } },
    });
    assert.equal(seen[0]?.options.grammar, undefined);
  });

  test('llama-cpp - response_format makes a grammar for the generation; with tools it is invalid_message', async () => {
    const { seen, grammars, importModule } = standIn(['{}']);
    const backend = await createLlamaCppBackend({ modelPath, importModule });
    const schema = { type: 'object', properties: { a: { type: 'number' } } };
    await run(
      backend,
      chat({ response_format: { type: 'json_schema', json_schema: { name: 'o', schema } } }),
    );
    await run(backend, {
      model: 'tiny-test',
      prompt: 'JSON:',
      response_format: { type: 'json_object' },
    });
    assert.deepEqual(grammars, [schema, 'json']);
    assert.deepEqual(seen[0]?.options.grammar, { grammar: 'schema 1' });
    assert.equal(seen[0]?.options.functions, undefined);
    assert.deepEqual(seen[1]?.options.grammar, { grammar: 'json' });
    await assert.rejects(
      run(backend, chat({ tools: [weather], response_format: { type: 'json_object' } })),
      InvalidMessageError,
    );
    assert.equal(seen.length, 2);
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

describe('llama-cpp tools and grammars with a real model', () => {
  const skip =
    LLAMA_MODEL === undefined
      ? 'LLMWIRE_LLAMA_MODEL is not set: no GGUF model file is available here'
      : !installed
        ? 'node-llama-cpp is not installed (npm install node-llama-cpp)'
        : false;
  const weather = {
    type: 'function' as const,
    function: {
      name: 'get_weather',
      description: 'Current weather for a city',
      parameters: {
        type: 'object',
        properties: { city: { type: 'string', description: 'City name' } },
        required: ['city'],
      },
    },
  };

  /** Text, tool-call deltas and end of one generation. */
  async function collect(backend: LlamaCppBackend, request: InferenceRequest) {
    const stream = backend.generate(request, { signal: new AbortController().signal });
    let text = '';
    const calls: ToolCallDelta[] = [];
    for (let step = await stream.next(); ; step = await stream.next()) {
      if (step.done === true) return { text, calls, end: step.value };
      text += step.value.text;
      calls.push(...(step.value.tool_calls ?? []));
    }
  }

  test(
    'llama-cpp - a real model calls a named tool with arguments matching its schema, then answers from its result',
    { skip },
    async () => {
      // Needs a chat model whose template node-llama-cpp knows for function calling
      // (e.g. Llama 3.1+, Qwen 2.5+, Functionary).
      const backend = await createLlamaCppBackend({ modelPath: LLAMA_MODEL ?? '' });
      try {
        const [model] = backend.models();
        assert.ok(model !== undefined);
        const messages: ChatMessage[] = [
          { role: 'user', content: 'What is the weather in Paris right now?' },
        ];
        const first = await collect(backend, {
          model,
          messages,
          tools: [weather],
          tool_choice: { type: 'function', function: { name: 'get_weather' } },
          temperature: 0,
          max_tokens: 200,
        });
        assert.equal(first.end.finish_reason, 'tool_calls');
        const joiner = new AnswerJoiner();
        joiner.add({ text: '', tool_calls: first.calls });
        const [call] = joiner.toolCalls() ?? [];
        assert.ok(call !== undefined);
        assert.equal(call.function.name, 'get_weather');
        const args = JSON.parse(call.function.arguments) as { city?: unknown };
        assert.equal(typeof args.city, 'string');

        const second = await collect(backend, {
          model,
          messages: [
            ...messages,
            {
              role: 'assistant',
              content: first.text === '' ? null : first.text,
              tool_calls: [call],
            },
            { role: 'tool', tool_call_id: call.id, content: '{"temperature_c":21,"sky":"clear"}' },
          ],
          tools: [weather],
          // The calls and results in the history are rendered either way; 'none' makes the
          // model answer from them instead of calling again.
          tool_choice: 'none',
          temperature: 0,
          max_tokens: 120,
        });
        assert.ok(second.text.length > 0);
        assert.equal(second.calls.length, 0);
      } finally {
        await backend.close();
      }
    },
  );

  test(
    'llama-cpp - a real model answers json_schema with JSON of that shape, and json_object with an object',
    { skip },
    async () => {
      const backend = await createLlamaCppBackend({ modelPath: LLAMA_MODEL ?? '' });
      try {
        const [model] = backend.models();
        assert.ok(model !== undefined);
        const messages: ChatMessage[] = [
          { role: 'user', content: 'Name a colour and how many letters its name has.' },
        ];
        const schema = {
          type: 'object',
          properties: { colour: { type: 'string' }, letters: { type: 'integer' } },
          required: ['colour', 'letters'],
          additionalProperties: false,
        };
        const shaped = await collect(backend, {
          model,
          messages,
          response_format: { type: 'json_schema', json_schema: { name: 'colour', schema } },
          temperature: 0,
          max_tokens: 100,
        });
        const value = JSON.parse(shaped.text) as Record<string, unknown>;
        assert.deepEqual(Object.keys(value).sort(), ['colour', 'letters']);
        assert.equal(typeof value['colour'], 'string');
        assert.ok(Number.isInteger(value['letters']));

        const object = await collect(backend, {
          model,
          messages,
          response_format: { type: 'json_object' },
          temperature: 0,
          max_tokens: 100,
        });
        const parsed: unknown = JSON.parse(object.text);
        assert.ok(typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed));
      } finally {
        await backend.close();
      }
    },
  );
});
