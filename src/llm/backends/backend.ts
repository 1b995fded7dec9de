// The Backend seam: what a worker needs from a model server. One folder per backend beside
// this file (sim, openai, llama-cpp); the worker runtime knows only this interface.
import type {
  EmbeddingRequest,
  EmbeddingResult,
  FinishReason,
  InferenceRequest,
  ToolCallDelta,
  Usage,
} from '../../protocol/index.js';
import type { TraceContext, Tracer } from '../../ops/index.js';
import type { ParamsLoad, ParamsUse } from './params.js';

export type { ParamsLoad, ParamsUse } from './params.js';

/** One streamed piece of a completion (the body of an `inference.chunk`). */
export interface TokenDelta {
  text: string;
  /** Tool calls in delta form, when the model calls tools. */
  tool_calls?: ToolCallDelta[];
  /** Reasoning text, before the answer it leads to. */
  reasoning?: string;
  /** Refusal text, in place of an answer. */
  refusal?: string;
}

/** How a completion ended. */
export interface GenerateEnd {
  finish_reason: FinishReason;
  usage: Usage;
  /** The stop sequence that ended the answer, when one did. */
  stop_sequence?: string;
}

export interface GenerateOptions {
  /** Fires when the client cancels or the deadline passes: the backend must stop its model call. */
  signal: AbortSignal;
  /** The worker's span: a backend that calls a server sends it on (W3C `traceparent`). */
  trace?: { context: TraceContext; tracer: Tracer | undefined } | undefined;
  /** The loaded params version to answer with (llm/params), when the request names one. */
  params?: ParamsUse | undefined;
  /**
   * The caller joins the deltas into one answer (the client did not ask for a stream): a
   * backend may then ask its model server for the whole answer and yield it as one delta.
   */
  whole?: boolean | undefined;
}

export interface Backend {
  /** Backend kind, e.g. 'sim', 'openai', 'llama-cpp'. */
  readonly kind: string;
  /** Model names this backend answers for. */
  models(): string[];
  /**
   * Streams a completion. Yields deltas in order and returns how it ended. When
   * `request.continue_from`, `continue_reasoning` or `continue_tool_calls` is set, the answer
   * continues after what they hold (another worker already sent it to the client) and yields
   * only what comes after it; a backend that cannot continue a part throws InvalidMessageError.
   * Errors are WireErrors (`upstream_error`, `deadline_exceeded`, `cancelled`, ...).
   */
  generate(
    request: InferenceRequest,
    options: GenerateOptions,
  ): AsyncGenerator<TokenDelta, GenerateEnd>;
  /** Embeddings, when the backend has them; otherwise absent. */
  embed?(request: EmbeddingRequest, options: GenerateOptions): Promise<EmbeddingResult>;
  /** Hashes of the prompt-prefix blocks this backend holds in its cache (for routing). */
  cachedPrefixes?(): string[];
  /**
   * Loads a version of the model's weights or of an adapter from a verified local file; resolves
   * once requests naming it can be answered. Absent: the backend cannot take rollouts.
   */
  loadParams?(load: ParamsLoad): Promise<void>;
  /** Releases a version loaded before (the worker keeps a few per model and adapter). */
  unloadParams?(params: {
    model: string;
    adapter?: string | undefined;
    version: string;
  }): Promise<void>;
  close?(): Promise<void>;
}
