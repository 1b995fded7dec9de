// The nats group: request/reply and token streams through the llmwire Bus on the NATS transport,
// against raw @nats-io/transport-node doing the same work on connections of its own in the same
// run. Streams come in two shapes: burst (chunks written back to back) and paced (one chunk per
// event-loop turn, as tokens leave a model), with and without chunk coalescing.
import { connect, type Msg } from '@nats-io/transport-node';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { createBus, type BusOptions } from '../../src/bus/index.js';
import { createCodec, type Encoding } from '../../src/codec/index.js';
import { createEnvelope } from '../../src/protocol/index.js';
import { createNatsTransport } from '../../src/transport/nats/index.js';
import type { Transport } from '../../src/transport/transport.js';
import { chunkBodies, textBody } from '../fixtures.js';
import type { BenchGroup, GroupContext } from '../group.js';
import { natsProblem } from '../load/brokers.js';
import { compareLatency, drive, percentile, sink, type Target } from '../harness.js';
import { NATS_URL } from '../../test/helpers/broker-urls.js';

const REQUEST_BYTES = 1024;
const IN_FLIGHT = 64;
const STREAMS = 16;
const CHUNKS = 256;
const COALESCE_MS = 1;
const ITL_ROUNDS = 12;

const requestBody = textBody(REQUEST_BYTES);
const bodies = chunkBodies();
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const chunkFrames = bodies.map((b) => encoder.encode(JSON.stringify(b)));
const END = new Uint8Array(0);

type Shape = 'burst' | 'paced';
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** A stream's chunks as a producer yields them: back to back, or one per event-loop turn. */
async function* tokens(n: number, shape: Shape) {
  for (let i = 0; i < n; i++) {
    if (shape === 'paced' && i > 0) await turn();
    yield bodies[i & 63];
  }
}

/** Arrival times of each chunk of one stream, for inter-token latency. */
type Arrivals = number[];

/** Gaps between consecutive arrivals within each stream, sorted, in ms. */
function gapsOf(streams: Arrivals[]): number[] {
  const gaps: number[] = [];
  for (const times of streams)
    for (let i = 1; i < times.length; i++) gaps.push(times[i]! - times[i - 1]!);
  return gaps.sort((a, b) => a - b);
}

interface Side {
  request(): Promise<unknown>;
  /** Runs STREAMS concurrent streams of CHUNKS chunks; returns each stream's arrival times. */
  streams(shape: Shape, times: boolean): Promise<Arrivals[]>;
  close(): Promise<void>;
}

async function llmwireSide(
  run: string,
  options: Partial<BusOptions> = {},
  encoding: Encoding = 'json',
): Promise<Side> {
  const transports: Transport[] = [];
  const open = async (name: string) => {
    const t = await createNatsTransport({
      servers: NATS_URL,
      name: `bench-${name}-${run}`,
      codec: createCodec({ open: false, encoding }),
    });
    transports.push(t);
    return t;
  };
  const errors: unknown[] = [];
  const onError = (err: unknown) => errors.push(err);
  const server = createBus({ ...options, transport: await open('server'), onError });
  const client = createBus({ ...options, transport: await open('client'), onError });
  const rr = `bench.${run}.rr`;
  const st = `bench.${run}.stream`;
  server.serve(rr, (msg) => msg.body);
  server.serve(st, (msg) => {
    const { n, shape } = msg.body as { n: number; shape: Shape };
    return tokens(n, shape);
  });
  await Promise.all([server.ready, client.ready, server.transport.flush()]);
  const one = async (shape: Shape, times: boolean): Promise<Arrivals> => {
    const arrivals: Arrivals = [];
    let got = 0;
    for await (const item of client.stream(st, { n: CHUNKS, shape })) {
      sink(item);
      got++;
      if (times) arrivals.push(performance.now());
    }
    if (got !== CHUNKS) throw new Error(`stream gave ${got} of ${CHUNKS} chunks`);
    return arrivals;
  };
  return {
    request: () => client.request(rr, requestBody),
    streams: (shape, times) =>
      Promise.all(Array.from({ length: STREAMS }, () => one(shape, times))),
    async close() {
      await client.close();
      await server.close();
      await Promise.all(transports.map((t) => t.close()));
      if (errors.length > 0)
        throw new Error(`bus reported ${errors.length} errors`, { cause: errors[0] });
    },
  };
}

/** How the raw side writes and reads a chunk. */
interface ChunkFormat {
  write(i: number, reply: string): Uint8Array;
  read(data: Uint8Array): unknown;
}

/** Bare JSON bodies, as an application on raw nats.js writes them. */
const bareJson: ChunkFormat = {
  write: (i) => chunkFrames[i & 63]!,
  read: (data) => JSON.parse(decoder.decode(data)),
};

/**
 * The frame llmwire sends per chunk, made and read by the codec (JSON, the default): an
 * `inference.chunk` envelope per chunk. The bus's own work (flow control, ordering, stream
 * state) is what separates this side from llmwire's.
 */
function envelopes(): ChunkFormat {
  const codec = createCodec();
  return {
    write: (i, reply) =>
      codec.encode(
        createEnvelope({ kind: 'inference.chunk', subject: reply, body: bodies[i & 63] }),
      ),
    read: (data) => codec.decode(data).body,
  };
}

/** What an application on raw nats.js writes: one inbox subscription, a Map, no flow control. */
async function rawSide(run: string, format: ChunkFormat = bareJson): Promise<Side> {
  const server = await connect({ servers: NATS_URL, name: `bench-raw-server-${run}` });
  const client = await connect({ servers: NATS_URL, name: `bench-raw-client-${run}` });
  const rr = `bench.${run}.raw.rr`;
  const st = `bench.${run}.raw.stream`;
  server.subscribe(rr, {
    callback: (err, msg) => {
      if (err === null)
        msg.respond(encoder.encode(JSON.stringify(JSON.parse(decoder.decode(msg.data)))));
    },
  });
  const pump = async (msg: Msg) => {
    const { n, shape } = JSON.parse(decoder.decode(msg.data)) as { n: number; shape: Shape };
    for (let i = 0; i < n; i++) {
      if (shape === 'paced' && i > 0) await turn();
      server.publish(msg.reply!, format.write(i, msg.reply!));
    }
    server.publish(msg.reply!, END);
  };
  server.subscribe(st, { callback: (err, msg) => (err === null ? void pump(msg) : undefined) });
  const inbox = `_INBOX.${randomBytes(8).toString('hex')}`;
  const open = new Map<string, (data: Uint8Array) => void>();
  client.subscribe(`${inbox}.*`, {
    callback: (err, msg) => {
      if (err === null) open.get(msg.subject)?.(msg.data);
    },
  });
  await Promise.all([server.flush(), client.flush()]);
  let next = 0;
  const one = (shape: Shape, times: boolean) =>
    new Promise<Arrivals>((resolve, reject) => {
      const reply = `${inbox}.${next++}`;
      const arrivals: Arrivals = [];
      let got = 0;
      open.set(reply, (data) => {
        if (data.length === 0) {
          open.delete(reply);
          if (got !== CHUNKS) reject(new Error(`raw stream gave ${got} of ${CHUNKS} chunks`));
          else resolve(arrivals);
          return;
        }
        sink(format.read(data));
        got++;
        if (times) arrivals.push(performance.now());
      });
      client.publish(st, encoder.encode(JSON.stringify({ n: CHUNKS, shape })), { reply });
    });
  return {
    request: async () =>
      JSON.parse(
        decoder.decode(
          (await client.request(rr, encoder.encode(JSON.stringify(requestBody)))).data,
        ),
      ),
    streams: (shape, times) =>
      Promise.all(Array.from({ length: STREAMS }, () => one(shape, times))),
    async close() {
      await client.drain();
      await server.drain();
    },
  };
}

async function requestRows(ctx: GroupContext, bus: Side, raw: Side): Promise<void> {
  const lat = await compareLatency(
    {
      name: 'rr',
      subject: () => bus.request(),
      baselineName: 'raw',
      baseline: () => raw.request(),
    },
    ctx.settings,
  );
  const baseline = 'raw nats.js request + msg.respond';
  const row = (p: string, value: number, baselineValue: number, target: Target | null) =>
    ctx.add({
      name: `request/reply 1 KiB latency, 1 in flight ${p}`,
      value,
      unit: 'µs',
      baseline,
      baselineValue,
      ratio: value / baselineValue,
      spread: null,
      baselineSpread: null,
      target,
    });
  row('p50', lat.p50, lat.baselineP50, { on: 'ratio', max: 1.15 });
  row('p99', lat.p99, lat.baselineP99, null);
  await ctx.rate({
    name: `request/reply 1 KiB, ${IN_FLIGHT} in flight`,
    unit: 'round trips/s',
    subject: (n) => drive(n, IN_FLIGHT, () => bus.request()),
    baselineName: baseline,
    baseline: (n) => drive(n, IN_FLIGHT, () => raw.request()),
    minN: IN_FLIGHT,
    target: { on: 'ratio', min: 0.85 },
  });
}

async function streamRate(
  ctx: GroupContext,
  name: string,
  shape: Shape,
  subject: Side,
  raw: Side,
  target: Target | undefined,
  baselineName = `raw nats.js: a publish per chunk to the requester's inbox`,
): Promise<void> {
  await ctx.rate({
    name: `${STREAMS} streams × ${CHUNKS} chunks, ${shape}${name}`,
    unit: 'chunks/s',
    subject: async (n) => {
      for (let i = 0; i < n; i++) await subject.streams(shape, false);
    },
    baselineName,
    baseline: async (n) => {
      for (let i = 0; i < n; i++) await raw.streams(shape, false);
    },
    opsPer: STREAMS * CHUNKS,
    target,
  });
}

/** p99 of the gaps between chunks of one stream, in ms, over ITL_ROUNDS rounds. */
async function p99Itl(side: Side, shape: Shape, rounds: number): Promise<number> {
  const all: Arrivals[] = [];
  for (let r = 0; r < rounds; r++) all.push(...(await side.streams(shape, true)));
  return percentile(gapsOf(all), 99);
}

async function measure(ctx: GroupContext, run: string): Promise<void> {
  const raw = await rawSide(run);
  const rawEnvelopes = await rawSide(`${run}e`, envelopes());
  const bus = await llmwireSide(`${run}a`, { coalesce: false });
  const turn = await llmwireSide(`${run}t`);
  const coalesced = await llmwireSide(`${run}c`, { coalesce: { maxDelayMs: COALESCE_MS } });
  const binary = await llmwireSide(`${run}b`, { coalesce: false }, 'binary');
  try {
    await requestRows(ctx, bus, raw);
    await streamRate(ctx, '', 'burst', bus, raw, { on: 'ratio', min: 0.8 });
    await streamRate(ctx, '', 'paced', bus, raw, { on: 'ratio', min: 0.8 });
    // The floor under the two rows above: the same publishes carrying llmwire's frame per chunk.
    const framed = "raw nats.js: a publish per chunk carrying llmwire's inference.chunk frame";
    await streamRate(
      ctx,
      ', raw nats.js carrying llmwire frames',
      'burst',
      rawEnvelopes,
      raw,
      undefined,
    );
    await streamRate(ctx, '', 'burst', bus, rawEnvelopes, undefined, framed);
    await streamRate(ctx, '', 'paced', bus, rawEnvelopes, undefined, framed);
    await streamRate(ctx, ', binary frames', 'burst', binary, raw, undefined);
    await streamRate(ctx, ', binary frames', 'paced', binary, raw, undefined);
    // The bus as it comes: chunks written in one turn leave as one message, none held back.
    await streamRate(ctx, ', default (same-turn coalescing)', 'burst', turn, raw, undefined);
    await streamRate(ctx, ', default (same-turn coalescing)', 'paced', turn, raw, undefined);
    await streamRate(ctx, `, coalescing ${COALESCE_MS} ms`, 'burst', coalesced, raw, {
      on: 'ratio',
      min: 0.8,
    });
    await streamRate(ctx, `, coalescing ${COALESCE_MS} ms`, 'paced', coalesced, raw, {
      on: 'ratio',
      min: 3,
    });
    const rounds = ctx.quick ? 2 : ITL_ROUNDS;
    const rawItl = await p99Itl(raw, 'paced', rounds);
    const offItl = await p99Itl(bus, 'paced', rounds);
    const onItl = await p99Itl(coalesced, 'paced', rounds);
    ctx.fixed(
      'paced stream p99 inter-token latency, no coalescing',
      offItl,
      'ms',
      'raw nats.js',
      rawItl,
    );
    ctx.fixed(
      `paced stream p99 inter-token latency, coalescing ${COALESCE_MS} ms`,
      onItl,
      'ms',
      'llmwire without coalescing',
      offItl,
      { on: 'added', max: 2 },
    );
  } finally {
    await binary.close();
    await coalesced.close();
    await turn.close();
    await bus.close();
    await rawEnvelopes.close();
    await raw.close();
  }
}

export const natsGroup: BenchGroup = {
  name: 'nats',
  about:
    `The llmwire Bus on the NATS transport (JSON frames, the default, one connection per bus) against raw ` +
    `@nats-io/transport-node on connections of its own, same server, same run. Request/reply: ` +
    `a ${REQUEST_BYTES}-byte JSON body echoed by \`bus.serve\` vs \`nc.request\` + \`msg.respond\` ` +
    `that parse and re-encode the JSON, p50/p99 one at a time and throughput at ${IN_FLIGHT} in ` +
    `flight. Streams: ${STREAMS} concurrent streams of ${CHUNKS} chunks of ~24 bytes through ` +
    "`bus.stream` (credit 64) vs raw publishes of each chunk to the requester's inbox (no flow " +
    'control) then an empty end message; burst writes chunks back to back, paced yields a ' +
    'turn (setImmediate) between chunks as a model does. Rows without coalescing set the Bus ' +
    'option `coalesce: false`; the default rows leave it unset, so chunks written in one turn ' +
    'leave as one message (burst: up to 64; paced: one, a turn apart); coalesced rows use ' +
    `\`coalesce: { maxDelayMs: ${COALESCE_MS} }\`. Inter-token latency is the gap between ` +
    `consecutive chunks of one stream at the reader, p99 over ${ITL_ROUNDS} rounds. ` +
    'A third side is raw nats.js carrying the frame llmwire sends per chunk (an ' +
    '`inference.chunk` envelope made by `codec.encode` and read by `codec.decode`, no flow ' +
    'control): against bare raw it is the cost of the frame alone, and against it llmwire ' +
    'shows what the bus adds on top (credit, stream state, ordering). Without coalescing every ' +
    'token pays for a frame; that cost bounds the rows without coalescing, and coalescing is ' +
    'how llmwire removes it. The binary-frame rows run the same bus with both transports ' +
    "writing the binary encoding (`createCodec({ encoding: 'binary' })`), whose chunk frame " +
    'is less than half the size of the JSON one.',
  async run(ctx) {
    const problem = await natsProblem();
    if (problem !== undefined) {
      ctx.log(`skipped: ${problem}`);
      return { skipped: problem };
    }
    await measure(ctx, randomBytes(4).toString('hex'));
    return { rows: ctx.rows };
  },
};
