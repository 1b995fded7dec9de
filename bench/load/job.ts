// What the load generator is asked to do and what it reports back, shared by the child process
// (sse-client.ts) and the bench process that drives it (client.ts).
import type { ApiName } from './apis.js';

export interface LoadJob {
  /** Full URL of the endpoint, e.g. http://127.0.0.1:PORT/v1/chat/completions. */
  url: string;
  /** The API the bodies are for, which says how its stream is read; default chat completions. */
  api?: ApiName;
  /** JSON request bodies; each request takes one at random (seeded), not in turn. */
  bodies: string[];
  /** Replaced in a body by the request's sequence number, so every prompt can be unique. */
  uniqueMarker?: string;
  /** Requests kept in flight (closed loop: a slot sends its next request when one ends). */
  concurrency: number;
  /** Stop sending new requests after this long; those in flight still finish. */
  durationMs?: number;
  /** Or: send exactly this many requests. */
  requests?: number;
  /** Streaming (SSE) requests; otherwise plain JSON answers. */
  stream: boolean;
  seed?: number;
  /** An API key sent with every request (its tenant's limits apply). */
  apiKey?: string;
}

export interface LoadResult {
  requests: number;
  /** Streams that ended with their API's end event, or JSON answers with status 200. */
  completed: number;
  errors: number;
  firstError?: string;
  /** Token deltas received (streams only). */
  tokens: number;
  /**
   * Per request, ms from sending to the first token delta (streams) or to the whole answer
   * (JSON).
   */
  latencyMs: number[];
  /** From the first request sent to the last one finished. */
  elapsedMs: number;
  /** Most streams open at once (first body byte received, not yet ended). */
  peakOpen: number;
  /** CPU time the load generator used over the job: whether it, not the server, was the limit. */
  cpuMs: number;
}

export type ToClient = { type: 'run'; id: number; job: LoadJob } | { type: 'exit' };
export type FromClient =
  | { type: 'ready' }
  | { type: 'result'; id: number; result: LoadResult }
  | { type: 'failed'; id: number; message: string };
