// The simulated backend's embeddings: deterministic unit vectors of the requested size.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createSimBackend } from '../../../src/llm/backends/sim/index.js';
import { InvalidMessageError, NotFoundError } from '../../../src/protocol/index.js';

const MODEL = 'llmwire-sim';
const signal = new AbortController().signal;

function norm(vector: readonly number[]): number {
  return Math.sqrt(vector.reduce((s, v) => s + v * v, 0));
}

function floats(embedding: number[] | string): number[] {
  assert.ok(Array.isArray(embedding));
  return embedding;
}

test('sim - embeddings are deterministic unit vectors, one per input', async () => {
  const a = createSimBackend();
  const b = createSimBackend();
  const request = { model: MODEL, input: ['first text', 'second text', 'first text'] };
  const one = await a.embed(request, { signal });
  const two = await b.embed(request, { signal });
  assert.deepEqual(two, one);
  assert.deepEqual(
    one.data.map((d) => d.index),
    [0, 1, 2],
  );
  const [v0, v1, v2] = one.data.map((d) => floats(d.embedding));
  assert.ok(v0 && v1 && v2);
  assert.equal(v0.length, 64);
  assert.ok(Math.abs(norm(v0) - 1) < 1e-9);
  assert.deepEqual(v2, v0);
  assert.notDeepEqual(v1, v0);
  assert.equal(one.usage.prompt_tokens, 3 + 3 + 3);
  assert.equal(one.usage.total_tokens, one.usage.prompt_tokens);
});

test('sim - embeddings honour dimensions and the backend default', async () => {
  const sim = createSimBackend({ embeddingDimensions: 32 });
  const byDefault = await sim.embed({ model: MODEL, input: 'text' }, { signal });
  assert.equal(floats(byDefault.data[0]?.embedding ?? '').length, 32);
  const small = await sim.embed({ model: MODEL, input: 'text', dimensions: 8 }, { signal });
  const v = floats(small.data[0]?.embedding ?? '');
  assert.equal(v.length, 8);
  assert.ok(Math.abs(norm(v) - 1) < 1e-9);
  await assert.rejects(
    sim.embed({ model: MODEL, input: 'text', dimensions: 1_000_000 }, { signal }),
    InvalidMessageError,
  );
});

test('sim - base64 embeddings decode to the float vector', async () => {
  const sim = createSimBackend();
  const plain = await sim.embed({ model: MODEL, input: 'text' }, { signal });
  const packed = await sim.embed(
    { model: MODEL, input: 'text', encoding_format: 'base64' },
    { signal },
  );
  const encoded = packed.data[0]?.embedding;
  assert.equal(typeof encoded, 'string');
  const bytes = Buffer.from(encoded as string, 'base64');
  const decoded = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  const expected = floats(plain.data[0]?.embedding ?? '');
  assert.deepEqual(
    [...decoded],
    expected.map((x) => Math.fround(x)),
  );
});

test('sim - token-array inputs are embedded and counted by tokens', async () => {
  const sim = createSimBackend();
  const single = await sim.embed({ model: MODEL, input: [1, 2, 3] }, { signal });
  assert.equal(single.data.length, 1);
  assert.equal(single.usage.prompt_tokens, 3);
  const several = await sim.embed({ model: MODEL, input: [[1, 2], [3]] }, { signal });
  assert.equal(several.data.length, 2);
  assert.equal(several.usage.prompt_tokens, 3);
});

test('sim - embeddings for an unknown model are not_found', async () => {
  const sim = createSimBackend();
  await assert.rejects(sim.embed({ model: 'nope', input: 'x' }, { signal }), NotFoundError);
});
