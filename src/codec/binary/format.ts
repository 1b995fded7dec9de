// The constants of the binary encoding, version 2 (docs/protocol.md, "Binary encoding"): the
// frame marker, field ids, and the code tables of kinds and enumerated values. These numbers are
// the wire format; changing one is a new binary encoding version.

/** First byte of a binary frame: 0xc1 is never used by MessagePack and is not `{` (0x7b). */
export const BINARY_MARKER = 0xc1;
/** Second byte: the binary encoding version (version 1 was the MessagePack map). */
export const BINARY_VERSION = 2;

/** Field ids of optional header fields, in the order a frame carries them. */
export const Tag = {
  source: 1,
  corr: 2,
  replyTo: 3,
  deadline: 4,
  prio: 5,
  key: 6,
  attempt: 7,
  tenant: 8,
  traceparent: 9,
  tracestate: 10,
  seq: 11,
  eos: 12,
  credit: 13,
  batch: 14,
  items: 15,
  headers: 16,
  chunk: 17,
  ct: 18,
  zip: 19,
  sum: 20,
  enc: 21,
  sig: 22,
  /** Header members without a field id, by name: a MessagePack map. */
  extra: 23,
  /** No body: ends a frame that has neither body nor payload, so a cut frame is never valid. */
  noBody: 31,
  /** The body as one MessagePack value. */
  body: 32,
  /** An `inference.request` body in its fixed layout. */
  bodyRequest: 33,
  /** An `inference.chunk` body in its fixed layout. */
  bodyChunk: 34,
  /** The transformed body bytes, as they are; always the last field. */
  payload: 35,
} as const;

/** Header field name -> field id, for the fields that have one. */
export const HEADER_TAGS: ReadonlyMap<string, number> = new Map(
  Object.entries(Tag).filter(([, tag]) => tag < Tag.extra),
);

/** The required fields: carried in fixed positions, before any field id. */
export const REQUIRED_FIELDS = new Set(['v', 'id', 'kind', 'subject', 'ts']);

/** Kind codes (1-13); a kind not in this list travels as a string. */
export const KIND_CODES = [
  'inference.request',
  'inference.chunk',
  'inference.result',
  'embedding.request',
  'embedding.result',
  'training.batch',
  'params.chunk',
  'control.cancel',
  'control.credit',
  'heartbeat',
  'metric',
  'event',
  'error',
] as const;

export const KIND_CODE: ReadonlyMap<string, number> = new Map(KIND_CODES.map((k, i) => [k, i + 1]));

/** `ct` codes. */
export const CONTENT_TYPES = ['json', 'msgpack', 'raw'] as const;
/** `zip` codes. */
export const COMPRESSIONS = ['gzip', 'br'] as const;

/** Byte length of a UUID and of a traceparent in compact form. */
export const UUID_BYTES = 16;
export const TRACEPARENT_BYTES = 26;
