import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Type } from '@sinclair/typebox';
import { ConfigError, optionsCheck } from '../../src/protocol/index.js';

const check = optionsCheck(
  "queue 'jobs'",
  Type.Object(
    {
      leaseMs: Type.Optional(Type.Integer({ minimum: 1 })),
      backoff: Type.Optional(
        Type.Object(
          { jitter: Type.Number({ minimum: 0, maximum: 1 }) },
          { additionalProperties: false },
        ),
      ),
    },
    { additionalProperties: false },
  ),
);

function message(value: unknown): string {
  try {
    check(value);
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    assert.equal(err.code, 'config_invalid');
    return err.message;
  }
  assert.fail('expected a ConfigError');
}

test('optionsCheck - a good value comes back unchanged', () => {
  const value = { leaseMs: 5, backoff: { jitter: 0.5 } };
  assert.equal(check(value), value);
  assert.deepEqual(check({}), {});
});

test('optionsCheck - each wrong field is named with what it must be and what it was', () => {
  assert.equal(
    message({ leaseMs: 0 }),
    "queue 'jobs': 'leaseMs' expected integer to be greater or equal to 1, got 0",
  );
  assert.equal(message({ leaseMs: 'x' }), `queue 'jobs': 'leaseMs' expected integer, got "x"`);
  assert.equal(
    message({ backoff: { jitter: 2 } }),
    "queue 'jobs': 'backoff.jitter' expected number to be less or equal to 1, got 2",
  );
  assert.equal(message({ fooo: 1 }), "queue 'jobs': unknown option 'fooo'");
  assert.equal(message(5), "queue 'jobs': expected object, got 5");
});

test('optionsCheck - several wrong fields are listed one per line', () => {
  assert.equal(
    message({ leaseMs: 1.5, foo: 2 }),
    "queue 'jobs':\n  unknown option 'foo'\n  'leaseMs' expected integer, got 1.5",
  );
});

test('optionsCheck - a missing field is required, a wrong choice lists the choices', () => {
  const choose = optionsCheck(
    'policy',
    Type.Object({
      name: Type.String(),
      mode: Type.Optional(Type.Union([Type.Literal('strict'), Type.Literal('loose')])),
    }),
  );
  assert.throws(() => choose({}), { name: 'ConfigError', message: "policy: 'name' is required" });
  assert.throws(() => choose({ name: 'a', mode: 'lax' }), {
    name: 'ConfigError',
    message: `policy: 'mode' expected one of 'strict', 'loose', got "lax"`,
  });
});
