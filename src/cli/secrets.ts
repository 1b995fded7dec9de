// Secrets in configuration: a key, password or certificate may be written inline, or named by
// the file or environment variable that holds it, so that no secret has to sit in the YAML.
import { readFileSync } from 'node:fs';
import { Type, type Static } from '@sinclair/typebox';
import { ConfigError } from '../protocol/index.js';

/** `"literal"`, `{file: PATH}` (the file's contents, one trailing newline dropped) or `{env: NAME}`. */
export const SecretSchema = Type.Union([
  Type.String({ minLength: 1 }),
  Type.Object({ file: Type.String({ minLength: 1 }) }, { additionalProperties: false }),
  Type.Object(
    { env: Type.String({ minLength: 1, pattern: '^[A-Za-z_][A-Za-z0-9_]*$' }) },
    { additionalProperties: false },
  ),
]);
export type Secret = Static<typeof SecretSchema>;

/** The secret's bytes; `field` names it in the error (e.g. `identities[2].key`). */
export function readSecretBytes(secret: Secret, field: string): Buffer {
  if (typeof secret === 'string') return Buffer.from(secret, 'utf8');
  if ('file' in secret) {
    let bytes: Buffer;
    try {
      bytes = readFileSync(secret.file);
    } catch (cause) {
      throw new ConfigError(
        `${field}: cannot read secret file ${secret.file}: ${(cause as Error).message}`,
        { cause },
      );
    }
    // Files written with `echo` end in a newline that is not part of the secret.
    let end = bytes.byteLength;
    if (end > 0 && bytes[end - 1] === 0x0a) end--;
    if (end > 0 && bytes[end - 1] === 0x0d) end--;
    if (end === 0) throw new ConfigError(`${field}: secret file ${secret.file} is empty`);
    return bytes.subarray(0, end);
  }
  const value = process.env[secret.env];
  if (value === undefined || value === '') {
    throw new ConfigError(`${field}: environment variable ${secret.env} is not set`);
  }
  return Buffer.from(value, 'utf8');
}

/** The secret as text. */
export function readSecret(secret: Secret, field: string): string {
  return readSecretBytes(secret, field).toString('utf8');
}
