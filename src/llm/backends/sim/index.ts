// The simulated backend: a GPU-free model for demos, tests and load tests. Its text is a pure
// function of the request; its timing models time to first token, prefill with a prefix cache,
// and inter-token latency; and it can fail on purpose (crash, error, stall).
import {
  type EmbeddingRequest,
  type EmbeddingResult,
  type FinishReason,
  type InferenceRequest,
  InvalidMessageError,
  NotFoundError,
  UpstreamError,
  WorkerLostError,
} from '../../../protocol/index.js';
import { PREFIX_BLOCK_CHARS, prefixBlockHashes, promptText } from '../../routing/prefix.js';
import type { Backend, GenerateEnd, GenerateOptions, ParamsLoad, TokenDelta } from '../backend.js';
import { SimParams } from './params.js';
import { CallSleeps, throwIfAborted, untilAborted } from '../signal.js';
import { simEmbeddings } from './embed.js';
import {
  type ResolvedSimOptions,
  type SimBackendOptions,
  type SimPrefill,
  resolveSimOptions,
} from './options.js';
import { PrefixCache } from './prefix-cache.js';
import { SeededRandom } from './random.js';
import {
  fixedTextSteps,
  planJson,
  planToolCalls,
  reasoningTokens,
  toolCallSteps,
} from './output.js';
import { type TextPlan, textSteps } from './text.js';

/** How the sim's answer ended: its finish, tokens (reasoning included) and reasoning tokens. */
interface StepsEnd {
  finish: FinishReason;
  tokens: number;
  reasoning: number;
  stopSequence?: string;
}

export type { SimBackendOptions, SimFailureOptions, SimPrefill } from './options.js';

/** Tokens per prompt block, at the simulator's four characters per token. */
const TOKENS_PER_BLOCK = PREFIX_BLOCK_CHARS / 4;

export class SimBackend implements Backend {
  readonly kind = 'sim';
  private readonly options: ResolvedSimOptions;
  private readonly cache: PrefixCache;
  /** One draw per request, in arrival order, for errorRate. */
  private readonly failures: SeededRandom;
  /** The params versions loaded (a simulated load: the file is read, nothing else). */
  private readonly params: SimParams;

  constructor(options: SimBackendOptions = {}) {
    this.options = resolveSimOptions(options);
    this.cache = new PrefixCache(this.options.cacheBlocks);
    this.failures = new SeededRandom('failure', this.options.failure.seed ?? this.options.seed);
    this.params = new SimParams(this.options.paramsLoadMs);
  }

  loadParams(load: ParamsLoad): Promise<void> {
    this.checkModel(load.model);
    return this.params.load(load);
  }

  async unloadParams(p: { model: string; adapter?: string | undefined; version: string }) {
    this.params.unload(p);
  }

  models(): string[] {
    return [...this.options.models];
  }

  cachedPrefixes(): string[] {
    return this.cache.hashes();
  }

  /** The prefill a request would cost now, without serving it or touching the cache. */
  prefillFor(request: InferenceRequest): SimPrefill {
    return this.costPrefill(promptText(request), request.continue_from ?? '').prefill;
  }

  async *generate(
    request: InferenceRequest,
    { signal, params }: GenerateOptions,
  ): AsyncGenerator<TokenDelta, GenerateEnd> {
    throwIfAborted(signal);
    if (params !== undefined) this.params.check(request.model, params);
    const prompt = promptText(request);
    const continueFrom = request.continue_from ?? '';
    const steps = this.steps(request, prompt, continueFrom);
    // Runs up to the first new token: a continue_from that is not a prefix of the answer
    // fails here, before any waiting.
    let step = steps.next();

    const { failure } = this.options;
    if (failure.errorRate > 0 && this.failures.next() < failure.errorRate) {
      throw new UpstreamError('simulated model server failure', { details: { simulated: true } });
    }

    const { prefill, hashes } = this.costPrefill(prompt, continueFrom);
    this.options.onPrefill?.(prefill);
    const delays = this.delays(request, prompt);
    const sleeps = new CallSleeps(signal);
    let sent = 0;
    try {
      const ttft = delays.next(this.options.ttftMs) + prefill.prefillMs;
      if (ttft > 0) await sleeps.sleep(ttft);
      // The prompt's KV blocks exist once prefill is done, so concurrent requests with the same
      // prefix can already share them.
      this.cache.add(hashes);

      let first = true;
      while (step.done !== true) {
        if (!first) {
          const itl = delays.next(this.options.itlMs);
          if (itl > 0) await sleeps.sleep(itl);
        }
        first = false;
        throwIfAborted(signal);
        if (
          step.value.text !== '' ||
          step.value.tool_calls !== undefined ||
          step.value.reasoning !== undefined
        ) {
          if (sent === failure.crashAfterTokens) this.crash();
          if (sent === failure.stallAfterTokens) await untilAborted(signal);
          yield step.value;
          sent++;
        }
        step = steps.next();
      }
    } finally {
      sleeps.dispose();
    }

    const promptTokens = Math.ceil(prompt.length / 4);
    const end: GenerateEnd = {
      finish_reason: step.value.finish,
      usage: {
        prompt_tokens: promptTokens,
        completion_tokens: step.value.tokens,
        total_tokens: promptTokens + step.value.tokens,
        cached_tokens: Math.min(promptTokens, prefill.cachedBlocks * TOKENS_PER_BLOCK),
      },
    };
    if (step.value.reasoning > 0) end.usage.reasoning_tokens = step.value.reasoning;
    if (step.value.stopSequence !== undefined) end.stop_sequence = step.value.stopSequence;
    return end;
  }

  async embed(request: EmbeddingRequest, { signal }: GenerateOptions): Promise<EmbeddingResult> {
    throwIfAborted(signal);
    this.checkModel(request.model);
    return simEmbeddings(request, this.options.embeddingDimensions);
  }

  async close(): Promise<void> {}

  /**
   * The answer's deltas: reasoning text when the request asks for it, then tool calls, JSON for
   * a response_format, or free text.
   */
  private *steps(
    request: InferenceRequest,
    prompt: string,
    continueFrom: string,
  ): Generator<TokenDelta, StepsEnd> {
    const plan = this.plan(request, prompt, continueFrom);
    const reasoning = reasoningTokens(request);
    if (reasoning > 0) {
      const thoughts = textSteps({
        ...plan,
        prompt: `reasoning\n${prompt}`,
        maxTokens: reasoning,
        stop: [],
        continueFrom: request.continue_reasoning ?? '',
      });
      for (let step = thoughts.next(); step.done !== true; step = thoughts.next()) {
        if (step.value !== '') yield { text: '', reasoning: step.value };
      }
    } else if ((request.continue_reasoning ?? '') !== '') {
      throw new InvalidMessageError('continue_reasoning given, but this answer has no reasoning');
    }
    const end = yield* this.answerSteps(request, plan);
    return { ...end, reasoning, tokens: end.tokens + reasoning };
  }

  private *answerSteps(
    request: InferenceRequest,
    plan: TextPlan,
  ): Generator<TokenDelta, Omit<StepsEnd, 'reasoning'>> {
    const random = new SeededRandom('output', plan.model, plan.prompt, plan.seed);
    const calls = planToolCalls(request, random);
    if (calls !== undefined) {
      if (plan.continueFrom !== '') {
        throw new InvalidMessageError('continue_from cannot continue an answer of tool calls');
      }
      return yield* toolCallSteps(calls, request.continue_tool_calls);
    }
    if ((request.continue_tool_calls ?? []).length > 0) {
      throw new InvalidMessageError('continue_tool_calls given, but this answer calls no tools');
    }
    const json = planJson(request, random);
    if (json !== undefined) return yield* fixedTextSteps(json, plan.continueFrom);
    const text = textSteps(plan);
    for (let step = text.next(); ; step = text.next()) {
      if (step.done === true) return step.value;
      yield { text: step.value };
    }
  }

  private plan(request: InferenceRequest, prompt: string, continueFrom: string): TextPlan {
    this.checkModel(request.model);
    if ((request.n ?? 1) > 1) {
      throw new InvalidMessageError('n > 1 is not supported: a backend streams one choice');
    }
    if (Array.isArray(request.prompt) && request.prompt.length > 1) {
      throw new InvalidMessageError(
        'several prompts in one request are not supported: a backend streams one choice',
      );
    }
    const maxTokens = request.max_completion_tokens ?? request.max_tokens ?? undefined;
    if (maxTokens !== undefined && maxTokens > this.options.maxTokensLimit) {
      throw new InvalidMessageError(
        `max tokens ${maxTokens} exceeds this model's limit of ${this.options.maxTokensLimit}`,
      );
    }
    const stop = request.stop ?? [];
    return {
      model: request.model,
      prompt,
      seed: request.seed ?? this.options.seed,
      naturalTokens: { min: this.options.minOutputTokens, max: this.options.maxOutputTokens },
      maxTokens,
      stop: typeof stop === 'string' ? [stop] : stop,
      continueFrom,
    };
  }

  private checkModel(model: string): void {
    if (!this.options.models.includes(model)) {
      throw new NotFoundError(`model '${model}' is not served by this backend`);
    }
  }

  private costPrefill(prompt: string, continueFrom: string) {
    const hashes = prefixBlockHashes(prompt);
    const cachedBlocks = this.cache.cachedBlocks(hashes);
    const promptBlocks = Math.ceil(prompt.length / PREFIX_BLOCK_CHARS);
    const continuationBlocks = Math.ceil(continueFrom.length / PREFIX_BLOCK_CHARS);
    const uncached = promptBlocks - cachedBlocks + continuationBlocks;
    const prefill: SimPrefill = {
      promptBlocks,
      cachedBlocks,
      continuationBlocks,
      prefillMs: uncached * this.options.prefillMsPerBlock,
    };
    return { prefill, hashes };
  }

  /** Delays scaled by 1 ± jitter; seeded ones repeat for the same request. */
  private delays(request: InferenceRequest, prompt: string) {
    const { jitter, jitterMode, seed } = this.options;
    const random =
      jitterMode === 'seeded'
        ? new SeededRandom('timing', request.model, prompt, request.seed ?? seed)
        : undefined;
    return {
      next(base: number): number {
        if (base === 0 || jitter === 0) return base;
        const u = random === undefined ? Math.random() : random.next();
        return base * (1 + jitter * (2 * u - 1));
      },
    };
  }

  private crash(): never {
    if (this.options.failure.mode === 'exit') {
      // The whole worker process dies at once, as on an OOM kill: no cleanup, no goodbye.
      process.kill(process.pid, 'SIGKILL');
    }
    throw new WorkerLostError('simulated worker crash mid-stream', {
      details: { simulated: true },
    });
  }
}

export function createSimBackend(options: SimBackendOptions = {}): SimBackend {
  return new SimBackend(options);
}
