// A peer written from docs/protocol.md alone, with a bare NATS client and msgpackr: no llmwire
// code is imported here, so what these helpers do is what a stranger's implementation would do.
// Used by the spec tests to talk to llmwire workers and to serve the llmwire gateway.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { connect, headers, type Msg, type NatsConnection } from '@nats-io/transport-node';
import { Packr } from 'msgpackr';

export type Encoding = 'json' | 'msgpack';

/** An envelope as the protocol's table names its members. */
export interface Env {
  v: number;
  id: string;
  kind: string;
  subject: string;
  ts: number;
  source?: string;
  corr?: string;
  replyTo?: string;
  deadline?: number;
  seq?: number;
  eos?: boolean;
  credit?: number;
  headers?: Record<string, string>;
  chunk?: Chunk;
  ct?: string;
  body?: unknown;
  payload?: Uint8Array;
  [extra: string]: unknown;
}

export interface Chunk {
  transfer: string;
  index: number;
  total: number;
  size: number;
  partSum: string;
  objectSum: string;
  offset: number;
}

// "MessagePack encoding": plain maps, no extension types.
const packr = new Packr({ useRecords: false, variableMapSize: true });

export function envelope(
  kind: string,
  subject: string,
  body: unknown,
  extra: Partial<Env> = {},
): Env {
  // Ids are opaque strings to receivers ("Ids"): a v4 UUID is as good as any.
  return { v: 1, id: randomUUID(), kind, subject, ts: Date.now(), ...extra, body };
}

/** Frame bytes of `env` ("Encodings"); `payload` becomes base64url text in JSON. */
export function encode(env: Env, encoding: Encoding): Uint8Array {
  if (encoding === 'msgpack') {
    const { payload, ...rest } = env;
    return packr.pack(payload === undefined ? rest : { ...rest, payload: Buffer.from(payload) });
  }
  const json: Record<string, unknown> = { ...env };
  if (env.payload !== undefined) json.payload = Buffer.from(env.payload).toString('base64url');
  return Buffer.from(JSON.stringify(json));
}

/** The encoding a frame is in, by its first byte ("Encodings"). */
export function encodingOf(frame: Uint8Array): Encoding {
  const b = frame[0]!;
  if (b === 0x7b) return 'json';
  if ((b >= 0x80 && b <= 0x8f) || b === 0xde || b === 0xdf) return 'msgpack';
  throw new Error(`not a frame: first byte 0x${b.toString(16)}`);
}

/** Frame -> envelope, with an inline `body`, or `payload` of `ct: "raw"` as bytes. */
export function decode(frame: Uint8Array): Env {
  const encoding = encodingOf(frame);
  if (encoding === 'json') {
    const env = JSON.parse(Buffer.from(frame).toString('utf8')) as Env & { payload?: unknown };
    if (typeof env.payload === 'string') env.payload = Buffer.from(env.payload, 'base64url');
    return openBody(env);
  }
  const env = packr.unpack(frame) as Env;
  if (env.payload !== undefined) env.payload = new Uint8Array(env.payload);
  return openBody(env);
}

// "Body bytes" and "Compression": these peers use no keys, so a payload is the raw bytes of a
// chunk, or a body serialized by `ct`, maybe compressed (bodies of 16 KiB and more are).
function openBody(env: Env): Env {
  if (env.payload === undefined) return env;
  if (env.sig !== undefined || env.enc !== undefined) throw new Error('sealed frames not handled');
  const bytes = Buffer.from(env.payload);
  const text =
    env.zip === 'gzip' ? gunzipSync(bytes) : env.zip === 'br' ? brotliDecompressSync(bytes) : bytes;
  if (env.ct === 'raw') {
    env.payload = new Uint8Array(text); // a chunk's bytes, maybe compressed on the way
    delete env.zip;
    return env;
  }
  env.body = env.ct === 'json' ? JSON.parse(text.toString('utf8')) : packr.unpack(text);
  delete env.payload;
  delete env.ct;
  delete env.zip;
  delete env.sum;
  return env;
}

export function sha256(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('base64url')}`;
}

/** A token for private subjects: letters and digits only. */
export function token(): string {
  return randomBytes(9).toString('hex');
}

/** The parts of a frame too large for the broker ("Chunked transfers", "Oversized frames"). */
export function splitFrame(
  whole: Env,
  frame: Uint8Array,
  partSize: number,
  encoding: Encoding,
): Uint8Array[] {
  const total = Math.ceil(frame.byteLength / partSize);
  const transfer = randomUUID();
  const objectSum = sha256(frame);
  const frames: Uint8Array[] = [];
  for (let index = 0; index < total; index++) {
    const bytes = frame.subarray(
      index * partSize,
      Math.min(frame.byteLength, (index + 1) * partSize),
    );
    const part: Env = {
      v: 1,
      id: randomUUID(),
      kind: 'params.chunk',
      subject: whole.subject,
      ts: Date.now(),
      headers: { 'llmwire-chunked': 'frame' },
      chunk: {
        transfer,
        index,
        total,
        size: frame.byteLength,
        partSum: sha256(bytes),
        objectSum,
        offset: index * partSize,
      },
      ct: 'raw',
      payload: bytes,
    };
    for (const f of ['source', 'corr', 'deadline', 'tenant'] as const) {
      if (whole[f] !== undefined) (part as Record<string, unknown>)[f] = whole[f];
    }
    frames.push(encode(part, encoding));
  }
  return frames;
}

/** Collects the parts of chunked frames until one is whole, checking sums as it goes. */
export class Reassembler {
  private readonly transfers = new Map<string, Map<number, Uint8Array>>();

  /** The whole frame's envelope once the last part of its transfer is in. */
  add(part: Env): Env | undefined {
    const c = part.chunk!;
    const bytes = part.payload!;
    if (sha256(bytes) !== c.partSum) throw new Error(`part ${c.index} fails its partSum`);
    let parts = this.transfers.get(c.transfer);
    if (parts === undefined) this.transfers.set(c.transfer, (parts = new Map()));
    parts.set(c.index, bytes);
    if (parts.size < c.total) return undefined;
    this.transfers.delete(c.transfer);
    const frame = Buffer.concat([...parts.entries()].sort((a, b) => a[0] - b[0]).map((e) => e[1]));
    if (frame.byteLength !== c.size || sha256(frame) !== c.objectSum) {
      throw new Error('reassembled frame fails its objectSum');
    }
    return decode(frame);
  }
}

export function isFramePart(env: Env): boolean {
  return env.kind === 'params.chunk' && env.headers?.['llmwire-chunked'] === 'frame';
}

/**
 * One NATS connection speaking the protocol: publishes envelopes (offering oversized frames as
 * the NATS mapping says), and hands each subscription whole envelopes, claiming and reassembling
 * the parts of oversized ones.
 */
export class BarePeer {
  /** `_LLMW.<token>`: where claims and parts reach this connection ("NATS"). */
  readonly control = `_LLMW.${token()}`;
  private readonly offers = new Map<string, { parts: Uint8Array[]; sent: () => void }>();
  private readonly sinks = new Map<
    string,
    { reassembler: Reassembler; deliver: (e: Env, m: Msg) => void }
  >();
  private nextSink = 0;
  /** Oversized frames this peer claimed (received in parts). */
  claims = 0;
  /** Status messages (no payload, a `Status` header) seen on any subscription. */
  readonly statuses: { subject: string; code: number }[] = [];

  private constructor(
    readonly nc: NatsConnection,
    readonly encoding: Encoding,
    /** Largest frame one message may carry (the server's max_payload less header room). */
    readonly limit: number,
  ) {
    nc.subscribe(`${this.control}.>`, {
      callback: (err, msg) => {
        if (err === null) this.onControl(msg);
      },
    });
  }

  static async connect(url: string, encoding: Encoding = 'json'): Promise<BarePeer> {
    const nc = await connect({ servers: url });
    return new BarePeer(nc, encoding, nc.info!.max_payload - 512);
  }

  /**
   * Publishes `env`. Resolves at once, or for an oversized frame once its parts have gone to the
   * claimer (or nobody took the offer): later messages on the subject must wait for that, or they
   * would overtake the parts ("Oversized frames on NATS").
   */
  publish(env: Env, natsReply?: string): Promise<void> {
    const frame = encode(env, this.encoding);
    const h = headers();
    h.set('Llmwire-Id', env.id);
    if (frame.byteLength <= this.limit) {
      this.nc.publish(
        env.subject,
        frame,
        natsReply === undefined ? { headers: h } : { headers: h, reply: natsReply },
      );
      return Promise.resolve();
    }
    // Part 0 to the subject, offering the rest on our `x` subject.
    // A part's frame is its bytes (base64url in JSON: 4 characters per 3 bytes) plus ~600 bytes.
    const room = this.limit - 1024;
    const partSize = this.encoding === 'json' ? Math.floor((room * 3) / 4) : room;
    const parts = splitFrame(env, frame, partSize, this.encoding);
    const transfer = token();
    return new Promise<void>((resolve) => {
      this.offers.set(transfer, { parts, sent: resolve });
      this.nc.publish(env.subject, parts[0], {
        headers: h,
        reply: `${this.control}.x.${transfer}`,
      });
    });
  }

  /** Subscribes; `deliver` gets whole envelopes (and the NATS message of the last frame). */
  subscribe(subject: string, deliver: (env: Env, msg: Msg) => void): () => void {
    const sinkId = String(this.nextSink++);
    this.sinks.set(sinkId, { reassembler: new Reassembler(), deliver });
    const sub = this.nc.subscribe(subject, {
      callback: (err, msg) => {
        if (err !== null) return;
        if (msg.data.length === 0) {
          this.statuses.push({ subject: msg.subject, code: msg.headers?.code ?? 0 });
          return;
        }
        const env = decode(msg.data);
        if (isFramePart(env)) {
          if (env.chunk!.index === 0 && msg.reply) {
            // Claim the rest: our part subject, which is also the claim's reply subject.
            const parts = `${this.control}.p.${sinkId}`;
            this.claims++;
            this.nc.publish(msg.reply, Buffer.from(parts), { reply: parts });
          }
          this.part(sinkId, env, msg);
          return;
        }
        deliver(env, msg);
      },
    });
    return () => {
      sub.unsubscribe();
      this.sinks.delete(sinkId);
    };
  }

  async flush(): Promise<void> {
    await this.nc.flush();
  }

  async close(): Promise<void> {
    await this.nc.close();
  }

  private part(sinkId: string, env: Env, msg: Msg): void {
    const sink = this.sinks.get(sinkId);
    const whole = sink?.reassembler.add(env);
    if (whole !== undefined) sink!.deliver(whole, msg);
  }

  private onControl(msg: Msg): void {
    const t = msg.subject.slice(this.control.length + 1).split('.');
    if (t[0] === 'x') {
      const offer = this.offers.get(t[1] ?? '');
      if (offer === undefined) return;
      if (msg.data.length === 0) {
        this.statuses.push({ subject: msg.subject, code: msg.headers?.code ?? 0 });
        this.offers.delete(t[1]!);
        offer.sent();
        return;
      }
      const target = Buffer.from(msg.data).toString('utf8');
      for (const part of offer.parts.slice(1)) this.nc.publish(target, part);
      offer.sent();
    } else if (t[0] === 'p') {
      this.part(t[1] ?? '', decode(msg.data), msg);
    } else if (msg.data.length === 0) {
      this.statuses.push({ subject: msg.subject, code: msg.headers?.code ?? 0 });
    }
  }
}

/** What one request got back, in arrival order. */
export class Replies {
  readonly received: Env[] = [];
  /** Frame encodings of the received messages, in the same order. */
  readonly encodings: Encoding[] = [];
  private wake: (() => void) | undefined;

  push(env: Env, encoding: Encoding): void {
    this.received.push(env);
    this.encodings.push(encoding);
    this.wake?.();
  }

  /** Waits until `done` holds for what has arrived, or fails after `ms`. */
  async until(done: (got: Env[]) => boolean, ms = 10_000): Promise<Env[]> {
    const limit = Date.now() + ms;
    while (!done(this.received)) {
      const left = limit - Date.now();
      if (left <= 0) {
        throw new Error(
          `timed out; got ${this.received.map((e) => e.kind).join(', ') || 'nothing'}`,
        );
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 100));
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
    return this.received;
  }
}

/** True once a stream has ended: a message with `eos`, or any `error` ("Streams"). */
export function ended(got: Env[]): boolean {
  return got.some((e) => e.eos === true || e.kind === 'error');
}

/** Bodies of the stream items in `got` (coalesced messages unpacked), in seq order. */
export function items(got: Env[]): unknown[] {
  const out: unknown[] = [];
  for (const e of got) {
    if (e.seq === undefined || e.seq === 0 || e.eos === true || e.kind === 'error') continue;
    if (typeof e.items === 'number') out.push(...(e.body as unknown[]));
    else out.push(e.body);
  }
  return out;
}
