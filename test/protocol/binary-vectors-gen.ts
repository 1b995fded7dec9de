// Writes the golden vectors of the binary encoding, version 2, to test/fixtures/binary/v2
// (docs/protocol.md, "Binary encoding" and "Test vectors"). Messages are those of the v1
// vectors (test/fixtures/v1), so each binary frame has a JSON twin there; `inference.chunk` is
// also spelled out byte by byte from the specification, independently of the codec; sealed
// frames are the v1 MessagePack frames forwarded unopened in the binary encoding, so their
// signatures (made over the v1 frame) must verify on the binary one.
//
// Regenerate: npx tsc -p . && node dist/test/protocol/binary-vectors-gen.js
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createCodec } from '../../src/codec/codec.js';
import { KINDS, type Envelope } from '../../src/protocol/index.js';
import { codecOptions, revive, toJson, type CodecSpec, type Json } from './vector-codec.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const V1 = join(ROOT, 'test', 'fixtures', 'v1');
const OUT = join(ROOT, 'test', 'fixtures', 'binary', 'v2');

interface V1Expect {
  description: string;
  envelope?: Json;
  codec?: CodecSpec;
}

function v1(path: string): V1Expect {
  return JSON.parse(readFileSync(join(V1, path), 'utf8')) as V1Expect;
}

function write(category: string, name: string, frame: Uint8Array, expect: object): void {
  const dir = join(OUT, category);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${name}.frame`), frame);
  writeFileSync(join(dir, `${name}.expect.json`), JSON.stringify(expect, null, 2) + '\n');
}

const binary = createCodec({ encoding: 'binary' });

if (existsSync(OUT)) rmSync(OUT, { recursive: true });

// kinds/, streams/, compat/: the envelopes of the v1 JSON vectors, written in binary.
const plain: [string, string[]][] = [
  ['kinds', KINDS],
  [
    'streams',
    readdirSync(join(V1, 'streams'))
      .filter((f) => f.endsWith('.json.frame'))
      .map((f) => f.slice(0, -'.json.frame'.length)),
  ],
  [
    'compat',
    readdirSync(join(V1, 'compat'))
      .filter((f) => f.endsWith('.json.frame'))
      .map((f) => f.slice(0, -'.json.frame'.length)),
  ],
];
for (const [category, names] of plain) {
  for (const name of names) {
    const source = v1(`${category}/${name}.json.expect.json`);
    const env = revive(source.envelope) as Envelope;
    const frame = binary.encode(env);
    assert.deepEqual(toJson(binary.decode(frame)), source.envelope, `${category}/${name}`);
    write(category, name, frame, {
      description: `${source.description} Binary encoding, version 2; the JSON twin is test/fixtures/v1/${category}/${name}.json.frame.`,
      encoding: 'binary',
      envelope: source.envelope,
    });
  }
}

// The chunk again, spelled out from the specification: [hex, meaning] in frame order.
const chunk = v1('kinds/inference.chunk.json.expect.json').envelope as Record<string, Json>;
const hex = (s: string) => Buffer.from(s).toString('hex');
/** Unsigned LEB128: seven bits a byte, low bits first, 0x80 on all but the last. */
function leb128(n: number): string {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
  return Buffer.from(out).toString('hex');
}
const uuid = (s: string) => s.replaceAll('-', '');
const spelled: [string, string][] = [
  ['c1', 'marker'],
  ['02', 'binary encoding version 2'],
  ['01', 'v = 1'],
  [leb128(chunk.ts as number), `ts = ${chunk.ts as number} (varint)`],
  ['00' + uuid(chunk.id as string), 'id: 0x00, then the 16 bytes of the UUID'],
  ['02', 'kind code 2: inference.chunk'],
  ['13' + hex(chunk.subject as string), 'subject: length 19, UTF-8'],
  ['01', 'field id 1: source'],
  ['08' + hex(chunk.source as string), 'length 8, UTF-8'],
  ['02', 'field id 2: corr'],
  ['00' + uuid(chunk.corr as string), '0x00, then the 16 bytes of the UUID'],
  ['08', 'field id 8: tenant'],
  ['04' + hex(chunk.tenant as string), 'length 4, UTF-8'],
  ['09', 'field id 9: traceparent'],
  [
    (chunk.traceparent as string).replaceAll('-', ''),
    'version, trace id, parent id, flags: 26 bytes',
  ],
  ['0b', 'field id 11: seq'],
  ['01', 'seq = 1'],
  ['22', 'field id 34: inference.chunk body layout'],
  ['13', 'mask 0b00010011: text, index, finish_reason'],
  ['07' + hex('Bonjour'), 'text: length 7, UTF-8'],
  ['00', 'index = 0'],
  ['ff', 'finish_reason = null (code 0xff)'],
];
const byHand = Buffer.from(spelled.map(([h]) => h).join(''), 'hex');
const byCodec = readFileSync(join(OUT, 'kinds', 'inference.chunk.frame'));
assert.equal(byHand.toString('hex'), byCodec.toString('hex'), 'the chunk spelled out by hand');
const chunkExpect = JSON.parse(
  readFileSync(join(OUT, 'kinds', 'inference.chunk.expect.json'), 'utf8'),
) as object;
writeFileSync(
  join(OUT, 'kinds', 'inference.chunk.expect.json'),
  JSON.stringify({ ...chunkExpect, bytes: spelled }, null, 2) + '\n',
);

// sealed/: v1 MessagePack frames read unopened and forwarded in binary.
const unopened = createCodec({ open: false, encoding: 'binary' });
for (const file of readdirSync(join(V1, 'sealed')).filter((f) => f.endsWith('.msgpack.frame'))) {
  const name = file.slice(0, -'.msgpack.frame'.length);
  const source = v1(`sealed/${name}.msgpack.expect.json`);
  const sealed = unopened.decode(readFileSync(join(V1, 'sealed', file)));
  const frame = unopened.encode(sealed);
  const opened = createCodec(codecOptions(source.codec, 'binary')).decode(frame);
  assert.deepEqual(toJson(opened), source.envelope, `sealed/${name}`);
  write('sealed', name, frame, {
    description: `${source.description} The v1 MessagePack frame forwarded unopened in the binary encoding: same payload, same signature.`,
    encoding: 'binary',
    codec: source.codec,
    frame: toJson(sealed),
    envelope: source.envelope,
  });
}

// invalid/: frames to refuse, made by changing bytes of a valid one.
const base = Buffer.from(byCodec);
const at = (needle: string) => {
  const i = base.indexOf(Buffer.from(needle, 'hex'));
  assert.ok(i >= 0, needle);
  return i;
};
const splice = (i: number, remove: number, insert: string) =>
  Buffer.concat([base.subarray(0, i), Buffer.from(insert, 'hex'), base.subarray(i + remove)]);
const seqAt = at('0b0122');
const bodyAt = seqAt + 2;
const invalid: [string, string, Buffer, string][] = [
  [
    'truncated',
    'The frame cut in the middle of the body.',
    base.subarray(0, base.length - 3),
    'invalid_message',
  ],
  ['truncated-id', 'The frame cut inside the id.', base.subarray(0, 12), 'invalid_message'],
  ['marker-only', 'Only the marker byte.', base.subarray(0, 1), 'invalid_message'],
  [
    'encoding-version',
    'Binary encoding version 3, which this reader does not know.',
    splice(1, 1, '03'),
    'invalid_message',
  ],
  [
    'encoding-version-1',
    'Version byte 1 after the marker: binary version 1 frames are MessagePack maps and never start with 0xc1.',
    splice(1, 1, '01'),
    'invalid_message',
  ],
  [
    'protocol-version',
    'v = 2: a protocol version this reader does not speak.',
    splice(2, 1, '02'),
    'unsupported_version',
  ],
  ['protocol-version-zero', 'v = 0.', splice(2, 1, '00'), 'invalid_message'],
  [
    'unknown-field-id',
    'Field id 24, which version 2 does not define, before the body.',
    splice(bodyAt, 0, '1801'),
    'invalid_message',
  ],
  [
    'unknown-body-field-id',
    'Field id 36 where the body or payload would be.',
    splice(bodyAt, 1, '24'),
    'invalid_message',
  ],
  [
    'field-order',
    'seq (11) before traceparent (9): field ids out of order.',
    Buffer.concat([
      base.subarray(0, at('09' + (chunk.traceparent as string).replaceAll('-', '').slice(0, 8))),
      Buffer.from('0b01', 'hex'),
      base.subarray(
        at('09' + (chunk.traceparent as string).replaceAll('-', '').slice(0, 8)),
        seqAt,
      ),
      base.subarray(seqAt + 2),
    ]),
    'invalid_message',
  ],
  ['repeated-field', 'seq given twice.', splice(seqAt, 0, '0b01'), 'invalid_message'],
  [
    'long-varint',
    'seq = 1 written in two varint bytes (0x81 0x00): not the shortest form.',
    splice(seqAt + 1, 1, '8100'),
    'invalid_message',
  ],
  [
    'unknown-kind-code',
    'Kind code 14, which version 2 does not define.',
    splice(at('02' + '13'), 1, '0e'),
    'invalid_message',
  ],
  [
    'bad-utf8',
    'A text whose bytes are not UTF-8.',
    splice(at('07' + hex('Bonjour')) + 1, 2, 'c328'),
    'invalid_message',
  ],
  [
    'long-string',
    'A text length past the end of the frame.',
    splice(at('07' + hex('Bonjour')), 1, '7f'),
    'invalid_message',
  ],
  [
    'trailing-bytes',
    'Bytes after the body.',
    Buffer.concat([base, Buffer.from('00', 'hex')]),
    'invalid_message',
  ],
  [
    'bad-layout-member',
    'A chunk body mask naming member 6, which the layout does not define.',
    splice(bodyAt + 1, 1, '53'),
    'invalid_message',
  ],
  ['bad-enum-code', 'finish_reason code 9.', splice(base.length - 1, 1, '09'), 'invalid_message'],
  [
    'empty-subject',
    'A subject of length 0.',
    splice(at('13' + hex(chunk.subject as string)), 20, '00'),
    'invalid_message',
  ],
  ['prio-range', 'prio = 10 (field id 5).', splice(at('08' + '04'), 0, '050a'), 'invalid_message'],
  [
    'extra-named-field',
    'An extra member map (field id 23) naming seq, which has a field id.',
    splice(bodyAt, 0, '2306' + '81a373657101'),
    'invalid_message',
  ],
];
for (const [name, description, frame, code] of invalid) {
  assert.throws(
    () => binary.decode(frame),
    (err: { code?: string }) => err.code === code,
    name,
  );
  write('invalid', name, frame, { description, encoding: 'binary', error: { code } });
}
console.log(`wrote the binary v2 vectors to ${OUT}`);
