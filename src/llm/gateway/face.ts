// An API face: one HTTP API in front of the same inference path. Chat completions, completions,
// Responses and Anthropic Messages each turn their request body into one `inference.request`
// (docs/protocol.md) and the bus's deltas and result back into their own JSON and stream events;
// admission, routing, failover, cancellation and deadlines are the gateway's, once for all.
import type { InferenceResult, WireError } from '../../protocol/index.js';
import type { TokenDelta } from '../backends/backend.js';
import type { SseWriter } from './sse.js';

/** Writes one streamed answer as an API's events. */
export interface AnswerStream {
  /** Events before the first delta. */
  start(): Promise<void>;
  delta(delta: TokenDelta): Promise<void>;
  /** The closing events; `result` has every delta joined in. */
  finish(result: InferenceResult): Promise<void>;
  /** The stream failed after it began: the API's error event, and the end. */
  fail(error: WireError): Promise<void>;
}

export interface ApiFace {
  /** The answer sent whole, as the API's JSON body; `result` has every delta joined in. */
  whole(result: InferenceResult): Promise<unknown>;
  /** A writer for the answer streamed. */
  stream(sse: SseWriter): AnswerStream;
}
