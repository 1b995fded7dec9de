// Messages larger than the server's max_payload, on core NATS. The frame is cut with the codec's
// chunking (encodeChunked); only the first part goes to the subject, as an offer whose reply
// subject is this connection's. Each subscription that gets it (every plain subscriber, one member
// of a queue group) claims the rest by answering with its own part subject, and the publisher
// sends the remaining parts there. So a queue group gets every part at one member, and nobody
// receives parts it cannot use. No subscriber at all: the server answers the offer with 503, which
// becomes the no-responders rule of transport.ts.
import type { Msg, MsgHdrs, NatsConnection } from '@nats-io/transport-node';
import { nuid } from '@nats-io/transport-node';
import { ChunkAssembler } from '../../codec/chunking/assembler.js';
import { encodeChunked } from '../../codec/chunking/frames.js';
import type { Codec } from '../../codec/codec.js';
import type { Envelope } from '../../protocol/index.js';
import { CONTROL_ROOT } from './names.js';

/** How long a publisher keeps the parts of an offer for subscribers to claim. */
const OFFER_WINDOW_MS = 30_000;

/** A local subscription as a destination of parts. */
export interface PartSink {
  readonly id: number;
  assembler: ChunkAssembler | undefined;
  deliver(env: Envelope): void;
}

interface Offer {
  readonly frames: Uint8Array[];
  readonly id: string;
  readonly subject: string;
  readonly replyTo: string | undefined;
  readonly timer: NodeJS.Timeout;
  /** Called once: the parts went to the first claimer, nobody took the offer, or it expired. */
  settled: (() => void) | undefined;
}

export interface LargeDeps {
  readonly nc: NatsConnection;
  readonly codec: Codec;
  /** `_LLMW.<nuid>`: this connection's private subjects. */
  readonly control: string;
  readonly onError: (err: unknown) => void;
  /** Delivers the no-responders error for a request that nobody took. */
  noResponders(id: string, replyTo: string, subject: string): void;
}

export class LargeMessages {
  private readonly offers = new Map<string, Offer>();

  constructor(private readonly deps: LargeDeps) {}

  /**
   * Publishes `env` (whose frame is over `limit`) as an offer and keeps the rest for claims.
   * `settled` is called once the parts have gone to a claimer, or nobody took the offer, or it
   * expired: until then later messages on the subject would overtake the parts.
   */
  send(env: Envelope, limit: number, hdrs: MsgHdrs | undefined, settled?: () => void): void {
    const transfer = nuid.next();
    const frames = encodeChunked(this.deps.codec, env, limit, { transfer });
    const replyTo = env.kind === 'error' ? undefined : env.replyTo;
    const timer = setTimeout(() => {
      const offer = this.offers.get(transfer);
      this.offers.delete(transfer);
      if (offer !== undefined) settle(offer);
    }, OFFER_WINDOW_MS);
    timer.unref();
    this.offers.set(transfer, {
      frames,
      id: env.id,
      subject: env.subject,
      replyTo,
      timer,
      settled,
    });
    const reply = `${this.deps.control}.x.${transfer}`;
    this.deps.nc.publish(
      env.subject,
      frames[0],
      hdrs === undefined ? { reply } : { headers: hdrs, reply },
    );
  }

  /** An answer to one of our offers: a claim (a part subject), or the server's 503. */
  onOfferReply(transfer: string, msg: Msg): void {
    const offer = this.offers.get(transfer);
    if (offer === undefined) return;
    if (msg.data.length === 0 && msg.headers?.code === 503) {
      this.offers.delete(transfer);
      clearTimeout(offer.timer);
      if (offer.replyTo !== undefined) {
        this.deps.noResponders(offer.id, offer.replyTo, offer.subject);
      }
      settle(offer);
      return;
    }
    const target = new TextDecoder().decode(msg.data);
    if (!isControlSubject(target, 'p')) return;
    for (let i = 1; i < offer.frames.length; i++) this.deps.nc.publish(target, offer.frames[i]);
    settle(offer);
  }

  /**
   * A part reached a subscription: claims the rest when it is an offer, and returns the whole
   * message once the last part is in.
   */
  accept(sink: PartSink, part: Envelope, reply: string | undefined): Envelope | undefined {
    if (part.chunk?.index === 0 && reply !== undefined && isOfferReply(reply)) {
      (sink.assembler ??= this.assembler()).expire();
      // The part subject is also the claim's reply, so a publisher whose NATS user may only
      // answer (allow_responses) may send the parts there.
      const parts = `${this.deps.control}.p.${sink.id}`;
      this.deps.nc.publish(reply, parts, { reply: parts });
    }
    try {
      const result = (sink.assembler ??= this.assembler()).accept(part);
      return result.complete ? this.deps.codec.decode(result.data) : undefined;
    } catch (err) {
      this.deps.onError(err);
      return undefined;
    }
  }

  /** A claimed part on this connection's `p.<sink>` subject. */
  onPart(sink: PartSink | undefined, msg: Msg): void {
    if (sink === undefined) return; // unsubscribed since it claimed
    let part: Envelope;
    try {
      part = this.deps.codec.decode(msg.data);
    } catch (err) {
      this.deps.onError(err);
      return;
    }
    const whole = this.accept(sink, part, undefined);
    if (whole !== undefined) sink.deliver(whole);
  }

  close(): void {
    for (const offer of this.offers.values()) clearTimeout(offer.timer);
    this.offers.clear();
  }

  private assembler(): ChunkAssembler {
    return new ChunkAssembler({ maxObjectBytes: this.deps.codec.maxFrameBytes, maxTransfers: 16 });
  }
}

function settle(offer: Offer): void {
  const settled = offer.settled;
  offer.settled = undefined;
  settled?.();
}

/** `[<inboxPrefix>.]_LLMW.<nuid>.x.<transfer>` */
function isOfferReply(reply: string): boolean {
  return isControlSubject(reply, 'x');
}

/** `[<inboxPrefix>.]_LLMW.<nuid>.<kind>.<token>`: a connection's private subject. */
function isControlSubject(subject: string, kind: 'x' | 'p'): boolean {
  const t = subject.split('.');
  const n = t.length;
  return n >= 4 && t[n - 4] === CONTROL_ROOT && t[n - 2] === kind;
}
