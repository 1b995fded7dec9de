// Body bytes: the serialized body that compression, encryption, checksums and signatures act
// on. `ct` says how to read them back (docs/protocol.md, "Body bytes").
import { InvalidMessageError, type ContentType } from '../protocol/index.js';
import type { Encoding } from './frame-encoding.js';
import { assertPackable, packr } from './msgpack.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });

export function serializeBody(body: unknown, preferred: Encoding): [Uint8Array, ContentType] {
  if (body instanceof Uint8Array) return [body, 'raw'];
  if (preferred !== 'json') {
    assertPackable(body);
    return [packr.pack(body), 'msgpack'];
  }
  return [Buffer.from(JSON.stringify(body ?? null)), 'json'];
}

export function parseBody(bytes: Uint8Array, ct: ContentType): unknown {
  switch (ct) {
    case 'raw':
      return bytes;
    case 'json':
      try {
        return JSON.parse(utf8.decode(bytes));
      } catch (cause) {
        throw new InvalidMessageError('body bytes are not valid UTF-8 JSON', { cause });
      }
    case 'msgpack':
      try {
        return packr.unpack(bytes);
      } catch (cause) {
        throw new InvalidMessageError('body bytes are not valid MessagePack', { cause });
      }
  }
}
