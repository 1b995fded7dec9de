// Chunked transfers: parts reassembled in any order, checked part by part and as a whole,
// duplicates ignored, stalls reported, transfers resumed, memory bounded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  ChunkAssembler,
  MemoryPartStore,
  splitIntoChunks,
  type AcceptResult,
} from '../../src/codec/chunking.js';
import { createCodec } from '../../src/codec/codec.js';
import { checksum } from '../../src/codec/integrity.js';
import {
  ChunkCorruptError,
  ChunkMissingError,
  ConfigError,
  PayloadTooLargeError,
  validateBody,
  type Envelope,
} from '../../src/protocol/index.js';

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

function feed(assembler: ChunkAssembler, parts: Envelope[]): AcceptResult[] {
  return parts.map((p) => assembler.accept(p));
}

function completed(results: AcceptResult[]): Uint8Array {
  const done = results.filter((r) => r.complete);
  assert.equal(done.length, 1, 'exactly one part completes the transfer');
  return (done[0] as { data: Uint8Array }).data;
}

const isCorrupt = (details: Record<string, unknown>) => (err: unknown) => {
  assert.ok(err instanceof ChunkCorruptError, String(err));
  assert.equal(err.code, 'chunk_corrupt');
  for (const [k, v] of Object.entries(details)) assert.deepEqual(err.details?.[k], v, k);
  return true;
};

test('chunking - splits an object into parts that describe where they sit', () => {
  const data = randomBytes(1000);
  const parts = splitIntoChunks(data, {
    partSize: 300,
    subject: 'models.llama',
    transfer: 't1',
    base: { tenant: 'acme', corr: 'c1', key: 'k' },
  });
  assert.equal(parts.length, 4);
  parts.forEach((p, i) => {
    assert.equal(p.kind, 'params.chunk');
    assert.equal(p.subject, 'models.llama');
    assert.equal(p.tenant, 'acme');
    assert.equal(p.key, 'k');
    assert.deepEqual(p.chunk, {
      transfer: 't1',
      index: i,
      total: 4,
      size: 1000,
      offset: i * 300,
      partSum: checksum(data.subarray(i * 300, i * 300 + 300)),
      objectSum: checksum(data),
    });
    validateBody(p);
  });
  assert.equal(parts[3]!.body!.byteLength, 100);
  assert.equal(new Set(parts.map((p) => p.id)).size, 4, 'each part is its own message');
});

test('chunking - reassembles parts that arrive out of order', () => {
  const data = randomBytes(10_001);
  for (const seed of [1, 2, 3]) {
    const assembler = new ChunkAssembler();
    const results = feed(
      assembler,
      shuffle(splitIntoChunks(data, { partSize: 1000, subject: 's' }), seed),
    );
    assert.deepEqual(Buffer.from(completed(results)), data);
    assert.ok(results.at(-1)!.complete, 'the transfer completes on its last part');
    assert.equal(assembler.pending, 0);
  }
});

test('chunking - parts survive the codec in both encodings', () => {
  const data = randomBytes(5000);
  for (const encoding of ['json', 'msgpack'] as const) {
    const codec = createCodec({ encoding, integrity: true });
    const assembler = new ChunkAssembler();
    const parts = splitIntoChunks(data, { partSize: 700, subject: 's' });
    const results = shuffle(parts).map((p) => assembler.accept(codec.decode(codec.encode(p))));
    assert.deepEqual(Buffer.from(completed(results)), data);
  }
});

test('chunking - a duplicate part is ignored, also after the transfer completed', () => {
  const data = randomBytes(3000);
  const parts = splitIntoChunks(data, { partSize: 1000, subject: 's' });
  const assembler = new ChunkAssembler();
  assert.equal(assembler.accept(parts[0]!).complete, false);
  const again = assembler.accept(parts[0]!);
  assert.deepEqual(again, {
    complete: false,
    transfer: parts[0]!.chunk!.transfer,
    received: 1,
    total: 3,
    duplicate: true,
  });
  assembler.accept(parts[1]!);
  const last = assembler.accept(parts[2]!);
  assert.ok(last.complete);
  assert.deepEqual(Buffer.from(last.data), data);
  // At-least-once delivery redelivers parts; they must not start the transfer over.
  const late = assembler.accept(parts[1]!);
  assert.equal(late.complete, false);
  assert.equal(late.complete === false && late.duplicate, true);
  assert.equal(assembler.pending, 0);
  assert.equal(assembler.resumeFrom(parts[0]!.chunk!.transfer), 3);
});

test('chunking - a corrupted part is refused and the transfer goes on', () => {
  const data = randomBytes(3000);
  const parts = splitIntoChunks(data, { partSize: 1000, subject: 's', transfer: 'tc' });
  const assembler = new ChunkAssembler();
  assembler.accept(parts[0]!);
  const bad = { ...parts[1]!, body: Buffer.from(parts[1]!.body!) };
  bad.body[10]! ^= 0xff;
  assert.throws(() => assembler.accept(bad), isCorrupt({ transfer: 'tc', index: 1 }));
  assert.deepEqual(assembler.missing('tc'), [1, 2]);
  assembler.accept(parts[2]!);
  const done = assembler.accept(parts[1]!);
  assert.ok(done.complete);
  assert.deepEqual(Buffer.from(done.data), data);
});

test('chunking - parts that disagree on total, size or object sum are refused', () => {
  const data = randomBytes(3000);
  const parts = splitIntoChunks(data, { partSize: 1000, subject: 's', transfer: 'tm' });
  const other = splitIntoChunks(randomBytes(3000), {
    partSize: 1000,
    subject: 's',
    transfer: 'tm',
  });
  const shorter = splitIntoChunks(data.subarray(0, 2000), {
    partSize: 1000,
    subject: 's',
    transfer: 'tm',
  });
  const finer = splitIntoChunks(data, { partSize: 750, subject: 's', transfer: 'tm' });
  const assembler = new ChunkAssembler();
  assembler.accept(parts[0]!);
  assert.throws(
    () => assembler.accept(finer[1]!),
    isCorrupt({ transfer: 'tm', index: 1, field: 'total' }),
  );
  assert.throws(() => assembler.accept(shorter[1]!), isCorrupt({ index: 1, field: 'total' }));
  assert.throws(() => assembler.accept(other[1]!), isCorrupt({ index: 1, field: 'objectSum' }));
  const resized = { ...parts[1]!, chunk: { ...parts[1]!.chunk!, size: 4000 } };
  assert.throws(() => assembler.accept(resized), isCorrupt({ field: 'size' }));
  assert.deepEqual(assembler.missing('tm'), [1, 2]);
});

test('chunking - a part outside its object is refused', () => {
  const [part] = splitIntoChunks(randomBytes(3000), {
    partSize: 1000,
    subject: 's',
    transfer: 'to',
  });
  const assembler = new ChunkAssembler();
  for (const patch of [{ index: 3 }, { offset: 2500 }, { size: 500, total: 1 }, { offset: 1 }]) {
    const bad = { ...part!, chunk: { ...part!.chunk!, ...patch } };
    assert.throws(
      () => assembler.accept(bad),
      isCorrupt({ transfer: 'to' }),
      JSON.stringify(patch),
    );
  }
  assert.throws(() => assembler.accept({ ...part!, kind: 'event' }), {
    name: 'InvalidMessageError',
  });
  assert.throws(() => assembler.accept({ ...part!, body: 'text' }), {
    name: 'InvalidMessageError',
  });
  assert.equal(assembler.pending, 0, 'nothing is held for refused parts');
});

test('chunking - parts that pass their sums but not the object sum drop the transfer', () => {
  const data = randomBytes(2000);
  const forged = checksum(randomBytes(8));
  const parts = splitIntoChunks(data, {
    partSize: 1000,
    subject: 's',
    transfer: 'tf',
    objectSum: forged,
  });
  const assembler = new ChunkAssembler();
  assembler.accept(parts[0]!);
  assert.throws(() => assembler.accept(parts[1]!), isCorrupt({ transfer: 'tf' }));
  assert.equal(assembler.pending, 0);
  assert.equal(assembler.missing('tf'), undefined);
});

test('chunking - a stalled transfer expires with ChunkMissingError naming the missing parts', () => {
  let now = 1_000_000;
  const store = new MemoryPartStore();
  const assembler = new ChunkAssembler({ timeoutMs: 5000, now: () => now, store });
  const parts = splitIntoChunks(randomBytes(5000), {
    partSize: 1000,
    subject: 's',
    transfer: 'ts',
  });
  feed(assembler, [parts[0]!, parts[1]!, parts[3]!]);
  now += 4999;
  assert.deepEqual(assembler.expire(), [], 'not stalled yet');
  now += 1;
  const [err, ...rest] = assembler.expire();
  assert.equal(rest.length, 0);
  assert.ok(err instanceof ChunkMissingError);
  assert.equal(err.code, 'chunk_missing');
  assert.equal(err.retryable, true);
  assert.deepEqual(err.details, {
    transfer: 'ts',
    total: 5,
    received: 3,
    missing: [2, 4],
    resumeFrom: 2,
  });
  assert.equal(assembler.pending, 0);
  assert.equal(store.size, 0, 'the parts of an expired transfer are freed');
});

test('chunking - resumes a transfer from the first missing part', () => {
  const data = randomBytes(10_000);
  const all = splitIntoChunks(data, { partSize: 1000, subject: 's', transfer: 'tr' });
  const assembler = new ChunkAssembler();
  assert.equal(assembler.resumeFrom('tr'), 0, 'an unknown transfer starts from the beginning');
  feed(
    assembler,
    all.filter((p) => ![3, 5].includes(p.chunk!.index)),
  );
  assert.deepEqual(assembler.missing('tr'), [3, 5]);
  assert.deepEqual(assembler.missing('tr', 1), [3]);
  const from = assembler.resumeFrom('tr');
  assert.equal(from, 3);
  const resent = splitIntoChunks(data, {
    partSize: 1000,
    subject: 's',
    transfer: 'tr',
    fromIndex: from,
  });
  assert.deepEqual(
    resent.map((p) => p.chunk!.index),
    [3, 4, 5, 6, 7, 8, 9],
  );
  const results = feed(assembler, resent);
  assert.deepEqual(Buffer.from(completed(results)), data);
  assert.equal(
    results.filter((r) => !r.complete && r.duplicate).length,
    5,
    'parts held are not taken twice',
  );
  assert.deepEqual(splitIntoChunks(data, { partSize: 1000, subject: 's', fromIndex: 10 }), []);
});

test('chunking - a transfer resumes across a receiver restart with a kept store', () => {
  const data = randomBytes(4000);
  const parts = splitIntoChunks(data, { partSize: 1000, subject: 's', transfer: 'tk' });
  const store = new MemoryPartStore();
  feed(new ChunkAssembler({ store }), [parts[0]!, parts[2]!]);
  const restarted = new ChunkAssembler({ store });
  assert.equal(restarted.resumeFrom('tk'), 1);
  const results = feed(
    restarted,
    splitIntoChunks(data, { partSize: 1000, subject: 's', transfer: 'tk', fromIndex: 1 }),
  );
  assert.deepEqual(Buffer.from(completed(results)), data);
  assert.equal(store.size, 0);
});

test('chunking - memory is bounded by object size, part count and transfers in progress', () => {
  const assembler = new ChunkAssembler({ maxObjectBytes: 4096, maxTransfers: 2, maxParts: 100 });
  const big = splitIntoChunks(randomBytes(4097), { partSize: 1024, subject: 's' });
  assert.throws(() => assembler.accept(big[0]!), PayloadTooLargeError);
  const many = splitIntoChunks(randomBytes(101), { partSize: 1, subject: 's' });
  assert.throws(() => assembler.accept(many[0]!), PayloadTooLargeError);
  const open = [1, 2, 3].map(() =>
    splitIntoChunks(randomBytes(2048), { partSize: 1024, subject: 's' }),
  );
  assembler.accept(open[0]![0]!);
  assembler.accept(open[1]![0]!);
  assert.throws(
    () => assembler.accept(open[2]![0]!),
    (err: unknown) => {
      assert.ok(err instanceof PayloadTooLargeError);
      assert.equal(err.details?.limit, 2);
      return true;
    },
  );
  assert.ok(assembler.accept(open[0]![1]!).complete, 'transfers in progress go on');
  assert.equal(
    assembler.accept(open[2]![0]!).complete,
    false,
    'a finished transfer frees its slot',
  );
});

test('chunking - refuses options it cannot honour', () => {
  const data = randomBytes(10);
  assert.throws(() => splitIntoChunks(data, { partSize: 0, subject: 's' }), ConfigError);
  assert.throws(() => splitIntoChunks(data, { partSize: 1.5, subject: 's' }), ConfigError);
  assert.throws(
    () => splitIntoChunks(data, { partSize: 4, subject: 's', fromIndex: 4 }),
    ConfigError,
  );
  assert.throws(
    () => splitIntoChunks(new Uint8Array(0), { partSize: 4, subject: 's' }),
    ConfigError,
  );
  assert.throws(() => new ChunkAssembler({ maxTransfers: 0 }), ConfigError);
});
