// The encoding a message arrived in, remembered beside the envelope (not in it) so that a reply
// goes back in the encoding of the request it answers (docs/protocol.md, "Default encoding"):
// a peer that writes only JSON gets only JSON back.
import type { Envelope } from '../protocol/index.js';

/**
 * How a frame's bytes are written (docs/protocol.md, "Encodings"): JSON text, the binary
 * encoding (version 2), or a MessagePack map (binary version 1, kept for older peers).
 */
export type Encoding = 'json' | 'binary' | 'msgpack';

const encodings = new WeakMap<object, Encoding>();

/** The encoding `env`'s frame was read in, or undefined for an envelope made in-process. */
export function frameEncodingOf(env: Envelope): Encoding | undefined {
  return encodings.get(env);
}

/** Makes a codec write `env` in `encoding`, whatever its own default. */
export function setFrameEncoding(env: Envelope, encoding: Encoding | undefined): void {
  if (encoding !== undefined) encodings.set(env, encoding);
}

/** Carries `from`'s encoding (if any) over to `to`, a copy or an answer of it. */
export function copyFrameEncoding(from: Envelope, to: Envelope): void {
  const encoding = encodings.get(from);
  if (encoding !== undefined) encodings.set(to, encoding);
}
