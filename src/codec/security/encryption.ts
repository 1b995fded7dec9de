// Body encryption: AES-256-GCM (NIST SP 800-38D) with a 96-bit random IV and a 128-bit tag.
// The additional authenticated data binds the ciphertext to its message:
// "llmwire/1\n" + id + "\n" + kind. A keyring encrypts with its current key and decrypts with
// any key it knows, so keys can be rotated without dropping messages in flight.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import {
  ConfigError,
  DecryptionError,
  UnknownKeyError,
  type EncryptionInfo,
} from '../../protocol/index.js';
import { fromBase64Url, toBase64Url } from '../base64.js';

export interface Keyring {
  /** Key id used to encrypt. */
  readonly current: string;
  key(kid: string): Uint8Array | undefined;
}

/** Builds a keyring from 32-byte keys (bytes, or base64/base64url text). */
export function createKeyring(options: {
  current: string;
  keys: Record<string, Uint8Array | string>;
}): Keyring {
  const keys = new Map<string, Uint8Array>();
  for (const [kid, value] of Object.entries(options.keys)) {
    if (kid.length === 0 || kid.length > 128) {
      throw new ConfigError(`encryption key id '${kid}' must be 1 to 128 characters`);
    }
    const bytes = typeof value === 'string' ? Buffer.from(value, 'base64') : value;
    if (bytes.byteLength !== 32) {
      throw new ConfigError(
        `encryption key '${kid}' must be 32 bytes for AES-256-GCM, got ${bytes.byteLength}`,
      );
    }
    keys.set(kid, bytes);
  }
  if (!keys.has(options.current)) {
    throw new ConfigError(`current encryption key '${options.current}' is not in the keyring`);
  }
  return { current: options.current, key: (kid) => keys.get(kid) };
}

function aad(id: string, kind: string): Buffer {
  return Buffer.from(`llmwire/1\n${id}\n${kind}`);
}

export function encryptPayload(
  keyring: Keyring,
  plaintext: Uint8Array,
  id: string,
  kind: string,
): { ciphertext: Uint8Array; enc: EncryptionInfo } {
  const key = keyring.key(keyring.current)!;
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(aad(id, kind));
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return {
    ciphertext,
    enc: {
      alg: 'A256GCM',
      kid: keyring.current,
      iv: toBase64Url(iv),
      tag: toBase64Url(cipher.getAuthTag()),
    },
  };
}

export function decryptPayload(
  keyring: Keyring,
  ciphertext: Uint8Array,
  enc: EncryptionInfo,
  id: string,
  kind: string,
): Uint8Array {
  const key = keyring.key(enc.kid);
  if (key === undefined) {
    throw new UnknownKeyError(`no encryption key with id '${enc.kid}'`, {
      details: { kid: enc.kid },
    });
  }
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, fromBase64Url(enc.iv));
    decipher.setAAD(aad(id, kind));
    decipher.setAuthTag(fromBase64Url(enc.tag));
    return Buffer.concat([decipher.update(ciphertext), decipher.final()]);
  } catch (cause) {
    throw new DecryptionError('ciphertext failed authentication: tampered or wrong key', { cause });
  }
}
