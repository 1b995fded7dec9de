// Golden vectors of the binary encoding, version 2 (docs/protocol.md, "Binary encoding"). Every
// file under test/fixtures/binary/v2 maps to a case here, and a file that maps to none fails the
// run: plain frames decode to their envelope and re-encode byte for byte, sealed frames open
// with their keys, invalid frames are refused with their error code.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createCodec } from '../../src/codec/codec.js';
import {
  isErrorCode,
  KINDS,
  validateBody,
  WireError,
  type Envelope,
} from '../../src/protocol/index.js';
import {
  codecOptions,
  revive,
  toJson,
  type CodecSpec,
  type Json,
} from '../protocol/vector-codec.js';

function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('the package root was not found above this test');
    dir = up;
  }
  return dir;
}

const FIXTURES = join(findRoot(), 'test', 'fixtures', 'binary', 'v2');
const CATEGORIES = ['kinds', 'streams', 'compat', 'sealed', 'invalid'] as const;
type Category = (typeof CATEGORIES)[number];
const FILE_RE = /^([a-z]+)\/([a-z0-9][a-z0-9_.-]*)\.(frame|expect\.json)$/;

interface Expect {
  description: string;
  encoding: string;
  envelope?: Json;
  codec?: CodecSpec;
  frame?: Json;
  error?: { code: string };
  bytes?: [string, string][];
}
const EXPECT_KEYS = new Set([
  'description',
  'encoding',
  'envelope',
  'codec',
  'frame',
  'error',
  'bytes',
]);

interface Case {
  category: Category;
  name: string;
  frame?: string;
  expect?: string;
}

const unmapped: string[] = [];
const cases = new Map<string, Case>();
const files = CATEGORIES.flatMap((c) =>
  existsSync(join(FIXTURES, c)) ? readdirSync(join(FIXTURES, c)).map((f) => `${c}/${f}`) : [],
);
for (const entry of readdirSync(FIXTURES)) {
  if (!(CATEGORIES as readonly string[]).includes(entry)) unmapped.push(`${entry}: not a category`);
}
for (const file of files) {
  const m = FILE_RE.exec(file);
  if (m === null) {
    unmapped.push(`${file}: name matches no fixture pattern`);
    continue;
  }
  const category = m[1] as Category;
  const name = m[2]!;
  if (category === 'kinds' && !(KINDS as string[]).includes(name)) {
    unmapped.push(`${file}: '${name}' is not a kind of protocol v1`);
    continue;
  }
  const key = `${category}/${name}`;
  const c = cases.get(key) ?? { category, name };
  if (m[3] === 'frame') c.frame = file;
  else c.expect = file;
  cases.set(key, c);
}
for (const [key, c] of cases) {
  if (c.frame === undefined) unmapped.push(`${key}: expect file without its frame`);
  if (c.expect === undefined) unmapped.push(`${key}: frame without its expect file`);
}
const complete = [...cases.values()].filter((c) => c.frame !== undefined && c.expect !== undefined);
const ofCategory = (category: Category) => complete.filter((c) => c.category === category);

function read(c: Case): { frame: Buffer; expect: Expect } {
  const frame = readFileSync(join(FIXTURES, c.frame!));
  const expect = JSON.parse(readFileSync(join(FIXTURES, c.expect!), 'utf8')) as Expect;
  assert.equal(typeof expect.description, 'string', `${c.expect} has a description`);
  assert.equal(expect.encoding, 'binary', `${c.expect} is a binary vector`);
  for (const key of Object.keys(expect)) assert.ok(EXPECT_KEYS.has(key), `${c.expect}: ${key}?`);
  return { frame, expect };
}

const reader = createCodec();
const writer = createCodec({ encoding: 'binary' });

test('binary vectors - every file under test/fixtures/binary/v2 maps to a case', () => {
  assert.ok(files.length > 0, `no fixtures found in ${FIXTURES}`);
  assert.deepEqual(unmapped, []);
});

test('binary vectors - every kind has a vector', () => {
  const have = new Set(ofCategory('kinds').map((c) => c.name));
  assert.deepEqual(
    KINDS.filter((k) => !have.has(k)),
    [],
  );
});

for (const category of ['kinds', 'streams', 'compat'] as const) {
  for (const c of ofCategory(category)) {
    test(`binary vectors - ${category}/${c.name} decodes to its envelope and re-encodes byte for byte`, () => {
      const { frame, expect } = read(c);
      assert.equal(frame[0], 0xc1, 'the marker byte');
      assert.equal(frame[1], 2, 'binary encoding version 2');
      const decoded = reader.decode(frame);
      assert.deepEqual(toJson(decoded), expect.envelope);
      if (category !== 'compat') validateBody(decoded);
      const again = writer.encode(revive(expect.envelope) as Envelope);
      assert.equal(Buffer.from(again).toString('hex'), frame.toString('hex'));
      if (expect.bytes !== undefined) {
        const spelled = expect.bytes.map(([hex]) => hex).join('');
        assert.equal(spelled, frame.toString('hex'), 'the frame spelled out field by field');
      }
    });
  }
}

for (const c of ofCategory('sealed')) {
  test(`binary vectors - sealed/${c.name} opens with its keys to its envelope`, () => {
    const { frame, expect } = read(c);
    const sealed = createCodec({ open: false }).decode(frame);
    assert.deepEqual(toJson(sealed), expect.frame, 'the frame members as sent');
    const opened = createCodec(codecOptions(expect.codec, 'binary')).decode(frame);
    assert.deepEqual(toJson(opened), expect.envelope);
    // Forwarded unopened, the frame comes back byte for byte.
    const again = createCodec({ open: false, encoding: 'binary' }).encode(sealed);
    assert.ok(Buffer.from(again).equals(frame));
  });
}

for (const c of ofCategory('invalid')) {
  test(`binary vectors - invalid/${c.name} is refused with its error code`, () => {
    const { frame, expect } = read(c);
    const code = expect.error?.code;
    assert.ok(isErrorCode(code), `${c.expect} names a known error code`);
    assert.throws(
      () => reader.decode(frame),
      (err: unknown) => {
        assert.ok(err instanceof WireError, `a WireError, got ${String(err)}`);
        assert.equal(err.code, code);
        return true;
      },
    );
  });
}
