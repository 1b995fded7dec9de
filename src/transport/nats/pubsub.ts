// Publish/subscribe on core NATS. Subjects, wildcards and queue groups map one to one; the
// envelope is the payload (codec-encoded) with its id repeated in a header.
//
// No-responders: the server answers a message that reaches no subscriber with a 503 status on its
// reply subject, but only to the publishing connection and only through a subscription of that
// connection matching the reply. So a message with `replyTo` is published with the reply
// `_LLMW.<conn>.nr.<id>.<replyTo>`, which this connection's control subscription matches; the 503
// names the request and where its requester listens, and becomes the `no_responders` error
// envelope (corr = the request id) published to `replyTo`, as transport.ts requires.
import {
  headers,
  nuid,
  type Msg,
  type MsgHdrs,
  type NatsConnection,
  type Subscription,
} from '@nats-io/transport-node';
import { isFrameChunk } from '../../codec/chunking/frames.js';
import type { ChunkAssembler } from '../../codec/chunking/assembler.js';
import type { Codec } from '../../codec/codec.js';
import { ClosedError, createEnvelope, type Envelope } from '../../protocol/index.js';
import { checkPattern, checkSubject, isValidSubject } from '../subject.js';
import type { MessageHandler, SubscribeOptions, TransportSubscription } from '../transport.js';
import { LargeMessages, type PartSink } from './large.js';
import { HEADER } from './names.js';

export interface PubSubDeps {
  readonly nc: NatsConnection;
  readonly codec: Codec;
  /** Largest payload one message may carry now (max_payload less room for headers). */
  readonly payloadLimit: () => number;
  readonly onError: (err: unknown) => void;
  readonly onHandlerError: (err: unknown, env: Envelope) => void;
  /** Repeat the envelope id in a `Llmwire-Id` header (costs about 2 µs a message). */
  readonly idHeader: boolean;
  /** Root of this connection's private subjects: `_LLMW`, or `<inboxPrefix>._LLMW`. */
  readonly controlRoot: string;
  isClosed(): boolean;
}

class Sink implements PartSink {
  assembler: ChunkAssembler | undefined;
  constructor(
    readonly id: number,
    private readonly handler: MessageHandler,
    private readonly onHandlerError: (err: unknown, env: Envelope) => void,
  ) {}

  deliver(env: Envelope): void {
    try {
      this.handler(env);
    } catch (err) {
      this.onHandlerError(err, env);
    }
  }
}

function isStatus(msg: Msg): boolean {
  return msg.data.length === 0 && (msg.headers?.code ?? 0) !== 0;
}

/** A publish held until the end of the turn. */
interface Outgoing {
  subject: string;
  frame: Uint8Array;
  options: { headers?: MsgHdrs; reply?: string } | undefined;
}

export class NatsPubSub {
  /** `[<inboxPrefix>.]_LLMW.<nuid>`: subjects only this connection listens on. */
  private readonly control: string;
  private readonly controlSub: Subscription;
  private readonly sinks = new Map<number, Sink>();
  private readonly large: LargeMessages;
  private nextSink = 0;
  /**
   * Publishes made in this turn. nats.js writes its buffer to the socket a microtask after the
   * first publish, so a producer whose publishes are a microtask apart (a stream pump awaiting
   * its iterator) pays a socket write per message; handing them to nats.js together on
   * process.nextTick, which runs once the microtask queue is empty, makes one write of them.
   */
  private outgoing: Outgoing[] = [];
  private readonly sendOutgoing = () => this.flushOutgoing();
  /**
   * Publishes held behind an oversized message on the same subject until its parts have gone
   * to a claimer (docs/protocol.md, "Oversized frames on NATS": later messages would overtake
   * the parts, and a stream reader would see a gap).
   */
  private readonly held = new Map<string, { env: Envelope; frame: Uint8Array }[]>();

  constructor(private readonly deps: PubSubDeps) {
    this.control = `${deps.controlRoot}.${nuid.next()}`;
    this.large = new LargeMessages({
      nc: deps.nc,
      codec: deps.codec,
      control: this.control,
      onError: deps.onError,
      noResponders: (id, replyTo, subject) => this.noResponders(id, replyTo, subject),
    });
    this.controlSub = deps.nc.subscribe(`${this.control}.>`, {
      callback: (err, msg) => (err === null ? this.onControl(msg) : deps.onError(err)),
    });
  }

  publish(env: Envelope): void {
    checkSubject(env.subject);
    if (this.deps.isClosed()) throw new ClosedError('nats transport');
    const frame = this.deps.codec.encode(env);
    const waiting = this.held.get(env.subject);
    if (waiting !== undefined) {
      waiting.push({ env, frame });
      return;
    }
    this.send(env, frame);
  }

  private send(env: Envelope, frame: Uint8Array): void {
    let h: MsgHdrs | undefined;
    if (this.deps.idHeader) {
      h = headers();
      h.set(HEADER.id, env.id);
    }
    const limit = this.deps.payloadLimit();
    if (frame.byteLength > limit) {
      this.flushOutgoing(); // keeps publish order
      const subject = env.subject;
      this.held.set(subject, []);
      this.large.send(env, limit, h, () => this.release(subject));
      return;
    }
    const replyTo = env.replyTo;
    let options: Outgoing['options'];
    if (replyTo !== undefined && env.kind !== 'error' && isValidSubject(replyTo)) {
      const id = Buffer.from(env.id).toString('base64url');
      const reply = `${this.control}.nr.${id}.${replyTo}`;
      options = h === undefined ? { reply } : { headers: h, reply };
    } else {
      options = h === undefined ? undefined : { headers: h };
    }
    if (this.outgoing.length === 0) process.nextTick(this.sendOutgoing);
    this.outgoing.push({ subject: env.subject, frame, options });
  }

  /** Sends what waited behind an offer on `subject`, until the next oversized one, if any. */
  private release(subject: string): void {
    const waiting = this.held.get(subject);
    this.held.delete(subject);
    if (waiting === undefined || this.deps.isClosed()) return;
    for (const [i, m] of waiting.entries()) {
      const again = this.held.get(subject);
      if (again !== undefined) {
        again.push(...waiting.slice(i));
        return;
      }
      try {
        this.send(m.env, m.frame);
      } catch (err) {
        this.deps.onError(err);
      }
    }
  }

  /** Hands the publishes held in this turn to nats.js (transport.flush and close call it too). */
  flushOutgoing(): void {
    const batch = this.outgoing;
    if (batch.length === 0) return;
    this.outgoing = [];
    const nc = this.deps.nc;
    for (const m of batch) {
      try {
        nc.publish(m.subject, m.frame, m.options);
      } catch (err) {
        this.deps.onError(err);
      }
    }
  }

  subscribe(
    pattern: string,
    handler: MessageHandler,
    options: SubscribeOptions = {},
  ): TransportSubscription {
    checkPattern(pattern);
    if (this.deps.isClosed()) throw new ClosedError('nats transport');
    const sink = new Sink(this.nextSink++, handler, this.deps.onHandlerError);
    this.sinks.set(sink.id, sink);
    const sub = this.deps.nc.subscribe(pattern, {
      ...(options.queue === undefined ? {} : { queue: options.queue }),
      callback: (err, msg) => (err === null ? this.onMessage(sink, msg) : this.deps.onError(err)),
    });
    // The server has the subscription once it answers a ping sent after it.
    const ready = this.deps.nc.flush();
    ready.catch(() => undefined); // a caller that never awaits it must not crash the process
    let active = true;
    return {
      ready,
      unsubscribe: () => {
        if (!active) return;
        active = false;
        this.sinks.delete(sink.id);
        if (!this.deps.nc.isClosed()) sub.unsubscribe();
      },
    };
  }

  close(): void {
    if (!this.deps.nc.isClosed()) this.flushOutgoing();
    this.large.close();
    this.held.clear();
    this.sinks.clear();
    if (!this.deps.nc.isClosed()) this.controlSub.unsubscribe();
  }

  private onMessage(sink: Sink, msg: Msg): void {
    if (isStatus(msg)) return; // a wide pattern can see other connections' 503s
    let env: Envelope;
    try {
      env = this.deps.codec.decode(msg.data);
    } catch (err) {
      this.deps.onError(err);
      return;
    }
    if (isFrameChunk(env)) {
      const whole = this.large.accept(sink, env, msg.reply || undefined);
      if (whole !== undefined) sink.deliver(whole);
      return;
    }
    sink.deliver(env);
  }

  /** `_LLMW.<conn>.nr.<id>.<replyTo...>`, `.x.<transfer>` or `.p.<sink>`. */
  private onControl(msg: Msg): void {
    // The tokens after the control subject's own (`[<inboxPrefix>.]_LLMW.<nuid>`).
    const t = ['', '', ...msg.subject.slice(this.control.length + 1).split('.')];
    switch (t[2]) {
      case 'nr':
        if (isStatus(msg) && msg.headers?.code === 503 && t.length > 4) {
          const id = Buffer.from(t[3]!, 'base64url').toString();
          this.noResponders(id, t.slice(4).join('.'), undefined);
        }
        return;
      case 'x':
        this.large.onOfferReply(t[3] ?? '', msg);
        return;
      case 'p':
        this.large.onPart(this.sinks.get(Number(t[3])), msg);
        return;
      default:
        return;
    }
  }

  private noResponders(id: string, replyTo: string, subject: string | undefined): void {
    const env = createEnvelope({
      kind: 'error',
      subject: replyTo,
      corr: id,
      body: {
        code: 'no_responders',
        message: subject === undefined ? 'no responders' : `no responders on '${subject}'`,
        retryable: true,
      },
    });
    try {
      if (!this.deps.isClosed()) this.publish(env);
    } catch (err) {
      this.deps.onError(err);
    }
  }
}
