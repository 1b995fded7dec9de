// The part of node-llama-cpp (v3) this backend uses, typed here so that llmwire builds and
// installs without it: the package is large and native, and only this backend needs it.
import { ConfigError } from '../../../protocol/index.js';

export const NODE_LLAMA_CPP = 'node-llama-cpp';
export const INSTALL_HINT = 'install node-llama-cpp: npm install node-llama-cpp';

/** A function call inside a model turn, with the result the caller gave back (`ChatModelFunctionCall`). */
export interface ChatModelFunctionCall {
  type: 'functionCall';
  name: string;
  description?: string;
  params: unknown;
  result: unknown;
  /** Set on the first call of a group of parallel calls. */
  startsNewChunk?: boolean;
}

export type ChatHistoryItem =
  | { type: 'system'; text: string }
  | { type: 'user'; text: string }
  | { type: 'model'; response: (string | ChatModelFunctionCall)[] };

/** A JSON schema in the subset node-llama-cpp turns into a grammar (`GbnfJsonSchema`). */
export type GbnfJsonSchema = Readonly<Record<string, unknown>>;

/** Functions the model may call, by name (`ChatModelFunctions`). */
export type ChatModelFunctions = Readonly<
  Record<string, { readonly description?: string; readonly params?: GbnfJsonSchema }>
>;

/** A grammar object made by `Llama`; opaque here, only passed back to a generation. */
export interface LlamaGrammar {
  readonly grammar?: string;
}

export interface LlamaGenerationOptions {
  onTextChunk?: (text: string) => void;
  signal?: AbortSignal;
  maxTokens?: number;
  temperature?: number;
  topP?: number;
  seed?: number;
  customStopTriggers?: string[];
  /** Constrains the output; node-llama-cpp refuses it together with `functions`. */
  grammar?: LlamaGrammar;
}

/** `LlamaChat.generateResponse` also takes functions; without handlers, calls are returned. */
export interface LlamaChatGenerationOptions extends LlamaGenerationOptions {
  functions?: ChatModelFunctions;
  /** Describes the parameters' schemas to the model (the library's default is true). */
  documentFunctionParams?: boolean;
  maxParallelFunctionCalls?: number;
}

/** A function call the model made (`LlamaChatResponseFunctionCall`). */
export interface LlamaFunctionCall {
  functionName: string;
  params: unknown;
}

/** `stopReason` is one of 'eogToken', 'stopGenerationTrigger', 'customStopTrigger', 'maxTokens', 'functionCalls', 'abort'. */
export interface LlamaGenerationResult {
  response: string;
  /** Chat only: the calls made, when the model called functions. */
  functionCalls?: LlamaFunctionCall[];
  metadata: { stopReason: string };
}

export interface LlamaContextSequence {
  dispose(): void;
}

export interface LlamaChat {
  /** Answers the history; when it ends with a model item, continues that item. */
  generateResponse(
    history: ChatHistoryItem[],
    options: LlamaChatGenerationOptions,
  ): Promise<LlamaGenerationResult>;
  dispose(options?: { disposeSequence?: boolean }): void;
}

export interface LlamaCompletion {
  generateCompletionWithMeta(
    input: string,
    options: LlamaGenerationOptions,
  ): Promise<LlamaGenerationResult>;
  dispose(options?: { disposeSequence?: boolean }): void;
}

export interface LlamaContext {
  getSequence(): LlamaContextSequence;
  dispose(): Promise<void>;
}

export interface LlamaEmbeddingContext {
  getEmbeddingFor(input: string): Promise<{ vector: readonly number[] }>;
  dispose(): Promise<void>;
}

export interface LlamaModel {
  createContext(options?: { contextSize?: number; sequences?: number }): Promise<LlamaContext>;
  createEmbeddingContext(options?: { contextSize?: number }): Promise<LlamaEmbeddingContext>;
  tokenize(text: string): readonly unknown[];
  dispose(): Promise<void>;
}

export interface Llama {
  loadModel(options: {
    modelPath: string;
    gpuLayers?: number | 'auto' | 'max';
  }): Promise<LlamaModel>;
  createGrammarForJsonSchema(schema: GbnfJsonSchema): Promise<LlamaGrammar>;
  /** A grammar from the library's bundled GBNF files; 'json' is any JSON object. */
  getGrammarFor(type: 'json'): Promise<LlamaGrammar>;
  dispose(): Promise<void>;
}

export interface NodeLlamaCpp {
  getLlama(options?: Record<string, unknown>): Promise<Llama>;
  LlamaChat: new (options: {
    contextSequence: LlamaContextSequence;
    autoDisposeSequence?: boolean;
  }) => LlamaChat;
  LlamaCompletion: new (options: {
    contextSequence: LlamaContextSequence;
    autoDisposeSequence?: boolean;
  }) => LlamaCompletion;
}

/** Imports node-llama-cpp, or fails with a ConfigError that says how to install it. */
export async function importNodeLlamaCpp(
  specifier: string = NODE_LLAMA_CPP,
): Promise<NodeLlamaCpp> {
  let loaded: unknown;
  try {
    // A non-literal specifier, so that neither tsc nor a bundler needs the package present.
    loaded = await import(specifier);
  } catch (err) {
    const code = (err as { code?: unknown } | null)?.code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') {
      throw new ConfigError(`llama-cpp backend: node-llama-cpp is not installed; ${INSTALL_HINT}`, {
        cause: err,
      });
    }
    throw new ConfigError(`llama-cpp backend: node-llama-cpp failed to load`, { cause: err });
  }
  return checkModule(loaded);
}

/** Checks the shape of a loaded module (an old major version lacks these exports). */
export function checkModule(loaded: unknown): NodeLlamaCpp {
  const mod = loaded as Partial<Record<keyof NodeLlamaCpp, unknown>> | null;
  const ok =
    typeof mod?.getLlama === 'function' &&
    typeof mod.LlamaChat === 'function' &&
    typeof mod.LlamaCompletion === 'function';
  if (!ok) {
    throw new ConfigError(
      'llama-cpp backend: the loaded node-llama-cpp lacks getLlama, LlamaChat or LlamaCompletion; version 3 is required',
    );
  }
  return loaded as NodeLlamaCpp;
}
