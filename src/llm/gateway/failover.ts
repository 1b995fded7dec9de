// The failover rules of dispatch (dispatch.ts): which errors move a request to another worker,
// what the next worker is asked (a continuation of what was already sent), and the pause before
// trying the workers of a model that all refused it as overloaded.
import {
  CancelledError,
  OverloadedError,
  WireError,
  type InferenceRequest,
} from '../../protocol/index.js';
import type { AnswerJoiner } from '../answer.js';

/** The pause before trying a model's workers again, in `round` (0, 1, ...). */
function pauseMs(round: number): number {
  return Math.min(1000, 50 * 2 ** Math.min(round, 5));
}

/**
 * Waits out the pause before round `round` + 1 of a request every worker refused as overloaded,
 * or throws: OverloadedError when it would end past `waitUntil` (or none is set), CancelledError
 * when the client goes away meanwhile.
 */
export async function pauseForWorkers(
  model: string,
  round: number,
  call: { readonly signal: AbortSignal; readonly waitUntil?: number | undefined },
): Promise<void> {
  const pause = pauseMs(round);
  if (call.waitUntil === undefined || Date.now() + pause > call.waitUntil) {
    throw new OverloadedError(`every worker of model '${model}' is at its concurrency limit`, {
      details: { reason: 'workers_full', retryAfterMs: 1000 },
    });
  }
  await new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      call.signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, pause);
    call.signal.addEventListener('abort', done, { once: true });
  });
  if (call.signal.aborted) throw new CancelledError('client went away');
}

/**
 * `no_responders`: nothing listens on the worker's subject any more, so its process is gone
 * (its subscriptions went with its connection). It is dropped from the registry at once rather
 * than after its heartbeats stop, which also moves its other streams to other workers now.
 */
export function isGone(err: unknown): boolean {
  return err instanceof WireError && err.code === 'no_responders';
}

/** Errors after which another worker may take the request. */
export function isFailover(err: unknown): boolean {
  return (
    err instanceof WireError &&
    (err.code === 'worker_lost' ||
      err.code === 'no_responders' ||
      err.code === 'unavailable' ||
      err.code === 'overloaded')
  );
}

/** The request for another worker, carrying on from what the failed ones already sent. */
export function continuation(request: InferenceRequest, sent: AnswerJoiner): InferenceRequest {
  const calls = sent.toolCalls();
  if (sent.text === '' && sent.reasoning === '' && calls === undefined) return request;
  const body: InferenceRequest = { ...request };
  if (sent.text !== '') body.continue_from = sent.text;
  if (sent.reasoning !== '') body.continue_reasoning = sent.reasoning;
  if (calls !== undefined) body.continue_tool_calls = calls;
  return body;
}

/** A worker's refusal of a continuation (`continue_*` it cannot honour). */
export function isRefusedContinuation(err: unknown): boolean {
  return err instanceof WireError && err.code === 'invalid_message';
}
