// Codec round trips and the typed errors a decoder gives for frames it must refuse: every kind
// in both encodings, compression, version and size limits, malformed frames, body schemas.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Packr } from 'msgpackr';
import { createCodec, type Codec, type Encoding } from '../../src/codec/codec.js';
import {
  createEnvelope,
  InvalidMessageError,
  KINDS,
  PayloadTooLargeError,
  UnknownKindError,
  UnsupportedVersionError,
  validateBody,
  WireError,
  type Envelope,
} from '../../src/protocol/index.js';

const packr = new Packr({ useRecords: false, variableMapSize: true, moreTypes: false });
const ENCODINGS: Encoding[] = ['json', 'msgpack'];

/** A valid body for every kind the protocol knows. */
const SAMPLES: Record<string, unknown> = {
  'inference.request': {
    model: 'llama-3-8b',
    messages: [{ role: 'user', content: 'Hello, how are you? — ünïcödé 🚀' }],
    temperature: 0.7,
    max_tokens: 64,
    stream: true,
  },
  'inference.chunk': { text: 'Hel', index: 0, finish_reason: null },
  'inference.result': {
    model: 'llama-3-8b',
    text: 'Hello!',
    finish_reason: 'stop',
    usage: { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 },
  },
  'embedding.request': { model: 'bge-small', input: ['a', 'b'] },
  'embedding.result': {
    model: 'bge-small',
    data: [{ index: 0, embedding: [0.25, -0.5, 1e-7] }],
    usage: { prompt_tokens: 2, total_tokens: 2 },
  },
  'training.batch': { run: 'r1', step: 3, examples: [{ input: 'x', target: 'y', weight: 1 }] },
  'params.chunk': new Uint8Array([0, 1, 2, 250, 255]),
  'control.cancel': { reason: 'client went away' },
  'control.credit': { credits: 16 },
  heartbeat: { worker: 'w1', status: 'ready', models: ['m'], capacity: 4, inflight: 1 },
  metric: { name: 'llmwire_ttft_seconds', value: 0.125, type: 'histogram', labels: { m: 'x' } },
  event: { type: 'worker.joined', data: { worker: 'w1' } },
  error: { code: 'overloaded', message: 'try later', retryable: true },
};

function envelopeOf(kind: string, body: unknown): Envelope {
  return createEnvelope({
    kind,
    subject: `test.${kind}`,
    body,
    corr: 'c-1',
    prio: 5,
    key: 'session-1',
    tenant: 'acme',
    traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    headers: { 'x-a': 'b' },
  });
}

/** The raw header record of a frame, as a peer would see it before opening. */
function rawRecord(frame: Uint8Array): Record<string, unknown> {
  if (frame[0] === 0x7b) return JSON.parse(Buffer.from(frame).toString('utf8'));
  return packr.unpack(frame) as Record<string, unknown>;
}

function writeRecord(record: Record<string, unknown>, encoding: Encoding): Uint8Array {
  return encoding === 'json' ? Buffer.from(JSON.stringify(record)) : packr.pack(record);
}

function assertSameBody(actual: unknown, expected: unknown): void {
  if (expected instanceof Uint8Array) {
    assert.ok(actual instanceof Uint8Array);
    assert.deepEqual(Buffer.from(actual), Buffer.from(expected));
  } else {
    assert.deepEqual(actual, expected);
  }
}

test('codec - the samples cover every kind the protocol knows', () => {
  assert.deepEqual(Object.keys(SAMPLES).sort(), [...KINDS].sort());
  for (const kind of KINDS) validateBody(envelopeOf(kind, SAMPLES[kind]));
});

for (const encoding of ENCODINGS) {
  test(`codec - round-trips every kind in ${encoding}`, () => {
    const codec = createCodec({ encoding });
    for (const [kind, body] of Object.entries(SAMPLES)) {
      const env = envelopeOf(kind, body);
      const frame = codec.encode(env);
      assert.equal(frame[0] === 0x7b, encoding === 'json', 'frame is in the codec encoding');
      const back = codec.decode(frame);
      const { body: b, ...header } = back;
      const { body: _e, ...expectedHeader } = env;
      assert.deepEqual(header, expectedHeader, kind);
      assertSameBody(b, body);
      validateBody(back);
    }
  });

  test(`codec - a ${encoding} codec reads frames of the other encoding`, () => {
    const other = createCodec({ encoding: encoding === 'json' ? 'msgpack' : 'json' });
    const env = envelopeOf('inference.chunk', SAMPLES['inference.chunk']);
    assert.deepEqual(createCodec({ encoding }).decode(other.encode(env)), env);
  });

  for (const algorithm of ['gzip', 'br'] as const) {
    test(`codec - compresses ${encoding} bodies above the threshold with ${algorithm}`, () => {
      const codec = createCodec({ encoding, compression: { algorithm, thresholdBytes: 1024 } });
      const big = envelopeOf('inference.result', {
        ...(SAMPLES['inference.result'] as object),
        text: 'the quick brown fox '.repeat(500),
      });
      const frame = codec.encode(big);
      const record = rawRecord(frame);
      assert.equal(record.zip, algorithm);
      assert.equal(record.ct, encoding);
      assert.ok(frame.byteLength < 2000, `compressed frame is small (${frame.byteLength})`);
      assert.deepEqual(codec.decode(frame), big);

      const small = envelopeOf('inference.chunk', SAMPLES['inference.chunk']);
      const smallRecord = rawRecord(codec.encode(small));
      assert.equal(smallRecord.zip, undefined, 'a body under the threshold is sent as it is');
    });
  }

  test(`codec - refuses a ${encoding} frame of another protocol version`, () => {
    const codec = createCodec({ encoding });
    const record = rawRecord(codec.encode(envelopeOf('event', SAMPLES.event)));
    const v2 = writeRecord({ ...record, v: 2 }, encoding);
    assert.throws(
      () => codec.decode(v2),
      (err: unknown) => {
        assert.ok(err instanceof UnsupportedVersionError);
        assert.equal(err.code, 'unsupported_version');
        assert.deepEqual(err.details, { version: 2, supported: [1] });
        return true;
      },
    );
    for (const v of ['1', 0, 1.5, null]) {
      assert.throws(
        () => codec.decode(writeRecord({ ...record, v }, encoding)),
        InvalidMessageError,
      );
    }
    const { v: _v, ...noVersion } = record;
    assert.throws(() => codec.decode(writeRecord(noVersion, encoding)), InvalidMessageError);
  });

  test(`codec - refuses ${encoding} frames over the size limit both ways`, () => {
    const codec = createCodec({ encoding, maxFrameBytes: 1024, compression: false });
    const env = envelopeOf('event', { type: 'big', data: 'x'.repeat(2000) });
    assert.throws(
      () => codec.encode(env),
      (err: unknown) => {
        assert.ok(err instanceof PayloadTooLargeError);
        assert.equal(err.code, 'payload_too_large');
        return true;
      },
    );
    const frame = createCodec({ encoding, compression: false }).encode(env);
    assert.throws(() => codec.decode(frame), PayloadTooLargeError);
  });

  test(`codec - a truncated ${encoding} frame is an invalid message`, () => {
    const codec = createCodec({ encoding });
    for (const kind of ['inference.request', 'params.chunk']) {
      const frame = codec.encode(envelopeOf(kind, SAMPLES[kind]));
      for (const cut of [1, 2, frame.byteLength >> 1, frame.byteLength - 1]) {
        assert.throws(() => codec.decode(frame.subarray(0, cut)), InvalidMessageError, `${cut}`);
      }
    }
  });

  test(`codec - an unknown kind decodes in ${encoding}; validateBody rejects it`, () => {
    const codec = createCodec({ encoding });
    const env = envelopeOf('vendor.custom-thing', { anything: [1, 'two'] });
    const back = codec.decode(codec.encode(env));
    assert.deepEqual(back, env);
    assert.throws(
      () => validateBody(back),
      (err: unknown) => {
        assert.ok(err instanceof UnknownKindError);
        assert.equal(err.code, 'unknown_kind');
        assert.deepEqual(err.details, { kind: 'vendor.custom-thing' });
        return true;
      },
    );
  });

  test(`codec - a ${encoding} header that breaks the envelope schema names the field`, () => {
    const codec = createCodec({ encoding });
    const record = rawRecord(codec.encode(envelopeOf('event', SAMPLES.event)));
    const cases: [Record<string, unknown>, string][] = [
      [{ prio: 42 }, '/prio'],
      [{ kind: 'Bad Kind' }, '/kind'],
      [{ subject: '' }, '/subject'],
      [{ ts: -1 }, '/ts'],
      [{ traceparent: 'nope' }, '/traceparent'],
      [{ chunk: { transfer: 't' } }, '/chunk'],
      [{ headers: { a: 1 } }, '/headers/a'],
    ];
    for (const [patch, path] of cases) {
      const frame = writeRecord({ ...record, ...patch }, encoding);
      assert.throws(
        () => codec.decode(frame),
        (err: unknown) => {
          assert.ok(err instanceof InvalidMessageError, `${path}: ${String(err)}`);
          assert.match(err.message, new RegExp(path.replace(/\//g, '\\/')));
          assert.ok(String(err.details?.path).startsWith(path), `${String(err.details?.path)}`);
          return true;
        },
      );
    }
  });
}

test('codec - random bytes and other non-frames are invalid messages', () => {
  const codec = createCodec();
  const inputs = [
    new Uint8Array(0),
    Buffer.from('hello'),
    Buffer.from('[1,2,3]'),
    Buffer.from('{"v":1'),
    Buffer.from([0x7b, 0xff, 0xfe]),
    Buffer.from([0x80]),
    Buffer.from([0x93, 1, 2, 3]),
    Buffer.from([0xde, 0xff, 0xff]),
    Buffer.from('{"v":1,"id":"x","kind":"event","subject":"s","ts":1,"payload":"!!"}'),
    Buffer.from('{"v":1,"id":"x","kind":"event","subject":"s","ts":1,"payload":"AAAA"}'),
    Buffer.from('{"v":1,"id":"x","kind":"event","subject":"s","ts":1,"ct":"json"}'),
  ];
  let seed = 7;
  for (let n = 0; n < 200; n++) {
    const bytes = new Uint8Array(1 + (n % 64));
    for (let i = 0; i < bytes.length; i++)
      bytes[i] = (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24;
    inputs.push(bytes);
  }
  for (const input of inputs) {
    assert.throws(
      () => codec.decode(input),
      InvalidMessageError,
      Buffer.from(input).toString('hex'),
    );
  }
});

test('codec - validateBody names the field that breaks a kind schema', () => {
  const cases: [string, unknown, string][] = [
    ['inference.request', { messages: [{ role: 'user', content: 'x' }] }, '/model'],
    ['inference.request', { model: 'm', temperature: 3 }, '/temperature'],
    ['inference.chunk', { text: 5 }, '/text'],
    ['control.credit', { credits: 0 }, '/credits'],
    [
      'heartbeat',
      { worker: 'w', status: 'sleepy', models: [], capacity: 1, inflight: 0 },
      '/status',
    ],
    ['metric', { name: '1bad', value: 1 }, '/name'],
    ['error', { code: 'Not A Code', message: 'x', retryable: false }, '/code'],
    ['params.chunk', 'not bytes', '/'],
  ];
  const codec = createCodec();
  for (const [kind, body, path] of cases) {
    const env = codec.decode(codec.encode(envelopeOf(kind, body)));
    assert.throws(
      () => validateBody(env),
      (err: unknown) => {
        assert.ok(err instanceof InvalidMessageError);
        assert.equal(err.code, 'invalid_message');
        assert.deepEqual(err.details, { kind, path });
        assert.ok(err.message.includes(path));
        return true;
      },
    );
  }
});

test('codec - every decode failure is a WireError with a stable code', () => {
  const codec: Codec = createCodec();
  try {
    codec.decode(Buffer.from('{"v":1}'));
    assert.fail('decoded a header-less frame');
  } catch (err) {
    assert.ok(err instanceof WireError);
    assert.equal(err.code, 'invalid_message');
    assert.equal(err.status, 400);
  }
});

test('codec - a message read in one encoding is written back in it, whatever the codec writes', () => {
  const json = createCodec({ encoding: 'json' });
  const msgpack = createCodec({ encoding: 'msgpack' });
  const request = createEnvelope({ kind: 'inference.request', subject: 'llm.worker.w1.chat' });
  for (const reader of [json, msgpack]) {
    for (const writer of [json, msgpack]) {
      const read = reader.decode(writer.encode(request));
      const again = reader.encode(read);
      assert.equal(
        again[0] === 0x7b,
        writer === json,
        `${writer.encoding} read by ${reader.encoding}`,
      );
      assert.deepEqual(reader.decode(again), read);
    }
  }
});
