// The llama.cpp backend: runs a local GGUF model in this process through node-llama-cpp, an
// optional dependency loaded only when this backend is used (see docs/backends.md).
import { access } from 'node:fs/promises';
import { basename } from 'node:path';
import { Type } from '@sinclair/typebox';
import {
  ConfigError,
  optionsCheck,
  type EmbeddingRequest,
  type EmbeddingResult,
  type FinishReason,
  type InferenceRequest,
  InvalidMessageError,
  NotFoundError,
  UpstreamError,
  WireError,
} from '../../../protocol/index.js';
import { promptText } from '../../routing/prefix.js';
import type { Backend, GenerateEnd, GenerateOptions, TokenDelta } from '../backend.js';
import { ModelNames } from '../config.js';
import { abortError, throwIfAborted } from '../signal.js';
import { chatHistory, completionPrompt, generationOptions } from './history.js';
import {
  type Llama,
  type LlamaContext,
  type LlamaContextSequence,
  type LlamaEmbeddingContext,
  type LlamaGenerationResult,
  type LlamaGrammar,
  type LlamaModel,
  type NodeLlamaCpp,
  checkModule,
  importNodeLlamaCpp,
} from './module.js';
import { type GrammarRequest, finishReason, outputControls, toolCallDeltas } from './output.js';
import { ChunkPipe } from './pipe.js';

export { INSTALL_HINT, NODE_LLAMA_CPP } from './module.js';

export interface LlamaCppBackendOptions {
  /** Path of the GGUF model file. */
  modelPath: string;
  /** Model names answered for. Default: the file name without `.gguf`. */
  models?: string[];
  /** Context size in tokens, shared by the parallel sequences. Default: the library's choice. */
  contextSize?: number;
  /** Requests generated at once (context sequences). Default 1. */
  parallel?: number;
  /** Layers offloaded to the GPU. Default: the library's choice ('auto'). */
  gpuLayers?: number;
  /** Also serve embeddings from the same model. Default false. */
  embeddings?: boolean;
  /** Loads node-llama-cpp; replaceable for vendored installs and tests. */
  importModule?: () => Promise<unknown>;
}

const WHAT = 'llama-cpp backend';
const checkOptions = optionsCheck(
  WHAT,
  Type.Object(
    {
      modelPath: Type.String({ minLength: 1 }),
      models: Type.Optional(ModelNames),
      contextSize: Type.Optional(Type.Integer({ minimum: 1 })),
      parallel: Type.Optional(Type.Integer({ minimum: 1, maximum: 256 })),
      gpuLayers: Type.Optional(Type.Integer({ minimum: 0 })),
      embeddings: Type.Optional(Type.Boolean()),
      importModule: Type.Optional(Type.Function([], Type.Promise(Type.Unknown()))),
    },
    { additionalProperties: false },
  ),
);

interface Loaded {
  lib: NodeLlamaCpp;
  llama: Llama;
  model: LlamaModel;
  context: LlamaContext;
  embedding: LlamaEmbeddingContext | undefined;
}

export class LlamaCppBackend implements Backend {
  readonly kind = 'llama-cpp';
  readonly embed?: (
    request: EmbeddingRequest,
    options: GenerateOptions,
  ) => Promise<EmbeddingResult>;
  private readonly free: LlamaContextSequence[];
  private readonly waiting: ((sequence: LlamaContextSequence) => void)[] = [];

  private constructor(
    private readonly loaded: Loaded,
    private readonly served: string[],
    parallel: number,
  ) {
    this.free = Array.from({ length: parallel }, () => loaded.context.getSequence());
    const embedding = loaded.embedding;
    if (embedding !== undefined) {
      this.embed = (request, options) => this.embedWith(embedding, request, options);
    }
  }

  /** Loads node-llama-cpp, the model and its context; fails with a ConfigError. */
  static async create(options: LlamaCppBackendOptions): Promise<LlamaCppBackend> {
    const o = checkOptions(options);
    const modelPath = o.modelPath;
    const served =
      o.models === undefined ? [basename(modelPath).replace(/\.gguf$/i, '')] : [...o.models];
    const { contextSize, gpuLayers } = o;
    const parallel = o.parallel ?? 1;
    const embeddings = o.embeddings ?? false;
    const importModule = o.importModule;

    const lib =
      importModule === undefined ? await importNodeLlamaCpp() : checkModule(await importModule());
    try {
      await access(modelPath);
    } catch (err) {
      throw new ConfigError(`${WHAT}: 'modelPath' ${JSON.stringify(modelPath)} cannot be read`, {
        cause: err,
      });
    }
    try {
      const llama = await lib.getLlama();
      const model = await llama.loadModel({
        modelPath,
        ...(gpuLayers === undefined ? {} : { gpuLayers }),
      });
      const context = await model.createContext({
        sequences: parallel,
        ...(contextSize === undefined ? {} : { contextSize }),
      });
      const embedding = embeddings ? await model.createEmbeddingContext() : undefined;
      return new LlamaCppBackend({ lib, llama, model, context, embedding }, served, parallel);
    } catch (err) {
      throw new ConfigError(`${WHAT}: could not load model ${JSON.stringify(modelPath)}`, {
        cause: err,
      });
    }
  }

  models(): string[] {
    return [...this.served];
  }

  async *generate(
    request: InferenceRequest,
    { signal }: GenerateOptions,
  ): AsyncGenerator<TokenDelta, GenerateEnd> {
    throwIfAborted(signal);
    this.checkModel(request.model);
    const { model, lib } = this.loaded;
    const continueFrom = request.continue_from ?? '';
    const options = generationOptions(request);
    const controls = outputControls(request);
    const chat =
      request.messages === undefined
        ? undefined
        : chatHistory(request.messages, continueFrom, request.tools);
    const prompt = chat === undefined ? completionPrompt(request) : undefined;
    const earlier = continueFrom === '' ? 0 : model.tokenize(continueFrom).length;
    const promptTokens = model.tokenize(promptText(request)).length;
    const limit = request.max_completion_tokens ?? request.max_tokens ?? undefined;
    if (limit !== undefined) {
      // The limit is for the whole answer, part of which another worker already produced.
      if (limit - earlier <= 0) return this.end('length', promptTokens, earlier);
      options.maxTokens = limit - earlier;
    }

    if (controls.grammar !== undefined) {
      options.grammar = await this.grammar(controls.grammar);
    }

    const sequence = await this.acquire(signal);
    // Stops the model when the consumer stops reading early, as well as on the caller's signal.
    const local = new AbortController();
    options.signal = AbortSignal.any([signal, local.signal]);
    const pipe = new ChunkPipe<LlamaGenerationResult>();
    options.onTextChunk = pipe.push;
    // The reader stops at once on abort, even before the model notices between two tokens.
    const onAbort = () => pipe.fail(abortError(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    let owner: { dispose(options?: { disposeSequence?: boolean }): void } | undefined;
    let run: Promise<LlamaGenerationResult> | undefined;
    try {
      if (chat !== undefined) {
        const session = new lib.LlamaChat({
          contextSequence: sequence,
          autoDisposeSequence: false,
        });
        owner = session;
        run = session.generateResponse(chat, { ...options, ...controls.functions });
      } else {
        const session = new lib.LlamaCompletion({
          contextSequence: sequence,
          autoDisposeSequence: false,
        });
        owner = session;
        run = session.generateCompletionWithMeta(prompt ?? '', options);
      }
      pipe.settle(run);
      let text = '';
      const chunks = pipe.read();
      let next = await chunks.next();
      while (next.done !== true) {
        text += next.value;
        yield { text: next.value };
        next = await chunks.next();
      }
      const stopReason = next.value.metadata.stopReason;
      if (stopReason === 'abort' || signal.aborted) throw abortError(signal);
      const calls = next.value.functionCalls ?? [];
      let callTokens = 0;
      if (calls.length > 0) {
        const deltas = toolCallDeltas(calls);
        yield { text: '', tool_calls: deltas };
        // The call syntax is the chat wrapper's; name and arguments are most of its tokens.
        for (const call of calls) {
          callTokens += model.tokenize(
            call.functionName + JSON.stringify(call.params ?? {}),
          ).length;
        }
      }
      const completion = earlier + model.tokenize(text).length + callTokens;
      return this.end(finishReason(stopReason, calls.length), promptTokens, completion);
    } catch (err) {
      if (signal.aborted) throw abortError(signal);
      if (err instanceof WireError) throw err;
      // The model server here is this process's llama.cpp: its failure is an upstream failure.
      throw new UpstreamError('llama.cpp generation failed', { cause: err });
    } finally {
      signal.removeEventListener('abort', onAbort);
      local.abort();
      // The sequence may be reused only once its generation has really stopped.
      await run?.catch(() => undefined);
      owner?.dispose({ disposeSequence: false });
      this.release(sequence);
    }
  }

  /** The grammar object for a response_format; a schema it cannot take is invalid_message. */
  private async grammar(request: GrammarRequest): Promise<LlamaGrammar> {
    const { llama } = this.loaded;
    if (request.type === 'json') {
      try {
        return await llama.getGrammarFor('json');
      } catch (err) {
        throw new UpstreamError('node-llama-cpp has no JSON grammar', { cause: err });
      }
    }
    try {
      return await llama.createGrammarForJsonSchema(request.schema);
    } catch (err) {
      throw new InvalidMessageError('response_format schema cannot be turned into a grammar', {
        cause: err,
      });
    }
  }

  async close(): Promise<void> {
    const { llama, model, context, embedding } = this.loaded;
    await embedding?.dispose();
    await context.dispose();
    await model.dispose();
    await llama.dispose();
  }

  private end(finish: FinishReason, promptTokens: number, completionTokens: number): GenerateEnd {
    return {
      finish_reason: finish,
      usage: {
        prompt_tokens: promptTokens,
        completion_tokens: completionTokens,
        total_tokens: promptTokens + completionTokens,
      },
    };
  }

  private async embedWith(
    context: LlamaEmbeddingContext,
    request: EmbeddingRequest,
    { signal }: GenerateOptions,
  ): Promise<EmbeddingResult> {
    throwIfAborted(signal);
    this.checkModel(request.model);
    const input = request.input;
    if (typeof input !== 'string' && !input.every((item) => typeof item === 'string')) {
      throw new InvalidMessageError('the llama-cpp backend embeds text, not token arrays');
    }
    const texts = typeof input === 'string' ? [input] : input;
    const data: EmbeddingResult['data'] = [];
    let tokens = 0;
    for (const [index, text] of texts.entries()) {
      throwIfAborted(signal);
      const { vector } = await context.getEmbeddingFor(text);
      if (request.dimensions !== undefined && request.dimensions !== vector.length) {
        throw new InvalidMessageError(`this model's embeddings have ${vector.length} dimensions`);
      }
      tokens += this.loaded.model.tokenize(text).length;
      const values = [...vector];
      const embedding =
        request.encoding_format === 'base64'
          ? Buffer.from(new Float32Array(values).buffer).toString('base64')
          : values;
      data.push({ index, embedding });
    }
    return { model: request.model, data, usage: { prompt_tokens: tokens, total_tokens: tokens } };
  }

  private checkModel(model: string): void {
    if (!this.served.includes(model)) {
      throw new NotFoundError(`model '${model}' is not served by this backend`);
    }
  }

  /** A free context sequence; waits (abortably) while all are generating. */
  private acquire(signal: AbortSignal): Promise<LlamaContextSequence> {
    if (signal.aborted) return Promise.reject(abortError(signal));
    const sequence = this.free.pop();
    if (sequence !== undefined) return Promise.resolve(sequence);
    return new Promise((resolve, reject) => {
      const take = (s: LlamaContextSequence) => {
        signal.removeEventListener('abort', onAbort);
        resolve(s);
      };
      const onAbort = () => {
        this.waiting.splice(this.waiting.indexOf(take), 1);
        reject(abortError(signal));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(take);
    });
  }

  private release(sequence: LlamaContextSequence): void {
    const next = this.waiting.shift();
    if (next !== undefined) next(sequence);
    else this.free.push(sequence);
  }
}

export function createLlamaCppBackend(options: LlamaCppBackendOptions): Promise<LlamaCppBackend> {
  return LlamaCppBackend.create(options);
}
