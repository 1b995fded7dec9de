// The state a bus shares with its helpers (context.ts): its transport and inbox, its deadline
// timer and seals, the closed flag, and building, checking and sending envelopes. The Bus owns
// one and keeps it private; subscriptions, streams, the responder and queues are handed it.
import { randomBytes } from 'node:crypto';
import {
  ClosedError,
  createEnvelope,
  createId,
  PROTOCOL_VERSION,
  ForbiddenError,
  UnknownKindError,
  validateBody,
  type Envelope,
  type EnvelopeInit,
} from '../protocol/index.js';
import { copyFrameEncoding } from '../codec/frame-encoding.js';
import { checkSubject } from '../transport/subject.js';
import type { Transport } from '../transport/transport.js';
import type { BusContext } from './context.js';
import { DeadlineTimer } from './deadlines.js';
import { BusMessage, type Message } from './message.js';
import type { PublishOptions } from './options.js';
import { answerable, BusSealer, type BusSecurity, type OpenScope } from './security.js';

export type ErrorSink = (error: unknown, context: { subject?: string; id?: string }) => void;

export class BusCore implements BusContext {
  readonly inbox: string;
  readonly deadlines = new DeadlineTimer();
  readonly sealer: BusSealer;
  private readonly closeController = new AbortController();
  /** Subjects already found valid: checking is a split and a regex per token. */
  private readonly checkedSubjects = new Set<string>();
  private receivers = 0;
  private closed = false;

  constructor(
    readonly transport: Transport,
    readonly source: string | undefined,
    inboxPrefix: string,
    security: BusSecurity | undefined,
    private readonly onError: ErrorSink,
  ) {
    this.sealer = new BusSealer(security);
    checkSubject(inboxPrefix);
    this.inbox = `${inboxPrefix}.${randomBytes(9).toString('base64url').replace(/[-_]/g, 'x')}`;
  }

  get closing(): AbortSignal {
    return this.closeController.signal;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  assertOpen(): void {
    if (this.closed) throw new ClosedError('bus');
  }

  /** Marks the bus closed: sends fail, the closing signal fires, deadlines stop. */
  close(): void {
    this.closed = true;
    this.closeController.abort(new ClosedError('bus'));
  }

  /**
   * Seals an outgoing envelope (when crypto is on). A transport that knows who its peer is on
   * the far side (a hub's identity) stamps source and tenant first, as the hub would: a signed
   * header cannot be restamped on the way.
   */
  seal(env: Envelope): Envelope {
    if (!this.sealer.sealing) return env;
    const identity = this.transport.identity;
    if (identity !== undefined) {
      env.source = identity.source;
      if (identity.tenant !== undefined) env.tenant = identity.tenant;
    }
    return this.sealer.seal(env);
  }

  envelope<B>(subject: string, body: B, options?: PublishOptions): Envelope<B> {
    if (options === undefined) {
      // The common case, built in one of two fixed shapes: no spread, no key walk, no property
      // added after the object was made.
      const ts = Date.now();
      const source = this.source;
      return source === undefined
        ? { v: PROTOCOL_VERSION, id: createId(ts), kind: 'event', subject, ts, body }
        : { v: PROTOCOL_VERSION, id: createId(ts), kind: 'event', subject, ts, body, source };
    }
    const init: EnvelopeInit<B> = { ...options, kind: options.kind ?? 'event', subject, body };
    if (this.source !== undefined && init.source === undefined) init.source = this.source;
    return createEnvelope(init);
  }

  send(env: Envelope): void {
    if (this.closed) throw new ClosedError('bus');
    const subject = env.subject;
    if (!this.checkedSubjects.has(subject)) {
      checkSubject(subject);
      if (this.checkedSubjects.size >= 10_000) this.checkedSubjects.clear();
      this.checkedSubjects.add(subject);
    }
    this.transport.publish(this.seal(env));
  }

  nextReceiver(): string {
    return `r${++this.receivers}`;
  }

  /**
   * Opens a received envelope for `scope`; on failure reports it, answers a request with the
   * typed error (except a replay, whose answer would reach the genuine requester), and returns
   * undefined: the message is dropped.
   */
  open(env: Envelope, scope: OpenScope): Envelope | undefined {
    try {
      return this.sealer.open(env, scope);
    } catch (err) {
      this.reportError(err, env);
      if (env.replyTo !== undefined && env.replyTo !== this.inbox && answerable(err)) {
        this.message(env).respondError(err);
      }
      return undefined;
    }
  }

  message<B>(env: Envelope<B>): Message<B> {
    return new BusMessage(this, env);
  }

  sendReply(reply: Envelope, requestId: string): void {
    try {
      this.send(reply);
    } catch (err) {
      this.onError(err, { subject: reply.subject, id: requestId });
    }
  }

  replyEnvelope(
    request: Envelope,
    kind: string,
    body: unknown,
    extra?: Omit<Partial<EnvelopeInit>, 'kind' | 'subject' | 'body'>,
  ): Envelope {
    const ts = Date.now();
    const env: Envelope = {
      v: PROTOCOL_VERSION,
      id: createId(ts),
      kind,
      subject: request.replyTo!,
      ts,
      corr: request.id,
      body,
    };
    if (this.source !== undefined) env.source = this.source;
    // Every reply, chunk and final message of a stream stays in the request's trace.
    if (request.traceparent !== undefined) env.traceparent = request.traceparent;
    if (request.tracestate !== undefined) env.tracestate = request.tracestate;
    if (request.tenant !== undefined) env.tenant = request.tenant;
    // Answers go back in the encoding the request came in (docs/protocol.md, "Default encoding").
    copyFrameEncoding(request, env);
    if (extra !== undefined) {
      for (const key in extra) {
        const value = (extra as Record<string, unknown>)[key];
        if (value !== undefined) (env as unknown as Record<string, unknown>)[key] = value;
      }
    }
    return env;
  }

  validate(env: Envelope, kinds: readonly string[] | undefined): void {
    if (kinds === undefined) return;
    if (!kinds.includes(env.kind)) {
      throw new UnknownKindError(`this subscriber does not accept kind '${env.kind}'`, {
        details: { kind: env.kind, accepted: kinds },
      });
    }
    validateBody(env);
  }

  reportUnexpected(env: Envelope, from: string | undefined): void {
    this.reportError(
      new ForbiddenError(
        `dropped a reply to ${env.corr ?? '-'} from '${env.source ?? '(none)'}': only '${from ?? ''}' may answer it`,
      ),
      env,
    );
  }

  reportError(error: unknown, env?: Envelope): void {
    this.onError(error, { subject: env?.subject, id: env?.id });
  }
}
