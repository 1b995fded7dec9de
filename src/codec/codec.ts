// The codec: envelope <-> frame bytes, with the body transforms of docs/protocol.md applied in
// order on the way out (serialize, compress, encrypt, checksum, sign) and undone in reverse on
// the way in. Pure functions of their inputs and keys: no I/O.
import {
  ConfigError,
  envelopeHeaderCheck,
  InvalidMessageError,
  PayloadTooLargeError,
  SignatureError,
  DecryptionError,
  EnvelopeHeaderSchema,
  WireError,
  LocalError,
  type Envelope,
} from '../protocol/index.js';
import { parseBody, serializeBody } from './body.js';
import {
  compress,
  decompress,
  type CompressionOptions,
  DEFAULT_COMPRESSION,
} from './compression.js';
import { isBinaryBody } from './binary-body.js';
import { checksum, verifyChecksum } from './integrity.js';
import { decodeJsonFrame, encodeJsonFrame, encodeJsonFrameWithBodyText } from './json.js';
import { decodeMsgpackFrame, encodeMsgpackFrame, looksLikeMsgpackMap } from './msgpack.js';
import {
  binaryFrameInfo,
  decodeBinaryFrame,
  encodeBinaryFrame,
  looksLikeBinaryFrame,
} from './binary/frame.js';
import { checkVersion } from './version-check.js';
import {
  copyFrameEncoding,
  frameEncodingOf,
  setFrameEncoding,
  type Encoding,
} from './frame-encoding.js';
import { decryptPayload, encryptPayload, type Keyring } from './security/encryption.js';
import { ReplayGuard, signingInput, type Signer, type Verifier } from './security/signing.js';

export type { Encoding };

export interface Codec {
  readonly encoding: Encoding;
  readonly maxFrameBytes: number;
  /** Envelope -> frame bytes. Throws PayloadTooLargeError past `maxFrameBytes`. */
  encode(env: Envelope): Uint8Array;
  /**
   * Frame bytes -> opened envelope (body parsed, every check done). Throws WireError subclasses.
   * A codec made with `open: false` checks only the header of a signed, encrypted or checksummed
   * frame and returns it sealed (`payload` set, no `body`).
   */
  decode(frame: Uint8Array): Envelope;
  /**
   * Envelope -> sealed envelope: the body serialized, compressed, encrypted, checksummed and
   * signed as this codec's options say (`payload` set). Returned as is when already sealed or
   * when this codec has nothing to apply.
   */
  seal(env: Envelope): Envelope;
  /**
   * Sealed envelope (from `decode` with `open: false`) -> opened envelope, every check done.
   * `replay: false` leaves replay protection to the caller (the bus scopes it per receiver).
   * An envelope without a payload is returned as is, unless this codec requires signatures or
   * encryption.
   */
  open(env: Envelope, options?: { replay?: boolean }): Envelope;
}

export interface CodecOptions {
  /**
   * Encoding of frames this codec writes; it reads both. Default 'json'. A message that answers
   * or copies one read by a codec (see frame-encoding.ts) is written in that message's encoding.
   */
  encoding?: Encoding;
  /** Largest frame accepted or produced, in bytes. Default 8 MiB. */
  maxFrameBytes?: number;
  /** Largest body after decompression, in bytes. Default 64 MiB. */
  maxBodyBytes?: number;
  /** Compress bodies above a threshold; `false` turns it off. Default gzip above 16 KiB. */
  compression?: CompressionOptions | false;
  /** Add a SHA-256 checksum of the payload to every frame. Default false. */
  integrity?: boolean;
  /** Encrypt every body with the keyring's current key; decrypt with any of its keys. */
  encryption?: Keyring;
  /** Refuse frames whose body is not encrypted. Default: true when `encryption` is set. */
  requireEncryption?: boolean;
  /** Sign every frame, and check the signatures of frames received. */
  signing?: { signer?: Signer; verifier: Verifier; replay?: ReplayGuard | false };
  /** Refuse unsigned frames. Default: true when `signing` is set. */
  requireSignature?: boolean;
  /**
   * `false`: `decode` leaves signed, encrypted and checksummed payloads sealed, checking only the
   * frame's size, header and version; no keys are needed. Transports and the hub decode this way
   * and the bus opens (docs/protocol.md, "Sealed frames"). Default true.
   */
  open?: boolean;
}

/** True when a frame's payload needs keys (or a checksum) to open: left to the receiver's bus. */
export function isSealed(env: Envelope): boolean {
  return (
    env.payload !== undefined &&
    (env.sig !== undefined || env.enc !== undefined || env.sum !== undefined)
  );
}

export const DEFAULT_MAX_FRAME_BYTES = 8 * 1024 * 1024;

const KNOWN_FIELDS = new Set(Object.keys(EnvelopeHeaderSchema.properties));

const SEAL_DROPS = new Set(['body', 'payload']);
const OPEN_DROPS = new Set(['payload', 'ct', 'zip', 'sum', 'enc', 'sig']);

/**
 * A copy of the envelope without the `drop` fields and, when `keep` is given, without fields
 * outside it (so nothing unsigned rides on a signed frame). A loop rather than object rest and
 * `delete`: this runs for every sealed message.
 */
function headerOf(env: Envelope, drop: Set<string>, keep?: Set<string>): Envelope {
  const out: Record<string, unknown> = {};
  const record = env as unknown as Record<string, unknown>;
  for (const key in record) {
    if (drop.has(key) || (keep !== undefined && !keep.has(key))) continue;
    const value = record[key];
    if (value !== undefined) out[key] = value;
  }
  return out as unknown as Envelope;
}

/** The envelope schema check of JSON and MessagePack frames. */
function checkHeader(record: Record<string, unknown>): void {
  if (envelopeHeaderCheck.Check(record)) return;
  const first = envelopeHeaderCheck.Errors(record).First();
  throw new InvalidMessageError(
    `invalid envelope field ${first?.path ?? ''}: ${first?.message ?? 'bad header'}`,
    { details: { path: first?.path } },
  );
}

export function createCodec(options: CodecOptions = {}): Codec {
  const encoding = options.encoding ?? 'json';
  if (encoding !== 'json' && encoding !== 'binary' && encoding !== 'msgpack') {
    throw new ConfigError(
      `codec encoding must be 'json', 'binary' or 'msgpack', got '${String(encoding)}'`,
    );
  }
  const maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
  const maxBodyBytes = options.maxBodyBytes ?? 64 * 1024 * 1024;
  if (!Number.isInteger(maxFrameBytes) || maxFrameBytes < 256) {
    throw new ConfigError('maxFrameBytes must be an integer of at least 256');
  }
  const compression = options.compression === undefined ? DEFAULT_COMPRESSION : options.compression;
  const integrity = options.integrity ?? false;
  const keyring = options.encryption;
  const requireEncryption = options.requireEncryption ?? keyring !== undefined;
  const signer = options.signing?.signer;
  const verifier = options.signing?.verifier;
  const replay =
    options.signing === undefined
      ? undefined
      : options.signing.replay === false
        ? undefined
        : (options.signing.replay ?? new ReplayGuard());
  const requireSignature = options.requireSignature ?? options.signing !== undefined;
  const alwaysSeal = integrity || keyring !== undefined || signer !== undefined;
  const openAll = options.open ?? true;
  const writerOf = (enc: Encoding) =>
    enc === 'json' ? encodeJsonFrame : enc === 'binary' ? encodeBinaryFrame : encodeMsgpackFrame;
  // Marked bulk bytes go in a binary frame (no base64), or in MessagePack if this codec writes it.
  const binaryBodyEncoding: Encoding = encoding === 'json' ? 'binary' : encoding;

  function checkSize(frame: Uint8Array): Uint8Array {
    if (frame.byteLength > maxFrameBytes) {
      throw new PayloadTooLargeError(
        `frame of ${frame.byteLength} bytes exceeds the ${maxFrameBytes}-byte limit; put large payloads in bus.blobs and send the blob's name`,
        { details: { size: frame.byteLength, limit: maxFrameBytes } },
      );
    }
    return frame;
  }

  function seal(env: Envelope, bytes: Uint8Array, ct: Envelope['ct']): Envelope {
    const out = headerOf(env, SEAL_DROPS);
    copyFrameEncoding(env, out);
    out.ct = ct;
    let payload = bytes;
    if (
      compression !== false &&
      payload.byteLength >= compression.thresholdBytes &&
      !isBinaryBody(env.body)
    ) {
      const packed = compress(payload, compression.algorithm);
      if (packed.byteLength < payload.byteLength) {
        payload = packed;
        out.zip = compression.algorithm;
      }
    }
    if (keyring !== undefined) {
      const { ciphertext, enc } = encryptPayload(keyring, payload, env.id, env.kind);
      payload = ciphertext;
      out.enc = enc;
    }
    if (integrity) out.sum = checksum(payload);
    if (signer !== undefined) out.sig = signer.sign(signingInput(out, payload));
    out.payload = payload;
    return out;
  }

  function encode(env: Envelope): Uint8Array {
    try {
      return encodeUnchecked(env);
    } catch (err) {
      if (err instanceof WireError || err instanceof LocalError) throw err;
      // BigInt in a body, nesting past the stack, a cycle: the message cannot be written.
      throw new InvalidMessageError(`message cannot be encoded: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }

  function encodeUnchecked(env: Envelope): Uint8Array {
    const as = frameEncodingOf(env) ?? (isBinaryBody(env.body) ? binaryBodyEncoding : encoding);
    const writeFrame = writerOf(as);
    if (env.payload !== undefined) return checkSize(writeFrame(env)); // already sealed: forward as is
    const body = env.body;
    if (alwaysSeal || body instanceof Uint8Array) {
      const [bytes, ct] = serializeBody(body, as);
      return checkSize(writeFrame(seal(env, bytes, ct)));
    }
    if (compression === false) return checkSize(writeFrame(env));
    if (as === 'json') {
      const frame = encodeJsonFrame(env);
      if (frame.byteLength < compression.thresholdBytes) return checkSize(frame);
      const text = JSON.stringify(body ?? null);
      if (Buffer.byteLength(text) < compression.thresholdBytes) {
        return checkSize(encodeJsonFrameWithBodyText(env, text));
      }
      return checkSize(writeFrame(seal(env, Buffer.from(text), 'json')));
    }
    const frame = writeFrame(env);
    if (frame.byteLength < compression.thresholdBytes) return checkSize(frame);
    const [bytes, ct] = serializeBody(body, as);
    if (bytes.byteLength < compression.thresholdBytes) return checkSize(frame);
    return checkSize(writeFrame(seal(env, bytes, ct)));
  }

  function decode(frame: Uint8Array): Envelope {
    if (!(frame instanceof Uint8Array)) throw new InvalidMessageError('frame must be bytes');
    if (frame.byteLength === 0) throw new InvalidMessageError('empty frame');
    if (frame.byteLength > maxFrameBytes) {
      throw new PayloadTooLargeError(
        `frame of ${frame.byteLength} bytes exceeds the ${maxFrameBytes}-byte limit`,
        { details: { size: frame.byteLength, limit: maxFrameBytes } },
      );
    }
    const first = frame[0]!;
    let record: Record<string, unknown>;
    let read: Encoding;
    if (looksLikeBinaryFrame(first)) {
      // The binary reader checks `v` and every header field as it reads them, and says whether
      // the frame has a payload or transform fields, so an inline frame is finished here
      // without looking into the record.
      record = decodeBinaryFrame(frame);
      read = 'binary';
      if (!binaryFrameInfo.sealed) {
        if (binaryFrameInfo.transforms) {
          throw new InvalidMessageError('body transforms are set but the frame has no payload');
        }
        if (requireSignature)
          throw new SignatureError('frame is not signed and this peer requires signatures');
        if (requireEncryption)
          throw new DecryptionError('frame is not encrypted and this peer requires encryption');
        if (encoding !== 'binary') setFrameEncoding(record as unknown as Envelope, 'binary');
        return record as unknown as Envelope;
      }
    } else {
      if (first === 0x7b) {
        record = decodeJsonFrame(frame);
        read = 'json';
      } else if (looksLikeMsgpackMap(first)) {
        record = decodeMsgpackFrame(frame);
        read = 'msgpack';
      } else
        throw new InvalidMessageError(`unknown frame format (first byte 0x${first.toString(16)})`);
      checkVersion(record.v);
      checkHeader(record);
    }
    const env = record as unknown as Envelope;
    // Only a frame in the other encoding is remembered: a WeakMap entry per message costs about
    // a sixth of a small frame's encode+decode, and an unmarked message is written in this
    // codec's own encoding, which is the one it came in.
    if (read !== encoding) setFrameEncoding(env, read);
    const payload = env.payload;
    if (payload === undefined) {
      if (
        env.ct !== undefined ||
        env.zip !== undefined ||
        env.enc !== undefined ||
        env.sum !== undefined ||
        env.sig !== undefined
      ) {
        throw new InvalidMessageError('body transforms are set but the frame has no payload');
      }
      if (requireSignature)
        throw new SignatureError('frame is not signed and this peer requires signatures');
      if (requireEncryption)
        throw new DecryptionError('frame is not encrypted and this peer requires encryption');
      return env;
    }
    if (env.body !== undefined) throw new InvalidMessageError('frame has both body and payload');
    if (env.ct === undefined)
      throw new InvalidMessageError('frame payload has no content type "ct"');
    if (!openAll && isSealed(env)) return env;
    return open(env, payload, true);
  }

  function openSealed(env: Envelope, opts?: { replay?: boolean }): Envelope {
    const payload = env.payload;
    if (payload === undefined) {
      if (requireSignature)
        throw new SignatureError('message is not signed and this peer requires signatures');
      if (requireEncryption)
        throw new DecryptionError('message is not encrypted and this peer requires encryption');
      return env;
    }
    if (env.ct === undefined)
      throw new InvalidMessageError('frame payload has no content type "ct"');
    return open(env, payload, opts?.replay !== false);
  }

  function sealEnvelope(env: Envelope): Envelope {
    if (env.payload !== undefined || !alwaysSeal) return env;
    try {
      const [bytes, ct] = serializeBody(env.body, frameEncodingOf(env) ?? encoding);
      return seal(env, bytes, ct);
    } catch (err) {
      if (err instanceof WireError || err instanceof LocalError) throw err;
      throw new InvalidMessageError(`message cannot be encoded: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }

  function open(env: Envelope, payload: Uint8Array, checkReplay: boolean): Envelope {
    // The checksum first: damage in transit is `integrity_failed` (retryable), not a bad signature.
    if (env.sum !== undefined) verifyChecksum(payload, env.sum);
    if (env.sig !== undefined) {
      if (verifier === undefined) {
        throw new SignatureError('frame is signed but this peer has no verification keys');
      }
      verifier.verify(signingInput(env, payload), env.sig);
    } else if (requireSignature) {
      throw new SignatureError('frame is not signed and this peer requires signatures');
    }
    let bytes = payload;
    if (env.enc !== undefined) {
      if (keyring === undefined) {
        throw new DecryptionError('frame is encrypted but this peer has no keyring');
      }
      bytes = decryptPayload(keyring, bytes, env.enc, env.id, env.kind);
    } else if (requireEncryption) {
      throw new DecryptionError('frame is not encrypted and this peer requires encryption');
    }
    if (env.zip !== undefined) bytes = decompress(bytes, env.zip, maxBodyBytes);
    const body = parseBody(bytes, env.ct!);
    // Recorded only once the whole frame opened, so a failed attempt does not burn the id.
    if (env.sig !== undefined && checkReplay) replay?.check(env.id, env.ts);
    // A signed frame keeps only the fields its signature covers or the protocol names.
    const opened = headerOf(env, OPEN_DROPS, env.sig === undefined ? undefined : KNOWN_FIELDS);
    copyFrameEncoding(env, opened);
    opened.body = body;
    return opened;
  }

  return { encoding, maxFrameBytes, encode, decode, seal: sealEnvelope, open: openSealed };
}
