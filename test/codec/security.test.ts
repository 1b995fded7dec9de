// Sealed frames: integrity sums, AES-256-GCM encryption with key rotation, HS256 and Ed25519
// signatures with replay protection. Each check must fail closed with its typed error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { Packr } from 'msgpackr';
import { createCodec, type Encoding } from '../../src/codec/codec.js';
import { createKeyring } from '../../src/codec/security/encryption.js';
import { createSigning, ReplayGuard, type SigningKey } from '../../src/codec/security/signing.js';
import {
  createEnvelope,
  DecryptionError,
  IntegrityError,
  ReplayError,
  SignatureError,
  UnknownKeyError,
  type Envelope,
} from '../../src/protocol/index.js';

const packr = new Packr({ useRecords: false, variableMapSize: true, moreTypes: false });
const ENCODINGS: Encoding[] = ['json', 'msgpack'];

function sample(ts?: number): Envelope {
  return createEnvelope({
    kind: 'inference.request',
    subject: 'llm.chat',
    tenant: 'acme',
    ...(ts === undefined ? {} : { ts }),
    body: { model: 'm', messages: [{ role: 'user', content: 'hi there' }] },
  });
}

/** Rewrites a frame through its raw record; `payload` is handed over as bytes in both encodings. */
function mutate(frame: Uint8Array, edit: (record: Record<string, unknown>) => void): Uint8Array {
  if (frame[0] === 0x7b) {
    const record = JSON.parse(Buffer.from(frame).toString('utf8')) as Record<string, unknown>;
    if (typeof record.payload === 'string')
      record.payload = Buffer.from(record.payload, 'base64url');
    edit(record);
    if (record.payload instanceof Uint8Array) {
      record.payload = Buffer.from(record.payload).toString('base64url');
    }
    return Buffer.from(JSON.stringify(record));
  }
  const record = packr.unpack(frame) as Record<string, unknown>;
  if (record.payload instanceof Uint8Array) record.payload = Buffer.from(record.payload);
  edit(record);
  return packr.pack(record);
}

function flipPayloadByte(record: Record<string, unknown>): void {
  const payload = record.payload as Buffer;
  payload[payload.length >> 1]! ^= 0x01;
}

const hsKey = (kid: string): SigningKey => ({ alg: 'HS256', kid, secret: randomBytes(32) });

for (const encoding of ENCODINGS) {
  test(`integrity - ${encoding} frames carry a sum and a flipped payload byte fails it`, () => {
    const codec = createCodec({ encoding, integrity: true });
    const env = sample();
    const frame = codec.encode(env);
    assert.deepEqual(codec.decode(frame), env);
    let sum: unknown;
    mutate(frame, (r) => (sum = r.sum));
    assert.match(String(sum), /^sha256:[A-Za-z0-9_-]{43}$/);
    assert.throws(
      () => codec.decode(mutate(frame, flipPayloadByte)),
      (err: unknown) => {
        assert.ok(err instanceof IntegrityError);
        assert.equal(err.code, 'integrity_failed');
        assert.equal(err.retryable, true);
        return true;
      },
    );
  });

  test(`encryption - ${encoding} rotation: new frames use the new key, old frames still open`, () => {
    const k1 = randomBytes(32);
    const k2 = randomBytes(32);
    const before = createCodec({
      encoding,
      encryption: createKeyring({ current: 'k1', keys: { k1 } }),
    });
    const after = createCodec({
      encoding,
      encryption: createKeyring({ current: 'k2', keys: { k1, k2 } }),
    });
    const old = sample();
    const oldFrame = before.encode(old);
    const fresh = sample();
    const freshFrame = after.encode(fresh);
    let enc: unknown;
    mutate(freshFrame, (r) => (enc = r.enc));
    assert.equal((enc as { kid: string }).kid, 'k2');
    assert.equal((enc as { alg: string }).alg, 'A256GCM');
    assert.ok(
      !Buffer.from(freshFrame).includes('hi there'),
      'the body is not readable on the wire',
    );
    assert.deepEqual(after.decode(oldFrame), old);
    assert.deepEqual(after.decode(freshFrame), fresh);
    assert.throws(
      () => before.decode(freshFrame),
      (err: unknown) => {
        assert.ok(err instanceof UnknownKeyError);
        assert.deepEqual(err.details, { kid: 'k2' });
        return true;
      },
    );
  });

  test(`encryption - a flipped ${encoding} ciphertext byte fails authentication`, () => {
    const codec = createCodec({
      encoding,
      encryption: createKeyring({ current: 'k', keys: { k: randomBytes(32) } }),
    });
    const frame = codec.encode(sample());
    assert.throws(
      () => codec.decode(mutate(frame, flipPayloadByte)),
      (err: unknown) => {
        assert.ok(err instanceof DecryptionError);
        assert.equal(err.code, 'decrypt_failed');
        return true;
      },
    );
    // The id and kind are bound to the ciphertext: moving it to another message fails too.
    const moved = mutate(frame, (r) => (r.id = 'another-id'));
    assert.throws(() => codec.decode(moved), DecryptionError);
  });

  test(`encryption - an unencrypted ${encoding} frame is refused when encryption is required`, () => {
    const codec = createCodec({
      encoding,
      encryption: createKeyring({ current: 'k', keys: { k: randomBytes(32) } }),
    });
    const plain = createCodec({ encoding }).encode(sample());
    assert.throws(() => codec.decode(plain), DecryptionError);
    const sealed = createCodec({ encoding, integrity: true }).encode(sample());
    assert.throws(() => codec.decode(sealed), DecryptionError);
  });

  for (const alg of ['HS256', 'Ed25519'] as const) {
    const makeKeys = (kid: string): SigningKey => {
      if (alg === 'HS256') return hsKey(kid);
      const { privateKey } = generateKeyPairSync('ed25519');
      return { alg, kid, privateKey };
    };

    test(`signing - ${alg} ${encoding} frames verify, and a tampered header field fails`, () => {
      const signing = createSigning([makeKeys('s1')]);
      const codec = createCodec({ encoding, signing: { ...signing, replay: false } });
      const env = sample();
      const frame = codec.encode(env);
      let sig: unknown;
      mutate(frame, (r) => (sig = r.sig));
      assert.equal((sig as { alg: string }).alg, alg);
      assert.deepEqual(codec.decode(frame), env);
      for (const edit of [
        (r: Record<string, unknown>) => (r.subject = 'llm.other'),
        (r: Record<string, unknown>) => (r.tenant = 'evil'),
        (r: Record<string, unknown>) => (r.ts = (r.ts as number) + 1),
        (r: Record<string, unknown>) => (r.prio = 9),
        flipPayloadByte,
      ]) {
        assert.throws(
          () => codec.decode(mutate(frame, edit)),
          (err: unknown) => {
            assert.ok(err instanceof SignatureError, String(err));
            assert.equal(err.code, 'bad_signature');
            return true;
          },
        );
      }
      // Fields brokers rewrite on the way are outside the signature.
      assert.equal(codec.decode(mutate(frame, (r) => (r.attempt = 3))).attempt, 3);
    });

    test(`signing - ${alg} ${encoding} refuses a replayed id and a timestamp outside the window`, () => {
      const signing = createSigning([makeKeys('s1')]);
      const codec = createCodec({
        encoding,
        signing: { ...signing, replay: new ReplayGuard(60_000) },
      });
      const frame = codec.encode(sample());
      codec.decode(frame);
      assert.throws(
        () => codec.decode(frame),
        (err: unknown) => {
          assert.ok(err instanceof ReplayError);
          assert.equal(err.code, 'replayed');
          return true;
        },
      );
      for (const ts of [Date.now() - 120_000, Date.now() + 120_000]) {
        assert.throws(() => codec.decode(codec.encode(sample(ts))), ReplayError);
      }
    });

    test(`signing - ${alg} ${encoding} verifies with old keys after rotation and knows no other`, () => {
      const oldKey = makeKeys('old');
      const newKey = makeKeys('new');
      const before = createCodec({
        encoding,
        signing: { ...createSigning([oldKey]), replay: false },
      });
      const after = createCodec({
        encoding,
        signing: { ...createSigning([newKey, oldKey]), replay: false },
      });
      const oldFrame = before.encode(sample());
      const newFrame = after.encode(sample());
      let kid: unknown;
      mutate(newFrame, (r) => (kid = (r.sig as { kid: string }).kid));
      assert.equal(kid, 'new');
      after.decode(oldFrame);
      after.decode(newFrame);
      assert.throws(() => before.decode(newFrame), UnknownKeyError);
    });
  }

  test(`signing - an unsigned ${encoding} frame is refused when signatures are required`, () => {
    const codec = createCodec({ encoding, signing: createSigning([hsKey('s1')]) });
    const plain = createCodec({ encoding }).encode(sample());
    assert.throws(() => codec.decode(plain), SignatureError);
    const checksummed = createCodec({ encoding, integrity: true }).encode(sample());
    assert.throws(() => codec.decode(checksummed), SignatureError);
    const stripped = mutate(codec.encode(sample()), (r) => delete r.sig);
    assert.throws(() => codec.decode(stripped), SignatureError);
  });
}

test('signing - a verify-only Ed25519 peer opens frames but cannot sign', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const sender = createCodec({
    signing: createSigning([{ alg: 'Ed25519', kid: 'e', privateKey }]),
  });
  const receiver = createCodec({
    signing: createSigning([{ alg: 'Ed25519', kid: 'e', publicKey }]),
  });
  const env = sample();
  assert.deepEqual(receiver.decode(sender.encode(env)), env);
  assert.throws(() => receiver.encode(sample()), { name: 'ConfigError' });
});

test('sealing - compressed, encrypted, checksummed and signed at once round-trips', () => {
  const keyring = createKeyring({ current: 'k', keys: { k: randomBytes(32) } });
  const signing = createSigning([hsKey('s')]);
  for (const encoding of ENCODINGS) {
    const codec = createCodec({
      encoding,
      integrity: true,
      encryption: keyring,
      signing,
      compression: { algorithm: 'br', thresholdBytes: 64 },
    });
    const env = createEnvelope({
      kind: 'inference.result',
      subject: 'llm.out',
      body: {
        model: 'm',
        text: 'token '.repeat(400),
        finish_reason: 'stop',
        usage: { prompt_tokens: 1, completion_tokens: 400, total_tokens: 401 },
      },
    });
    const frame = codec.encode(env);
    let record: Record<string, unknown> = {};
    mutate(frame, (r) => (record = r));
    assert.equal(record.zip, 'br');
    assert.ok(record.enc && record.sig && record.sum);
    assert.ok(frame.byteLength < 1000);
    assert.deepEqual(codec.decode(frame), env);
  }
});
