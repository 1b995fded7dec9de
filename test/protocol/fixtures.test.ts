// Golden fixtures of protocol v1 (docs/protocol.md, "Test vectors"). Every file under
// test/fixtures/v1 is mapped to a case here, and a file that maps to none fails the run: plain
// frames must decode to their expected envelope and re-encode byte for byte, sealed frames must
// open with their keys and show the documented intermediate steps, invalid frames must be
// refused with their error code.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  createDecipheriv,
  createHash,
  createHmac,
  createPublicKey,
  verify as edVerify,
} from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { Packr } from 'msgpackr';
import { ChunkAssembler } from '../../src/codec/chunking.js';
import { createCodec, type Encoding } from '../../src/codec/codec.js';
import { FrameReader, writeFrame } from '../../src/codec/framing.js';
import { signingInput } from '../../src/codec/security/signing.js';
import {
  isErrorCode,
  KINDS,
  validateBody,
  WireError,
  type Envelope,
} from '../../src/protocol/index.js';
import {
  bytesOf,
  codecOptions,
  revive,
  toJson,
  type CodecSpec,
  type Json,
} from './vector-codec.js';

// ---------------------------------------------------------------------------------------------
// Finding and classifying the files.

function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      const { name } = JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string };
      if (name === 'llmwire') return dir;
    }
    const up = dirname(dir);
    if (up === dir) throw new Error('the llmwire package root was not found above this test');
    dir = up;
  }
}

const FIXTURES = join(findRoot(), 'test', 'fixtures', 'v1');

function listFiles(dir: string, prefix = ''): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const rel = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
    if (entry.isDirectory()) out.push(...listFiles(join(dir, entry.name), rel));
    else out.push(rel);
  }
  return out.sort();
}

type Category = 'kinds' | 'sealed' | 'invalid' | 'compat' | 'streams' | 'chunked';

/** The data file's suffix in each folder; its companion is always `.expect.json`. */
const DATA_SUFFIX: Record<Category, string> = {
  kinds: 'frame',
  sealed: 'frame',
  invalid: 'frame',
  compat: 'frame',
  streams: 'frame',
  chunked: 'stream',
};

const FILE_RE =
  /^(kinds|sealed|invalid|compat|streams|chunked)\/([a-z0-9][a-z0-9_.-]*)\.(json|msgpack)\.(frame|stream|expect\.json)$/;

interface Case {
  category: Category;
  name: string;
  encoding: Encoding;
  data?: string;
  expect?: string;
}

const files = listFiles(FIXTURES);
const cases = new Map<string, Case>();
const unmapped: string[] = [];
for (const file of files) {
  const m = FILE_RE.exec(file);
  if (m === null) {
    unmapped.push(`${file}: name matches no fixture pattern`);
    continue;
  }
  const category = m[1] as Category;
  const name = m[2]!;
  const encoding = m[3] as Encoding;
  const suffix = m[4]!;
  if (suffix !== 'expect.json' && suffix !== DATA_SUFFIX[category]) {
    unmapped.push(`${file}: a ${category} fixture is a .${DATA_SUFFIX[category]} file`);
    continue;
  }
  if (category === 'kinds' && !(KINDS as string[]).includes(name)) {
    unmapped.push(`${file}: '${name}' is not a kind of protocol v1`);
    continue;
  }
  const key = `${category}/${name}.${encoding}`;
  const c = cases.get(key) ?? { category, name, encoding };
  if (suffix === 'expect.json') c.expect = file;
  else c.data = file;
  cases.set(key, c);
}
for (const [key, c] of cases) {
  if (c.data === undefined) unmapped.push(`${key}: expect file without its data file`);
  if (c.expect === undefined) unmapped.push(`${key}: data file without its expect file`);
}
const complete = [...cases.values()].filter((c) => c.data !== undefined && c.expect !== undefined);
const ofCategory = (category: Category) => complete.filter((c) => c.category === category);

// ---------------------------------------------------------------------------------------------
// Expect files: JSON, with bytes as {"$bytes": "<base64>"}.

interface Expect {
  description: string;
  encoding: Encoding;
  codec?: CodecSpec;
  reproducible?: boolean;
  frame?: Json;
  intermediate?: { bodyBytes: Json; compressed?: Json; aad?: string; signingInput?: string };
  envelope?: Json;
  error?: { code: string };
  handlerError?: string;
  order?: number[];
  resumeFromAfterEach?: number[];
  transfer?: string;
  object?: Json;
  parts?: Json[];
}

function readData(c: Case): Buffer {
  return readFileSync(join(FIXTURES, c.data!));
}

function readExpect(c: Case): Expect {
  const expect = JSON.parse(readFileSync(join(FIXTURES, c.expect!), 'utf8')) as Expect;
  assert.equal(typeof expect.description, 'string', `${c.expect} has a description`);
  assert.equal(expect.encoding, c.encoding, `${c.expect} names the encoding of its file name`);
  return expect;
}

// ---------------------------------------------------------------------------------------------
// Independent readings of frames, to compare the codec against.

const packr = new Packr({ useRecords: false, variableMapSize: true, moreTypes: false });

/** The frame's members as sent, with `payload` as bytes in both encodings. */
function rawRecord(frame: Buffer, encoding: Encoding): Record<string, unknown> {
  if (encoding === 'json') {
    const record = JSON.parse(frame.toString('utf8')) as Record<string, unknown>;
    if (typeof record.payload === 'string') {
      record.payload = new Uint8Array(Buffer.from(record.payload, 'base64url'));
    }
    return record;
  }
  return packr.unpack(frame) as Record<string, unknown>;
}

/**
 * MessagePack as docs/protocol.md ("MessagePack encoding") specifies it: the smallest format
 * for each value, integers from -2^31 to 2^32-1 as MessagePack ints, every other number as
 * float 64, maps in member order.
 */
function msgpackOf(value: unknown): Buffer {
  const sized = (length: number, tags: [number, number, number]) => {
    if (length < 0x100) return Buffer.from([tags[0], length]);
    const head = Buffer.alloc(length < 0x10000 ? 3 : 5);
    head[0] = length < 0x10000 ? tags[1] : tags[2];
    if (length < 0x10000) head.writeUInt16BE(length, 1);
    else head.writeUInt32BE(length, 1);
    return head;
  };
  const counted = (n: number, fix: number, tag16: number, tag32: number) => {
    if (n < 16) return Buffer.from([fix | n]);
    const head = Buffer.alloc(n < 0x10000 ? 3 : 5);
    head[0] = n < 0x10000 ? tag16 : tag32;
    if (n < 0x10000) head.writeUInt16BE(n, 1);
    else head.writeUInt32BE(n, 1);
    return head;
  };
  if (value === null) return Buffer.from([0xc0]);
  if (value === false) return Buffer.from([0xc2]);
  if (value === true) return Buffer.from([0xc3]);
  if (typeof value === 'number') {
    if (Number.isInteger(value) && value >= 0 && value < 2 ** 32) {
      if (value < 0x80) return Buffer.from([value]);
      if (value < 0x100) return Buffer.from([0xcc, value]);
      const b = Buffer.alloc(value < 0x10000 ? 3 : 5);
      b[0] = value < 0x10000 ? 0xcd : 0xce;
      if (value < 0x10000) b.writeUInt16BE(value, 1);
      else b.writeUInt32BE(value, 1);
      return b;
    }
    if (Number.isInteger(value) && value < 0 && value >= -(2 ** 31)) {
      if (value >= -32) return Buffer.from([value & 0xff]);
      if (value >= -128) return Buffer.from([0xd0, value & 0xff]);
      const b = Buffer.alloc(value >= -32768 ? 3 : 5);
      b[0] = value >= -32768 ? 0xd1 : 0xd2;
      if (value >= -32768) b.writeInt16BE(value, 1);
      else b.writeInt32BE(value, 1);
      return b;
    }
    const b = Buffer.alloc(9);
    b[0] = 0xcb;
    b.writeDoubleBE(value, 1);
    return b;
  }
  if (typeof value === 'string') {
    const utf8 = Buffer.from(value, 'utf8');
    const head =
      utf8.length < 32 ? Buffer.from([0xa0 | utf8.length]) : sized(utf8.length, [0xd9, 0xda, 0xdb]);
    return Buffer.concat([head, utf8]);
  }
  if (value instanceof Uint8Array) {
    return Buffer.concat([sized(value.length, [0xc4, 0xc5, 0xc6]), value]);
  }
  if (Array.isArray(value)) {
    return Buffer.concat([counted(value.length, 0x90, 0xdc, 0xdd), ...value.map(msgpackOf)]);
  }
  if (typeof value === 'object') {
    const entries = Object.entries(value);
    return Buffer.concat([
      counted(entries.length, 0x80, 0xde, 0xdf),
      ...entries.flatMap(([k, v]) => [msgpackOf(k), msgpackOf(v)]),
    ]);
  }
  throw new Error(`no MessagePack form for ${typeof value}`);
}

function sha256(bytes: Uint8Array): Buffer {
  return createHash('sha256').update(bytes).digest();
}

/** Byte comparison with a readable diff: text for JSON frames, hex for MessagePack. */
function assertSameBytes(
  actual: Uint8Array,
  expected: Uint8Array,
  encoding: Encoding,
  what: string,
) {
  const show = (b: Uint8Array) => Buffer.from(b).toString(encoding === 'json' ? 'utf8' : 'hex');
  assert.equal(show(actual), show(expected), what);
  assert.ok(Buffer.from(actual).equals(expected), what);
}

const reader = createCodec();

// ---------------------------------------------------------------------------------------------
// The map itself.

test('fixtures - every file under test/fixtures/v1 maps to a case', () => {
  assert.ok(files.length > 0, `no fixtures found in ${FIXTURES}`);
  assert.deepEqual(unmapped, []);
});

test('fixtures - every kind of protocol v1 has a fixture in both encodings', () => {
  const have = new Set(ofCategory('kinds').map((c) => `${c.name}.${c.encoding}`));
  const missing = KINDS.flatMap((kind) =>
    (['json', 'msgpack'] as const).map((e) => `${kind}.${e}`).filter((k) => !have.has(k)),
  );
  assert.deepEqual(missing, []);
});

test('fixtures - the named seal and refusal vectors exist in both encodings', () => {
  const need = [
    ...['gzip', 'br', 'sum', 'a256gcm', 'hs256', 'ed25519'].map((n) => `sealed/${n}`),
    ...['tampered-ciphertext', 'bad-signature', 'wrong-version', 'bad-sum', 'truncated'].map(
      (n) => `invalid/${n}`,
    ),
  ];
  const have = new Set(complete.map((c) => `${c.category}/${c.name}.${c.encoding}`));
  const missing = need.flatMap((n) => [`${n}.json`, `${n}.msgpack`]).filter((k) => !have.has(k));
  assert.deepEqual(missing, []);
});

// ---------------------------------------------------------------------------------------------
// kinds/: plain frames.

for (const c of ofCategory('kinds')) {
  test(`kinds - ${c.name} (${c.encoding}) decodes to its envelope and re-encodes byte for byte`, () => {
    const frame = readData(c);
    const expect = readExpect(c);
    assert.equal(frame[0] === 0x7b, c.encoding === 'json', 'the first byte tells the encoding');
    const decoded = reader.decode(frame);
    assert.equal(decoded.kind, c.name);
    assert.deepEqual(toJson(decoded), expect.envelope);
    validateBody(decoded);
    const again = createCodec({ encoding: c.encoding }).encode(revive(expect.envelope) as Envelope);
    assertSameBytes(again, frame, c.encoding, 'encode(expected envelope) gives the frame');
  });
}

test('fixtures - MessagePack frames follow the byte rules of the specification', () => {
  const frames = complete.filter(
    (c) =>
      c.encoding === 'msgpack' && ['kinds', 'sealed', 'compat', 'streams'].includes(c.category),
  );
  assert.ok(frames.length > 0);
  for (const c of frames) {
    const frame = readData(c);
    assert.equal(
      msgpackOf(rawRecord(frame, 'msgpack')).toString('hex'),
      frame.toString('hex'),
      c.data,
    );
  }
});

test('fixtures - JSON frames are compact JSON.stringify output in member order', () => {
  const frames = complete.filter(
    (c) => c.encoding === 'json' && ['kinds', 'sealed', 'compat', 'streams'].includes(c.category),
  );
  assert.ok(frames.length > 0);
  for (const c of frames) {
    const frame = readData(c);
    assert.equal(
      JSON.stringify(JSON.parse(frame.toString('utf8'))),
      frame.toString('utf8'),
      c.data,
    );
  }
});

// ---------------------------------------------------------------------------------------------
// sealed/: transformed bodies.

for (const c of ofCategory('sealed')) {
  test(`sealed - ${c.name} (${c.encoding}) opens with its keys through the documented steps`, () => {
    const frame = readData(c);
    const expect = readExpect(c);
    const raw = rawRecord(frame, c.encoding);
    assert.deepEqual(toJson(raw), expect.frame, 'frame members as documented');

    const codec = createCodec(codecOptions(expect.codec, c.encoding));
    assert.deepEqual(toJson(codec.decode(frame)), expect.envelope);

    // The steps, undone one by one without the codec: signature, sum, decryption, decompression.
    const inter = expect.intermediate!;
    const payload = Buffer.from(raw.payload as Uint8Array);
    const sig = raw.sig as { alg: string; kid: string; value: string } | undefined;
    if (sig !== undefined) {
      const text = inter.signingInput!;
      assert.equal(signingInput(raw as unknown as Envelope, payload).toString('utf8'), text);
      const key = expect.codec!.signing!.keys.find((k) => k.kid === sig.kid)!;
      if (sig.alg === 'HS256') {
        const mac = createHmac('sha256', bytesOf(key.secret, 'secret')).update(text).digest();
        assert.equal(mac.toString('base64url'), sig.value);
      } else {
        const pub = createPublicKey({ key: { ...key.jwk, d: undefined }, format: 'jwk' });
        assert.ok(edVerify(null, Buffer.from(text), pub, Buffer.from(sig.value, 'base64url')));
      }
    }
    if (raw.sum !== undefined) {
      assert.equal(raw.sum, `sha256:${sha256(payload).toString('base64url')}`);
    }
    let bytes = payload;
    const enc = raw.enc as { kid: string; iv: string; tag: string } | undefined;
    if (enc !== undefined) {
      assert.equal(inter.aad, `llmwire/1\n${String(raw.id)}\n${String(raw.kind)}`);
      const key = bytesOf(expect.codec!.encryption!.keys[enc.kid], enc.kid);
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(enc.iv, 'base64url'));
      decipher.setAAD(Buffer.from(inter.aad));
      decipher.setAuthTag(Buffer.from(enc.tag, 'base64url'));
      bytes = Buffer.concat([decipher.update(bytes), decipher.final()]);
    }
    if (raw.zip !== undefined) {
      assert.ok(bytes.equals(bytesOf(inter.compressed, 'compressed')), 'compressed bytes');
      bytes = raw.zip === 'gzip' ? gunzipSync(bytes) : brotliDecompressSync(bytes);
    }
    assert.ok(bytes.equals(bytesOf(inter.bodyBytes, 'bodyBytes')), 'body bytes');

    if (expect.reproducible === true) {
      const again = codec.encode(revive(expect.envelope) as Envelope);
      assertSameBytes(again, frame, c.encoding, 'encode(expected envelope) gives the frame');
    }
  });
}

// ---------------------------------------------------------------------------------------------
// invalid/: frames to refuse.

for (const c of ofCategory('invalid')) {
  test(`invalid - ${c.name} (${c.encoding}) is refused with its error code`, () => {
    const frame = readData(c);
    const expect = readExpect(c);
    const code = expect.error?.code;
    assert.ok(isErrorCode(code), `${c.expect} names a known error code`);
    const codec = createCodec(codecOptions(expect.codec, c.encoding));
    assert.throws(
      () => codec.decode(frame),
      (err: unknown) => {
        assert.ok(err instanceof WireError, `a WireError, got ${String(err)}`);
        assert.equal(err.code, code);
        return true;
      },
    );
  });
}

// ---------------------------------------------------------------------------------------------
// compat/: what a newer peer may send.

for (const c of ofCategory('compat')) {
  test(`compat - ${c.name} (${c.encoding}) decodes, keeps what it does not know, and re-encodes`, () => {
    const frame = readData(c);
    const expect = readExpect(c);
    const decoded = reader.decode(frame);
    assert.deepEqual(toJson(decoded), expect.envelope);
    if (expect.handlerError === undefined) validateBody(decoded);
    else {
      assert.throws(
        () => validateBody(decoded),
        (err: unknown) => err instanceof WireError && err.code === expect.handlerError,
      );
    }
    const again = createCodec({ encoding: c.encoding }).encode(revive(expect.envelope) as Envelope);
    assertSameBytes(again, frame, c.encoding, 'encode(expected envelope) gives the frame');
  });
}

// ---------------------------------------------------------------------------------------------
// streams/: a request accepting coalesced items, and a coalesced message.

for (const c of ofCategory('streams')) {
  test(`streams - ${c.name} (${c.encoding}) decodes, passes its checks and re-encodes`, () => {
    const frame = readData(c);
    const expect = readExpect(c);
    const decoded = reader.decode(frame);
    assert.deepEqual(toJson(decoded), expect.envelope);
    validateBody(decoded);
    const items = decoded.items;
    if (items !== undefined) {
      assert.ok(Array.isArray(decoded.body) && decoded.body.length === items);
      assert.ok((decoded.seq ?? 0) - items + 1 >= 1, 'first item has seq >= 1');
      assert.throws(
        () => validateBody({ ...decoded, items: items + 1 }),
        (err: unknown) => err instanceof WireError && err.code === 'invalid_message',
      );
    }
    const again = createCodec({ encoding: c.encoding }).encode(revive(expect.envelope) as Envelope);
    assertSameBytes(again, frame, c.encoding, 'encode(expected envelope) gives the frame');
  });
}

// ---------------------------------------------------------------------------------------------
// chunked/: a whole transfer as a length-prefixed stream.

for (const c of ofCategory('chunked')) {
  test(`chunked - ${c.name} (${c.encoding}) splits into frames and reassembles out of order`, () => {
    const stream = readData(c);
    const expect = readExpect(c);
    const frameReader = new FrameReader(reader.maxFrameBytes);
    const frames: Uint8Array[] = [];
    for (let at = 0; at < stream.length; at += 7) {
      frames.push(...frameReader.push(stream.subarray(at, at + 7)));
    }
    assert.equal(frameReader.pendingBytes, 0);
    assert.ok(Buffer.concat(frames.map((f) => writeFrame(f))).equals(stream), 'framing round trip');

    const parts = frames.map((f) => reader.decode(f));
    assert.deepEqual(
      parts.map((p) => p.chunk?.index),
      expect.order,
    );
    const byIndex = [...parts].sort((a, b) => a.chunk!.index - b.chunk!.index);
    assert.deepEqual(toJson(byIndex), expect.parts);

    // Reassembly by hand: every part checked against its sum and placed at its offset.
    const object = bytesOf(expect.object, 'object');
    const rebuilt = Buffer.alloc(object.length);
    for (const p of byIndex) {
      const info = p.chunk!;
      const body = p.body as Uint8Array;
      assert.equal(info.transfer, expect.transfer);
      assert.equal(info.size, object.length);
      assert.equal(info.total, byIndex.length);
      assert.equal(info.partSum, `sha256:${sha256(body).toString('base64url')}`);
      assert.equal(info.objectSum, `sha256:${sha256(object).toString('base64url')}`);
      rebuilt.set(body, info.offset);
    }
    assert.ok(rebuilt.equals(object));

    const assembler = new ChunkAssembler();
    const resumes: number[] = [];
    let data: Uint8Array | undefined;
    for (const p of parts) {
      const result = assembler.accept(p);
      if (result.complete) data = result.data;
      resumes.push(assembler.resumeFrom(expect.transfer!));
    }
    assert.deepEqual(resumes, expect.resumeFromAfterEach);
    assert.ok(data !== undefined && Buffer.from(data).equals(object), 'the assembler rebuilds it');
  });
}
