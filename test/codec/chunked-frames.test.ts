// Chunking of whole frames: a message over a transport's size limit goes out as parts that
// each fit, whatever the encoding and seals, and comes back whole from the chunked decoder.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  ChunkAssembler,
  createChunkedDecoder,
  encodeChunked,
  type AcceptResult,
} from '../../src/codec/chunking.js';
import { createCodec, type Codec } from '../../src/codec/codec.js';
import { createKeyring } from '../../src/codec/security/encryption.js';
import { createSigning } from '../../src/codec/security/signing.js';
import { ConfigError, createEnvelope, type Envelope } from '../../src/protocol/index.js';

function shuffle<T>(items: T[], seed = 1): T[] {
  const out = [...items];
  let s = seed;
  for (let i = out.length - 1; i > 0; i--) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

function completed(results: AcceptResult[]): Uint8Array {
  const done = results.filter((r) => r.complete);
  assert.equal(done.length, 1, 'exactly one part completes the transfer');
  return (done[0] as { data: Uint8Array }).data;
}

function largeMessage(bytes: number): Envelope {
  return createEnvelope({
    kind: 'params.chunk',
    subject: 'models.llama.weights',
    key: 'llama',
    tenant: 'acme',
    body: randomBytes(bytes),
  });
}

/** Same header and body bytes (a body may come back as a Buffer or a plain Uint8Array). */
function assertSameMessage(actual: Envelope, expected: Envelope): void {
  const { body: a, ...aHeader } = actual;
  const { body: e, ...eHeader } = expected;
  assert.deepEqual(aHeader, eHeader);
  if (e instanceof Uint8Array) {
    assert.ok(a instanceof Uint8Array);
    assert.ok(Buffer.from(a).equals(e), 'body bytes are the same');
  } else {
    assert.deepEqual(a, e);
  }
}

const MiB = 1024 * 1024;
const KiB = 1024;

const keyring = createKeyring({ current: 'k', keys: { k: randomBytes(32) } });
const signing = createSigning([{ alg: 'HS256', kid: 's', secret: randomBytes(32) }]);
const codecs: [string, () => Codec][] = [
  ['json', () => createCodec({ encoding: 'json' })],
  ['msgpack', () => createCodec({ encoding: 'msgpack' })],
  [
    'json sealed',
    () => createCodec({ encoding: 'json', integrity: true, encryption: keyring, signing }),
  ],
  [
    'msgpack sealed',
    () => createCodec({ encoding: 'msgpack', integrity: true, encryption: keyring, signing }),
  ],
];

for (const [name, make] of codecs) {
  test(`chunking - a 5 MiB message crosses a 64 KiB limit in ${name} frames`, () => {
    const env = largeMessage(5 * MiB);
    const frames = encodeChunked(make(), env, 64 * KiB);
    assert.ok(frames.length > 80, `${frames.length} frames`);
    for (const f of frames) assert.ok(f.byteLength <= 64 * KiB, `frame of ${f.byteLength} bytes`);
    const receiver = make();
    const decoder = createChunkedDecoder(receiver);
    const out = shuffle(frames, 9).map((f) => decoder.decode(f));
    const done = out.filter((e) => e !== undefined);
    assert.equal(done.length, 1);
    assert.equal(out.at(-1), done[0]);
    assertSameMessage(done[0]!, env);
    assert.equal(decoder.assembler.pending, 0);
  });
}

test('chunking - the assembler gives back frame bytes the codec opens', () => {
  const codec = createCodec({ encoding: 'msgpack' });
  const env = largeMessage(300 * KiB);
  const frames = encodeChunked(codec, env, 32 * KiB);
  const assembler = new ChunkAssembler();
  const results = frames.map((f) => assembler.accept(codec.decode(f)));
  const frame = completed(results);
  assert.deepEqual(Buffer.from(frame), Buffer.from(codec.encode(env)));
  assertSameMessage(codec.decode(frame), env);
});

test('chunking - a message under the limit is one ordinary frame', () => {
  const codec = createCodec();
  const env = createEnvelope({ kind: 'event', subject: 's', body: { type: 'small' } });
  const frames = encodeChunked(codec, env, 64 * KiB);
  assert.equal(frames.length, 1);
  assertSameMessage(createChunkedDecoder(codec).decode(frames[0]!)!, env);
});

test('chunking - frame parts carry the routing fields of their message', () => {
  const codec = createCodec();
  const frames = encodeChunked(codec, largeMessage(50 * KiB), 16 * KiB, { transfer: 'tx' });
  for (const f of frames) {
    const part = codec.decode(f);
    assert.equal(part.kind, 'params.chunk');
    assert.equal(part.subject, 'models.llama.weights');
    assert.equal(part.key, 'llama');
    assert.equal(part.tenant, 'acme');
    assert.equal(part.chunk?.transfer, 'tx');
  }
});

test('chunking - a limit too small for the chunk header is a configuration error', () => {
  assert.throws(() => encodeChunked(createCodec(), largeMessage(4 * KiB), 200), ConfigError);
});
