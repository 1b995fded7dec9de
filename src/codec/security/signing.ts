// Signatures over header and body (docs/protocol.md, "Signing"): HMAC-SHA256 ("HS256") or
// Ed25519. The signed text is canonical and independent of the encoding, so a JSON frame and
// a binary frame of the same message carry the same signature.
import {
  createHmac,
  createPrivateKey,
  createPublicKey,
  sign as edSign,
  timingSafeEqual,
  verify as edVerify,
  type KeyObject,
} from 'node:crypto';
import {
  ConfigError,
  ReplayError,
  SignatureError,
  UnknownKeyError,
  type Envelope,
  type SignatureInfo,
} from '../../protocol/index.js';
import { fromBase64Url, toBase64Url } from '../base64.js';
import { sha256Base64Url } from '../integrity.js';

/** Header fields covered by the signature, in this order. `sig` itself is not. */
export const SIGNED_FIELDS = [
  'v',
  'id',
  'kind',
  'subject',
  'ts',
  'source',
  'corr',
  'replyTo',
  'deadline',
  'prio',
  'key',
  'tenant',
  'seq',
  'eos',
  'credit',
  'batch',
  'items',
  'ct',
  'zip',
  'sum',
  'enc',
  'chunk',
  'headers',
] as const;

/**
 * The signing input: one line per present field, "name=" + JSON of the value (objects with keys
 * sorted), then "payload=" + base64url(SHA-256(payload)). `attempt`, `traceparent` and
 * `tracestate` are left out: brokers and tracers rewrite them on the way.
 */
export function signingInput(env: Envelope, payload: Uint8Array): Buffer {
  let text = '';
  const record = env as unknown as Record<string, unknown>;
  for (let i = 0; i < SIGNED_FIELDS.length; i++) {
    const field = SIGNED_FIELDS[i]!;
    const value = record[field];
    if (value === undefined) continue;
    text += field + '=' + canonicalJson(value) + '\n';
  }
  text += 'payload=' + sha256Base64Url(payload);
  return Buffer.from(text);
}

function canonicalJson(value: unknown): string {
  // Numbers and booleans are their own JSON text; strings need JSON's escaping.
  if (typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value))) {
    return String(value);
  }
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj)
    .filter((k) => obj[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
}

export interface Signer {
  sign(input: Uint8Array): SignatureInfo;
}

export interface Verifier {
  /** Throws SignatureError or UnknownKeyError. */
  verify(input: Uint8Array, sig: SignatureInfo): void;
}

export type SigningKey =
  | { alg: 'HS256'; kid: string; secret: Uint8Array | string }
  | {
      alg: 'Ed25519';
      kid: string;
      privateKey?: KeyObject | string;
      publicKey?: KeyObject | string;
    };

function secretBytes(secret: Uint8Array | string): Uint8Array {
  const bytes = typeof secret === 'string' ? Buffer.from(secret, 'utf8') : secret;
  if (bytes.byteLength < 32) {
    throw new ConfigError('HS256 secrets must be at least 32 bytes');
  }
  return bytes;
}

/** A signer for the first key and a verifier for all of them (rotation: sign new, accept old). */
export function createSigning(keys: SigningKey[]): { signer: Signer; verifier: Verifier } {
  if (keys.length === 0) throw new ConfigError('signing needs at least one key');
  const verifiers = new Map<
    string,
    { alg: SignatureInfo['alg']; check: (input: Uint8Array, sig: Uint8Array) => boolean }
  >();
  let signer: Signer | undefined;
  for (const key of keys) {
    if (verifiers.has(key.kid)) throw new ConfigError(`duplicate signing key id '${key.kid}'`);
    if (key.alg === 'HS256') {
      const secret = secretBytes(key.secret);
      const mac = (input: Uint8Array) => createHmac('sha256', secret).update(input).digest();
      verifiers.set(key.kid, {
        alg: 'HS256',
        check: (input, sig) => {
          const expected = mac(input);
          return sig.byteLength === expected.byteLength && timingSafeEqual(sig, expected);
        },
      });
      signer ??= {
        sign: (input) => ({ alg: 'HS256', kid: key.kid, value: toBase64Url(mac(input)) }),
      };
    } else {
      const priv = key.privateKey === undefined ? undefined : asPrivate(key.privateKey);
      const pub =
        key.publicKey !== undefined
          ? asPublic(key.publicKey)
          : priv
            ? createPublicKey(priv)
            : undefined;
      if (pub === undefined)
        throw new ConfigError(`Ed25519 key '${key.kid}' needs a public or private key`);
      verifiers.set(key.kid, {
        alg: 'Ed25519',
        check: (input, sig) => {
          try {
            return edVerify(null, input, pub, sig);
          } catch {
            return false;
          }
        },
      });
      if (priv !== undefined) {
        signer ??= {
          sign: (input) => ({
            alg: 'Ed25519',
            kid: key.kid,
            value: toBase64Url(edSign(null, input, priv)),
          }),
        };
      }
    }
  }
  const verifier: Verifier = {
    verify(input, sig) {
      const entry = verifiers.get(sig.kid);
      if (entry === undefined) {
        throw new UnknownKeyError(`no signing key with id '${sig.kid}'`, {
          details: { kid: sig.kid },
        });
      }
      if (entry.alg !== sig.alg) {
        throw new SignatureError(`key '${sig.kid}' is an ${entry.alg} key, not ${sig.alg}`);
      }
      if (!entry.check(input, fromBase64Url(sig.value))) {
        throw new SignatureError('signature does not match header and body');
      }
    },
  };
  return {
    signer: signer ?? {
      sign() {
        throw new ConfigError('no signing key with a private part: this side can only verify');
      },
    },
    verifier,
  };
}

function asPrivate(k: KeyObject | string): KeyObject {
  return typeof k === 'string' ? createPrivateKey(k) : k;
}
function asPublic(k: KeyObject | string): KeyObject {
  return typeof k === 'string' ? createPublicKey(k) : k;
}

/**
 * Replay protection: a signed message older or newer than the window is refused, and so is an
 * id already seen inside the window. Memory is bounded by `maxEntries` (oldest forgotten first;
 * the time check still refuses anything older than the window).
 */
export class ReplayGuard {
  private readonly seen = new Map<string, number>();
  constructor(
    readonly windowMs = 5 * 60_000,
    readonly maxEntries = 1_000_000,
  ) {}

  /**
   * `scope` names the receiver (a bus subscription): the same id reaching two receivers is two
   * messages, the same id reaching one receiver twice is a replay (docs/protocol.md, "Replay").
   */
  check(id: string, ts: number, now = Date.now(), scope?: string): void {
    if (Math.abs(now - ts) > this.windowMs) {
      throw new ReplayError(`message timestamp is outside the ${this.windowMs} ms replay window`, {
        details: { ts, now },
      });
    }
    const key = scope === undefined ? id : `${id} ${scope}`;
    if (this.seen.has(key)) throw new ReplayError(`message ${id} was already received`);
    this.seen.set(key, ts);
    this.evict(now);
  }

  private evict(now: number): void {
    if (this.seen.size <= this.maxEntries && this.seen.size % 1024 !== 0) return;
    for (const [id, ts] of this.seen) {
      if (this.seen.size > this.maxEntries || now - ts > this.windowMs) this.seen.delete(id);
      else break;
    }
  }
}
