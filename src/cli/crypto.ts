// The `crypto` section of the configuration: end-to-end checksums, signatures and encryption of
// bus messages (docs/security.md, "Message crypto"). Keys are secrets: inline, {file} or {env}.
import { Type, type Static } from '@sinclair/typebox';
import type { BusSecurity } from '../bus/security.js';
import { createKeyring } from '../codec/security/encryption.js';
import { createSigning, type SigningKey } from '../codec/security/signing.js';
import { ConfigError } from '../protocol/index.js';
import { readSecret, readSecretBytes, SecretSchema } from './secrets.js';

const Kid = Type.String({ minLength: 1, maxLength: 128 });

/**
 * One object shape for both algorithms (rather than a union), so a wrong field is named as
 * itself; which fields each algorithm needs is checked when the keys are read.
 */
const SigningKeySchema = Type.Object(
  {
    alg: Type.Union([Type.Literal('HS256'), Type.Literal('Ed25519')]),
    kid: Kid,
    /** HS256: the shared secret, at least 32 bytes. */
    secret: Type.Optional(SecretSchema),
    /** Ed25519: PEM (PKCS#8). The first key with a private part signs. */
    privateKey: Type.Optional(SecretSchema),
    /** Ed25519: PEM (SPKI). */
    publicKey: Type.Optional(SecretSchema),
  },
  { additionalProperties: false },
);

export const CryptoSchema = Type.Object(
  {
    /** A SHA-256 checksum on every message. */
    integrity: Type.Optional(Type.Boolean()),
    /** Sign with the first key that has a private part; verify with all of them (rotation). */
    signing: Type.Optional(
      Type.Object(
        {
          keys: Type.Array(SigningKeySchema, { minItems: 1 }),
          replayWindowMs: Type.Optional(Type.Integer({ minimum: 1000 })),
        },
        { additionalProperties: false },
      ),
    ),
    /** AES-256-GCM: encrypt with `current`, decrypt with any key (rotation). Keys: 32 bytes, base64. */
    encryption: Type.Optional(
      Type.Object(
        { current: Kid, keys: Type.Record(Kid, SecretSchema) },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
export type CryptoConfig = Static<typeof CryptoSchema>;

/** The bus security a `crypto` section asks for, its keys read from where they are named. */
export function busSecurity(crypto: CryptoConfig | undefined): BusSecurity | undefined {
  if (crypto === undefined) return undefined;
  const security: BusSecurity = {};
  if (crypto.integrity === true) security.integrity = true;
  if (crypto.signing !== undefined) {
    const keys = crypto.signing.keys.map((k, i) => signingKey(k, `crypto.signing.keys[${i}]`));
    const { signer, verifier } = createSigning(keys);
    const canSign = keys.some((k) => k.alg === 'HS256' || k.privateKey !== undefined);
    security.signing = {
      ...(canSign ? { signer } : {}),
      verifier,
      ...(crypto.signing.replayWindowMs === undefined
        ? {}
        : { replayWindowMs: crypto.signing.replayWindowMs }),
    };
  }
  if (crypto.encryption !== undefined) {
    const keys: Record<string, string> = {};
    for (const [kid, secret] of Object.entries(crypto.encryption.keys)) {
      const text = readSecret(secret, `crypto.encryption.keys.${kid}`).trim();
      if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(text) || Buffer.from(text, 'base64').length !== 32) {
        throw new ConfigError(
          `crypto.encryption.keys.${kid}: must be 32 bytes written in base64 (openssl rand -base64 32)`,
        );
      }
      keys[kid] = text;
    }
    if (!(crypto.encryption.current in keys)) {
      throw new ConfigError(
        `crypto.encryption.current: '${crypto.encryption.current}' is not one of crypto.encryption.keys`,
      );
    }
    security.encryption = createKeyring({ current: crypto.encryption.current, keys });
  }
  return security;
}

type SigningKeyConfig = Static<typeof SigningKeySchema>;

function signingKey(k: SigningKeyConfig, field: string): SigningKey {
  if (k.alg === 'HS256') {
    if (k.secret === undefined || k.privateKey !== undefined || k.publicKey !== undefined) {
      throw new ConfigError(`${field}: an HS256 key has a secret, and no privateKey or publicKey`);
    }
    const secret = readSecretBytes(k.secret, `${field}.secret`);
    if (secret.byteLength < 32) {
      throw new ConfigError(`${field}.secret: HS256 secrets must be at least 32 bytes`);
    }
    return { alg: 'HS256', kid: k.kid, secret };
  }
  if (k.secret !== undefined) {
    throw new ConfigError(
      `${field}.secret: an Ed25519 key has privateKey or publicKey, not a secret`,
    );
  }
  if (k.privateKey === undefined && k.publicKey === undefined) {
    throw new ConfigError(`${field}: an Ed25519 key needs privateKey or publicKey (PEM)`);
  }
  const pem = (secret: typeof k.privateKey, name: string) => {
    if (secret === undefined) return undefined;
    const text = readSecret(secret, `${field}.${name}`);
    if (!text.includes('-----BEGIN')) throw new ConfigError(`${field}.${name}: expected a PEM key`);
    return text;
  };
  const privateKey = pem(k.privateKey, 'privateKey');
  const publicKey = pem(k.publicKey, 'publicKey');
  try {
    // Parsed here so a bad PEM is reported with its field, not at the first message.
    createSigning([
      {
        alg: 'Ed25519',
        kid: k.kid,
        ...(privateKey === undefined ? {} : { privateKey }),
        ...(publicKey === undefined ? {} : { publicKey }),
      },
    ]);
  } catch (cause) {
    if (cause instanceof ConfigError) throw cause;
    throw new ConfigError(`${field}: not a usable Ed25519 PEM key: ${(cause as Error).message}`, {
      cause,
    });
  }
  return {
    alg: 'Ed25519',
    kid: k.kid,
    ...(privateKey === undefined ? {} : { privateKey }),
    ...(publicKey === undefined ? {} : { publicKey }),
  };
}
