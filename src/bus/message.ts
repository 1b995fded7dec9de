// What handlers receive: the envelope plus the means to answer it.
import type { Envelope } from '../protocol/index.js';

export interface ReplyOptions {
  kind?: string;
  headers?: Record<string, string>;
}

export interface Message<B = unknown> {
  readonly envelope: Envelope<B>;
  readonly subject: string;
  readonly kind: string;
  readonly id: string;
  readonly body: B;
  /** Sends a reply to the sender (needs `replyTo`). Kind default: x.request -> x.result. */
  respond(body: unknown, options?: ReplyOptions): void;
  /** Sends a typed error to the sender (needs `replyTo`). */
  respondError(error: unknown): void;
}

/** The reply kind for a request kind: 'inference.request' -> 'inference.result'. */
export function replyKindFor(kind: string): string {
  return kind.endsWith('.request') ? `${kind.slice(0, -'.request'.length)}.result` : kind;
}
