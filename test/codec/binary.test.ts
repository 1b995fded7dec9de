// The binary encoding, version 2 (docs/protocol.md, "Binary encoding"): what it refuses to write
// and to read, what it keeps exactly (ids, member order, signatures), and that payload bytes are
// neither base64-encoded nor copied on the way in.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { markBinaryBody } from '../../src/codec/binary-body.js';
import { HEADER_TAGS, REQUIRED_FIELDS } from '../../src/codec/binary/format.js';
import { tagOf } from '../../src/codec/binary/header.js';
import { createCodec } from '../../src/codec/codec.js';
import { frameEncodingOf } from '../../src/codec/frame-encoding.js';
import { createSigning, signingInput } from '../../src/codec/security/signing.js';
import {
  createEnvelope,
  InvalidMessageError,
  WireError,
  type Envelope,
} from '../../src/protocol/index.js';

const binary = createCodec({ encoding: 'binary' });
const json = createCodec({ encoding: 'json' });

function chunk(body: unknown, extra: Partial<Envelope> = {}): Envelope {
  return createEnvelope({ kind: 'inference.chunk', subject: 'reply.1', body, ...extra });
}

function refusedAsInvalid(fn: () => unknown): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof InvalidMessageError, `InvalidMessageError, got ${String(err)}`);
    return true;
  });
}

test('binary - every truncation of every vector frame is an invalid_message, never a crash', () => {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
  const dir = join(root, 'test', 'fixtures', 'binary', 'v2');
  let tried = 0;
  for (const category of ['kinds', 'streams', 'compat', 'sealed']) {
    for (const file of readdirSync(join(dir, category)).filter((f) => f.endsWith('.frame'))) {
      const frame = readFileSync(join(dir, category, file));
      for (let n = 1; n < frame.length; n++) {
        assert.throws(
          () => createCodec({ open: false }).decode(frame.subarray(0, n)),
          (err: unknown) => err instanceof WireError && err.code === 'invalid_message',
          `${category}/${file} cut at ${n}`,
        );
        tried++;
      }
    }
  }
  assert.ok(tried > 1000, `${tried} truncations`);
});

test('binary - lone surrogates, deep nesting, __proto__ keys and huge integers are refused on write', () => {
  refusedAsInvalid(() => binary.encode(chunk({ text: 'cut \ud83d' })));
  refusedAsInvalid(() => binary.encode(chunk({ text: 'ok' }, { source: 'w\udc00' })));
  refusedAsInvalid(() => binary.encode(chunk({ text: 'ok', tool_calls: ['\ud800'] })));
  let deep: unknown = 'leaf';
  for (let i = 0; i < 70; i++) deep = [deep];
  refusedAsInvalid(() => binary.encode(chunk({ text: 'ok', usage: deep })));
  const proto = JSON.parse('{"text":"ok","x":{"__proto__":1}}') as unknown;
  refusedAsInvalid(() => binary.encode(chunk(proto)));
  refusedAsInvalid(() => binary.encode(chunk({ text: 'ok' }, { seq: 2 ** 53 })));
  refusedAsInvalid(() => binary.encode(chunk({ text: 'ok' }, { prio: '5' as unknown as number })));
  refusedAsInvalid(() => binary.encode(chunk({ text: 'ok' }, { traceparent: 'nope' })));
});

test('binary - ids keep their exact text, compact or not', () => {
  for (const id of [
    '019b76da-a800-7000-8000-000000000001',
    '019B76DA-A800-7000-8000-000000000001',
    '019b76da-a800-7000-8000-00000000000g',
    'req-42',
    'é',
  ]) {
    const env = chunk({ text: '' }, { id, corr: id });
    const back = binary.decode(binary.encode(env));
    assert.equal(back.id, id);
    assert.equal(back.corr, id);
  }
  // The same 16 bytes as text and as a UUID, one after the other: a repeated field's memo must
  // tell the forms apart.
  for (const corr of [
    '0123456789abcdef',
    '30313233-3435-3637-3839-616263646566',
    '0123456789abcdef',
  ]) {
    assert.equal(binary.decode(binary.encode(chunk({ text: '' }, { corr }))).corr, corr);
  }
  const uuid = chunk({ text: '' }, { id: '019b76da-a800-7000-8000-000000000001' });
  const upper = chunk({ text: '' }, { id: '019B76DA-A800-7000-8000-000000000001' });
  assert.equal(binary.encode(upper).length - binary.encode(uuid).length, 36 - 16);
});

test('binary - body members keep their order when the fixed layout stops applying', () => {
  for (const body of [
    { text: 'a', index: 0, finish_reason: null },
    { index: 1, text: 'b' },
    { text: 'c', tool_calls: [{ index: 0 }], index: 2 },
    { text: 'd', finish_reason: 'other', usage: { total_tokens: 1 } },
    { text: 7 },
    [{ text: 'coalesced' }],
  ]) {
    const back = binary.decode(binary.encode(chunk(body))).body;
    assert.equal(JSON.stringify(back), JSON.stringify(body));
  }
  const request = createEnvelope({
    kind: 'inference.request',
    subject: 'llm.infer.m',
    body: {
      model: 'm',
      messages: [
        { role: 'system', content: 'be brief' },
        { role: 'user', content: [{ type: 'text', text: 'hi' }], name: 'u' },
        { role: 'assistant', content: null, tool_calls: [] },
      ],
      temperature: null,
      max_tokens: 5,
      stream: true,
    },
  });
  const back = binary.decode(binary.encode(request)).body;
  assert.equal(JSON.stringify(back), JSON.stringify(request.body));
});

test('binary - a signature made over one encoding verifies on the other', () => {
  const signing = createSigning([{ alg: 'HS256', kid: 'k', secret: randomBytes(32) }]);
  const sender = createCodec({ encoding: 'json', signing: { ...signing, replay: false } });
  const receiver = createCodec({ signing: { ...signing, replay: false } });
  const env = chunk({ text: 'signed' }, { corr: '019b76da-a800-7000-8000-000000000001', seq: 3 });
  const sealed = createCodec({ open: false }).decode(sender.encode(env));
  const asBinary = createCodec({ open: false, encoding: 'binary' }).encode(sealed);
  assert.equal(asBinary[0], 0xc1);
  const resealed = createCodec({ open: false }).decode(asBinary);
  assert.equal(
    signingInput(resealed, resealed.payload!).toString(),
    signingInput(sealed, sealed.payload!).toString(),
  );
  assert.deepEqual(receiver.decode(asBinary).body, { text: 'signed' });
});

test('binary - an answer to a binary frame is written in binary by a JSON codec', () => {
  const request = binary.decode(binary.encode(chunk({ text: 'q' })));
  assert.equal(frameEncodingOf(json.decode(binary.encode(request))), 'binary');
  const read = json.decode(binary.encode(request));
  assert.equal(json.encode(read)[0], 0xc1);
});

test('binary - a marked byte body travels without base64 and is read in place', () => {
  const bytes = markBinaryBody(new Uint8Array(randomBytes(1024 * 1024)));
  const env = createEnvelope({ kind: 'params.chunk', subject: 'params.r', body: bytes });
  const frame = json.encode(env);
  assert.equal(frame[0], 0xc1, 'a JSON codec writes a marked body in a binary frame');
  assert.ok(frame.length < bytes.length + 100);
  const body = json.decode(frame).body as Uint8Array;
  assert.ok(Buffer.from(body).equals(bytes));
  assert.equal(body.buffer, frame.buffer, 'the body is a view of the frame, not a copy');
});

test('binary - a frame with an unknown field id or a bad length is refused, never crashes', () => {
  const frame = Buffer.from(binary.encode(chunk({ text: 'x' }, { seq: 1 })));
  const bodyAt = frame.indexOf(0x22, 20);
  for (const id of [0x00, 0x18, 0x1f, 0x24, 0xff]) {
    const bad = Buffer.concat([
      frame.subarray(0, bodyAt),
      Buffer.from([id, 1]),
      frame.subarray(bodyAt),
    ]);
    refusedAsInvalid(() => binary.decode(bad));
  }
  const payload = Buffer.from(
    binary.encode(createEnvelope({ kind: 'params.chunk', subject: 's', body: new Uint8Array(4) })),
  );
  refusedAsInvalid(() => binary.decode(payload.subarray(0, payload.length - 1)));
  refusedAsInvalid(() => binary.decode(Buffer.concat([payload, Buffer.from([0])])));
});

test('binary - fields repeated along a stream are written from memory only while they repeat', () => {
  // The writer keeps the last subject, source, corr, replyTo and tenant with their bytes; each
  // frame must still carry its own values, byte for byte as written with nothing remembered
  // (after a decoy frame whose every repeated field differs).
  const decoy = chunk(
    { text: '' },
    { corr: 'decoy', subject: 'decoy', source: 'decoy', tenant: 'decoy', replyTo: 'decoy' },
  );
  const cold = (env: Envelope) => {
    binary.encode(decoy);
    return Buffer.from(binary.encode(env));
  };
  const frames: Envelope[] = [];
  for (const [i, corr] of [
    '019b76da-a800-7000-8000-000000000001',
    '019b76da-a800-7000-8000-000000000001',
    'req-1',
    'req-1',
    '019b76da-a800-7000-8000-000000000002',
  ].entries()) {
    frames.push(
      chunk(
        { text: `t${i}` },
        {
          corr,
          subject: i < 2 ? 'reply.1' : 'reply.2',
          source: i % 2 === 0 ? 'w1' : 'w2',
          tenant: 'acme',
          replyTo: i < 3 ? 'inbox.a' : 'inbox.é',
        },
      ),
    );
  }
  for (const env of frames) {
    const bytes = binary.encode(env); // right after the previous frame of the list
    assert.ok(Buffer.from(bytes).equals(cold(env)), `frame of ${env.corr} as written cold`);
    const back = binary.decode(bytes);
    for (const field of ['corr', 'subject', 'source', 'tenant', 'replyTo'] as const) {
      assert.equal(back[field], env[field], field);
    }
  }
});

test('binary - the field id of each header member matches the format tables', () => {
  for (const [name, tag] of HEADER_TAGS) assert.equal(tagOf(name), tag, name);
  for (const name of [...REQUIRED_FIELDS, 'body', 'payload']) assert.ok(tagOf(name) < 0, name);
  for (const name of ['extraMember', '__proto__', 'constructor', '']) {
    assert.equal(tagOf(name), 0, name);
  }
});
