// Bytes <-> envelope: encodings, framing, compression, integrity, encryption, signing.
export {
  createCodec,
  DEFAULT_MAX_FRAME_BYTES,
  type Codec,
  type CodecOptions,
  type Encoding,
} from './codec.js';
export { writeFrame, FrameReader, LENGTH_PREFIX_BYTES } from './framing.js';
export { type CompressionOptions, DEFAULT_COMPRESSION } from './compression.js';
export { checksum, verifyChecksum, sha256 } from './integrity.js';
export { createKeyring, type Keyring } from './security/encryption.js';
export {
  createSigning,
  ReplayGuard,
  signingInput,
  type Signer,
  type Verifier,
  type SigningKey,
} from './security/signing.js';
