// End-to-end message security on the bus (docs/protocol.md, "Sealed frames"): the bus seals the
// envelopes it sends (checksum, encryption, signature) and opens the ones it receives, once per
// received message, with replay protection scoped to the receiver. Transports and the hub carry
// sealed frames without keys.
import { Type } from '@sinclair/typebox';
import { createCodec, type Codec } from '../codec/codec.js';
import type { Keyring } from '../codec/security/encryption.js';
import {
  ReplayGuard,
  signingInput,
  type Signer,
  type Verifier,
} from '../codec/security/signing.js';
import { DecryptionError, ReplayError, UnknownKeyError, type Envelope } from '../protocol/index.js';

export interface BusSecurity {
  /** Add a SHA-256 checksum of the payload to every message sent. */
  integrity?: boolean;
  /**
   * Sign every message sent (when a signer is given) and verify every message received. Replay
   * protection: a signed message is accepted once per receiver (subscription or inbox) within
   * `replayWindowMs` (default 5 minutes) of its timestamp.
   */
  signing?: { signer?: Signer; verifier: Verifier; replayWindowMs?: number };
  /** Encrypt every body with the keyring's current key; decrypt with any of its keys. */
  encryption?: Keyring;
  /** Refuse unsigned messages. Default: true when `signing` is set. */
  requireSignature?: boolean;
  /** Refuse unencrypted messages. Default: true when `encryption` is set. */
  requireEncryption?: boolean;
}

/** The schema of BusSecurity (checked as the bus option `security`); keys are the codec's. */
export const BusSecuritySchema = Type.Object(
  {
    integrity: Type.Optional(Type.Boolean()),
    signing: Type.Optional(
      Type.Object(
        {
          signer: Type.Optional(Type.Object({})),
          verifier: Type.Object({}),
          replayWindowMs: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
        },
        { additionalProperties: false },
      ),
    ),
    encryption: Type.Optional(Type.Object({})),
    requireSignature: Type.Optional(Type.Boolean()),
    requireEncryption: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

/** Where a received message is being opened: replay protection is per receiver. */
export type OpenScope =
  /** A subscription or the inbox: the same id twice is a replay. */
  | { receiver: string }
  /** A durable queue delivery: redeliveries carry the same id by design, the queue dedups. */
  | { queue: true };

export class BusSealer {
  private readonly codec: Codec;
  private readonly replay: ReplayGuard | undefined;
  private readonly verifier: Verifier | undefined;
  /** Whether unsealed messages must be refused: only then do they need a look. */
  private readonly strict: boolean;
  /** True when the bus seals what it sends. */
  readonly sealing: boolean;
  /**
   * The last envelope opened and what it opened to: the in-process transport hands one object
   * to each matching subscription in turn, and it is verified and decrypted once.
   */
  private lastIn: Envelope | undefined;
  private lastOut: Envelope | undefined;

  constructor(security: BusSecurity = {}) {
    const signing = security.signing;
    this.codec = createCodec({
      ...(security.integrity === undefined ? {} : { integrity: security.integrity }),
      ...(security.encryption === undefined ? {} : { encryption: security.encryption }),
      ...(security.requireEncryption === undefined
        ? {}
        : { requireEncryption: security.requireEncryption }),
      ...(security.requireSignature === undefined
        ? {}
        : { requireSignature: security.requireSignature }),
      ...(signing === undefined
        ? {}
        : {
            signing: {
              ...(signing.signer === undefined ? {} : { signer: signing.signer }),
              verifier: signing.verifier,
              replay: false,
            },
          }),
    });
    this.verifier = signing?.verifier;
    this.replay = signing === undefined ? undefined : new ReplayGuard(signing.replayWindowMs);
    this.strict =
      (security.requireSignature ?? signing !== undefined) ||
      (security.requireEncryption ?? security.encryption !== undefined);
    this.sealing =
      security.integrity === true ||
      security.encryption !== undefined ||
      signing?.signer !== undefined;
  }

  /** Seals an envelope this bus sends; returns it as is when there is nothing to apply. */
  seal(env: Envelope): Envelope {
    return this.sealing ? this.codec.seal(env) : env;
  }

  /**
   * Opens a received envelope. Throws the typed error (`bad_signature`, `decrypt_failed`,
   * `unknown_key`, `integrity_failed`, `replayed`, ...) when it cannot be accepted.
   */
  open(env: Envelope, scope: OpenScope): Envelope {
    if (env.payload === undefined && !this.strict) return env;
    let opened: Envelope;
    if (env === this.lastIn) opened = this.lastOut!;
    else {
      opened = this.codec.open(env, { replay: false });
      this.lastIn = env;
      this.lastOut = opened;
    }
    if (env.sig !== undefined && this.replay !== undefined && 'receiver' in scope) {
      this.replay.check(env.id, env.ts, Date.now(), scope.receiver);
    }
    return opened;
  }

  /**
   * True when `err`, thrown by `open`, came from a message whose signature is good: its sender
   * is genuine (e.g. it encrypted with a key this side does not have yet), so the request it
   * answers may be failed with `err`. Anything else may be forged and is only reported.
   */
  authenticFailure(env: Envelope, err: unknown): boolean {
    if (!(err instanceof DecryptionError || err instanceof UnknownKeyError)) return false;
    if (env.sig === undefined || env.payload === undefined || this.verifier === undefined) {
      return false;
    }
    try {
      this.verifier.verify(signingInput(env, env.payload), env.sig);
      return true;
    } catch {
      return false;
    }
  }
}

/** A replayed request is not answered: the answer would reach the genuine requester's inbox. */
export function answerable(err: unknown): boolean {
  return !(err instanceof ReplayError);
}
