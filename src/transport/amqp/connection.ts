// The connection to RabbitMQ and the channels on it. amqplib's recovering connection reconnects
// with backoff; channels are not recovered by it, so each user of a channel holds a
// ManagedChannel that opens one on every new connection (and again if the broker closes just
// that channel) and runs its setup: declarations, bindings, consumers.
import amqp, { type Channel, type ChannelModel, type RecoveringChannelModel } from 'amqplib';
import type { SecureContextOptions } from 'node:tls';
import { ClosedError, UnauthorizedError, UnavailableError } from '../../protocol/index.js';
import { StatusFeed } from '../status.js';
import { tlsFailure } from '../tls.js';

export interface LinkOptions {
  url: string;
  reconnect: { initialMs: number; maxMs: number } | false;
  heartbeatSeconds: number;
  connectTimeoutMs: number;
  connectionName: string | undefined;
  /** User and password; undefined: those of the URL (guest:guest without any). */
  credentials: { user: string; password: string } | undefined;
  /** Virtual host; undefined: the URL's path ('/' without one). */
  vhost: string | undefined;
  /** CA and client certificate for amqps:// (tls.connect options). */
  tls: SecureContextOptions;
  onError: (err: unknown) => void;
}

export class AmqpLink {
  readonly status = new StatusFeed();
  /** Resolves on the first connection; rejects if the transport closes or gives up first. */
  readonly ready: Promise<void>;
  private model: ChannelModel | undefined;
  private recovering: RecoveringChannelModel | undefined;
  private readonly opening: Promise<RecoveringChannelModel>;
  private readonly listeners = new Set<(model: ChannelModel) => void>();
  private readonly shutdownListeners = new Set<(err: Error) => void>();
  private waiters: { resolve: (m: ChannelModel) => void; reject: (e: Error) => void }[] = [];
  private failure: Error | undefined;
  private markReady!: () => void;
  private failReady!: (err: Error) => void;
  closed = false;

  constructor(private readonly options: LinkOptions) {
    this.ready = new Promise<void>((resolve, reject) => {
      this.markReady = resolve;
      this.failReady = reject;
    });
    this.ready.catch(() => undefined); // a caller that never awaits `ready` must not see it reject
    this.status.push({ type: 'connecting' });
    const reconnect = options.reconnect;
    // amqplib reads the heartbeat from the URL; one given there wins.
    const url = new URL(options.url);
    if (!url.searchParams.has('heartbeat')) {
      url.searchParams.set('heartbeat', String(options.heartbeatSeconds));
    }
    if (options.vhost !== undefined) url.pathname = `/${encodeURIComponent(options.vhost)}`;
    this.opening = amqp.connect(url.href, {
      ...options.tls,
      ...(options.credentials === undefined
        ? {}
        : {
            credentials: amqp.credentials.plain(
              options.credentials.user,
              options.credentials.password,
            ),
          }),
      noDelay: true,
      timeout: options.connectTimeoutMs,
      clientProperties:
        options.connectionName === undefined ? {} : { connection_name: options.connectionName },
      recovery: {
        waitForConnect: false,
        initialDelay: reconnect === false ? 0 : reconnect.initialMs,
        maxDelay: reconnect === false ? 0 : reconnect.maxMs,
        maxRetries: reconnect === false ? 0 : Infinity,
        factor: 2,
        jitter: 0.2,
      },
    });
    this.opening.then(
      (recovering) => this.attach(recovering),
      (err: unknown) => this.giveUp(err instanceof Error ? err : new Error(String(err))),
    );
  }

  private attach(recovering: RecoveringChannelModel): void {
    this.recovering = recovering;
    recovering.on('connect', (model: ChannelModel) => {
      this.model = model;
      this.status.push({ type: 'connected' });
      this.markReady();
      const waiters = this.waiters;
      this.waiters = [];
      for (const w of waiters) w.resolve(model);
      for (const listener of [...this.listeners]) listener(model);
    });
    recovering.on('disconnect', (error: Error) => {
      this.model = undefined;
      this.status.push({ type: 'disconnected', error });
    });
    recovering.on('reconnect-scheduled', (info: { attempt: number }) => {
      this.status.push({ type: 'reconnecting', attempt: info.attempt });
    });
    recovering.on('reconnect-failed', (error: Error) => this.giveUp(error));
    recovering.on('connect-failed', (error: Error) => {
      const refused = refusal(error);
      if (refused !== undefined) this.refuse(refused);
    });
    recovering.on('blocked', (reason: string) => {
      // A memory or disk alarm: publishes wait until the broker lets them through.
      this.status.push({
        type: 'error',
        error: new UnavailableError(`the broker is blocking publishes: ${reason}`),
      });
    });
    recovering.on('unblocked', () => this.status.push({ type: 'connected' }));
    recovering.on('error', (err: unknown) => this.options.onError(err));
  }

  private giveUp(error: Error): void {
    if (this.closed) return;
    this.failure = new UnavailableError('lost the connection to the broker and gave up', {
      cause: error,
    });
    this.model = undefined;
    this.status.push({ type: 'error', error: this.failure });
    this.shutdown(this.failure);
  }

  /** The broker refused the credentials or certificate: retrying cannot help, so stop. */
  private refuse(error: Error): void {
    if (this.closed || this.failure !== undefined) return;
    this.failure = error;
    this.model = undefined;
    this.status.push({ type: 'error', error });
    this.shutdown(error);
    void this.recovering?.close().catch(() => undefined);
    this.status.push({ type: 'closed' });
    this.status.end();
  }

  private shutdown(err: Error): void {
    this.failReady(err);
    for (const w of this.waiters) w.reject(err);
    this.waiters = [];
    for (const listener of [...this.shutdownListeners]) listener(err);
    this.shutdownListeners.clear();
    this.listeners.clear();
  }

  /** Why the link is down for good, once it is (closed, or reconnecting gave up). */
  get failed(): Error | undefined {
    return this.closed ? new ClosedError('amqp transport') : this.failure;
  }

  /** Calls `listener` once when the link is down for good. */
  onShutdown(listener: (err: Error) => void): () => void {
    this.shutdownListeners.add(listener);
    return () => this.shutdownListeners.delete(listener);
  }

  /** The open connection, if there is one now. */
  get current(): ChannelModel | undefined {
    return this.model;
  }

  /** Waits for an open connection. */
  connection(): Promise<ChannelModel> {
    const failed = this.failed;
    if (failed !== undefined) return Promise.reject(failed);
    if (this.model !== undefined) return Promise.resolve(this.model);
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  /** Calls `listener` with every connection from now on (and the current one, if open). */
  onConnect(listener: (model: ChannelModel) => void): () => void {
    this.listeners.add(listener);
    if (this.model !== undefined) listener(this.model);
    return () => this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.shutdown(new ClosedError('amqp transport'));
    const recovering = this.recovering ?? (await this.opening.catch(() => undefined));
    await recovering?.close().catch(() => undefined);
    this.model = undefined;
    this.status.push({ type: 'closed' });
    this.status.end();
  }
}

export interface ManagedChannelOptions<C extends Channel> {
  confirm: boolean;
  /** Runs on each new channel before it is handed out. */
  setup: (ch: C) => Promise<void>;
  /** The channel in use went away (connection lost, or closed by the broker). */
  onLost?: (ch: C) => void;
  /** The channel finished its setup and is now `current` (catch up on what raced the setup). */
  onReady?: (ch: C) => void;
}

/** A channel that is there whenever the connection is, set up the same way each time. */
export class ManagedChannel<C extends Channel> {
  private ch: C | undefined;
  /** A channel still running its setup: closed too by `stop`, so no declaration lands later. */
  private settingUp: C | undefined;
  private waiters: { resolve: (ch: C) => void; reject: (e: Error) => void }[] = [];
  private off: (() => void) | undefined;
  private offShutdown: (() => void) | undefined;
  private retryMs = 50;
  private active = false;
  /** Bumped for every channel that finished its setup: deliveries carry it to spot stale acks. */
  generation = 0;

  constructor(
    private readonly link: AmqpLink,
    private readonly options: ManagedChannelOptions<C>,
  ) {}

  get current(): C | undefined {
    return this.ch;
  }

  start(): void {
    if (this.active || this.link.failed !== undefined) return;
    this.active = true;
    this.offShutdown = this.link.onShutdown((err) => this.rejectWaiters(err));
    this.off = this.link.onConnect((model) => void this.open(model));
  }

  private rejectWaiters(err: Error): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w.reject(err);
  }

  /** Waits for a channel that finished its setup. */
  channel(): Promise<C> {
    if (this.ch !== undefined) return Promise.resolve(this.ch);
    const failed = this.link.failed;
    if (failed !== undefined) return Promise.reject(failed);
    this.start();
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  private async open(model: ChannelModel): Promise<void> {
    if (!this.active || this.link.current !== model) return;
    let ch: C;
    try {
      ch = (await (this.options.confirm
        ? model.createConfirmChannel()
        : model.createChannel())) as unknown as C;
    } catch {
      return; // the connection went away; the next one opens a channel again
    }
    if (!this.active) {
      await ch.close().catch(() => undefined); // stopped while it was being opened
      return;
    }
    ch.on('error', (err: unknown) => {
      if (this.active) this.link.status.push({ type: 'error', error: err as Error });
    });
    ch.on('close', () => {
      const wasCurrent = this.ch === ch;
      if (wasCurrent) this.ch = undefined;
      if (wasCurrent) this.options.onLost?.(ch);
      // Closed by the broker while the connection stays up (a refused declaration, an ack of
      // an unknown delivery): open another one, slower each time so a lasting fault cannot spin.
      if (this.active && this.link.current === model) {
        setTimeout(() => void this.open(model), this.retryMs).unref();
        this.retryMs = Math.min(this.retryMs * 2, 5000);
      }
    });
    this.settingUp = ch;
    try {
      await this.options.setup(ch);
    } catch (err) {
      // A setup cut short by the connection going away (or by close) is not worth reporting.
      if (this.active && this.link.current === model) {
        this.link.status.push({ type: 'error', error: err as Error });
      }
      await ch.close().catch(() => undefined);
      return;
    } finally {
      if (this.settingUp === ch) this.settingUp = undefined;
    }
    if (!this.active) {
      await ch.close().catch(() => undefined);
      return;
    }
    this.retryMs = 50;
    this.generation++;
    this.ch = ch;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w.resolve(ch);
    this.options.onReady?.(ch);
  }

  /** Closes the channel and stops opening new ones (until `start` again). */
  async stop(): Promise<void> {
    this.active = false;
    this.off?.();
    this.offShutdown?.();
    this.off = this.offShutdown = undefined;
    const ch = this.ch;
    const settingUp = this.settingUp;
    this.ch = this.settingUp = undefined;
    this.rejectWaiters(new ClosedError('amqp channel'));
    if (ch !== undefined) {
      this.options.onLost?.(ch);
      await ch.close().catch(() => undefined);
    }
    await settingUp?.close().catch(() => undefined);
  }
}

/**
 * A refused login or certificate, as UnauthorizedError. amqplib reports the broker's
 * Connection.Close during the handshake only as text carrying the AMQP 0-9-1 reply code (403
 * access-refused, spec section 1.5.2); that prefix, which amqplib writes, is all there is to read.
 */
function refusal(err: Error): Error | undefined {
  const tlsProblem = tlsFailure(err);
  if (tlsProblem !== undefined) {
    return new UnauthorizedError(`TLS handshake with RabbitMQ failed: ${tlsProblem}`, {
      cause: err,
    });
  }
  if (!/^Handshake terminated by server: 403 /.test(err.message)) return undefined;
  return new UnauthorizedError('RabbitMQ refused the credentials (403 ACCESS-REFUSED)', {
    cause: err,
  });
}
