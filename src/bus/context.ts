// What the bus's helpers (subscriptions, streams, the responder, queues, messages) may use of
// the bus: its inbox, clock and seals, building and sending envelopes, and its error sink. They
// get this, never the whole Bus, so the bus's state stays its own.
import type { Envelope } from '../protocol/index.js';
import type { Transport } from '../transport/transport.js';
import type { DeadlineTimer } from './deadlines.js';
import type { Message, Replier } from './message.js';
import type { PublishOptions } from './options.js';
import type { BusSealer, OpenScope } from './security.js';

export interface BusContext extends Replier {
  readonly transport: Transport;
  /** The subject replies and stream control messages to this bus are sent to. */
  readonly inbox: string;
  /** One timer for every deadline the bus and its helpers watch. */
  readonly deadlines: DeadlineTimer;
  /** Fires when the bus closes. */
  readonly closing: AbortSignal;
  /** Seals what the bus sends, opens what it receives. */
  readonly sealer: BusSealer;
  /** An envelope stamped with the bus's source. */
  envelope<B>(subject: string, body: B, options?: PublishOptions): Envelope<B>;
  /** Checks the subject, seals and publishes; throws ClosedError once the bus is closed. */
  send(env: Envelope): void;
  /** Seals an envelope the way `send` would (for queues, which publish on their own). */
  seal(env: Envelope): Envelope;
  /** Wraps an envelope for handlers. */
  message<B>(env: Envelope<B>): Message<B>;
  /** Checks kind and body when a receiver restricts kinds; throws typed errors. */
  validate(env: Envelope, kinds: readonly string[] | undefined): void;
  /** A name for one receiver of messages (a subscription): its replay scope. */
  nextReceiver(): string;
  /**
   * Opens a received envelope for `scope`; on failure reports it, answers a request with the
   * typed error, and returns undefined: the message is dropped.
   */
  open(env: Envelope, scope: OpenScope): Envelope | undefined;
  /** A reply from someone other than the responder asked: dropped, and said so. */
  reportUnexpected(env: Envelope, from: string | undefined): void;
  /** Hands an error with nowhere else to go to the bus's `onError`. */
  reportError(error: unknown, env?: Envelope): void;
}
