// Writes the golden fixtures of test/fixtures/v1 (docs/protocol.md, "Test vectors"). Sealed
// frames are built here step by step from the specification, with fixed keys and IVs, and are
// then checked against the codec before they are written, so the files hold what the
// specification says rather than only what the codec happens to do.
//
// Regenerate: npx tsc -p . && node dist/test/protocol/fixtures-gen.js
import assert from 'node:assert/strict';
import {
  createCipheriv,
  createHash,
  createHmac,
  createPrivateKey,
  sign as edSign,
  type JsonWebKey,
} from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { Packr } from 'msgpackr';
import { ChunkAssembler, splitIntoChunks } from '../../src/codec/chunking.js';
import { createCodec, type CodecOptions, type Encoding } from '../../src/codec/codec.js';
import { writeFrame } from '../../src/codec/framing.js';
import { createKeyring } from '../../src/codec/security/encryption.js';
import { createSigning, ReplayGuard, type SigningKey } from '../../src/codec/security/signing.js';
import { KINDS, validateBody, WireError, type Envelope } from '../../src/protocol/index.js';

const ENCODINGS: Encoding[] = ['json', 'msgpack'];
const packr = new Packr({
  useRecords: false,
  variableMapSize: true,
  moreTypes: false,
  skipValues: [undefined],
  int64AsType: 'number',
} as ConstructorParameters<typeof Packr>[0] & { skipValues: unknown[] });

// ---------------------------------------------------------------------------------------------
// Fixed values. Every fixture is dated 2026-01-01T00:00:00.000Z; ids are UUIDv7 of that ms.

const TS = 1_767_225_600_000;
const MS_HEX = TS.toString(16).padStart(12, '0');
let idCounter = 0;
function nextId(): string {
  idCounter++;
  return `${MS_HEX.slice(0, 8)}-${MS_HEX.slice(8)}-7000-8000-${idCounter.toString(16).padStart(12, '0')}`;
}

function bytesFrom(start: number, length: number): Buffer {
  return Buffer.from(Array.from({ length }, (_, i) => (start + i) & 0xff));
}

/** AES-256 keys: "k1" is 0x00..0x1f, "k0" (an older key, for rotation) is 0x60..0x7f. */
const AES_K1 = bytesFrom(0x00, 32);
const AES_K0 = bytesFrom(0x60, 32);
/** HS256 secret "hs-1": 0x20..0x3f. */
const HS_SECRET = bytesFrom(0x20, 32);
/** Ed25519 key "ed-1": private seed 0x40..0x5f. */
const ED_SEED = bytesFrom(0x40, 32);
const ED_PRIVATE = createPrivateKey({
  key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), ED_SEED]),
  format: 'der',
  type: 'pkcs8',
});
const ED_JWK = ED_PRIVATE.export({ format: 'jwk' });
/** Fixed AES-GCM IVs (a real sender draws a fresh random IV per message). */
const IV_A = bytesFrom(0xa0, 12);
const IV_B = bytesFrom(0xb0, 12);

// ---------------------------------------------------------------------------------------------
// JSON forms of values: bytes as {"$bytes": base64}; codec options as plain data.

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

function toJson(value: unknown): Json {
  if (value instanceof Uint8Array) return { $bytes: Buffer.from(value).toString('base64') };
  if (Array.isArray(value)) return value.map(toJson);
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, Json> = {};
    for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = toJson(v);
    return out;
  }
  return value as Json;
}

interface KeySpec {
  alg: 'HS256' | 'Ed25519';
  kid: string;
  secret?: Uint8Array;
  jwk?: JsonWebKey;
}

interface CodecSpec {
  compression?: { algorithm: 'gzip' | 'br'; thresholdBytes: number } | false;
  integrity?: boolean;
  encryption?: { current: string; keys: Record<string, Uint8Array> };
  signing?: { keys: KeySpec[]; replay: false | { windowMs: number } };
  requireSignature?: boolean;
  requireEncryption?: boolean;
  maxBodyBytes?: number;
  maxFrameBytes?: number;
}

const HS_KEY: KeySpec = { alg: 'HS256', kid: 'hs-1', secret: HS_SECRET };
const ED_KEY: KeySpec = { alg: 'Ed25519', kid: 'ed-1', jwk: ED_JWK };

function codecOptions(spec: CodecSpec, encoding: Encoding): CodecOptions {
  const options: CodecOptions = { encoding };
  if (spec.compression !== undefined) options.compression = spec.compression;
  if (spec.integrity !== undefined) options.integrity = spec.integrity;
  if (spec.encryption !== undefined) options.encryption = createKeyring(spec.encryption);
  if (spec.signing !== undefined) {
    const keys = spec.signing.keys.map((k): SigningKey => {
      if (k.alg === 'HS256') return { alg: 'HS256', kid: k.kid, secret: k.secret! };
      return {
        alg: 'Ed25519',
        kid: k.kid,
        privateKey: createPrivateKey({ key: k.jwk!, format: 'jwk' }),
      };
    });
    const { signer, verifier } = createSigning(keys);
    const replay =
      spec.signing.replay === false ? false : new ReplayGuard(spec.signing.replay.windowMs);
    options.signing = { signer, verifier, replay };
  }
  if (spec.requireSignature !== undefined) options.requireSignature = spec.requireSignature;
  if (spec.requireEncryption !== undefined) options.requireEncryption = spec.requireEncryption;
  if (spec.maxBodyBytes !== undefined) options.maxBodyBytes = spec.maxBodyBytes;
  if (spec.maxFrameBytes !== undefined) options.maxFrameBytes = spec.maxFrameBytes;
  return options;
}

// ---------------------------------------------------------------------------------------------
// Frame writing, from the specification.

function writeRecord(record: Record<string, unknown>, encoding: Encoding): Buffer {
  if (encoding === 'msgpack') return Buffer.from(packr.pack(record));
  const out: Record<string, unknown> = { ...record };
  if (out.payload instanceof Uint8Array)
    out.payload = Buffer.from(out.payload).toString('base64url');
  return Buffer.from(JSON.stringify(out));
}

/** Header fields covered by a signature, in signing order (docs/protocol.md, "Signing"). */
// prettier-ignore
const SIGNED = [
  'v', 'id', 'kind', 'subject', 'ts', 'source', 'corr', 'replyTo', 'deadline', 'prio', 'key',
  'tenant', 'seq', 'eos', 'credit', 'ct', 'zip', 'sum', 'enc', 'chunk', 'headers',
] as const;

function canonical(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(obj[k])}`).join(',')}}`;
}

function sha256(bytes: Uint8Array): Buffer {
  return createHash('sha256').update(bytes).digest();
}

function signingText(record: Record<string, unknown>, payload: Uint8Array): string {
  let text = '';
  for (const field of SIGNED) {
    if (record[field] !== undefined) text += `${field}=${canonical(record[field])}\n`;
  }
  return `${text}payload=${sha256(payload).toString('base64url')}`;
}

interface Seal {
  zip?: 'gzip' | 'br';
  encrypt?: { kid: string; key: Uint8Array; iv: Uint8Array };
  sum?: boolean;
  sign?: KeySpec;
}

interface Sealed {
  frame: Buffer;
  record: Record<string, unknown>;
  intermediate: Record<string, Json>;
}

/** Serializes, compresses, encrypts, sums and signs a body, in that order. */
function seal(env: Envelope, encoding: Encoding, steps: Seal): Sealed {
  const { body, ...header } = env;
  const ct = body instanceof Uint8Array ? 'raw' : encoding;
  const bodyBytes =
    ct === 'raw'
      ? Buffer.from(body as Uint8Array)
      : ct === 'json'
        ? Buffer.from(JSON.stringify(body))
        : Buffer.from(packr.pack(body));
  const intermediate: Record<string, Json> = { bodyBytes: toJson(bodyBytes) };
  const record: Record<string, unknown> = { ...header, ct };
  let payload: Buffer = bodyBytes;
  if (steps.zip === 'gzip') payload = gzipSync(payload, { level: 6 });
  if (steps.zip === 'br') {
    payload = brotliCompressSync(payload, {
      params: {
        [constants.BROTLI_PARAM_QUALITY]: 5,
        [constants.BROTLI_PARAM_SIZE_HINT]: payload.byteLength,
      },
    });
  }
  if (steps.zip !== undefined) {
    record.zip = steps.zip;
    intermediate.compressed = toJson(payload);
  }
  if (steps.encrypt !== undefined) {
    const aad = `llmwire/1\n${env.id}\n${env.kind}`;
    const cipher = createCipheriv('aes-256-gcm', steps.encrypt.key, steps.encrypt.iv);
    cipher.setAAD(Buffer.from(aad));
    payload = Buffer.concat([cipher.update(payload), cipher.final()]);
    record.enc = {
      alg: 'A256GCM',
      kid: steps.encrypt.kid,
      iv: Buffer.from(steps.encrypt.iv).toString('base64url'),
      tag: cipher.getAuthTag().toString('base64url'),
    };
    intermediate.aad = aad;
  }
  if (steps.sum === true) record.sum = `sha256:${sha256(payload).toString('base64url')}`;
  if (steps.sign !== undefined) {
    const text = signingText(record, payload);
    const input = Buffer.from(text);
    const value =
      steps.sign.alg === 'HS256'
        ? createHmac('sha256', steps.sign.secret!).update(input).digest()
        : edSign(null, input, ED_PRIVATE);
    record.sig = { alg: steps.sign.alg, kid: steps.sign.kid, value: value.toString('base64url') };
    intermediate.signingInput = text;
  }
  record.payload = payload;
  return { frame: writeRecord(record, encoding), record, intermediate };
}

// ---------------------------------------------------------------------------------------------
// One sample message per kind. Between them they use every envelope field.

const REQUEST_ID = nextId();
const CLIENT_INBOX = '_INBOX.Qm9vdHN0cmFw';
const WORKER_INBOX = '_INBOX.d29ya2VyLTE';
const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

function sample(kind: string): Envelope {
  const base = { v: 1, id: kind === 'inference.request' ? REQUEST_ID : nextId() };
  switch (kind) {
    case 'inference.request':
      return {
        ...base,
        kind,
        subject: 'llm.worker.worker-1.chat',
        ts: TS,
        source: 'gateway-1',
        replyTo: CLIENT_INBOX,
        deadline: TS + 30_000,
        prio: 8,
        key: 'session-42',
        tenant: 'acme',
        traceparent: TRACEPARENT,
        tracestate: 'acme=00f067aa0ba902b7',
        credit: 64,
        body: {
          model: 'llama-3-8b',
          messages: [
            { role: 'system', content: 'You are terse.' },
            { role: 'user', content: 'Say "hello" in Français — ünïcödé 🚀' },
          ],
          temperature: 0.7,
          max_tokens: 256,
          stop: ['\n\n'],
          stream: true,
        },
      };
    case 'inference.chunk':
      return {
        ...base,
        kind,
        subject: CLIENT_INBOX,
        ts: TS + 120,
        source: 'worker-1',
        corr: REQUEST_ID,
        tenant: 'acme',
        traceparent: TRACEPARENT,
        seq: 1,
        body: { text: 'Bonjour', index: 0, finish_reason: null },
      };
    case 'inference.result':
      return {
        ...base,
        kind,
        subject: CLIENT_INBOX,
        ts: TS + 480,
        source: 'worker-1',
        corr: REQUEST_ID,
        tenant: 'acme',
        traceparent: TRACEPARENT,
        seq: 3,
        eos: true,
        body: {
          model: 'llama-3-8b',
          text: 'Bonjour !',
          finish_reason: 'stop',
          usage: { prompt_tokens: 21, completion_tokens: 3, total_tokens: 24, cached_tokens: 16 },
          worker: 'worker-1',
        },
      };
    case 'embedding.request':
      return {
        ...base,
        kind,
        subject: 'llm.worker.worker-1.embed',
        ts: TS,
        source: 'indexer',
        replyTo: CLIENT_INBOX,
        deadline: TS + 10_000,
        body: {
          model: 'bge-small',
          input: ['first text', 'second text'],
          encoding_format: 'float',
          dimensions: 3,
        },
      };
    case 'embedding.result':
      return {
        ...base,
        kind,
        subject: CLIENT_INBOX,
        ts: TS + 35,
        corr: nextId(),
        body: {
          model: 'bge-small',
          data: [
            { index: 0, embedding: [0.25, -0.5, 0.125] },
            { index: 1, embedding: [-0.75, 1, 0] },
          ],
          usage: { prompt_tokens: 4, total_tokens: 4 },
        },
      };
    case 'training.batch':
      return {
        ...base,
        kind,
        subject: 'train.batches',
        ts: TS,
        source: 'loader-3',
        key: 'run-7',
        attempt: 2,
        tenant: 'research',
        body: {
          run: 'run-7',
          step: 1200,
          epoch: 2,
          examples: [
            { input: 'The service was great', target: 'positive', weight: 1 },
            { input: 'Never again', target: 'negative', weight: 0.5 },
          ],
        },
      };
    case 'params.chunk': {
      const object = bytesFrom(0, 10);
      const part = splitIntoChunks(object, {
        partSize: 6,
        subject: 'params.llama-3-8b.lora',
        transfer: 'adapter-2026-01',
      })[1]!;
      return {
        ...base,
        kind,
        subject: 'params.llama-3-8b.lora',
        ts: TS,
        source: 'trainer-1',
        headers: { 'content-name': 'adapter.safetensors' },
        chunk: part.chunk!,
        body: new Uint8Array(part.body!),
      };
    }
    case 'control.cancel':
      return {
        ...base,
        kind,
        subject: WORKER_INBOX,
        ts: TS + 300,
        source: 'gateway-1',
        corr: REQUEST_ID,
        body: { reason: 'client disconnected' },
      };
    case 'control.credit':
      return {
        ...base,
        kind,
        subject: WORKER_INBOX,
        ts: TS + 200,
        source: 'gateway-1',
        corr: REQUEST_ID,
        body: { credits: 32 },
      };
    case 'heartbeat':
      return {
        ...base,
        kind,
        subject: 'llm.heartbeat',
        ts: TS,
        source: 'worker-1',
        headers: { region: 'eu-west-1' },
        body: {
          worker: 'worker-1',
          status: 'ready',
          models: ['llama-3-8b'],
          serves: ['chat', 'embeddings'],
          capacity: 8,
          inflight: 2,
          prefixHashes: ['9f86d081884c7d65', '2c26b46b68ffc68f'],
          intervalMs: 1000,
          address: WORKER_INBOX,
        },
      };
    case 'metric':
      return {
        ...base,
        kind,
        subject: 'llmwire.metrics.worker-1',
        ts: TS,
        source: 'worker-1',
        prio: 2,
        body: {
          name: 'llmwire_ttft_seconds',
          value: 0.125,
          type: 'histogram',
          unit: 'seconds',
          labels: { model: 'llama-3-8b' },
        },
      };
    case 'event':
      return {
        ...base,
        kind,
        subject: CLIENT_INBOX,
        ts: TS + 5,
        source: 'worker-1',
        corr: REQUEST_ID,
        replyTo: WORKER_INBOX,
        tenant: 'acme',
        traceparent: TRACEPARENT,
        seq: 0,
        body: { type: 'stream.open' },
      };
    case 'error':
      return {
        ...base,
        kind,
        subject: CLIENT_INBOX,
        ts: TS + 50,
        source: 'worker-1',
        corr: REQUEST_ID,
        eos: true,
        body: {
          code: 'overloaded',
          message: 'worker-1 is at capacity',
          retryable: true,
          details: { retryAfterMs: 500 },
        },
      };
    default:
      throw new Error(`no sample for kind ${kind}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Output.

const ROOT = findRoot();
const OUT = join(ROOT, 'test', 'fixtures', 'v1');

function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('package.json not found above the generator');
    dir = up;
  }
  return dir;
}

function put(path: string, data: Uint8Array | string): void {
  const file = join(OUT, path);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, data);
}

function putExpect(path: string, expect: Record<string, unknown>): void {
  put(path, `${JSON.stringify(toJson(expect), null, 2)}\n`);
}

function plain(value: unknown): Json {
  return toJson(value);
}

function fail(message: string): never {
  throw new Error(message);
}

function assertThrowsCode(fn: () => unknown, code: string, what: string): void {
  try {
    fn();
  } catch (err) {
    if (err instanceof WireError && err.code === code) return;
    fail(`${what}: expected ${code}, got ${err instanceof WireError ? err.code : String(err)}`);
  }
  fail(`${what}: expected ${code}, but it decoded`);
}

// The directory is rewritten from scratch so that no stale vector survives.
if (existsSync(OUT)) {
  for (const entry of readdirSync(OUT)) rmSync(join(OUT, entry), { recursive: true });
}

// kinds/: one plain frame per kind per encoding, made by the codec with default options.
const plainFrames = new Map<string, Buffer>();
for (const kind of KINDS) {
  const env = sample(kind);
  validateBody(env);
  for (const encoding of ENCODINGS) {
    const codec = createCodec({ encoding });
    const frame: Buffer = Buffer.from(codec.encode(env));
    assert.deepEqual(plain(codec.decode(frame)), plain(env), `${kind} ${encoding} round trip`);
    plainFrames.set(`${kind}.${encoding}`, frame);
    put(`kinds/${kind}.${encoding}.frame`, frame);
    putExpect(`kinds/${kind}.${encoding}.expect.json`, {
      description: `A ${kind} message in the ${encoding} encoding, as the codec writes it with default options.`,
      encoding,
      envelope: env,
    });
  }
}

// sealed/: body transforms, one vector per transform per encoding.
interface SealedCase {
  name: string;
  description: string;
  kind: string;
  steps: Seal;
  /** How the receiving (and, when reproducible, the sending) codec is configured. */
  codec: CodecSpec;
  reproducible: boolean;
}

const longText = 'The quick brown fox jumps over the lazy dog. '.repeat(24);
function bigResult(): Envelope {
  const env = sample('inference.result');
  return { ...env, id: nextId(), body: { ...(env.body as object), text: longText } };
}

const SEALED: SealedCase[] = [
  {
    name: 'gzip',
    description:
      'Body bytes compressed with gzip (level 6) because they are over the 64-byte threshold.',
    kind: 'inference.result',
    steps: { zip: 'gzip' },
    codec: { compression: { algorithm: 'gzip', thresholdBytes: 64 } },
    reproducible: false,
  },
  {
    name: 'br',
    description: 'Body bytes compressed with brotli (quality 5, size hint = body length).',
    kind: 'inference.result',
    steps: { zip: 'br' },
    codec: { compression: { algorithm: 'br', thresholdBytes: 64 } },
    reproducible: false,
  },
  {
    name: 'sum',
    description: 'An integrity sum: sha256 of the payload bytes as sent.',
    kind: 'heartbeat',
    steps: { sum: true },
    codec: { integrity: true },
    reproducible: true,
  },
  {
    name: 'a256gcm',
    description: 'Body bytes encrypted with AES-256-GCM under key "k1" with a fixed IV.',
    kind: 'inference.request',
    steps: { encrypt: { kid: 'k1', key: AES_K1, iv: IV_A } },
    codec: { encryption: { current: 'k1', keys: { k1: AES_K1 } } },
    reproducible: false,
  },
  {
    name: 'a256gcm-rotated',
    description:
      'Encrypted under the older key "k0"; the receiver now encrypts with "k1" but still holds "k0".',
    kind: 'embedding.request',
    steps: { encrypt: { kid: 'k0', key: AES_K0, iv: IV_B } },
    codec: { encryption: { current: 'k1', keys: { k1: AES_K1, k0: AES_K0 } } },
    reproducible: false,
  },
  {
    name: 'hs256',
    description: 'Signed with HMAC-SHA256 under key "hs-1". Replay checks are off for the vector.',
    kind: 'inference.request',
    steps: { sign: HS_KEY },
    codec: { signing: { keys: [HS_KEY], replay: false } },
    reproducible: true,
  },
  {
    name: 'ed25519',
    description: 'Signed with Ed25519 under key "ed-1". Replay checks are off for the vector.',
    kind: 'params.chunk',
    steps: { sign: ED_KEY },
    codec: { signing: { keys: [ED_KEY], replay: false } },
    reproducible: true,
  },
  {
    name: 'full',
    description:
      'Every transform in order: gzip, AES-256-GCM ("k1"), sha256 sum, Ed25519 signature ("ed-1").',
    kind: 'inference.result',
    steps: { zip: 'gzip', encrypt: { kid: 'k1', key: AES_K1, iv: IV_A }, sum: true, sign: ED_KEY },
    codec: {
      compression: { algorithm: 'gzip', thresholdBytes: 64 },
      integrity: true,
      encryption: { current: 'k1', keys: { k1: AES_K1 } },
      signing: { keys: [ED_KEY], replay: false },
    },
    reproducible: false,
  },
];

const sealedFrames = new Map<string, Sealed>();
for (const c of SEALED) {
  for (const encoding of ENCODINGS) {
    const sampled = c.kind === 'inference.result' ? bigResult() : sample(c.kind);
    const env: Envelope = { ...sampled, id: nextId() };
    const sealed = seal(env, encoding, c.steps);
    const codec = createCodec(codecOptions(c.codec, encoding));
    assert.deepEqual(
      plain(codec.decode(sealed.frame)),
      plain(env),
      `${c.name} ${encoding} decodes`,
    );
    if (c.reproducible) {
      const again = Buffer.from(codec.encode(env));
      if (!again.equals(sealed.frame)) fail(`${c.name} ${encoding}: the codec writes other bytes`);
    }
    sealedFrames.set(`${c.name}.${encoding}`, sealed);
    put(`sealed/${c.name}.${encoding}.frame`, sealed.frame);
    putExpect(`sealed/${c.name}.${encoding}.expect.json`, {
      description: c.description,
      encoding,
      codec: c.codec,
      reproducible: c.reproducible,
      frame: sealed.record,
      intermediate: sealed.intermediate,
      envelope: env,
    });
  }
}

// invalid/: frames a decoder must refuse, each with the error code it must give.
function mutate(
  frame: Buffer,
  encoding: Encoding,
  edit: (r: Record<string, unknown>) => void,
): Buffer {
  const record =
    encoding === 'json'
      ? (JSON.parse(frame.toString('utf8')) as Record<string, unknown>)
      : (packr.unpack(frame) as Record<string, unknown>);
  if (typeof record.payload === 'string') record.payload = Buffer.from(record.payload, 'base64url');
  if (record.payload instanceof Uint8Array) record.payload = Buffer.from(record.payload);
  edit(record);
  return writeRecord(record, encoding);
}

function flipMiddleByte(record: Record<string, unknown>): void {
  const payload = record.payload as Buffer;
  payload[payload.length >> 1]! ^= 0x01;
}

interface InvalidCase {
  name: string;
  description: string;
  code: string;
  codec: CodecSpec;
  frame: (encoding: Encoding) => Buffer;
}

const sealedFrame = (name: string, encoding: Encoding) =>
  sealedFrames.get(`${name}.${encoding}`)!.frame;
const plainFrame = (kind: string, encoding: Encoding) => plainFrames.get(`${kind}.${encoding}`)!;

const INVALID: InvalidCase[] = [
  {
    name: 'tampered-ciphertext',
    description: 'sealed/a256gcm with one ciphertext byte flipped: GCM authentication fails.',
    code: 'decrypt_failed',
    codec: { encryption: { current: 'k1', keys: { k1: AES_K1 } } },
    frame: (e) => mutate(sealedFrame('a256gcm', e), e, flipMiddleByte),
  },
  {
    name: 'unknown-key',
    description: 'sealed/a256gcm read by a receiver that does not hold key "k1".',
    code: 'unknown_key',
    codec: { encryption: { current: 'k0', keys: { k0: AES_K0 } } },
    frame: (e) => sealedFrame('a256gcm', e),
  },
  {
    name: 'bad-signature',
    description: 'sealed/hs256 with its subject changed after signing.',
    code: 'bad_signature',
    codec: { signing: { keys: [HS_KEY], replay: false } },
    frame: (e) =>
      mutate(sealedFrame('hs256', e), e, (r) => (r.subject = 'llm.worker.worker-2.chat')),
  },
  {
    name: 'bad-signature-payload',
    description: 'sealed/ed25519 with one payload byte flipped after signing.',
    code: 'bad_signature',
    codec: { signing: { keys: [ED_KEY], replay: false } },
    frame: (e) => mutate(sealedFrame('ed25519', e), e, flipMiddleByte),
  },
  {
    name: 'replayed',
    description:
      'sealed/hs256 read with the 5-minute replay window on: its timestamp is long past.',
    code: 'replayed',
    codec: { signing: { keys: [HS_KEY], replay: { windowMs: 300_000 } } },
    frame: (e) => sealedFrame('hs256', e),
  },
  {
    name: 'unsigned',
    description: 'A plain frame read by a receiver that requires signatures.',
    code: 'bad_signature',
    codec: { signing: { keys: [HS_KEY], replay: false } },
    frame: (e) => plainFrame('heartbeat', e),
  },
  {
    name: 'unencrypted',
    description: 'A plain frame read by a receiver that requires encryption.',
    code: 'decrypt_failed',
    codec: { encryption: { current: 'k1', keys: { k1: AES_K1 } } },
    frame: (e) => plainFrame('heartbeat', e),
  },
  {
    name: 'bad-sum',
    description: 'sealed/sum with one payload byte flipped.',
    code: 'integrity_failed',
    codec: {},
    frame: (e) => mutate(sealedFrame('sum', e), e, flipMiddleByte),
  },
  {
    name: 'wrong-version',
    description: 'kinds/heartbeat with "v": 2.',
    code: 'unsupported_version',
    codec: {},
    frame: (e) => mutate(plainFrame('heartbeat', e), e, (r) => (r.v = 2)),
  },
  {
    name: 'no-version',
    description: 'kinds/heartbeat without "v".',
    code: 'invalid_message',
    codec: {},
    frame: (e) => mutate(plainFrame('heartbeat', e), e, (r) => delete r.v),
  },
  {
    name: 'truncated',
    description: 'kinds/inference.request cut off after half its bytes.',
    code: 'invalid_message',
    codec: {},
    frame: (e) => {
      const f = plainFrame('inference.request', e);
      return f.subarray(0, f.length >> 1);
    },
  },
  {
    name: 'bad-header',
    description: 'kinds/metric with "prio": 10 (priorities are 0 to 9).',
    code: 'invalid_message',
    codec: {},
    frame: (e) => mutate(plainFrame('metric', e), e, (r) => (r.prio = 10)),
  },
  {
    name: 'missing-ct',
    description: 'sealed/sum without its "ct" member.',
    code: 'invalid_message',
    codec: {},
    frame: (e) => mutate(sealedFrame('sum', e), e, (r) => delete r.ct),
  },
  {
    name: 'body-and-payload',
    description: 'sealed/sum with an inline "body" as well as a "payload".',
    code: 'invalid_message',
    codec: {},
    frame: (e) => mutate(sealedFrame('sum', e), e, (r) => (r.body = { worker: 'worker-1' })),
  },
  {
    name: 'not-a-map',
    description:
      'A frame that is an array, not an object or map: its first byte is no frame start.',
    code: 'invalid_message',
    codec: {},
    frame: (e) =>
      e === 'json' ? Buffer.from('[1,"event"]') : Buffer.from(packr.pack([1, 'event'])),
  },
  {
    name: 'bad-zip',
    description: 'A frame whose "zip" says gzip but whose payload is not gzip data.',
    code: 'invalid_message',
    codec: {},
    frame: (e) =>
      mutate(sealedFrame('sum', e), e, (r) => {
        delete r.sum;
        r.zip = 'gzip';
      }),
  },
  {
    name: 'zip-bomb',
    description:
      'gzip payload that inflates to 1 MiB, read by a receiver whose body limit is 64 KiB.',
    code: 'payload_too_large',
    codec: { maxBodyBytes: 65_536 },
    frame: (e) => {
      const env: Envelope = {
        v: 1,
        id: nextId(),
        kind: 'params.chunk',
        subject: 'params.bomb',
        ts: TS,
        body: new Uint8Array(1024 * 1024),
      };
      return seal(env, e, { zip: 'gzip' }).frame;
    },
  },
  {
    name: 'oversized',
    description: 'kinds/inference.request read by a receiver whose frame limit is 256 bytes.',
    code: 'payload_too_large',
    codec: { maxFrameBytes: 256 },
    frame: (e) => plainFrame('inference.request', e),
  },
];

for (const c of INVALID) {
  for (const encoding of ENCODINGS) {
    const frame = c.frame(encoding);
    const codec = createCodec(codecOptions(c.codec, encoding));
    assertThrowsCode(() => codec.decode(frame), c.code, `${c.name} ${encoding}`);
    put(`invalid/${c.name}.${encoding}.frame`, frame);
    putExpect(`invalid/${c.name}.${encoding}.expect.json`, {
      description: c.description,
      encoding,
      codec: c.codec,
      error: { code: c.code },
    });
  }
}

// compat/: frames from a newer peer that a v1 reader must still decode.
const COMPAT = [
  {
    name: 'unknown-kind',
    description:
      'A kind this version does not know: the codec carries it; a handler that checks kinds refuses it with unknown_kind.',
    env: (): Envelope => ({
      v: 1,
      id: nextId(),
      kind: 'vendor.audit',
      subject: 'audit.log',
      ts: TS,
      body: { action: 'login', user: 'u-17' },
    }),
    handlerError: 'unknown_kind',
  },
  {
    name: 'unknown-fields',
    description:
      'Header and body members this version does not know: ignored by checks and kept as received.',
    env: (): Envelope =>
      ({
        v: 1,
        id: nextId(),
        kind: 'control.credit',
        subject: WORKER_INBOX,
        ts: TS,
        corr: REQUEST_ID,
        priorityClass: 'gold',
        body: { credits: 8, burst: 16 },
      }) as Envelope,
    handlerError: undefined,
  },
];

for (const c of COMPAT) {
  const env = c.env();
  for (const encoding of ENCODINGS) {
    const codec = createCodec({ encoding });
    const frame = Buffer.from(codec.encode(env));
    const decoded = codec.decode(frame);
    assert.deepEqual(plain(decoded), plain(env));
    if (c.handlerError !== undefined)
      assertThrowsCode(() => validateBody(decoded), c.handlerError, c.name);
    else validateBody(decoded);
    put(`compat/${c.name}.${encoding}.frame`, frame);
    putExpect(`compat/${c.name}.${encoding}.expect.json`, {
      description: c.description,
      encoding,
      envelope: env,
      ...(c.handlerError === undefined ? {} : { handlerError: c.handlerError }),
    });
  }
}

// chunked/: a whole transfer as a length-prefixed stream of params.chunk frames, out of order.
{
  const object = Buffer.from('llmwire chunked transfer test vector: 0123456789abcdefghij', 'utf8');
  const order = [2, 0, 1];
  for (const encoding of ENCODINGS) {
    const codec = createCodec({ encoding });
    const parts = splitIntoChunks(object, {
      partSize: 24,
      subject: 'params.demo',
      transfer: `demo-${encoding}`,
      base: { source: 'trainer-1' },
    }).map((p, i) => ({ ...p, id: nextId(), ts: TS + i, body: new Uint8Array(p.body!) }));
    const frames = order.map((i) => Buffer.from(codec.encode(parts[i]!)));
    const stream = Buffer.concat(frames.map((f) => writeFrame(f)));
    const assembler = new ChunkAssembler();
    let data: Uint8Array | undefined;
    for (const f of frames) {
      const r = assembler.accept(codec.decode(f));
      if (r.complete) data = r.data;
    }
    assert.ok(
      data !== undefined && Buffer.from(data).equals(object),
      'chunked transfer reassembles',
    );
    put(`chunked/transfer.${encoding}.stream`, stream);
    putExpect(`chunked/transfer.${encoding}.expect.json`, {
      description:
        'Three params.chunk frames of one transfer, each with a 4-byte big-endian length prefix, in the order part 2, part 0, part 1. After the first two a receiver resumes from part 1.',
      encoding,
      order,
      resumeFromAfterEach: [0, 1, 3],
      transfer: `demo-${encoding}`,
      object,
      parts,
    });
  }
}

// streams/: stream messages whose fields say more than the kinds/ samples (docs/protocol.md,
// "Coalesced items"): a request that accepts coalesced items, and a message carrying three; and
// the answer's other parts (docs/protocol.md, "inference.chunk"): tool calls, reasoning,
// refusal, stop sequences, and a request continued after failover.
const STREAMS = [
  {
    name: 'batch-request',
    description:
      'A streamed inference.request whose reader accepts up to 64 items per message (batch).',
    env: (): Envelope => ({ ...sample('inference.request'), id: nextId(), batch: 64 }),
  },
  {
    name: 'coalesced-items',
    description:
      "Items 2, 3 and 4 of a stream in one message: items = 3, seq = the last item's, body = their bodies in order.",
    env: (): Envelope => ({
      v: 1,
      id: nextId(),
      kind: 'inference.chunk',
      subject: CLIENT_INBOX,
      ts: TS + 140,
      source: 'worker-1',
      corr: REQUEST_ID,
      seq: 4,
      items: 3,
      body: [
        { text: ' le', index: 0, finish_reason: null },
        { text: ' monde', index: 0, finish_reason: null },
        { text: '!', index: 0, finish_reason: 'stop' },
      ],
    }),
  },
  {
    name: 'tools-request',
    description:
      'An inference.request with tools, a tool-call turn and its result in history (with the reasoning that led to it), a JSON-schema response format and a reasoning effort.',
    env: (): Envelope => ({
      ...sample('inference.request'),
      id: nextId(),
      body: {
        model: 'llama-3-8b',
        messages: [
          { role: 'user', content: 'Weather in Oslo?' },
          {
            role: 'assistant',
            content: null,
            reasoning: 'The user wants the weather; call the tool.',
            tool_calls: [
              {
                id: 'call_7f3a',
                type: 'function',
                function: { name: 'get_weather', arguments: '{"city":"Oslo"}' },
              },
            ],
          },
          { role: 'tool', tool_call_id: 'call_7f3a', content: '{"temp_c": 3}' },
        ],
        tools: [
          {
            type: 'function',
            function: {
              name: 'get_weather',
              description: 'Weather in a city',
              parameters: {
                type: 'object',
                properties: { city: { type: 'string' } },
                required: ['city'],
              },
            },
          },
        ],
        tool_choice: 'auto',
        parallel_tool_calls: true,
        response_format: {
          type: 'json_schema',
          json_schema: {
            name: 'report',
            schema: { type: 'object', properties: { summary: { type: 'string' } } },
          },
        },
        reasoning_effort: 'low',
        stream: true,
      },
    }),
  },
  {
    name: 'continued-request',
    description:
      'The request a gateway sends to a second worker after the first was lost mid-answer: the reasoning, text and partial tool call already sent to the client, to be continued, not repeated.',
    env: (): Envelope => ({
      ...sample('inference.request'),
      id: nextId(),
      body: {
        model: 'llama-3-8b',
        messages: [{ role: 'user', content: 'Weather in Oslo?' }],
        tools: [{ type: 'function', function: { name: 'get_weather' } }],
        reasoning_effort: 'low',
        stream: true,
        continue_reasoning: 'The user wants the weather;',
        continue_from: 'Let me look.',
        continue_tool_calls: [
          {
            id: 'call_7f3a',
            type: 'function',
            function: { name: 'get_weather', arguments: '{"ci' },
          },
        ],
      },
    }),
  },
  {
    name: 'tool-call-chunks',
    description:
      'A tool call streamed in two items: the first names the call (index, id, type, name), the second carries more of its arguments, which a reader concatenates by index.',
    env: (): Envelope => ({
      v: 1,
      id: nextId(),
      kind: 'inference.chunk',
      subject: CLIENT_INBOX,
      ts: TS + 150,
      source: 'worker-1',
      corr: REQUEST_ID,
      seq: 6,
      items: 2,
      body: [
        {
          text: '',
          tool_calls: [
            {
              index: 0,
              id: 'call_7f3a',
              type: 'function',
              function: { name: 'get_weather', arguments: '' },
            },
          ],
        },
        { text: '', tool_calls: [{ index: 0, function: { arguments: '{"city":"Oslo"}' } }] },
      ],
    }),
  },
  {
    name: 'reasoning-chunk',
    description: 'Reasoning text, streamed before the answer it leads to.',
    env: (): Envelope => ({
      v: 1,
      id: nextId(),
      kind: 'inference.chunk',
      subject: CLIENT_INBOX,
      ts: TS + 130,
      source: 'worker-1',
      corr: REQUEST_ID,
      seq: 1,
      body: { text: '', reasoning: 'The user greets in French; answer in kind.' },
    }),
  },
  {
    name: 'refusal-chunk',
    description: 'Refusal text: the model declines, in place of an answer.',
    env: (): Envelope => ({
      v: 1,
      id: nextId(),
      kind: 'inference.chunk',
      subject: CLIENT_INBOX,
      ts: TS + 130,
      source: 'worker-1',
      corr: REQUEST_ID,
      seq: 1,
      body: { text: '', refusal: 'I can’t help with that.' },
    }),
  },
  {
    name: 'tool-calls-result',
    description:
      'The whole answer to a non-streamed request that called a tool after reasoning: the joined tool calls, the reasoning text, and reasoning tokens in usage.',
    env: (): Envelope => ({
      ...sample('inference.result'),
      id: nextId(),
      body: {
        model: 'llama-3-8b',
        text: '',
        reasoning: 'The user wants the weather; call the tool.',
        tool_calls: [
          {
            id: 'call_7f3a',
            type: 'function',
            function: { name: 'get_weather', arguments: '{"city":"Oslo"}' },
          },
        ],
        finish_reason: 'tool_calls',
        usage: { prompt_tokens: 31, completion_tokens: 22, total_tokens: 53, reasoning_tokens: 12 },
        worker: 'worker-1',
      },
    }),
  },
  {
    name: 'stop-sequence-result',
    description:
      'The final message of a stream that a stop sequence ended: finish_reason stop, and which sequence (it is not part of the text).',
    env: (): Envelope => ({
      ...sample('inference.result'),
      id: nextId(),
      body: {
        model: 'llama-3-8b',
        text: '',
        finish_reason: 'stop',
        stop_sequence: '\n\n',
        usage: { prompt_tokens: 18, completion_tokens: 9, total_tokens: 27 },
      },
    }),
  },
];

for (const c of STREAMS) {
  const env = c.env();
  validateBody(env);
  for (const encoding of ENCODINGS) {
    const codec = createCodec({ encoding });
    const frame: Buffer = Buffer.from(codec.encode(env));
    assert.deepEqual(plain(codec.decode(frame)), plain(env), `${c.name} ${encoding} round trip`);
    put(`streams/${c.name}.${encoding}.frame`, frame);
    putExpect(`streams/${c.name}.${encoding}.expect.json`, {
      description: c.description,
      encoding,
      envelope: env,
    });
  }
}

let count = 0;
const walk = (dir: string): void => {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.isDirectory()) walk(join(dir, e.name));
    else count++;
  }
};
walk(OUT);
console.log(`wrote ${count} files under ${OUT}`);
