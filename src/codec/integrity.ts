// Integrity: `sum` = "sha256:" + base64url(SHA-256(payload bytes as sent)).
import { createHash } from 'node:crypto';
import { IntegrityError } from '../protocol/index.js';
import { toBase64Url } from './base64.js';

export function sha256(bytes: Uint8Array): Uint8Array {
  return createHash('sha256').update(bytes).digest();
}

export function checksum(bytes: Uint8Array): string {
  return 'sha256:' + toBase64Url(sha256(bytes));
}

export function verifyChecksum(bytes: Uint8Array, sum: string): void {
  if (checksum(bytes) !== sum) {
    throw new IntegrityError('body checksum does not match: the payload was corrupted in transit');
  }
}
