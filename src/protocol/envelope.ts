// The envelope: every llmwire message is one. Field names here are the wire names of both
// encodings (docs/protocol.md, "Envelope"), so the in-memory object is the header as sent.
import { Type, type Static } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { createId } from './ids.js';
import { PROTOCOL_VERSION } from './version.js';

/** Priority levels: 0 (lowest) to 9 (highest). */
export const Priority = { low: 2, normal: 5, high: 8 } as const;
export const MIN_PRIORITY = 0;
export const MAX_PRIORITY = 9;
/** Most stream items one coalesced message may carry (`batch`, `items`; docs/protocol.md). */
export const MAX_BATCH_ITEMS = 64;

const Sha256Sum = Type.String({ pattern: '^sha256:[A-Za-z0-9_-]{43}$' });

export const ChunkInfoSchema = Type.Object(
  {
    transfer: Type.String({ minLength: 1, maxLength: 128 }),
    index: Type.Integer({ minimum: 0 }),
    total: Type.Integer({ minimum: 1 }),
    size: Type.Integer({ minimum: 1 }),
    partSum: Sha256Sum,
    objectSum: Sha256Sum,
    offset: Type.Integer({ minimum: 0 }),
  },
  { additionalProperties: false },
);
export type ChunkInfo = Static<typeof ChunkInfoSchema>;

export const EncryptionInfoSchema = Type.Object(
  {
    alg: Type.Literal('A256GCM'),
    kid: Type.String({ minLength: 1, maxLength: 128 }),
    iv: Type.String({ pattern: '^[A-Za-z0-9_-]{16}$' }),
    tag: Type.String({ pattern: '^[A-Za-z0-9_-]{22}$' }),
  },
  { additionalProperties: false },
);
export type EncryptionInfo = Static<typeof EncryptionInfoSchema>;

export const SignatureInfoSchema = Type.Object(
  {
    alg: Type.Union([Type.Literal('HS256'), Type.Literal('Ed25519')]),
    kid: Type.String({ minLength: 1, maxLength: 128 }),
    value: Type.String({ minLength: 1, maxLength: 256, pattern: '^[A-Za-z0-9_-]+$' }),
  },
  { additionalProperties: false },
);
export type SignatureInfo = Static<typeof SignatureInfoSchema>;

/** How body bytes are to be read once decompressed and decrypted. */
export const ContentTypeSchema = Type.Union([
  Type.Literal('json'),
  Type.Literal('msgpack'),
  Type.Literal('raw'),
]);
export type ContentType = Static<typeof ContentTypeSchema>;

export const CompressionSchema = Type.Union([Type.Literal('gzip'), Type.Literal('br')]);
export type Compression = Static<typeof CompressionSchema>;

const Subject = Type.String({ minLength: 1, maxLength: 512 });
const ShortText = Type.String({ minLength: 1, maxLength: 256 });

/**
 * Header fields of the envelope: everything but the body. The schema is the one a decoder checks
 * before it trusts a frame; bodies are checked separately against their kind's schema.
 */
export const EnvelopeHeaderSchema = Type.Object({
  v: Type.Integer({ minimum: 1, maximum: 255 }),
  id: Type.String({ minLength: 1, maxLength: 128 }),
  kind: Type.String({ minLength: 1, maxLength: 64, pattern: '^[a-z][a-z0-9_.-]*$' }),
  subject: Subject,
  ts: Type.Integer({ minimum: 0 }),
  source: Type.Optional(ShortText),
  corr: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  replyTo: Type.Optional(Subject),
  deadline: Type.Optional(Type.Integer({ minimum: 0 })),
  prio: Type.Optional(Type.Integer({ minimum: MIN_PRIORITY, maximum: MAX_PRIORITY })),
  key: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
  attempt: Type.Optional(Type.Integer({ minimum: 1 })),
  tenant: Type.Optional(ShortText),
  traceparent: Type.Optional(
    Type.String({ pattern: '^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$' }),
  ),
  tracestate: Type.Optional(Type.String({ maxLength: 512 })),
  seq: Type.Optional(Type.Integer({ minimum: 0 })),
  eos: Type.Optional(Type.Boolean()),
  credit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000 })),
  batch: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_BATCH_ITEMS })),
  items: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_BATCH_ITEMS })),
  headers: Type.Optional(
    Type.Record(
      Type.String({ pattern: '^[A-Za-z0-9_.-]{1,128}$' }),
      Type.String({ maxLength: 4096 }),
      {
        maxProperties: 64,
        additionalProperties: false,
      },
    ),
  ),
  chunk: Type.Optional(ChunkInfoSchema),
  ct: Type.Optional(ContentTypeSchema),
  zip: Type.Optional(CompressionSchema),
  sum: Type.Optional(Sha256Sum),
  enc: Type.Optional(EncryptionInfoSchema),
  sig: Type.Optional(SignatureInfoSchema),
});
export type EnvelopeHeader = Static<typeof EnvelopeHeaderSchema>;

/**
 * One message. `body` holds the application value; when a frame carries transformed body bytes
 * (compressed, encrypted, checksummed or signed) they sit in `payload` until the codec opens
 * them. Exactly one of `body` and `payload` is meaningful.
 */
export interface Envelope<B = unknown> extends EnvelopeHeader {
  body?: B;
  payload?: Uint8Array;
}

export const envelopeHeaderCheck = TypeCompiler.Compile(EnvelopeHeaderSchema);

/** Fields a sender may set when making an envelope. */
export type EnvelopeInit<B = unknown> = Omit<Partial<EnvelopeHeader>, 'v' | 'id' | 'ts'> & {
  kind: string;
  subject: string;
  body?: B;
  id?: string;
  ts?: number;
};

/** Makes a v1 envelope with a fresh id and timestamp. Optional fields left undefined are omitted. */
export function createEnvelope<B>(init: EnvelopeInit<B>): Envelope<B> {
  // One clock read for both, so a new id and its ts name the same millisecond.
  const now = init.id === undefined || init.ts === undefined ? Date.now() : 0;
  const env: Envelope<B> = {
    v: PROTOCOL_VERSION,
    id: init.id ?? createId(now),
    kind: init.kind,
    subject: init.subject,
    ts: init.ts ?? now,
  };
  for (const k in init) {
    if (k === 'id' || k === 'ts' || k === 'kind' || k === 'subject') continue;
    const value = (init as Record<string, unknown>)[k];
    if (value !== undefined) (env as unknown as Record<string, unknown>)[k] = value;
  }
  return env;
}
