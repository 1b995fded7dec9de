// What handlers receive: the envelope plus the means to answer it.
import { toWireError, type Envelope, type EnvelopeInit } from '../protocol/index.js';

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

/** What a message needs of its bus to answer (a slice of BusContext). */
export interface Replier {
  /** An answer to `request`: sent to its `replyTo`, correlated by its id, in its trace. */
  replyEnvelope(
    request: Envelope,
    kind: string,
    body: unknown,
    extra?: Omit<Partial<EnvelopeInit>, 'kind' | 'subject' | 'body'>,
  ): Envelope;
  /** Sends a reply, reporting (not throwing) a failure: the requester's deadline covers it. */
  sendReply(reply: Envelope, requestId: string): void;
}

/** The Message handed to handlers: one small object per message, methods on the prototype. */
export class BusMessage<B = unknown> implements Message<B> {
  constructor(
    private readonly bus: Replier,
    readonly envelope: Envelope<B>,
  ) {}

  get subject(): string {
    return this.envelope.subject;
  }
  get kind(): string {
    return this.envelope.kind;
  }
  get id(): string {
    return this.envelope.id;
  }
  get body(): B {
    return this.envelope.body as B;
  }

  respond(body: unknown, options?: ReplyOptions): void {
    const env = this.envelope;
    if (env.replyTo === undefined) return;
    const kind = options?.kind ?? replyKindFor(env.kind);
    const extra = options?.headers === undefined ? undefined : { headers: options.headers };
    this.bus.sendReply(this.bus.replyEnvelope(env, kind, body, extra), env.id);
  }

  respondError(error: unknown): void {
    const env = this.envelope;
    if (env.replyTo === undefined) return;
    // A refused stream request ends its stream like any other error (docs/protocol.md, "Streams").
    const extra = env.credit === undefined ? undefined : { eos: true };
    this.bus.sendReply(
      this.bus.replyEnvelope(env, 'error', toWireError(error).toWire(), extra),
      env.id,
    );
  }
}
