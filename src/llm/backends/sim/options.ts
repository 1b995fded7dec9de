// Options of the simulated backend, their defaults, and their validation (ConfigError naming
// the field, since these usually come from a config file).
import { ConfigError } from '../../../protocol/index.js';
import {
  type Fields,
  optionalEnum,
  optionalFunction,
  optionalNames,
  optionalNumber,
  readFields,
} from '../config.js';

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
export const SIM_OPTION_KEYS = [
  'models',
  'seed',
  'minOutputTokens',
  'maxOutputTokens',
  'maxTokensLimit',
  'ttftMs',
  'itlMs',
  'prefillMsPerBlock',
  'jitter',
  'jitterMode',
  'cacheBlocks',
  'embeddingDimensions',
  'failure',
  'onPrefill',
] as const;
const FAILURE_KEYS = ['crashAfterTokens', 'mode', 'errorRate', 'stallAfterTokens', 'seed'] as const;

/** Largest embedding a request may ask for; beyond it a request could exhaust memory. */
export const MAX_EMBEDDING_DIMENSIONS = 65_536;

export function resolveSimOptions(options: unknown): ResolvedSimOptions {
  const f: Fields = readFields(WHAT, options ?? {}, SIM_OPTION_KEYS);
  const ms = { min: 0 };
  const count = { integer: true, min: 1 };
  const minOutputTokens = optionalNumber(WHAT, f, 'minOutputTokens', count) ?? 16;
  const maxOutputTokens =
    optionalNumber(WHAT, f, 'maxOutputTokens', count) ?? Math.max(64, minOutputTokens);
  if (maxOutputTokens < minOutputTokens) {
    throw new ConfigError(
      `${WHAT}: 'maxOutputTokens' (${maxOutputTokens}) must be at least 'minOutputTokens' (${minOutputTokens})`,
    );
  }
  const maxTokensLimit = optionalNumber(WHAT, f, 'maxTokensLimit', count) ?? 32_768;
  return {
    models: optionalNames(WHAT, f, 'models') ?? ['llmwire-sim'],
    seed: optionalNumber(WHAT, f, 'seed', { integer: true }) ?? 0,
    minOutputTokens,
    maxOutputTokens,
    maxTokensLimit,
    ttftMs: optionalNumber(WHAT, f, 'ttftMs', ms) ?? 0,
    itlMs: optionalNumber(WHAT, f, 'itlMs', ms) ?? 0,
    prefillMsPerBlock: optionalNumber(WHAT, f, 'prefillMsPerBlock', ms) ?? 0,
    jitter: optionalNumber(WHAT, f, 'jitter', { min: 0, max: 1 }) ?? 0,
    jitterMode: optionalEnum(WHAT, f, 'jitterMode', ['seeded', 'random'] as const) ?? 'seeded',
    cacheBlocks: optionalNumber(WHAT, f, 'cacheBlocks', { integer: true, min: 0 }) ?? 4096,
    embeddingDimensions:
      optionalNumber(WHAT, f, 'embeddingDimensions', {
        integer: true,
        min: 1,
        max: MAX_EMBEDDING_DIMENSIONS,
      }) ?? 64,
    failure: resolveFailure(f['failure']),
    onPrefill: optionalFunction<(prefill: SimPrefill) => void>(WHAT, f, 'onPrefill'),
  };
}

function resolveFailure(value: unknown): ResolvedSimOptions['failure'] {
  const what = `${WHAT} failure`;
  const f = readFields(what, value ?? {}, FAILURE_KEYS);
  return {
    crashAfterTokens: optionalNumber(what, f, 'crashAfterTokens', { integer: true, min: 0 }),
    mode: optionalEnum(what, f, 'mode', ['exit', 'throw'] as const) ?? 'throw',
    errorRate: optionalNumber(what, f, 'errorRate', { min: 0, max: 1 }) ?? 0,
    stallAfterTokens: optionalNumber(what, f, 'stallAfterTokens', { integer: true, min: 0 }),
    seed: optionalNumber(what, f, 'seed', { integer: true }),
  };
}
