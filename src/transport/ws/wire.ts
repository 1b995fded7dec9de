// The WebSocket bus wire format (docs/ws-bus.md): every binary WebSocket message is one
// MessagePack map, a control record `{op, ...}`; envelopes ride inside records as codec frames.
//
// MessagePack rather than JSON for the records because the frames they carry are bytes: a `bin`
// holds a frame as is, where JSON would need base64 (a third more bytes and a copy each way).
// The frames themselves stay codec frames (JSON or MessagePack, docs/protocol.md), so the hub
// checks them with the same codec rules (size, header schema, signature) as any other input.
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import { Packr } from 'msgpackr';
import { InvalidMessageError, type WireError } from '../../protocol/index.js';

/** Version of the record layer, exchanged in `hello`; bumped on an incompatible change. */
export const WIRE_VERSION = 1;
export const DEFAULT_PATH = '/v1/bus';
/** Room for a record's own fields around the largest frame it carries. */
export const RECORD_OVERHEAD_BYTES = 64 * 1024;
/** Most deliveries one `q.receive` hands out, and most dead letters one `q.dead` lists. */
export const MAX_BATCH = 256;

/** WebSocket close codes the hub uses (RFC 6455 §7.4; 4000-4999 are application codes). */
export const CloseCode = {
  normal: 1000,
  goingAway: 1001,
  protocolError: 1002,
  tooBig: 1009,
  kicked: 4000,
  slowConsumer: 4001,
  helloTimeout: 4002,
  /** The identity's credentials were revoked or its connection limit reached. */
  policy: 4003,
} as const;

const Id = Type.Integer({ minimum: 1, maximum: 2 ** 53 - 1 });
const Frame = Type.Uint8Array({ minByteLength: 1 });
const Text = Type.String({ minLength: 1, maxLength: 512 });
const Ms = Type.Integer({ minimum: 0, maximum: 2 ** 47 });

export const ErrorBodySchema = Type.Object({
  code: Type.String({ minLength: 1, maxLength: 64 }),
  message: Type.String({ maxLength: 4096 }),
  retryable: Type.Boolean(),
  details: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
});

const QueueOptionsSchema = Type.Object({
  leaseMs: Type.Optional(Type.Number()),
  maxAttempts: Type.Optional(Type.Number()),
  dedupWindowMs: Type.Optional(Type.Number()),
  maxDepth: Type.Optional(Type.Number()),
  backoff: Type.Optional(
    Type.Object({
      initialMs: Type.Optional(Type.Number()),
      maxMs: Type.Optional(Type.Number()),
      multiplier: Type.Optional(Type.Number()),
      jitter: Type.Optional(Type.Number()),
    }),
  ),
});
export type WireQueueOptions = Static<typeof QueueOptionsSchema>;

function op<O extends string, P extends Record<string, TSchema>>(name: O, props: P) {
  return Type.Object({ op: Type.Literal(name), ...props });
}

/** A queue call: the request id, the queue and the options it is opened with. */
function qop<O extends string, P extends Record<string, TSchema>>(name: O, props: P) {
  return op(name, { id: Id, queue: Text, opts: Type.Optional(QueueOptionsSchema), ...props });
}

const Ids = Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 128 })));

/** Records a peer sends to the hub. */
export const PEER_RECORDS = {
  hello: op('hello', { v: Type.Integer({ minimum: 0 }), name: Type.Optional(Text) }),
  pub: op('pub', { frame: Frame }),
  sub: op('sub', { id: Id, sid: Id, pattern: Text, queue: Type.Optional(Text) }),
  unsub: op('unsub', { sid: Id }),
  flush: op('flush', { id: Id }),
  cancel: op('cancel', { id: Id }),
  err: op('err', { id: Type.Optional(Id), error: ErrorBodySchema }),
  'q.enqueue': qop('q.enqueue', {
    frame: Frame,
    delayMs: Type.Optional(Ms),
    ttlMs: Type.Optional(Ms),
  }),
  'q.receive': qop('q.receive', { max: Type.Integer({ minimum: 1 }), waitMs: Ms }),
  'q.ack': qop('q.ack', { h: Id }),
  'q.nack': qop('q.nack', {
    h: Id,
    delayMs: Type.Optional(Ms),
    error: Type.Optional(ErrorBodySchema),
  }),
  'q.extend': qop('q.extend', { h: Id, ms: Ms }),
  'q.reject': qop('q.reject', { h: Id, error: ErrorBodySchema }),
  'q.stats': qop('q.stats', {}),
  'q.dead': qop('q.dead', { limit: Type.Optional(Type.Integer({ minimum: 0 })) }),
  'q.replay': qop('q.replay', { ids: Ids }),
  'q.purge': qop('q.purge', { ids: Ids }),
} as const;

/** Records the hub sends to a peer. */
export const HUB_RECORDS = {
  hello: op('hello', {
    v: Type.Integer({ minimum: 0 }),
    peer: Text,
    maxFrameBytes: Type.Integer({ minimum: 1 }),
    /** The hub pings this often; a peer that hears nothing for two intervals reconnects. */
    pingMs: Type.Optional(Type.Integer({ minimum: 1 })),
    /**
     * Who the hub took this peer to be: its `source` (and `tenant`, when the identity has one)
     * are stamped on every envelope the peer publishes (docs/security.md).
     */
    identity: Type.Optional(
      Type.Object({
        name: Text,
        role: Text,
        source: Text,
        tenant: Type.Optional(Text),
      }),
    ),
  }),
  /** One envelope for subscription `sid`, or for every subscription in `sids` (identical ones). */
  msg: op('msg', {
    sid: Id,
    sids: Type.Optional(Type.Array(Id, { minItems: 2, maxItems: 65_536 })),
    frame: Frame,
  }),
  ok: op('ok', { id: Id, result: Type.Optional(Type.Unknown()) }),
  err: op('err', { id: Type.Optional(Id), error: ErrorBodySchema }),
  /** One leased delivery of a `q.receive`, sent before its `ok`. */
  dlv: op('dlv', {
    id: Id,
    h: Id,
    frame: Frame,
    attempt: Type.Integer({ minimum: 1 }),
    /** Lease time left when sent (not an end time: the peer's clock may differ). */
    leaseMs: Ms,
  }),
  /** One dead letter of a `q.dead`, sent before its `ok`. */
  dead: op('dead', {
    id: Id,
    frame: Frame,
    reason: Type.Union([
      Type.Literal('max_attempts'),
      Type.Literal('expired'),
      Type.Literal('rejected'),
    ]),
    attempts: Type.Integer({ minimum: 0 }),
    error: Type.Optional(ErrorBodySchema),
    deadAt: Ms,
  }),
} as const;

type Schemas = Record<string, TSchema>;
type RecordOf<S extends Schemas> = { [K in keyof S]: Static<S[K]> }[keyof S];

export type PeerRecord = RecordOf<typeof PEER_RECORDS>;
export type HubRecord = RecordOf<typeof HUB_RECORDS>;
export type QueueRecord = Extract<PeerRecord, { op: `q.${string}` }>;
export type DeliveryRecord = Static<typeof HUB_RECORDS.dlv>;
export type DeadRecord = Static<typeof HUB_RECORDS.dead>;
export type HubIdentity = NonNullable<Static<typeof HUB_RECORDS.hello>['identity']>;

/** Results carried by `ok`, by the request that asked for them. */
export const RESULTS = {
  enqueue: TypeCompiler.Compile(Type.Object({ id: Text, duplicate: Type.Boolean() })),
  stats: TypeCompiler.Compile(
    Type.Object({
      ready: Type.Integer({ minimum: 0 }),
      delayed: Type.Integer({ minimum: 0 }),
      leased: Type.Integer({ minimum: 0 }),
      dead: Type.Integer({ minimum: 0 }),
    }),
  ),
  count: TypeCompiler.Compile(Type.Object({ n: Type.Integer({ minimum: 0 }) })),
};

const packr = new Packr({ useRecords: false, variableMapSize: true, moreTypes: false });

function compile<S extends Schemas>(schemas: S): Map<string, TypeCheck<TSchema>> {
  return new Map(Object.entries(schemas).map(([name, s]) => [name, TypeCompiler.Compile(s)]));
}
const peerChecks = compile(PEER_RECORDS);
const hubChecks = compile(HUB_RECORDS);

/** Drops undefined members, which MessagePack has no standard way to write. */
function compact(value: unknown): unknown {
  if (typeof value !== 'object' || value === null || value instanceof Uint8Array) return value;
  if (Array.isArray(value)) return value.map(compact);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = compact(v);
  return out;
}

export function encodeRecord(record: PeerRecord | HubRecord): Buffer {
  return packr.pack(compact(record));
}

export type Decoded<R> = { ok: true; record: R } | { ok: false; error: WireError; id?: number };

function decode<R>(bytes: Uint8Array, checks: Map<string, TypeCheck<TSchema>>): Decoded<R> {
  let value: unknown;
  try {
    value = packr.unpack(bytes);
  } catch (cause) {
    return {
      ok: false,
      error: new InvalidMessageError('record is not valid MessagePack', { cause }),
    };
  }
  if (
    typeof value !== 'object' ||
    value === null ||
    Array.isArray(value) ||
    value instanceof Uint8Array
  ) {
    return { ok: false, error: new InvalidMessageError('record must be a MessagePack map') };
  }
  const rec = value as Record<string, unknown>;
  // Echo the request id when there is a usable one, so the sender can fail the right call.
  const id =
    Number.isSafeInteger(rec.id) && (rec.id as number) > 0 ? (rec.id as number) : undefined;
  const fail = (error: WireError): Decoded<R> =>
    id === undefined ? { ok: false, error } : { ok: false, error, id };
  const op = String(rec.op).slice(0, 64);
  const check = typeof rec.op === 'string' ? checks.get(rec.op) : undefined;
  if (check === undefined) {
    return fail(new InvalidMessageError(`unknown record op '${op}'`, { details: { op } }));
  }
  if (check.Check(rec)) return { ok: true, record: rec as R };
  const first = check.Errors(rec).First();
  return fail(
    new InvalidMessageError(
      `invalid '${op}' record field ${first?.path ?? ''}: ${first?.message ?? 'bad value'}`,
      { details: { op, path: first?.path } },
    ),
  );
}

/** Decodes and checks one record from a peer; never throws. */
export function decodePeerRecord(bytes: Uint8Array): Decoded<PeerRecord> {
  return decode<PeerRecord>(bytes, peerChecks);
}

/** Decodes and checks one record from the hub; never throws. */
export function decodeHubRecord(bytes: Uint8Array): Decoded<HubRecord> {
  return decode<HubRecord>(bytes, hubChecks);
}

/** The bytes of a received WebSocket message as one buffer. */
export function messageBytes(data: Buffer | ArrayBuffer | Buffer[]): Buffer {
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.isBuffer(data) ? data : Buffer.from(data);
}

/** Queue options as sent: unbounded values are left out rather than written as Infinity. */
export function wireQueueOptions(
  options: WireQueueOptions | undefined,
): WireQueueOptions | undefined {
  if (options === undefined) return undefined;
  const out = compact(options) as WireQueueOptions;
  if (out.maxDepth === Number.POSITIVE_INFINITY) delete out.maxDepth;
  return out;
}
