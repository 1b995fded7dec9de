// The sim's JSON Schema value generator: values that validate against nested schemas, the same
// for the same seed.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { SeededRandom } from '../../../src/llm/backends/sim/random.js';
import { schemaValue } from '../../../src/llm/backends/sim/schema-value.js';

const Order = Type.Object({
  id: Type.Integer({ minimum: 10, maximum: 12 }),
  note: Type.Optional(Type.String()),
  code: Type.String({ minLength: 9, maxLength: 9 }),
  status: Type.Union([Type.Literal('open'), Type.Literal('closed')]),
  total: Type.Union([Type.Number({ minimum: 0.5, maximum: 0.75 }), Type.Null()]),
  flags: Type.Array(Type.Boolean(), { minItems: 3, maxItems: 4 }),
  lines: Type.Array(
    Type.Object({
      sku: Type.String(),
      qty: Type.Integer({ minimum: 1 }),
      tags: Type.Array(Type.String()),
    }),
    { minItems: 1 },
  ),
  kind: Type.Literal('order'),
});

describe('sim schema values', () => {
  test('sim schema - values validate against a nested schema for many seeds', () => {
    const schema: unknown = JSON.parse(JSON.stringify(Order));
    for (let seed = 0; seed < 200; seed++) {
      const value = schemaValue(schema, new SeededRandom('schema', seed));
      assert.ok(Value.Check(Order, value), JSON.stringify(value));
      assert.ok(!('note' in (value as object)), 'optional properties are left out');
    }
  });

  test('sim schema - the same seed gives the same value, another seed usually another', () => {
    const a = schemaValue(Order, new SeededRandom('schema', 1));
    assert.deepEqual(schemaValue(Order, new SeededRandom('schema', 1)), a);
    const others = Array.from({ length: 10 }, (_, i) =>
      JSON.stringify(schemaValue(Order, new SeededRandom('schema', i + 2))),
    );
    assert.ok(others.some((v) => v !== JSON.stringify(a)));
  });

  test('sim schema - a type list takes its first non-null type; unknown schemas give null', () => {
    const random = new SeededRandom('schema', 0);
    assert.equal(typeof schemaValue({ type: ['null', 'boolean'] }, random), 'boolean');
    assert.equal(schemaValue({ $ref: '#/defs/x' }, random), null);
    assert.equal(schemaValue(true, random), null);
  });
});
