// Options of the bus's calls: what publishing, requesting and serving take. Plain shapes over
// the protocol's envelope fields, shared by the bus and the helpers that carry out each call.
import type { EnvelopeInit, WireError } from '../protocol/index.js';

export type PublishOptions = Omit<EnvelopeInit, 'kind' | 'subject' | 'body'> & { kind?: string };

export interface RequestOptions extends PublishOptions {
  /** Milliseconds to wait for the reply; ignored when `deadline` is set. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /**
   * Accept replies (and stream items) only with this `source`: the responder the request was
   * sent to. Others are dropped and reported (`forbidden`), so a peer that learns the inbox
   * cannot answer in the responder's place. Error envelopes a transport makes itself (no
   * source: `no_responders`) are still accepted. Default: any source.
   */
  from?: string;
}

export interface ServeOptions {
  /** Queue group: each request goes to one of the group's members. */
  queue?: string;
  /** Accept only these kinds; bodies are checked against their schemas before the handler runs. */
  kinds?: string[];
  /** Kind of streamed items. Default: x.request -> x.chunk, otherwise 'event'. */
  chunkKind?: string;
  /** Kind of the reply / final stream message. Default: x.request -> x.result. */
  replyKind?: string;
}

export interface HandlerContext {
  /** Fires on cancellation by the requester, on the request's deadline, and on bus close. */
  readonly signal: AbortSignal;
  /**
   * Stops this call with `error`: the signal fires with it as its reason, a stream stops (even
   * one waiting for credit) and ends with `error` as its last message, as a deadline ends it.
   * For a handler that learns by other means that its work is no longer wanted (llm/worker: the
   * requesting gateway's heartbeats stopped); a requester that is in fact alive hears why.
   */
  abort(error: WireError): void;
}
