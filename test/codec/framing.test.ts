// Length-prefixed framing over byte streams: frames come out whole however the stream is cut,
// and a length prefix over the limit fails the stream before anything is buffered.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createCodec } from '../../src/codec/codec.js';
import { FrameReader, LENGTH_PREFIX_BYTES, writeFrame } from '../../src/codec/framing.js';
import { createEnvelope, PayloadTooLargeError } from '../../src/protocol/index.js';

function makeFrames(count: number): Uint8Array[] {
  const codec = createCodec({ encoding: 'msgpack' });
  const frames: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    frames.push(
      codec.encode(
        createEnvelope({
          kind: 'inference.chunk',
          subject: 's',
          seq: i,
          body: { text: 'x'.repeat(i * 7) },
        }),
      ),
    );
  }
  frames.push(new Uint8Array(0));
  return frames;
}

/** A small deterministic generator, so a failing cut can be reproduced from its seed. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

test('framing - splits frames fed in arbitrary byte slices', () => {
  const frames = makeFrames(40);
  const stream = Buffer.concat(frames.map(writeFrame));
  for (let seed = 1; seed <= 50; seed++) {
    const random = lcg(seed);
    const reader = new FrameReader(1 << 20);
    const out: Uint8Array[] = [];
    let at = 0;
    while (at < stream.length) {
      // Mostly tiny slices (inside a length prefix), sometimes large ones (many frames at once).
      const size = random() < 0.7 ? 1 + Math.floor(random() * 6) : Math.floor(random() * 3000);
      out.push(...reader.push(stream.subarray(at, at + size)));
      at += size;
    }
    assert.equal(reader.pendingBytes, 0, `seed ${seed}`);
    assert.deepEqual(
      out.map((f) => Buffer.from(f)),
      frames.map((f) => Buffer.from(f)),
      `seed ${seed}`,
    );
  }
});

test('framing - frames fed one byte at a time come out whole and in order', () => {
  const frames = makeFrames(5);
  const stream = Buffer.concat(frames.map(writeFrame));
  const reader = new FrameReader(1 << 20);
  const out: Uint8Array[] = [];
  for (const byte of stream) out.push(...reader.push(Uint8Array.of(byte)));
  assert.equal(out.length, frames.length);
  const codec = createCodec();
  assert.equal(codec.decode(out[3]!).seq, 3);
});

test('framing - a frame returned is not changed by later pushes', () => {
  const reader = new FrameReader(1024);
  const chunk = Buffer.concat([writeFrame(Buffer.from('abc')), writeFrame(Buffer.from('de'))]);
  const [first] = reader.push(chunk.subarray(0, 9));
  chunk.fill(0);
  assert.equal(Buffer.from(first!).toString(), 'abc');
});

test('framing - an oversize length prefix is refused before it is buffered', () => {
  const reader = new FrameReader(1024);
  const head = Buffer.alloc(LENGTH_PREFIX_BYTES);
  head.writeUInt32BE(1025, 0);
  assert.throws(
    () => reader.push(head),
    (err: unknown) => {
      assert.ok(err instanceof PayloadTooLargeError);
      assert.equal(err.code, 'payload_too_large');
      assert.deepEqual(err.details, { size: 1025, limit: 1024 });
      return true;
    },
  );
  // The stream cannot be resynchronised: every later push fails too.
  assert.throws(() => reader.push(writeFrame(Buffer.from('ok'))), PayloadTooLargeError);

  const huge = new FrameReader(1 << 20);
  assert.throws(() => huge.push(Buffer.from([0xff, 0xff, 0xff, 0xff])), PayloadTooLargeError);
});

test('framing - a frame exactly at the limit passes', () => {
  const reader = new FrameReader(16);
  const [frame] = reader.push(writeFrame(Buffer.alloc(16, 1)));
  assert.equal(frame?.byteLength, 16);
});
