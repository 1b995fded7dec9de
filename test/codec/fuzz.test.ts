// Property-based fuzzing of the decoders: random bytes, byte-level mutations of valid frames
// (bit flips, truncation, insertion, swaps), and field-level rewrites of their headers, in every
// encoding, plain and sealed. Whatever comes in, decode returns an envelope or throws a
// WireError: any other throw is a bug a peer could trigger.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { encodeBinaryFrame } from '../../src/codec/binary/frame.js';
import { ChunkAssembler, splitIntoChunks } from '../../src/codec/chunking.js';
import { createCodec, type Codec, type CodecOptions } from '../../src/codec/codec.js';
import { FrameReader, writeFrame } from '../../src/codec/framing.js';
import { createKeyring } from '../../src/codec/security/encryption.js';
import { createSigning, ReplayGuard } from '../../src/codec/security/signing.js';
import {
  createEnvelope,
  validateBody,
  WireError,
  type Envelope,
} from '../../src/protocol/index.js';

const unopened = createCodec({ open: false });
const packr = new Packr({ useRecords: false, variableMapSize: true, moreTypes: false });
const seed = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);
let framesTried = 0;

// Keys shared by senders and receivers, so mutated sealed frames get past the key lookup and
// reach the checks behind it.
const keyring = createKeyring({
  current: 'k2',
  keys: { k1: randomBytes(32), k2: randomBytes(32) },
});
const oldKeyring = createKeyring({ current: 'k1', keys: { k1: keyring.key('k1')! } });
const { privateKey } = generateKeyPairSync('ed25519');
const hs = { alg: 'HS256', kid: 'hs', secret: randomBytes(32) } as const;
const ed = { alg: 'Ed25519', kid: 'ed', privateKey } as const;
const bothKeys = createSigning([hs, ed]);
const edFirst = createSigning([ed, hs]);

const BODIES: Record<string, unknown> = {
  'inference.request': { model: 'm', messages: [{ role: 'user', content: 'hé 🚀' }], n: 1 },
  'inference.chunk': { text: 'tok', index: 0, finish_reason: null },
  'inference.result': {
    model: 'm',
    text: 'done',
    finish_reason: 'stop',
    usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
  },
  'embedding.request': { model: 'e', input: [1, 2, 3] },
  'embedding.result': {
    model: 'e',
    data: [{ index: 0, embedding: [0.5, -1] }],
    usage: { prompt_tokens: 1, total_tokens: 1 },
  },
  'training.batch': { run: 'r', step: 1, examples: [{ input: { a: [1, 2] }, target: null }] },
  'params.chunk': Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]),
  'control.cancel': {},
  'control.credit': { credits: 3 },
  heartbeat: {
    worker: 'w',
    status: 'ready',
    models: ['m'],
    capacity: 2,
    inflight: 0,
    prefixHashes: ['ab'],
  },
  metric: { name: 'x_total', value: 1, labels: { a: 'b' } },
  event: { type: 't', data: [true, null, 1.5, 'x'] },
  error: { code: 'internal', message: 'boom', retryable: true, details: { n: 1 } },
  'vendor.unknown-kind': { anything: { goes: [1] } },
};

const SENDERS: CodecOptions[] = [
  {},
  { compression: { algorithm: 'gzip', thresholdBytes: 16 } },
  { compression: { algorithm: 'br', thresholdBytes: 16 } },
  { integrity: true },
  { encryption: keyring },
  { encryption: oldKeyring },
  { signing: bothKeys },
  { signing: edFirst },
  {
    integrity: true,
    encryption: keyring,
    signing: bothKeys,
    compression: { algorithm: 'br', thresholdBytes: 16 },
  },
];

function buildCorpus(): Uint8Array[] {
  const corpus: Uint8Array[] = [];
  for (const encoding of ['json', 'binary', 'msgpack'] as const) {
    for (const options of SENDERS) {
      const codec = createCodec({ ...options, encoding });
      for (const [kind, body] of Object.entries(BODIES)) {
        corpus.push(codec.encode(createEnvelope({ kind, subject: `fuzz.${kind}`, body })));
      }
      corpus.push(codec.encode(fullHeader()));
      for (const part of splitIntoChunks(randomBytes(40), {
        partSize: 16,
        subject: 'fuzz.params',
      })) {
        corpus.push(codec.encode(part));
      }
    }
  }
  return corpus;
}

/** An envelope with every optional header field set, so each has a chance to be mutated. */
function fullHeader(): Envelope {
  return createEnvelope({
    kind: 'inference.chunk',
    subject: 'fuzz.full',
    body: { text: 'x'.repeat(40) },
    source: 'src',
    corr: 'corr',
    replyTo: 'reply.to',
    deadline: Date.now() + 60_000,
    prio: 7,
    key: 'key',
    attempt: 2,
    tenant: 'tenant',
    traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    tracestate: 'a=b',
    seq: 4,
    eos: true,
    credit: 10,
    headers: { h: 'v' },
  });
}

const corpus = buildCorpus();

// Receivers: one with no keys, one that can open everything and has no replay guard (so the
// same mutated id reaches the deeper checks every time), one strict with tight limits.
const decoders: [string, Codec][] = [
  ['plain', createCodec()],
  [
    'open',
    createCodec({
      encryption: keyring,
      signing: { ...bothKeys, replay: false },
      requireEncryption: false,
      requireSignature: false,
    }),
  ],
  [
    'strict',
    createCodec({
      encoding: 'msgpack',
      maxFrameBytes: 1024,
      maxBodyBytes: 512,
      encryption: keyring,
      signing: { ...bothKeys, replay: new ReplayGuard(60_000, 5_000) },
    }),
  ],
];

// Opened params.chunk messages go on to an assembler, which must refuse bad parts the same way.
const assembler = new ChunkAssembler({ maxTransfers: 64 });

/** Runs one step of the pipeline; anything thrown that is not a WireError fails the property. */
function guarded<T>(what: string, input: Uint8Array, step: () => T): T | undefined {
  try {
    return step();
  } catch (err) {
    if (err instanceof WireError) return undefined;
    const frame = Buffer.from(input).toString('base64');
    throw new Error(`${what} threw ${describe(err)} for frame ${frame}`, { cause: err });
  }
}

/** The property: an envelope comes back, or a WireError is thrown; nothing else. */
function decodesOrRefuses(input: Uint8Array): void {
  framesTried++;
  for (const [name, codec] of decoders) {
    const env = guarded(`${name} decode`, input, () => codec.decode(input));
    if (env === undefined) continue;
    assert.equal(env.v, 1);
    assert.equal(typeof env.kind, 'string');
    assert.equal(env.payload, undefined, 'an opened envelope has no payload left');
    guarded('validateBody', input, () => validateBody(env));
    if (env.kind === 'params.chunk') {
      guarded('ChunkAssembler.accept', input, () => assembler.accept(env));
      if (assembler.pending >= 64) assembler.expire(0);
    }
  }
}

function describe(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}\n${err.stack ?? ''}` : String(err);
}

// Byte-level mutations of a valid frame, as data so a counterexample shows what was done.
type Mutation =
  | ['flip', number, number]
  | ['truncate', number]
  | ['insert', number, Uint8Array]
  | ['swap', number, number]
  | ['set', number, number]
  | ['delete', number, number]
  | ['splice', number, number, number];
// Bytes that mean something to a JSON or MessagePack parser: quotes, brackets, type prefixes.
const INTERESTING = [
  ...Buffer.from(
    '00017f80ff225c7b7d5b5d2c3a30392d65c0c1c2c4c6c7cbcfd3d4d9dbdcdddedf909fa0bf',
    'hex',
  ),
];
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.tuple(fc.constant('flip' as const), fc.nat(), fc.nat(7)),
  fc.tuple(fc.constant('truncate' as const), fc.nat()),
  fc.tuple(
    fc.constant('insert' as const),
    fc.nat(),
    fc.uint8Array({ minLength: 1, maxLength: 24 }),
  ),
  fc.tuple(fc.constant('swap' as const), fc.nat(), fc.nat()),
  fc.tuple(fc.constant('set' as const), fc.nat(), fc.constantFrom(...INTERESTING)),
  fc.tuple(fc.constant('delete' as const), fc.nat(), fc.nat(64)),
  fc.tuple(fc.constant('splice' as const), fc.nat(corpus.length - 1), fc.nat(), fc.nat()),
);

function mutate(bytes: Buffer, m: Mutation): Buffer {
  if (bytes.length === 0) return bytes;
  const at = (pos: number) => pos % bytes.length;
  switch (m[0]) {
    case 'flip':
      bytes[at(m[1])]! ^= 1 << m[2];
      return bytes;
    case 'truncate':
      return bytes.subarray(0, at(m[1]));
    case 'insert':
      return Buffer.concat([bytes.subarray(0, at(m[1])), m[2], bytes.subarray(at(m[1]))]);
    case 'swap': {
      const [x, y] = [at(m[1]), at(m[2])];
      [bytes[x], bytes[y]] = [bytes[y]!, bytes[x]!];
      return bytes;
    }
    case 'set':
      bytes[at(m[1])] = m[2];
      return bytes;
    case 'delete':
      return Buffer.concat([bytes.subarray(0, at(m[1])), bytes.subarray(at(m[1]) + m[2])]);
    case 'splice': {
      const other = Buffer.from(corpus[m[1]]!);
      return Buffer.concat([bytes.subarray(0, at(m[2])), other.subarray(m[3] % other.length)]);
    }
  }
}

const mutatedFrame = fc
  .tuple(fc.nat(corpus.length - 1), fc.array(mutation, { minLength: 1, maxLength: 4 }))
  .map(([k, steps]): Uint8Array => steps.reduce(mutate, Buffer.from(corpus[k]!)));

const randomFrame: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.uint8Array({ maxLength: 256 }),
  fc
    .tuple(fc.constantFrom(0x7b, 0x80, 0x85, 0x8f, 0xde, 0xdf), fc.uint8Array({ maxLength: 256 }))
    .map(([first, rest]) => Buffer.concat([Uint8Array.of(first), rest])),
  fc.jsonValue({ maxDepth: 3 }).map((v) => Buffer.from(JSON.stringify(v) ?? 'null')),
);

// Field-level rewrites: a header field (or one inside chunk, enc, sig) set to a value of
// another shape, or to a well-formed but wrong one, then written back in the frame's encoding.
const FIELDS = (
  'v id kind subject ts source corr replyTo deadline prio key attempt tenant traceparent ' +
  'tracestate seq eos credit headers chunk ct zip sum enc sig body payload __proto__ constructor'
).split(' ');
const NESTED: Record<string, string[]> = {
  chunk: ['transfer', 'index', 'total', 'size', 'partSum', 'objectSum', 'offset'],
  enc: ['alg', 'kid', 'iv', 'tag'],
  sig: ['alg', 'kid', 'value'],
  headers: ['h', 'x'],
};
const b64 = (n: number) =>
  fc.uint8Array({ minLength: n, maxLength: n }).map((b) => Buffer.from(b).toString('base64url'));
const fieldValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constant(undefined),
  fc.jsonValue({ maxDepth: 2 }),
  fc.constantFrom(
    0,
    -1,
    1,
    2,
    255,
    256,
    2 ** 31,
    2 ** 53,
    Number.MAX_SAFE_INTEGER + 2,
    1e308,
    -0,
    0.5,
    '',
    'raw',
    'json',
    'msgpack',
    'gzip',
    'br',
    'A256GCM',
    'HS256',
    'Ed25519',
    'k1',
    'k2',
    'hs',
    'ed',
    'nope',
    true,
    null,
    [],
    {},
  ),
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 64n - 1n }),
  fc.uint8Array({ maxLength: 40 }),
  fc.date({ noInvalidDate: true }),
  b64(12),
  b64(16),
  b64(32).map((s) => `sha256:${s}`),
  b64(64),
  fc.record({
    alg: fc.constantFrom('A256GCM', 'HS256', 'Ed25519'),
    kid: fc.constantFrom('k1', 'k2', 'hs', 'ed', 'zz'),
    iv: b64(12),
    tag: b64(16),
    value: b64(32),
  }),
);
const rewrittenFrame = fc
  .tuple(
    fc.nat(corpus.length - 1),
    fc.array(fc.tuple(fc.constantFrom(...FIELDS), fc.option(fc.nat(6)), fieldValue), {
      minLength: 1,
      maxLength: 3,
    }),
  )
  .map(([k, edits]): Uint8Array => {
    const frame = corpus[k]!;
    const json = frame[0] === 0x7b;
    const binary = frame[0] === 0xc1;
    const record = (
      json
        ? JSON.parse(Buffer.from(frame).toString())
        : binary
          ? { ...unopened.decode(frame) }
          : packr.unpack(frame)
    ) as Record<string, unknown>;
    for (const [field, sub, drawn] of edits) {
      // fc.constantFrom hands out the same `[]` and `{}` each time: a copy, so that one edit
      // cannot nest the object inside itself (a cycle no encoder can write) nor leave fields on
      // the constant for later runs.
      const value = typeof drawn === 'object' && drawn !== null ? structuredClone(drawn) : drawn;
      const names = NESTED[field];
      const target =
        names !== undefined &&
        sub !== null &&
        typeof record[field] === 'object' &&
        record[field] !== null
          ? ([record[field] as Record<string, unknown>, names[sub % names.length]!] as const)
          : ([record, field] as const);
      if (value === undefined) delete target[0][target[1]];
      else
        Object.defineProperty(target[0], target[1], {
          value,
          enumerable: true,
          configurable: true,
          writable: true,
        });
    }
    if (binary) {
      // Values the binary writer cannot hold go as a MessagePack map instead.
      try {
        return encodeBinaryFrame(record as unknown as Envelope);
      } catch {
        // fall through
      }
    }
    if (!json) return Buffer.from(packr.pack(record));
    return Buffer.from(
      JSON.stringify(record, (_k, v: unknown) =>
        typeof v === 'bigint'
          ? Number(v)
          : v instanceof Uint8Array
            ? Buffer.from(v).toString('base64url')
            : v,
      ),
    );
  });

function run<T>(arb: fc.Arbitrary<T>, numRuns: number, property: (value: T) => void): void {
  fc.assert(fc.property(arb, property), { numRuns, ...(seed === undefined ? {} : { seed }) });
}

test('fuzz - the corpus of valid frames decodes with every receiver that holds the keys', () => {
  const open = decoders[1]![1];
  for (const frame of corpus) open.decode(frame);
  assert.ok(corpus.length > 250, `${corpus.length} frames`);
});

test('fuzz - mutated valid frames decode or throw a WireError', () => {
  run(mutatedFrame, 100_000, decodesOrRefuses);
});

test('fuzz - random bytes decode or throw a WireError', () => {
  run(randomFrame, 30_000, decodesOrRefuses);
});

test('fuzz - frames with rewritten header fields decode or throw a WireError', () => {
  run(rewrittenFrame, 25_000, decodesOrRefuses);
});

test('fuzz - a FrameReader fed mutated streams yields frames or throws a WireError', () => {
  const stream = fc.tuple(
    fc.array(fc.oneof(mutatedFrame, randomFrame), { minLength: 1, maxLength: 6 }),
    fc.array(fc.nat(64), { minLength: 1, maxLength: 8 }),
    fc.option(fc.tuple(fc.nat(), fc.nat(7))),
  );
  run(stream, 6_000, ([frames, cuts, flip]) => {
    const bytes = Buffer.concat(frames.map((f) => writeFrame(f)));
    if (flip !== null) bytes[flip[0] % bytes.length]! ^= 1 << flip[1];
    const reader = new FrameReader(4096);
    let pos = 0;
    let cut = 0;
    try {
      while (pos < bytes.length) {
        const size = 1 + cuts[cut++ % cuts.length]!;
        for (const frame of reader.push(bytes.subarray(pos, pos + size))) decodesOrRefuses(frame);
        pos += size;
      }
    } catch (err) {
      if (!(err instanceof WireError)) throw err;
    }
  });
});

test('fuzz - at least 100,000 frames were tried', (t) => {
  t.diagnostic(`${framesTried} frames decoded by ${decoders.length} receivers each`);
  assert.ok(framesTried >= 100_000, `${framesTried} frames`);
});
