// Expect-file helpers shared by the golden vector tests: values with bytes as
// {"$bytes": base64}, and codec options from an expect file's `codec` member.
import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey, type JsonWebKey } from 'node:crypto';
import { type CodecOptions, type Encoding } from '../../src/codec/codec.js';
import { createKeyring } from '../../src/codec/security/encryption.js';
import { createSigning, ReplayGuard, type SigningKey } from '../../src/codec/security/signing.js';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export interface KeySpec {
  alg: 'HS256' | 'Ed25519';
  kid: string;
  secret?: Json;
  jwk?: JsonWebKey;
}

export interface CodecSpec {
  compression?: { algorithm: 'gzip' | 'br'; thresholdBytes: number } | false;
  integrity?: boolean;
  encryption?: { current: string; keys: Record<string, Json> };
  signing?: { keys: KeySpec[]; replay: false | { windowMs: number } };
  requireSignature?: boolean;
  requireEncryption?: boolean;
  maxBodyBytes?: number;
  maxFrameBytes?: number;
}

export function toJson(value: unknown): Json {
  if (value instanceof Uint8Array) return { $bytes: Buffer.from(value).toString('base64') };
  if (Array.isArray(value)) return value.map(toJson);
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, Json> = {};
    for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = toJson(v);
    return out;
  }
  return value as Json;
}

/** The reverse of toJson: {"$bytes": base64} becomes a Uint8Array. */
export function revive(json: Json | undefined): unknown {
  if (Array.isArray(json)) return json.map(revive);
  if (typeof json === 'object' && json !== null) {
    const keys = Object.keys(json);
    if (keys.length === 1 && keys[0] === '$bytes' && typeof json.$bytes === 'string') {
      return new Uint8Array(Buffer.from(json.$bytes, 'base64'));
    }
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(json)) out[k] = revive(v);
    return out;
  }
  return json;
}

export function bytesOf(json: Json | undefined, what: string): Buffer {
  const value = revive(json);
  assert.ok(value instanceof Uint8Array, `${what} is {"$bytes": ...}`);
  return Buffer.from(value);
}

const SPEC_KEYS = new Set([
  'compression',
  'integrity',
  'encryption',
  'signing',
  'requireSignature',
  'requireEncryption',
  'maxBodyBytes',
  'maxFrameBytes',
]);

/** Codec options from an expect file's `codec` member; a member it does not know fails. */
export function codecOptions(spec: CodecSpec | undefined, encoding: Encoding): CodecOptions {
  const options: CodecOptions = { encoding };
  if (spec === undefined) return options;
  for (const key of Object.keys(spec)) assert.ok(SPEC_KEYS.has(key), `unknown codec option ${key}`);
  if (spec.compression !== undefined) options.compression = spec.compression;
  if (spec.integrity !== undefined) options.integrity = spec.integrity;
  if (spec.encryption !== undefined) {
    const keys: Record<string, Uint8Array> = {};
    for (const [kid, key] of Object.entries(spec.encryption.keys)) keys[kid] = bytesOf(key, kid);
    options.encryption = createKeyring({ current: spec.encryption.current, keys });
  }
  if (spec.signing !== undefined) {
    const keys = spec.signing.keys.map((k): SigningKey => {
      if (k.alg === 'HS256') return { alg: 'HS256', kid: k.kid, secret: bytesOf(k.secret, k.kid) };
      const jwk = k.jwk!;
      return jwk.d === undefined
        ? { alg: 'Ed25519', kid: k.kid, publicKey: createPublicKey({ key: jwk, format: 'jwk' }) }
        : { alg: 'Ed25519', kid: k.kid, privateKey: createPrivateKey({ key: jwk, format: 'jwk' }) };
    });
    const { signer, verifier } = createSigning(keys);
    const { replay } = spec.signing;
    options.signing = {
      signer,
      verifier,
      replay: replay === false ? false : new ReplayGuard(replay.windowMs),
    };
  }
  if (spec.requireSignature !== undefined) options.requireSignature = spec.requireSignature;
  if (spec.requireEncryption !== undefined) options.requireEncryption = spec.requireEncryption;
  if (spec.maxBodyBytes !== undefined) options.maxBodyBytes = spec.maxBodyBytes;
  if (spec.maxFrameBytes !== undefined) options.maxFrameBytes = spec.maxFrameBytes;
  return options;
}
