// One request of a batch through the gateway's one inference path: admission at the lowest
// priority (after every live request waiting), dispatch with failover, then the answer as an
// output line in OpenAI's batch output format, or the error as an error-file line. Errors a
// retry may cure (overload, no worker for a while, a lost worker) are retried with backoff.
import {
  ERROR_TABLE,
  MIN_PRIORITY,
  toWireError,
  CancelledError,
  NotFoundError,
  type EmbeddingResult,
  type InferenceResult,
  type WireError,
} from '../../../protocol/index.js';
import type { AdmissionController } from '../../routing/index.js';
import { estimateTokens } from '../../routing/index.js';
import { checkModelAllowed } from '../auth.js';
import type { Dispatcher } from '../dispatch.js';
import { errorJson, type Tenant } from '../http.js';
import { chatCompletion } from '../openai.js';
import { toRequest, type BatchLine } from './jsonl.js';
import type { BatchSlots } from './slots.js';
import type { StoredResult } from './store.js';

export interface ExecuteHost {
  readonly admission: AdmissionController;
  readonly dispatcher: Dispatcher;
  readonly slots: BatchSlots;
  /** Longest one attempt may take. */
  readonly timeoutMs: number;
  /** Attempts of one request before its error is the answer. */
  readonly attempts: number;
}

export interface Job {
  tenant: Tenant;
  requestId: string;
  line: BatchLine;
  signal: AbortSignal;
  /** Asked once the line has a slot: false when its batch was cancelled meanwhile. */
  runs?: () => boolean;
}

const BACKOFF_MS = [250, 1000, 3000, 8000, 15000];

function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/** Runs one line; rejects only when `job.signal` fires (the batch stops: no line is written). */
export async function executeLine(host: ExecuteHost, job: Job): Promise<StoredResult> {
  for (let attempt = 0; ; attempt++) {
    job.signal.throwIfAborted();
    try {
      return await attemptLine(host, job);
    } catch (err) {
      if (job.signal.aborted) throw job.signal.reason;
      const wire = toWireError(err);
      // A model no worker serves yet may be one whose workers have not been heard from (a
      // gateway just restarted): it is retried like an overload.
      const retryable = wire.retryable || wire instanceof NotFoundError;
      if (wire instanceof CancelledError) throw wire;
      if (!retryable || attempt + 1 >= host.attempts) return errorResult(job, wire);
      const hinted = wire.details?.retryAfterMs;
      const wait = typeof hinted === 'number' ? hinted : (BACKOFF_MS[attempt] ?? 15000);
      await delay(Math.min(wait, 30_000), job.signal);
    }
  }
}

async function attemptLine(host: ExecuteHost, job: Job): Promise<StoredResult> {
  const parsed = toRequest(job.line.url, job.line.body);
  const model = 'chat' in parsed ? parsed.chat.model : parsed.embed.model;
  checkModelAllowed(job.tenant, model);
  host.dispatcher.checkModel(model);
  const release = await host.slots.acquire(model, job.signal);
  try {
    if (job.runs?.() === false) throw new CancelledError('batch cancelled');
    const deadline = Date.now() + host.timeoutMs;
    const lease = await host.admission.admit({
      tenant: job.tenant.name,
      model,
      priority: MIN_PRIORITY,
      estimatedTokens:
        'chat' in parsed
          ? estimateTokens(parsed.chat)
          : estimateTokens({ model, prompt: inputs(parsed.embed.input), max_tokens: 1 }),
      deadline,
      signal: job.signal,
    });
    const call = {
      requestId: job.requestId,
      tenant: job.tenant.name,
      prio: MIN_PRIORITY,
      deadline,
      signal: job.signal,
      waitUntil: lease.waitUntil,
    };
    let tokensUsed: number | undefined;
    try {
      if ('embed' in parsed) {
        const result: EmbeddingResult = await host.dispatcher.embed(parsed.embed, call);
        tokensUsed = result.usage.total_tokens;
        return okResult(job, embeddingBody(result), {
          prompt: result.usage.prompt_tokens,
          completion: 0,
          cached: 0,
          reasoning: 0,
        });
      }
      const gen = host.dispatcher.chat({ ...parsed.chat, stream: false }, call);
      let step = await gen.next();
      while (step.done !== true) step = await gen.next();
      const result: InferenceResult = step.value;
      tokensUsed = result.usage.total_tokens;
      const body = chatCompletion(
        `chatcmpl-${job.requestId}`,
        Math.floor(Date.now() / 1000),
        result,
      );
      return okResult(job, body, {
        prompt: result.usage.prompt_tokens,
        completion: result.usage.completion_tokens,
        cached: result.usage.cached_tokens ?? 0,
        reasoning: result.usage.reasoning_tokens ?? 0,
      });
    } finally {
      lease.release(tokensUsed === undefined ? {} : { tokensUsed });
    }
  } finally {
    release();
  }
}

function inputs(input: unknown): string[] {
  return (Array.isArray(input) ? input : [input]).map(String);
}

function embeddingBody(result: EmbeddingResult): unknown {
  return {
    object: 'list',
    model: result.model,
    data: result.data.map((d) => ({ object: 'embedding', index: d.index, embedding: d.embedding })),
    usage: result.usage,
  };
}

function okResult(job: Job, body: unknown, usage: StoredResult['usage']): StoredResult {
  const line = {
    id: job.requestId,
    custom_id: job.line.custom_id,
    response: { status_code: 200, request_id: job.requestId, body },
    error: null,
  };
  return { ok: true, line: JSON.stringify(line), ...(usage === undefined ? {} : { usage }) };
}

/** An error answer, as OpenAI writes one to the error file: the HTTP status and error JSON. */
export function errorResult(job: Pick<Job, 'requestId' | 'line'>, err: WireError): StoredResult {
  const status = err.code === 'cancelled' ? 499 : ERROR_TABLE[err.code].status;
  const line = {
    id: job.requestId,
    custom_id: job.line.custom_id,
    response: { status_code: status, request_id: job.requestId, body: errorJson(err) },
    error: null,
  };
  return { ok: false, line: JSON.stringify(line) };
}

/** The error line of a request the batch never ran (it expired first). */
export function expiredResult(job: Pick<Job, 'requestId' | 'line'>): StoredResult {
  const line = {
    id: job.requestId,
    custom_id: job.line.custom_id,
    response: null,
    error: {
      code: 'batch_expired',
      message: 'This request could not be executed before the completion window expired.',
    },
  };
  return { ok: false, line: JSON.stringify(line) };
}
