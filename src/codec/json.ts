// The JSON encoding: one UTF-8 JSON object per frame whose members are the envelope's header
// fields plus either `body` (the value, inline) or `payload` (body bytes as base64url).
import type { Envelope } from '../protocol/index.js';
import { InvalidMessageError } from '../protocol/index.js';
import { fromBase64Url, isBase64Url, toBase64Url } from './base64.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });

export function encodeJsonFrame(env: Envelope): Uint8Array {
  if (env.payload === undefined) return Buffer.from(JSON.stringify(env));
  const { payload, body: _body, ...header } = env;
  return Buffer.from(JSON.stringify({ ...header, payload: toBase64Url(payload) }));
}

/** Encodes with a body already serialized to JSON text, so it is not stringified twice. */
export function encodeJsonFrameWithBodyText(env: Envelope, bodyText: string): Uint8Array {
  const { payload: _p, body: _b, ...header } = env;
  const head = JSON.stringify(header);
  return Buffer.from(`${head.slice(0, -1)},"body":${bodyText}}`);
}

/** Parses a JSON frame into a raw record; the caller checks the header. */
export function decodeJsonFrame(frame: Uint8Array): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(utf8.decode(frame));
  } catch (cause) {
    throw new InvalidMessageError('frame is not valid UTF-8 JSON', { cause });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidMessageError('JSON frame must be an object');
  }
  const record = value as Record<string, unknown>;
  const payload = record.payload;
  if (payload !== undefined) {
    if (typeof payload !== 'string' || !isBase64Url(payload)) {
      throw new InvalidMessageError('JSON frame payload must be base64url text');
    }
    record.payload = fromBase64Url(payload);
  }
  return record;
}
