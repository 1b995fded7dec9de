// Property-based round trips: random envelopes (every header field, random bodies) through
// every codec configuration come back as they went in, signatures included. Plus the strings
// JavaScript allows but UTF-8 cannot carry (lone surrogates), which a token stream cut between
// the halves of a surrogate pair produces.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { createCodec, type Codec, type CodecOptions } from '../../src/codec/codec.js';
import { createKeyring } from '../../src/codec/security/encryption.js';
import { createSigning } from '../../src/codec/security/signing.js';
import {
  createEnvelope,
  WireError,
  type Envelope,
  type EnvelopeInit,
} from '../../src/protocol/index.js';

const seed = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);
const keyring = createKeyring({ current: 'k', keys: { k: randomBytes(32) } });
const hs = createSigning([{ alg: 'HS256', kid: 'hs', secret: randomBytes(32) }]);
const ed = createSigning([
  { alg: 'Ed25519', kid: 'ed', privateKey: generateKeyPairSync('ed25519').privateKey },
]);

const CONFIGS: [string, CodecOptions][] = [
  ['plain', {}],
  ['gzip', { compression: { algorithm: 'gzip', thresholdBytes: 32 } }],
  ['br', { compression: { algorithm: 'br', thresholdBytes: 32 } }],
  ['integrity', { integrity: true }],
  ['encrypted', { encryption: keyring }],
  ['HS256', { signing: { ...hs, replay: false } }],
  ['Ed25519', { signing: { ...ed, replay: false } }],
  [
    'all',
    {
      integrity: true,
      encryption: keyring,
      signing: { ...hs, replay: false },
      compression: { algorithm: 'br', thresholdBytes: 32 },
    },
  ],
];
const CODECS: [string, Codec][] = CONFIGS.flatMap(([name, options]) =>
  (['json', 'msgpack'] as const).map((encoding): [string, Codec] => [
    `${encoding} ${name}`,
    createCodec({ ...options, encoding }),
  ]),
);

/** JSON view of a message: bytes as base64, so Buffer and Uint8Array bodies compare alike. */
function normalize(env: Envelope): unknown {
  return JSON.parse(
    JSON.stringify(env, function (this: Record<string, unknown>, key: string, value: unknown) {
      const original = this[key];
      return original instanceof Uint8Array
        ? { bytes: Buffer.from(original).toString('base64') }
        : value;
    }),
  );
}

const text = (maxLength: number) => fc.string({ minLength: 1, maxLength, unit: 'grapheme' });
const envelope = fc
  .record(
    {
      kind: fc.constantFrom('inference.chunk', 'event', 'params.chunk', 'vendor.x'),
      subject: text(32),
      source: text(16),
      corr: text(16),
      replyTo: text(32),
      deadline: fc.nat(),
      prio: fc.nat(9),
      key: text(16),
      attempt: fc.integer({ min: 1, max: 100 }),
      tenant: text(16),
      traceparent: fc.constant('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'),
      tracestate: fc.string({ maxLength: 32 }),
      seq: fc.nat(),
      eos: fc.boolean(),
      credit: fc.integer({ min: 1, max: 1_000_000 }),
      headers: fc.dictionary(
        fc.stringMatching(/^[A-Za-z0-9_.-]{1,12}$/),
        fc.string({ maxLength: 24, unit: 'grapheme' }),
        { maxKeys: 3 },
      ),
      body: fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.uint8Array({ maxLength: 200 })),
    },
    { requiredKeys: ['kind', 'subject', 'body'] },
  )
  // "__proto__" keys have their own test below; left out here so each failure is reported once.
  .filter((init) => !JSON.stringify(init).includes('"__proto__"'))
  .map((init) => createEnvelope(init as EnvelopeInit));

test('roundtrip - random envelopes come back unchanged through every codec configuration', () => {
  fc.assert(
    fc.property(envelope, (env) => {
      for (const [name, codec] of CODECS) {
        const back = codec.decode(codec.encode(env));
        assert.deepEqual(normalize(back), normalize(env), name);
      }
    }),
    { numRuns: 1_500, ...(seed === undefined ? {} : { seed }) },
  );
});

/** What a string becomes once each lone surrogate is replaced by U+FFFD (String#toWellFormed). */
function wellFormed(s: string): string {
  return s.replace(
    /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g,
    '\ufffd',
  );
}

/**
 * Encodes and decodes `env` with every codec; returns what went wrong. A codec may refuse the
 * message with a WireError; a frame it did write must open (its own signature must verify)
 * and `same` must hold for what comes back.
 */
function carriedOrRefused(env: Envelope, same: (back: Envelope) => string | undefined): string[] {
  const problems: string[] = [];
  for (const [name, codec] of CODECS) {
    let frame: Uint8Array;
    try {
      frame = codec.encode(env);
    } catch (err) {
      if (!(err instanceof WireError)) problems.push(`${name}: encode threw ${String(err)}`);
      continue;
    }
    try {
      const problem = same(codec.decode(frame));
      if (problem !== undefined) problems.push(`${name}: ${problem}`);
    } catch (err) {
      problems.push(`${name}: its own frame failed to decode: ${String(err)}`);
    }
  }
  return problems;
}

test('roundtrip - a lone surrogate is carried, or refused with a WireError, never mangled', () => {
  // "🚀" cut between its two UTF-16 halves, as a token stream may cut it.
  const cut = '🚀'.slice(0, 1);
  const env = createEnvelope({
    kind: 'inference.chunk',
    subject: `llm.out.${cut}`,
    tenant: `acme${cut}`,
    body: { text: `Launch ${cut}` },
  });
  const problems = carriedOrRefused(env, (back) => {
    const pairs = [
      [back.subject, env.subject],
      [back.tenant ?? '', env.tenant ?? ''],
      [(back.body as { text: string }).text, (env.body as { text: string }).text],
    ];
    for (const [got, sent] of pairs) {
      if (got !== sent && got !== wellFormed(sent!))
        return `${escape(sent!)} came back as ${escape(got!)}`;
    }
    return undefined;
  });
  assert.deepEqual(problems, []);
});

test('roundtrip - a "__proto__" key is carried, or refused with a WireError, never renamed', () => {
  const env = createEnvelope({
    kind: 'event',
    subject: 's',
    headers: JSON.parse('{"__proto__":"x"}') as Record<string, string>,
    body: JSON.parse('{"type":"t","__proto__":{"a":1}}') as unknown,
  });
  const problems = carriedOrRefused(env, (back) => {
    const keys = [Object.keys(back.headers ?? {}), Object.keys(back.body as object)];
    const sent = [Object.keys(env.headers ?? {}), Object.keys(env.body as object)];
    return JSON.stringify(keys) === JSON.stringify(sent)
      ? undefined
      : `keys ${JSON.stringify(sent)} came back as ${JSON.stringify(keys)}`;
  });
  assert.deepEqual(problems, []);
});
