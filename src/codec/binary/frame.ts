// The binary encoding, version 2 (docs/protocol.md, "Binary encoding"): a marker byte, the
// encoding version, the header (header.ts), then the body in a fixed layout (layout.ts) or as
// one MessagePack value, or the payload bytes as they are. Payload bytes are copied once into
// the frame on the way out and not at all on the way in.
import { InvalidMessageError, type Envelope } from '../../protocol/index.js';
import { BINARY_MARKER, BINARY_VERSION, Tag } from './format.js';
import { headerInfo, readHeader, writeHeader } from './header.js';
import { CHUNK_LAYOUT, isRecord, readLayout, REQUEST_LAYOUT, writeLayout } from './layout.js';
import { ByteReader } from './reader.js';
import { readValue, writeValue } from './value.js';
import { writer } from './writer.js';

export function encodeBinaryFrame(env: Envelope): Uint8Array {
  const w = writer;
  w.pos = 0;
  w.ensure(2);
  w.buf[0] = BINARY_MARKER;
  w.buf[1] = BINARY_VERSION;
  w.pos = 2;
  writeHeader(w, env);
  const payload = env.payload;
  if (payload !== undefined) {
    if (!(payload instanceof Uint8Array)) {
      throw new InvalidMessageError('invalid envelope field /payload: must be bytes');
    }
    w.u8(Tag.payload);
    w.varint(payload.byteLength);
    return w.finish(payload);
  }
  const body = env.body;
  if (body !== undefined) {
    if (env.kind === 'inference.chunk' && isRecord(body)) {
      w.u8(Tag.bodyChunk);
      writeLayout(w, body, CHUNK_LAYOUT, 1);
    } else if (env.kind === 'inference.request' && isRecord(body)) {
      w.u8(Tag.bodyRequest);
      writeLayout(w, body, REQUEST_LAYOUT, 1);
    } else {
      w.u8(Tag.body);
      writeValue(w, body, 1);
    }
  } else w.u8(Tag.noBody);
  return w.finish();
}

/** True when the first byte is the binary frame marker. */
export function looksLikeBinaryFrame(first: number): boolean {
  return first === BINARY_MARKER;
}

/** What the last decodeBinaryFrame call found, beside the record it returned. */
export const binaryFrameInfo = {
  /** The frame has a payload. */
  sealed: false,
  /** The frame has any of `ct`, `zip`, `sum`, `enc`, `sig`. */
  transforms: false,
};

/** Parses a binary frame into a checked header record with its body or payload. */
export function decodeBinaryFrame(frame: Uint8Array): Record<string, unknown> {
  if (frame.byteLength < 2) throw new InvalidMessageError('binary frame is truncated at byte 1');
  if (frame[1] !== BINARY_VERSION) {
    throw new InvalidMessageError(`binary encoding version ${frame[1]} is not supported`, {
      details: { encodingVersion: frame[1], supported: [BINARY_VERSION] },
    });
  }
  const r = new ByteReader(frame, 2);
  const env = readHeader(r);
  binaryFrameInfo.sealed = false;
  binaryFrameInfo.transforms = headerInfo.transforms;
  // Every frame ends with its body field (or the no-body field): a frame cut between two
  // header fields would otherwise read as a valid, shorter message.
  if (r.pos === r.end) throw new InvalidMessageError('binary frame ends without a body field');
  const tag = r.u8();
  switch (tag) {
    case Tag.noBody:
      break;
    case Tag.body:
      env.body = readValue(r);
      break;
    case Tag.bodyChunk:
      env.body = readLayout(r, CHUNK_LAYOUT);
      break;
    case Tag.bodyRequest:
      env.body = readLayout(r, REQUEST_LAYOUT);
      break;
    case Tag.payload: {
      const n = r.varint();
      if (n !== r.remaining) {
        if (n > r.remaining) r.truncated();
        throw new InvalidMessageError('bytes follow the payload');
      }
      env.payload = r.take(n);
      binaryFrameInfo.sealed = true;
      return env;
    }
    default:
      throw new InvalidMessageError(`unknown field id ${tag}`);
  }
  if (r.pos !== r.end) throw new InvalidMessageError('bytes follow the body');
  return env;
}
