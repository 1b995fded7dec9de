// The codec group: encode+decode round trips of real message shapes through createCodec,
// against bare JSON of the same data, the binary encoding (and the MessagePack map it replaces)
// against JSON, a 1 MiB byte body in each, and the price of each body transform (integrity,
// signing, encryption) against the plain codec.
import { randomBytes } from 'node:crypto';
import { markBinaryBody } from '../../src/codec/binary-body.js';
import { createCodec, type Codec, type CodecOptions } from '../../src/codec/codec.js';
import { createKeyring } from '../../src/codec/security/encryption.js';
import { createSigning } from '../../src/codec/security/signing.js';
import { createEnvelope, type Envelope } from '../../src/protocol/index.js';
import { makeChunk, makeRequest } from '../fixtures.js';
import type { BenchGroup, GroupContext } from '../group.js';
import { sink, type Work } from '../harness.js';

function roundTrip(codec: Codec, env: Envelope): Work {
  // Decoding must succeed and give back the same message, or the figure means nothing.
  const back = codec.decode(codec.encode(env));
  if (back.id !== env.id || JSON.stringify(back.body) !== JSON.stringify(env.body)) {
    throw new Error(`codec round trip of ${env.kind} changed the message`);
  }
  return (n) => {
    let acc = 0;
    for (let i = 0; i < n; i++) acc += codec.decode(codec.encode(env)).v;
    sink(acc);
  };
}

function bareJson(value: unknown): Work {
  return (n) => {
    let last: unknown;
    for (let i = 0; i < n; i++) last = JSON.parse(JSON.stringify(value));
    sink(last);
  };
}

/** Round trips of a byte body, checked once byte for byte (JSON.stringify of 1 MiB would not do). */
function bytesRoundTrip(codec: Codec, env: Envelope): Work {
  const back = codec.decode(codec.encode(env)).body;
  if (!(back instanceof Uint8Array) || !Buffer.from(back).equals(env.body as Uint8Array)) {
    throw new Error('codec round trip of a byte body changed it');
  }
  return (n) => {
    let acc = 0;
    for (let i = 0; i < n; i++) acc += (codec.decode(codec.encode(env)).body as Uint8Array).length;
    sink(acc);
  };
}

function bytesEnvelope(body: Uint8Array): Envelope {
  return createEnvelope({
    kind: 'params.chunk',
    subject: 'params.rollout.r1',
    source: 'trainer-1',
    body,
  });
}

const RATIO_07 = { on: 'ratio', min: 0.7 } as const;

async function jsonVsBare(ctx: GroupContext, label: string, env: Envelope): Promise<void> {
  const json = createCodec({ encoding: 'json' });
  await ctx.rate({
    name: `${label}: JSON codec encode+decode`,
    unit: 'ops/s',
    subject: roundTrip(json, env),
    baselineName: 'JSON.parse(JSON.stringify(body))',
    baseline: bareJson(env.body),
    target: RATIO_07,
  });
  await ctx.rate({
    name: `${label}: JSON codec encode+decode`,
    unit: 'ops/s',
    subject: roundTrip(json, env),
    baselineName: 'JSON.parse(JSON.stringify(envelope))',
    baseline: bareJson({ ...env }),
    target: { ...RATIO_07, note: 'whole-envelope reading' },
  });
}

function securityOptions(): Record<string, CodecOptions> {
  const keyring = createKeyring({ current: 'k1', keys: { k1: randomBytes(32) } });
  const { signer, verifier } = createSigning([
    { alg: 'HS256', kid: 's1', secret: randomBytes(32) },
  ]);
  // The replay guard is off: the same message is decoded over and over, which it would refuse.
  const signing = { signer, verifier, replay: false as const };
  return {
    'integrity (sha256)': { integrity: true },
    'signing (HS256)': { signing },
    'encryption (A256GCM)': { encryption: keyring },
    'all three': { integrity: true, signing, encryption: keyring },
  };
}

export const codecGroup: BenchGroup = {
  name: 'codec',
  about:
    'Encode+decode round trips (`codec.decode(codec.encode(env))`, header schema check ' +
    'included) of a 1 KiB `inference.request` envelope and an `inference.chunk` envelope with a ' +
    '24-byte body. The JSON codec is compared with bare `JSON.parse(JSON.stringify(...))` of the ' +
    "body (the issue's reading of the target) and of the whole envelope as a plain object; " +
    'the binary encoding (and the MessagePack map of binary version 1, kept for older peers) is ' +
    'compared with the JSON codec; a 1 MiB byte body goes once as a marked binary body in a ' +
    'binary frame and once as a base64url payload in a JSON frame (compression off); the ' +
    'transform rows compare a codec with that transform on against the plain JSON codec ' +
    '(informational).',
  async run(ctx) {
    const request = makeRequest();
    const chunk = makeChunk();
    const json = createCodec({ encoding: 'json' });
    const binary = createCodec({ encoding: 'binary' });
    const msgpack = createCodec({ encoding: 'msgpack' });

    await jsonVsBare(ctx, 'inference.request 1 KiB', request);
    await jsonVsBare(ctx, 'inference.chunk 24 B body', chunk);

    await ctx.rate({
      name: 'inference.chunk: binary codec encode+decode',
      unit: 'ops/s',
      subject: roundTrip(binary, chunk),
      baselineName: 'JSON codec encode+decode',
      baseline: roundTrip(json, chunk),
      target: { on: 'ratio', min: 1.5 },
    });
    await ctx.rate({
      name: 'inference.request: binary codec encode+decode',
      unit: 'ops/s',
      subject: roundTrip(binary, request),
      baselineName: 'JSON codec encode+decode',
      baseline: roundTrip(json, request),
      target: { on: 'ratio', min: 1.2 },
    });
    for (const [label, env] of [
      ['inference.chunk', chunk],
      ['inference.request', request],
    ] as const) {
      await ctx.rate({
        name: `${label}: MessagePack map codec (binary v1) encode+decode`,
        unit: 'ops/s',
        subject: roundTrip(msgpack, env),
        baselineName: 'JSON codec encode+decode',
        baseline: roundTrip(json, env),
      });
    }

    for (const [label, env] of [
      ['inference.request', request],
      ['inference.chunk', chunk],
    ] as const) {
      ctx.fixed(
        `${label}: binary frame size`,
        binary.encode(env).byteLength,
        'bytes',
        'JSON frame size',
        json.encode(env).byteLength,
      );
      ctx.fixed(
        `${label}: MessagePack map frame size`,
        msgpack.encode(env).byteLength,
        'bytes',
        'JSON frame size',
        json.encode(env).byteLength,
      );
    }

    const mib = randomBytes(1024 * 1024);
    const marked = bytesEnvelope(markBinaryBody(new Uint8Array(mib)));
    const unmarked = bytesEnvelope(new Uint8Array(mib));
    const jsonRaw = createCodec({ encoding: 'json', compression: false });
    await ctx.rate({
      name: '1 MiB byte body: binary codec encode+decode',
      unit: 'ops/s',
      subject: bytesRoundTrip(binary, marked),
      baselineName: 'JSON codec encode+decode (base64url payload)',
      baseline: bytesRoundTrip(jsonRaw, unmarked),
    });
    ctx.fixed(
      '1 MiB byte body: binary frame size',
      binary.encode(marked).byteLength,
      'bytes',
      'JSON frame size',
      jsonRaw.encode(unmarked).byteLength,
    );

    for (const [transform, options] of Object.entries(securityOptions())) {
      for (const [label, env] of [
        ['inference.request', request],
        ['inference.chunk', chunk],
      ] as const) {
        await ctx.rate({
          name: `${label}: JSON codec + ${transform}`,
          unit: 'ops/s',
          subject: roundTrip(createCodec({ encoding: 'json', ...options }), env),
          baselineName: 'plain JSON codec',
          baseline: roundTrip(json, env),
        });
      }
      ctx.fixed(
        `inference.chunk: JSON frame size + ${transform}`,
        createCodec({ encoding: 'json', ...options }).encode(chunk).byteLength,
        'bytes',
        'plain JSON frame size',
        json.encode(chunk).byteLength,
      );
    }
    return { rows: ctx.rows };
  },
};
