// Disposable hubs and peers for the WebSocket transport tests: a memory bus behind a hub on a
// free loopback port, client transports joined to it, and raw sockets that speak records by hand.
import { once } from 'node:events';
import { WebSocket } from 'ws';
import { createBus, type Bus } from '../../src/bus/index.js';
import type { Codec } from '../../src/codec/codec.js';
import { createMemoryTransport } from '../../src/transport/memory/index.js';
import type { Transport } from '../../src/transport/transport.js';
import { createBusHub, type BusHub, type BusHubOptions } from '../../src/transport/ws/hub.js';
import {
  createWebSocketTransport,
  type WebSocketTransport,
  type WebSocketTransportOptions,
} from '../../src/transport/ws/client.js';
import {
  decodeHubRecord,
  encodeRecord,
  messageBytes,
  WIRE_VERSION,
  type HubRecord,
  type PeerRecord,
} from '../../src/transport/ws/wire.js';

export interface HubFixture {
  local: Transport;
  hub: BusHub;
  /** Errors the hub reported to its onError. */
  errors: unknown[];
  /** A client transport joined to this hub; closed with the fixture. */
  join(options?: Partial<WebSocketTransportOptions>): WebSocketTransport;
  /** A bus over a joined client transport; closed with the fixture. */
  remoteBus(source: string, options?: Partial<WebSocketTransportOptions>): Promise<Bus>;
  [Symbol.asyncDispose](): Promise<void>;
}

export async function startHub(options: BusHubOptions = {}): Promise<HubFixture> {
  const local = createMemoryTransport();
  const errors: unknown[] = [];
  const hub = createBusHub(local, { onError: (e) => void errors.push(e), ...options });
  await hub.listening;
  const owned: { close(): Promise<void> }[] = [];
  const join = (o: Partial<WebSocketTransportOptions> = {}) => {
    const t = createWebSocketTransport({ url: hub.url, onError: () => undefined, ...o });
    owned.push(t);
    return t;
  };
  return {
    local,
    hub,
    errors,
    join,
    async remoteBus(source, o) {
      const bus = createBus({ transport: join(o), source, onError: () => undefined });
      owned.push(bus);
      await bus.ready;
      return bus;
    },
    async [Symbol.asyncDispose]() {
      for (const o of owned.reverse()) await o.close();
      await hub.close();
      await local.close();
    },
  };
}

/** A transport factory for the conformance suite: a fresh memory bus, hub and client per test. */
export async function createHubbedTransport(codec?: Codec): Promise<Transport> {
  const local = createMemoryTransport();
  const hub = createBusHub(local, {
    onError: () => undefined,
    ...(codec === undefined ? {} : { codec }),
  });
  await hub.listening;
  const client = createWebSocketTransport({
    url: hub.url,
    onError: () => undefined,
    ...(codec === undefined ? {} : { codec }),
  });
  return {
    name: client.name,
    get maxMessageBytes() {
      return client.maxMessageBytes;
    },
    publish: (env) => client.publish(env),
    subscribe: (pattern, handler, o) => client.subscribe(pattern, handler, o),
    flush: () => client.flush(),
    queue: (name, o) => client.queue(name, o),
    status: () => client.status(),
    async close() {
      await client.close();
      await hub.close();
      await local.close();
    },
  };
}

/** A WebSocket that speaks wire records by hand, to send what a well-behaved client would not. */
export class RawPeer {
  readonly received: HubRecord[] = [];
  closeCode: number | undefined;
  private waiters: (() => void)[] = [];

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const d = decodeHubRecord(messageBytes(data));
      if (d.ok) this.received.push(d.record);
      for (const w of this.waiters.splice(0)) w();
    });
    ws.on('close', (code) => {
      this.closeCode = code;
      for (const w of this.waiters.splice(0)) w();
    });
  }

  static async connect(url: string, hello = true): Promise<RawPeer> {
    const ws = new WebSocket(url);
    ws.on('error', () => undefined);
    await once(ws, 'open');
    const peer = new RawPeer(ws);
    if (hello) {
      peer.send({ op: 'hello', v: WIRE_VERSION, name: 'raw' });
      await peer.next((r) => r.op === 'hello');
    }
    return peer;
  }

  send(record: PeerRecord): void {
    this.ws.send(encodeRecord(record));
  }

  sendBytes(bytes: Uint8Array): void {
    this.ws.send(bytes);
  }

  /** The first received record (past or future) that matches. */
  async next(match: (r: HubRecord) => boolean, timeoutMs = 3000): Promise<HubRecord> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const found = this.received.find(match);
      if (found !== undefined) return found;
      if (this.closeCode !== undefined) throw new Error(`closed with ${this.closeCode}`);
      const left = until - Date.now();
      if (left <= 0) throw new Error('no matching record in time');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Resolves with the close code once the hub has closed the connection. */
  async closed(timeoutMs = 3000): Promise<number> {
    const until = Date.now() + timeoutMs;
    while (this.closeCode === undefined) {
      if (Date.now() > until) throw new Error('connection still open');
      await new Promise((r) => setTimeout(r, 5));
    }
    return this.closeCode;
  }

  close(): void {
    this.ws.terminate();
  }
}
