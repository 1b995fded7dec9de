// One remote peer on the hub: checks each record it sends against its identity's permissions,
// runs it against the hub's local transport and answers; its subscriptions, inboxes and leases
// live and die with its connection. A bad or forbidden record is answered with a typed `err`
// and affects nobody else (docs/ws-bus.md, docs/security.md).
import type { WebSocket } from 'ws';
import type { Codec } from '../../codec/codec.js';
import {
  createEnvelope,
  errorFromWire,
  OverloadedError,
  toWireError,
  UnsupportedVersionError,
  InvalidMessageError,
  ClosedError,
  UnavailableError,
  type Envelope,
} from '../../protocol/index.js';
import { checkPattern, checkSubject } from '../subject.js';
import type { Transport } from '../transport.js';
import type { InboxClaims, PeerIdentity } from './hub-identity.js';
import { PeerPolicy, type DeniedEvent } from './hub-policy.js';
import { PeerQueues } from './hub-queue.js';
import { PeerSubscriptions } from './hub-subs.js';
import {
  CloseCode,
  decodePeerRecord,
  encodeRecord,
  messageBytes,
  WIRE_VERSION,
  type HubRecord,
  type PeerRecord,
} from './wire.js';

/** What `BusHub.peers()` reports about one connected peer. */
export interface PeerInfo {
  readonly id: string;
  /** The identity its credential maps to, and that identity's role. */
  readonly identity: string;
  readonly role: string;
  /** The name the peer gave in its `hello`, if any. */
  readonly name: string | undefined;
  readonly remoteAddress: string | undefined;
  /** ms epoch */
  readonly connectedAt: number;
  readonly subscriptions: number;
  /** Queue deliveries leased to the peer and not yet settled. */
  readonly leases: number;
  /** Bytes queued on its socket, not yet written. */
  readonly bufferedBytes: number;
}

export interface HubContext {
  readonly local: Transport;
  /** The hub's codec, its `decode` also holding frames to the hub's `maxFrameBytes`. */
  readonly codec: Pick<Codec, 'encode' | 'decode'>;
  readonly maxFrameBytes: number;
  readonly maxSubscriptionsPerPeer: number;
  readonly maxBufferedBytes: number;
  readonly maxLeasesPerPeer: number;
  readonly helloTimeoutMs: number;
  readonly pingIntervalMs: number;
  readonly onError: (err: unknown, peer: string) => void;
  readonly nextHandle: () => number;
  /** Frames already known for an envelope (the one a peer published), so none is re-encoded. */
  readonly frames: WeakMap<Envelope, Uint8Array>;
  /** Envelopes that could not be encoded for peers: their requester was told once. */
  readonly unsendable: WeakSet<Envelope>;
  readonly inboxes: InboxClaims;
  /** A peer tried something its identity may not do (it also gets `forbidden`). */
  readonly onDenied: (event: DeniedEvent) => void;
}

/** Requests in flight per peer (mostly long-polls); past it new ones fail `overloaded`. */
const MAX_PENDING_REQUESTS = 1024;

export class PeerSession {
  readonly connectedAt = Date.now();
  name: string | undefined;
  private greeted = false;
  private closed = false;
  private alive = true;
  private pending = 0;
  private readonly subs: PeerSubscriptions;
  private readonly policy: PeerPolicy;
  private readonly queues: PeerQueues;
  private readonly helloTimer: NodeJS.Timeout;

  constructor(
    readonly id: string,
    private readonly socket: WebSocket,
    private readonly remoteAddress: string | undefined,
    readonly identity: PeerIdentity,
    private readonly ctx: HubContext,
    private readonly onGone: (peer: PeerSession) => void,
  ) {
    this.policy = new PeerPolicy(id, identity, ctx.inboxes, ctx.onDenied);
    this.subs = new PeerSubscriptions(ctx.local, (sids, env) => this.forward(sids, env));
    // Enqueued messages are stamped like published ones.
    const codec = {
      encode: ctx.codec.encode,
      decode: (f: Uint8Array) => this.admit(f, 'queue').env,
    };
    this.queues = new PeerQueues(ctx.local, codec, ctx.maxLeasesPerPeer, ctx.nextHandle);
    socket.on('message', (data, isBinary) => this.onMessage(messageBytes(data), isBinary));
    socket.on('pong', () => (this.alive = true));
    socket.on('error', (err) => ctx.onError(err, id));
    socket.on('close', () => this.dispose());
    this.helloTimer = setTimeout(() => {
      if (!this.greeted) this.kick(CloseCode.helloTimeout, 'no hello');
    }, ctx.helloTimeoutMs);
    this.helloTimer.unref();
  }

  info(): PeerInfo {
    return {
      id: this.id,
      identity: this.identity.name,
      role: this.identity.role,
      name: this.name,
      remoteAddress: this.remoteAddress,
      connectedAt: this.connectedAt,
      subscriptions: this.subs.size,
      leases: this.queues.leaseCount,
      bufferedBytes: this.socket.bufferedAmount,
    };
  }

  /** Called every ping interval: a peer that did not answer the last ping is cut off. */
  heartbeat(): void {
    if (this.closed) return;
    if (!this.alive) {
      this.socket.terminate();
      return;
    }
    this.alive = false;
    this.socket.ping();
    this.policy.prune();
  }

  /** Drops the peer's state now and closes its connection with `code`. */
  kick(code: number, reason: string): void {
    if (this.socket.readyState === this.socket.CLOSED) return;
    this.dispose();
    this.socket.close(code, reason);
    // A peer that does not read will not answer the close handshake either.
    setTimeout(() => this.socket.terminate(), 1000).unref();
  }

  private onMessage(bytes: Buffer, isBinary: boolean): void {
    if (this.closed) return;
    if (!isBinary) {
      this.fail(new InvalidMessageError('records are binary WebSocket messages'));
      return;
    }
    const decoded = decodePeerRecord(bytes);
    if (!decoded.ok) {
      this.fail(decoded.error, decoded.id);
      return;
    }
    try {
      this.handle(decoded.record);
    } catch (err) {
      this.fail(err, 'id' in decoded.record ? decoded.record.id : undefined);
    }
  }

  /** Sends a typed `err`; before `hello` any error also ends the connection. */
  private fail(err: unknown, id?: number): void {
    const error =
      err instanceof ClosedError
        ? new UnavailableError('the bus behind this hub is closed')
        : toWireError(err);
    if (error.code === 'internal') this.ctx.onError(err, this.id);
    this.send({ op: 'err', ...(id === undefined ? {} : { id }), error: error.toWire() });
    if (!this.greeted) this.kick(CloseCode.protocolError, 'expected hello');
  }

  private handle(rec: PeerRecord): void {
    if (!this.greeted) {
      if (rec.op !== 'hello') throw new InvalidMessageError(`expected 'hello', got '${rec.op}'`);
      if (rec.v !== WIRE_VERSION) {
        throw new UnsupportedVersionError(`wire version ${rec.v} is not supported`, {
          details: { version: rec.v, supported: [WIRE_VERSION] },
        });
      }
      this.greeted = true;
      clearTimeout(this.helloTimer);
      this.name = rec.name;
      this.send({
        op: 'hello',
        v: WIRE_VERSION,
        peer: this.id,
        maxFrameBytes: this.ctx.maxFrameBytes,
        pingMs: this.ctx.pingIntervalMs,
        ...(this.identity.source === undefined
          ? {}
          : {
              identity: {
                name: this.identity.name,
                role: this.identity.role,
                source: this.identity.source,
                ...(this.identity.tenant === undefined ? {} : { tenant: this.identity.tenant }),
              },
            }),
      });
      return;
    }
    switch (rec.op) {
      case 'hello':
        throw new InvalidMessageError('hello was already received');
      case 'pub': {
        const env = this.ctx.codec.decode(rec.frame);
        checkSubject(env.subject);
        let asSent: boolean;
        try {
          asSent = this.policy.admit(env, 'publish');
        } catch (err) {
          this.refusedRequest(env, err);
          throw err;
        }
        if (asSent) this.ctx.frames.set(env, rec.frame);
        this.ctx.local.publish(env);
        return;
      }
      case 'sub':
        this.subscribe(rec.id, rec.sid, rec.pattern, rec.queue);
        return;
      case 'unsub':
        this.unsubscribe(rec.sid);
        return;
      case 'flush':
        this.answer(rec.id, () => this.ctx.local.flush().then(() => ({})));
        return;
      case 'cancel':
        this.queues.cancel(rec.id);
        return;
      case 'err':
        // The peer could not read something the hub sent; worth a log line, nothing to undo.
        this.ctx.onError(errorFromWire(rec.error), this.id);
        return;
      default:
        this.policy.queue(rec.queue);
        this.answer(rec.id, () => this.queues.call(rec));
    }
  }

  /** Opens a frame a peer sent and checks and stamps it (hub-policy.ts). */
  private admit(frame: Uint8Array, via: 'publish' | 'queue'): { env: Envelope; asSent: boolean } {
    const env = this.ctx.codec.decode(frame);
    checkSubject(env.subject);
    return { env, asSent: this.policy.admit(env, via) };
  }

  private subscribe(id: number, sid: number, pattern: string, queue: string | undefined): void {
    if (this.subs.has(sid)) throw new InvalidMessageError(`subscription ${sid} already exists`);
    if (this.subs.size >= this.ctx.maxSubscriptionsPerPeer) {
      throw new OverloadedError(
        `a peer may hold ${this.ctx.maxSubscriptionsPerPeer} subscriptions at most`,
        { retryable: false },
      );
    }
    // Checked before anything is registered: a refused subscription leaves nothing behind.
    if (this.pending >= MAX_PENDING_REQUESTS) {
      throw new OverloadedError('too many requests in flight on this connection');
    }
    const filter = this.policy.subscribe(sid, pattern, checkPattern(pattern));
    const ready = this.subs.add(sid, pattern, queue, filter);
    this.answer(id, () =>
      ready.then(
        () => ({}),
        (err: unknown) => {
          this.unsubscribe(sid);
          throw err;
        },
      ),
    );
  }

  private unsubscribe(sid: number): void {
    this.subs.remove(sid);
    this.policy.unsubscribed(sid);
  }

  /** Sends one matching envelope to the peer. */
  private forward(sids: readonly number[], env: Envelope): void {
    if (this.closed) return;
    let frame = this.ctx.frames.get(env);
    if (frame === undefined) {
      if (this.ctx.unsendable.has(env)) return;
      try {
        frame = this.ctx.codec.encode(env);
      } catch (err) {
        this.unsendable(env, err);
        return;
      }
      this.ctx.frames.set(env, frame);
    }
    this.policy.delivered(env);
    const sid = sids[0]!;
    this.send(
      sids.length === 1 ? { op: 'msg', sid, frame } : { op: 'msg', sid, sids: [...sids], frame },
    );
  }

  /**
   * A message no peer can be sent (it cannot be encoded): its requester, if any, gets the error
   * now on its reply subject, rather than waiting for a deadline.
   */
  private unsendable(env: Envelope, err: unknown): void {
    this.ctx.unsendable.add(env);
    const error = toWireError(err);
    this.ctx.onError(err, this.id);
    if (env.replyTo === undefined || env.kind === 'error') return;
    try {
      this.ctx.local.publish(
        createEnvelope({
          kind: 'error',
          subject: env.replyTo,
          corr: env.id,
          body: error.toWire(),
        }),
      );
    } catch (publishErr) {
      this.ctx.onError(publishErr, this.id);
    }
  }

  /**
   * A request the peer may not send fails at once on its own inbox, as a request nobody serves
   * does (`no_responders`), rather than at its deadline. Only to an inbox this connection holds:
   * the error goes to nobody else.
   */
  private refusedRequest(env: Envelope, err: unknown): void {
    if (env.replyTo === undefined || env.kind === 'error') return;
    if (!this.policy.holdsInbox(env.replyTo)) return;
    try {
      this.ctx.local.publish(
        createEnvelope({
          kind: 'error',
          subject: env.replyTo,
          corr: env.id,
          body: toWireError(err).toWire(),
        }),
      );
    } catch (publishErr) {
      this.ctx.onError(publishErr, this.id);
    }
  }

  /** Runs a request and sends its items and `ok`, or its `err`. */
  private answer(
    id: number,
    start: () => Promise<{ result?: unknown; items?: HubRecord[] }>,
  ): void {
    if (this.pending >= MAX_PENDING_REQUESTS) {
      throw new OverloadedError('too many requests in flight on this connection');
    }
    this.pending++;
    start().then(
      ({ result, items }) => {
        this.pending--;
        for (const item of items ?? []) this.send(item);
        this.send(result === undefined ? { op: 'ok', id } : { op: 'ok', id, result });
      },
      (err: unknown) => {
        this.pending--;
        this.fail(err, id);
      },
    );
  }

  private send(record: HubRecord): void {
    if (this.closed || this.socket.readyState !== this.socket.OPEN) return;
    this.socket.send(encodeRecord(record));
    if (this.socket.bufferedAmount > this.ctx.maxBufferedBytes) {
      // A peer that reads slower than its subscriptions fill is cut off (the NATS "slow
      // consumer" rule) rather than letting its backlog grow without bound in this process.
      this.ctx.onError(
        new OverloadedError(`peer ${this.id} is a slow consumer; disconnecting it`),
        this.id,
      );
      this.kick(CloseCode.slowConsumer, 'slow consumer');
    }
  }

  private dispose(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.helloTimer);
    this.subs.dispose();
    this.policy.dispose();
    this.queues.dispose((err) => this.ctx.onError(err, this.id));
    this.onGone(this);
  }
}
