// Integrity: `sum` = "sha256:" + base64url(SHA-256(payload bytes as sent)).
import * as nodeCrypto from 'node:crypto';
import { IntegrityError } from '../protocol/index.js';
import { toBase64Url } from './base64.js';

// One-shot `crypto.hash` (Node >= 20.12) skips building a Hash object per message.
const oneShot = (
  nodeCrypto as unknown as {
    hash?: (alg: string, data: Uint8Array, encoding: 'buffer' | 'base64url') => Buffer | string;
  }
).hash;

export function sha256(bytes: Uint8Array): Uint8Array {
  if (oneShot !== undefined) return oneShot('sha256', bytes, 'buffer') as Buffer;
  return nodeCrypto.createHash('sha256').update(bytes).digest();
}

/** base64url(SHA-256(bytes)). */
export function sha256Base64Url(bytes: Uint8Array): string {
  if (oneShot !== undefined) return oneShot('sha256', bytes, 'base64url') as string;
  return toBase64Url(sha256(bytes));
}

export function checksum(bytes: Uint8Array): string {
  return 'sha256:' + sha256Base64Url(bytes);
}

export function verifyChecksum(bytes: Uint8Array, sum: string): void {
  if (checksum(bytes) !== sum) {
    throw new IntegrityError('body checksum does not match: the payload was corrupted in transit');
  }
}
