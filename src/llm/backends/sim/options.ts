// Options of the simulated backend, their defaults, and their validation (ConfigError naming
// the field, since these usually come from a config file).
import { Type } from '@sinclair/typebox';
import { ConfigError, optionsCheck } from '../../../protocol/index.js';
import { ModelNames } from '../config.js';

/** How one request's prefill was costed; reported to `onPrefill`. */
export interface SimPrefill {
  /** Blocks of PREFIX_BLOCK_CHARS in the prompt, the partial last block included. */
  promptBlocks: number;
  /** Leading blocks found in the prefix cache; they cost nothing. */
  cachedBlocks: number;
  /** Blocks of continue_from text, prefilled like prompt text. */
  continuationBlocks: number;
  prefillMs: number;
}

export interface SimFailureOptions {
  /** After this many deltas, the worker dies: `mode` says how. */
  crashAfterTokens?: number;
  /**
   * 'exit' kills the whole process with SIGKILL (for worker processes in failover tests);
   * 'throw' ends the stream with WorkerLostError. Default 'throw'.
   */
  mode?: 'exit' | 'throw';
  /** Probability that a request fails with UpstreamError before its first token. */
  errorRate?: number;
  /** After this many deltas, stop yielding and hang until the request is aborted. */
  stallAfterTokens?: number;
  /**
   * Seed of the errorRate draws (one per request, in arrival order). Default: the backend's
   * seed. Separate so that workers can fail differently while giving the same text.
   */
  seed?: number;
}

export interface SimBackendOptions {
  /** Model names served. Default ['llmwire-sim']. */
  models?: string[];
  /** Seed for requests that set none. Default 0. */
  seed?: number;
  /** Shortest answer, in tokens, when the request sets no max tokens. Default 16. */
  minOutputTokens?: number;
  /** Longest answer, in tokens, when the request sets no max tokens. Default 64. */
  maxOutputTokens?: number;
  /** Largest max_tokens a request may ask for (like a model's context). Default 32768. */
  maxTokensLimit?: number;
  /** Time to first token, before prefill. Default 0. */
  ttftMs?: number;
  /** Inter-token latency. Default 0. */
  itlMs?: number;
  /** Prefill time per uncached prompt block. Default 0. */
  prefillMsPerBlock?: number;
  /** Spread of ttft and itl: each delay is scaled by 1 ± jitter. From 0 to 1; default 0. */
  jitter?: number;
  /** 'seeded' repeats the same delays for the same request; 'random' does not. Default 'seeded'. */
  jitterMode?: 'seeded' | 'random';
  /** Prefix-cache capacity in blocks; 0 disables the cache. Default 4096. */
  cacheBlocks?: number;
  /** Embedding size when the request sets no `dimensions`. Default 64. */
  embeddingDimensions?: number;
  failure?: SimFailureOptions;
  /** How long loading a params version takes (a simulated weight or adapter load). Default 20. */
  paramsLoadMs?: number;
  /** Called for each request once its prefill is costed (metrics, tests). */
  onPrefill?: (prefill: SimPrefill) => void;
}

export interface ResolvedSimOptions {
  models: string[];
  seed: number;
  minOutputTokens: number;
  maxOutputTokens: number;
  maxTokensLimit: number;
  ttftMs: number;
  itlMs: number;
  prefillMsPerBlock: number;
  jitter: number;
  jitterMode: 'seeded' | 'random';
  cacheBlocks: number;
  embeddingDimensions: number;
  paramsLoadMs: number;
  failure: {
    crashAfterTokens: number | undefined;
    mode: 'exit' | 'throw';
    errorRate: number;
    stallAfterTokens: number | undefined;
    seed: number | undefined;
  };
  onPrefill: ((prefill: SimPrefill) => void) | undefined;
}

const WHAT = 'sim backend';

/** Largest embedding a request may ask for; beyond it a request could exhaust memory. */
export const MAX_EMBEDDING_DIMENSIONS = 65_536;

const Ms = Type.Number({ minimum: 0 });
const Count = Type.Integer({ minimum: 1 });
const Tokens = Type.Integer({ minimum: 0 });
const Probability = Type.Number({ minimum: 0, maximum: 1 });

const checkSim = optionsCheck(
  WHAT,
  Type.Object(
    {
      models: Type.Optional(ModelNames),
      seed: Type.Optional(Type.Integer()),
      minOutputTokens: Type.Optional(Count),
      maxOutputTokens: Type.Optional(Count),
      maxTokensLimit: Type.Optional(Count),
      ttftMs: Type.Optional(Ms),
      itlMs: Type.Optional(Ms),
      prefillMsPerBlock: Type.Optional(Ms),
      jitter: Type.Optional(Probability),
      jitterMode: Type.Optional(Type.Union([Type.Literal('seeded'), Type.Literal('random')])),
      cacheBlocks: Type.Optional(Type.Integer({ minimum: 0 })),
      embeddingDimensions: Type.Optional(
        Type.Integer({ minimum: 1, maximum: MAX_EMBEDDING_DIMENSIONS }),
      ),
      failure: Type.Optional(
        Type.Object(
          {
            crashAfterTokens: Type.Optional(Tokens),
            mode: Type.Optional(Type.Union([Type.Literal('exit'), Type.Literal('throw')])),
            errorRate: Type.Optional(Probability),
            stallAfterTokens: Type.Optional(Tokens),
            seed: Type.Optional(Type.Integer()),
          },
          { additionalProperties: false },
        ),
      ),
      paramsLoadMs: Type.Optional(Ms),
      onPrefill: Type.Optional(Type.Function([Type.Unknown()], Type.Unknown())),
    },
    { additionalProperties: false },
  ),
);

export function resolveSimOptions(options: unknown): ResolvedSimOptions {
  const o = checkSim(options ?? {});
  const minOutputTokens = o.minOutputTokens ?? 16;
  const maxOutputTokens = o.maxOutputTokens ?? Math.max(64, minOutputTokens);
  if (maxOutputTokens < minOutputTokens) {
    throw new ConfigError(
      `${WHAT}: 'maxOutputTokens' (${maxOutputTokens}) must be at least 'minOutputTokens' (${minOutputTokens})`,
    );
  }
  const failure = o.failure ?? {};
  return {
    models: o.models === undefined ? ['llmwire-sim'] : [...o.models],
    seed: o.seed ?? 0,
    minOutputTokens,
    maxOutputTokens,
    maxTokensLimit: o.maxTokensLimit ?? 32_768,
    ttftMs: o.ttftMs ?? 0,
    itlMs: o.itlMs ?? 0,
    prefillMsPerBlock: o.prefillMsPerBlock ?? 0,
    jitter: o.jitter ?? 0,
    jitterMode: o.jitterMode ?? 'seeded',
    cacheBlocks: o.cacheBlocks ?? 4096,
    embeddingDimensions: o.embeddingDimensions ?? 64,
    paramsLoadMs: o.paramsLoadMs ?? 20,
    failure: {
      crashAfterTokens: failure.crashAfterTokens,
      mode: failure.mode ?? 'throw',
      errorRate: failure.errorRate ?? 0,
      stallAfterTokens: failure.stallAfterTokens,
      seed: failure.seed,
    },
    onPrefill: o.onPrefill,
  };
}
