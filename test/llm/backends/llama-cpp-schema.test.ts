// JSON Schema to node-llama-cpp's GbnfJsonSchema: what is kept, what is rewritten to an
// equivalent the grammar reads, and what is refused because the grammar would get it wrong.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { gbnfSchema } from '../../../src/llm/backends/llama-cpp/schema.js';
import { InvalidMessageError } from '../../../src/protocol/index.js';

const ANY = {
  oneOf: [
    { type: ['string', 'number', 'boolean', 'null'] },
    { type: 'object', additionalProperties: true },
    { type: 'array' },
  ],
};

function refused(schema: unknown, message: RegExp): void {
  assert.throws(
    () => gbnfSchema(schema, 'tool parameters'),
    (err: unknown) =>
      err instanceof InvalidMessageError &&
      err.code === 'invalid_message' &&
      /^tool parameters: /.test(err.message) &&
      message.test(err.message),
  );
}

describe('llama-cpp schema', () => {
  test('llama-cpp schema - a tool parameters object keeps properties, descriptions, enums and bounds', () => {
    const schema = {
      type: 'object',
      title: 'Weather',
      properties: {
        city: { type: 'string', description: 'City name', minLength: 1, pattern: '^[A-Z]' },
        unit: { type: 'string', enum: ['c', 'f'] },
        days: { type: 'integer', minimum: 1 },
        tags: { type: 'array', items: { type: 'string' }, maxItems: 3 },
        when: { type: 'string', format: 'date' },
        site: { type: 'string', format: 'uri' },
      },
      required: ['city'],
      additionalProperties: false,
    };
    assert.deepEqual(gbnfSchema(schema, 'tool parameters'), {
      type: 'object',
      properties: {
        city: { type: 'string', description: 'City name', minLength: 1 },
        unit: { enum: ['c', 'f'] },
        days: { type: 'integer' },
        tags: { type: 'array', maxItems: 3, items: { type: 'string' } },
        when: { type: 'string', format: 'date' },
        site: { type: 'string' },
      },
    });
  });

  test('llama-cpp schema - anyOf becomes oneOf and a type list with object becomes alternatives', () => {
    assert.deepEqual(
      gbnfSchema({ anyOf: [{ type: 'string' }, { type: 'null' }], description: 'd' }, 'x'),
      { description: 'd', oneOf: [{ type: 'string' }, { type: 'null' }] },
    );
    assert.deepEqual(gbnfSchema({ type: ['string', 'null'] }, 'x'), { type: ['string', 'null'] });
    assert.deepEqual(
      gbnfSchema({ type: ['object', 'null'], properties: { a: { type: 'number' } } }, 'x'),
      {
        oneOf: [{ type: 'object', properties: { a: { type: 'number' } } }, { type: 'null' }],
      },
    );
  });

  test('llama-cpp schema - a schema without a type, and true, allow any value', () => {
    assert.deepEqual(gbnfSchema({}, 'x'), ANY);
    assert.deepEqual(gbnfSchema({ description: 'anything' }, 'x'), {
      ...ANY,
      description: 'anything',
    });
    assert.deepEqual(gbnfSchema({ type: 'object', properties: { a: true } }, 'x'), {
      type: 'object',
      properties: { a: ANY },
    });
    // An object without properties takes any members, as JSON Schema allows.
    assert.deepEqual(gbnfSchema({ type: 'object' }, 'x'), {
      type: 'object',
      additionalProperties: true,
    });
  });

  test('llama-cpp schema - definitions and #/definitions references become $defs', () => {
    const schema = {
      type: 'object',
      properties: { home: { $ref: '#/definitions/place' } },
      definitions: { place: { type: 'object', properties: { zip: { type: 'string' } } } },
    };
    assert.deepEqual(gbnfSchema(schema, 'x'), {
      $defs: { place: { type: 'object', properties: { zip: { type: 'string' } } } },
      type: 'object',
      properties: { home: { $ref: '#/$defs/place' } },
    });
  });

  test('llama-cpp schema - items false limits an array to its prefix', () => {
    assert.deepEqual(
      gbnfSchema({ type: 'array', prefixItems: [{ type: 'number' }], items: false }, 'x'),
      { type: 'array', prefixItems: [{ type: 'number' }], maxItems: 1 },
    );
  });

  test('llama-cpp schema - keywords that combine or negate schemas are refused with their path', () => {
    refused({ allOf: [{ type: 'string' }] }, /'allOf' is not supported/);
    refused(
      { type: 'object', properties: { a: { not: { type: 'string' } } } },
      /'not' is not supported at \/properties\/a/,
    );
    refused({ type: 'object', patternProperties: { '^x': {} } }, /'patternProperties'/);
    refused({ type: 'string', anyOf: [{ maxLength: 2 }] }, /'type' beside 'anyOf'/);
  });

  test('llama-cpp schema - references it cannot follow are refused', () => {
    refused({ $ref: '#' }, /'\$ref' "#" is not a '#\/\$defs\/<name>' reference/);
    refused({ $ref: 'https://example.com/s.json' }, /is not a '#\/\$defs\/<name>' reference/);
    refused(
      { type: 'object', properties: { a: { $ref: '#/$defs/missing' } } },
      /'\$ref' to 'missing', which is not defined at \/properties\/a/,
    );
  });

  test('llama-cpp schema - malformed schemas are refused', () => {
    refused(false, /must be an object or true/);
    refused({ type: 'date' }, /unknown type "date"/);
    refused({ enum: [] }, /'enum'/);
    refused({ const: { a: 1 } }, /'const' that is an object/);
    refused({ type: 'array', items: [{ type: 'string' }] }, /'items' as a list/);
    let deep: Record<string, unknown> = { type: 'string' };
    for (let i = 0; i < 70; i++) deep = { type: 'array', items: deep };
    refused(deep, /nesting deeper than 64/);
  });
});
