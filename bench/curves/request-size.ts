// Curve 4: request/reply latency against payload size, one request in flight: llmwire
// `bus.request` over NATS beside raw nats.js request/reply, and over the embedded transport.
import { connect } from '@nats-io/transport-node';
import { natsProblem } from '../load/brokers.js';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { createBus, type Bus } from '../../src/bus/index.js';
import { createCodec } from '../../src/codec/codec.js';
import { DEFAULT_COMPRESSION } from '../../src/codec/index.js';
import { createMemoryTransport } from '../../src/transport/memory/index.js';
import { createNatsTransport } from '../../src/transport/nats/index.js';
import type { Transport } from '../../src/transport/transport.js';
import { textBody } from '../fixtures.js';
import type { GroupContext } from '../group.js';
import { collect, percentile } from '../harness.js';
import { NATS_URL } from '../../test/helpers/broker-urls.js';
import { fig, publish, sizeText } from './publish.js';

const SIZES = [64, 1024, 16 * 1024, 256 * 1024, 1024 * 1024, 4 * 1024 * 1024];
const QUICK_SIZES = [64, 16 * 1024, 1024 * 1024];
const NATS_ON = 'llmwire bus.request over NATS';
const NATS_OFF = 'llmwire over NATS, compression off';
const encoder = new TextEncoder();
const decoder = new TextDecoder();

interface Side {
  name: string;
  baseline?: boolean;
  /** One request of `body` (JSON text of the given size) and its echoed reply. */
  request(body: { text: string }): Promise<unknown>;
  close(): Promise<void>;
}

async function busSide(
  name: string,
  make: () => Promise<Transport>,
  shared: boolean,
): Promise<Side> {
  const transports: Transport[] = [await make()];
  if (!shared) transports.push(await make());
  const errors: unknown[] = [];
  const onError = (e: unknown) => errors.push(e);
  const server = createBus({ transport: transports[0]!, source: 'bench-size-server', onError });
  const client = createBus({
    transport: transports[transports.length - 1]!,
    source: 'bench-size-client',
    onError,
  });
  const subject = `bench.size.${randomBytes(4).toString('hex')}`;
  server.serve(subject, (msg) => msg.body);
  await Promise.all([server.ready, client.ready]);
  await transports[0]!.flush?.();
  return {
    name,
    request: (body) => client.request(subject, body, { timeoutMs: 30_000 }),
    async close() {
      await closeBuses(client, server);
      await Promise.all(transports.map((t) => t.close()));
    },
  };
}

async function closeBuses(...buses: Bus[]) {
  for (const b of buses) await b.close();
}

/** What an application on raw nats.js writes: JSON in, JSON echoed by msg.respond. */
async function rawSide(): Promise<Side> {
  const server = await connect({ servers: NATS_URL, name: 'bench-size-raw-server' });
  const client = await connect({ servers: NATS_URL, name: 'bench-size-raw-client' });
  const subject = `bench.size.raw.${randomBytes(4).toString('hex')}`;
  server.subscribe(subject, {
    callback: (err, msg) => {
      if (err === null)
        msg.respond(encoder.encode(JSON.stringify(JSON.parse(decoder.decode(msg.data)))));
    },
  });
  await server.flush();
  return {
    name: 'raw nats.js request + msg.respond',
    baseline: true,
    request: async (body) =>
      JSON.parse(
        decoder.decode(
          (await client.request(subject, encoder.encode(JSON.stringify(body)), { timeout: 30_000 }))
            .data,
        ),
      ),
    async close() {
      await client.drain();
      await server.drain();
    },
  };
}

export interface Cell {
  p50: number;
  p99: number;
  n: number;
  /** Why this side could not send this size. */
  refused?: string;
}

/** Requests one at a time for `ms` (at least 5), pushing each latency in ms. */
async function sample(side: Side, body: { text: string }, ms: number, into: number[] | undefined) {
  const until = performance.now() + ms;
  for (let i = 0; ; i++) {
    const t0 = performance.now();
    await side.request(body);
    const t1 = performance.now();
    into?.push(t1 - t0);
    if (t1 >= until && i >= 4) return;
  }
}

export async function requestSizeCurve(ctx: GroupContext): Promise<void> {
  const sizes = ctx.quick ? QUICK_SIZES : SIZES;
  const rounds = ctx.quick ? 1 : 3;
  const roundMs = ctx.quick ? 150 : 600;
  const sides: Side[] = [];
  const problem = await natsProblem();
  if (problem === undefined) {
    sides.push(
      await busSide(
        NATS_ON,
        () => createNatsTransport({ servers: NATS_URL, name: 'bench-size' }),
        false,
      ),
    );
    // The same with the codec's body compression off, to show what it costs at each size.
    sides.push(
      await busSide(
        NATS_OFF,
        () =>
          createNatsTransport({
            servers: NATS_URL,
            name: 'bench-size-plain',
            codec: createCodec({ open: false, compression: false }),
          }),
        false,
      ),
    );
    sides.push(await rawSide());
  } else ctx.log(`NATS sides skipped: ${problem}`);
  sides.push(
    await busSide(
      'llmwire bus.request, embedded (memory)',
      () => Promise.resolve(createMemoryTransport()),
      true,
    ),
  );
  const cells = new Map<string, Cell>();
  const key = (side: { name: string }, size: number) => `${side.name}|${size}`;
  try {
    for (const size of sizes) {
      const body = textBody(size);
      const live: Side[] = [];
      for (const side of sides) {
        try {
          await sample(side, body, roundMs / 3, undefined);
          live.push(side);
        } catch (err) {
          const refused = (err as Error).message.split('\n')[0] ?? String(err);
          cells.set(key(side, size), { p50: NaN, p99: NaN, n: 0, refused });
          ctx.log(`${side.name}, ${sizeText(size)}: refused (${refused})`);
        }
      }
      const got = new Map<Side, number[]>(live.map((s) => [s, []]));
      for (let r = 0; r < rounds; r++) {
        for (let k = 0; k < live.length; k++) {
          const side = live[(r + k) % live.length]!;
          collect();
          await sample(side, body, roundMs, got.get(side));
        }
      }
      for (const side of live) {
        const all = got.get(side)!.sort((a, b) => a - b);
        const cell = { p50: percentile(all, 50), p99: percentile(all, 99), n: all.length };
        cells.set(key(side, size), cell);
        ctx.log(
          `${side.name}, ${sizeText(size)}: p50 ${fig(cell.p50)} ms, p99 ${fig(cell.p99)} ms (${cell.n} requests)`,
        );
      }
    }
  } finally {
    for (const side of sides) await side.close().catch(() => undefined);
  }
  const cell = (side: { name: string }, size: number) => cells.get(key(side, size));
  const series = (pick: 'p50' | 'p99') =>
    sides.map((s) => ({
      name: s.name,
      baseline: s.baseline === true,
      points: sizes.map((size) => [size, cell(s, size)?.[pick] ?? NaN] as const),
    }));
  const show = (c: Cell | undefined) =>
    c === undefined
      ? '—'
      : c.refused !== undefined
        ? `refused`
        : `${fig(c.p50)} / ${fig(c.p99)} (${c.n})`;
  const refusals = [...cells.entries()].filter(([, c]) => c.refused !== undefined);
  const refusedText =
    refusals.length === 0
      ? ''
      : ` Refused: ${refusals.map(([k, c]) => `${k.split('|')[0]} at ${sizeText(Number(k.split('|')[1]))} (${c.refused})`).join('; ')}.`;
  const head = ['Payload', ...sides.map((s) => `${s.name}: p50 / p99 ms (requests)`)];
  const rows = sizes.map((size) => [sizeText(size), ...sides.map((s) => show(cell(s, size)))]);
  const xTicks = (v: number) => sizeText(v);
  const xLabel = 'payload each way (JSON body, log scale)';
  publish(ctx, {
    name: 'request-size-p50',
    chart: {
      title: 'Request/reply p50 latency against payload size',
      xLabel,
      yLabel: 'p50 latency, ms (log scale)',
      logY: true,
      series: series('p50'),
    },
    notes: requestNotes(sides, sizes, cell) + refusedText,
    head,
    rows,
    xTicks,
  });
  publish(ctx, {
    name: 'request-size-p99',
    chart: {
      title: 'Request/reply p99 latency against payload size',
      xLabel,
      yLabel: 'p99 latency, ms (log scale)',
      logY: true,
      series: series('p99'),
    },
    notes: 'Same runs as the chart above.',
    head,
    rows,
    xTicks,
  });
}

/** What the request/reply sweep showed, from its measured cells (exported for re-rendering). */
export function requestNotes(
  sides: readonly { name: string }[],
  sizes: readonly number[],
  cell: (s: { name: string }, n: number) => Cell | undefined,
): string {
  const parts: string[] = [];
  for (const s of sides) {
    const first = cell(s, sizes[0]!);
    const ok = sizes.filter((n) => Number.isFinite(cell(s, n)?.p50 ?? NaN));
    const last = ok[ok.length - 1];
    if (first === undefined || last === undefined) continue;
    const lc = cell(s, last)!;
    // Where p50 first doubles over the smallest payload.
    const knee = ok.find((n) => cell(s, n)!.p50 > first.p50 * 2);
    parts.push(
      `${s.name}: p50 ${fig(first.p50)} ms at ${sizeText(sizes[0]!)}, ${fig(lc.p50)} ms at ${sizeText(last)}` +
        (knee === undefined
          ? ', never twice the smallest payload\u2019s'
          : `; p50 first doubles at ${sizeText(knee)}`) +
        '.',
    );
  }
  const on = sides.find((s) => s.name === NATS_ON);
  const off = sides.find((s) => s.name === NATS_OFF);
  const threshold = DEFAULT_COMPRESSION.thresholdBytes;
  if (on !== undefined && off !== undefined) {
    const compressed = sizes.filter((n) => n >= threshold);
    const faster = compressed.filter((n) => (cell(on, n)?.p50 ?? NaN) < (cell(off, n)?.p50 ?? NaN));
    const slower = compressed.filter((n) => (cell(on, n)?.p50 ?? NaN) > (cell(off, n)?.p50 ?? NaN));
    const list = (ns: number[]) => ns.map(sizeText).join(', ');
    parts.push(
      `The codec gzips bodies of ${sizeText(threshold)} and more by default (level 6, in the ` +
        'calling thread, both ways); the "compression off" line is the same bus without it. ' +
        'Below the threshold the two llmwire lines do the same work. From it up, p50 with ' +
        `compression was lower at ${faster.length === 0 ? 'no size' : list(faster)}` +
        (slower.length === 0 ? '' : ` and higher at ${list(slower)}`) +
        ' than without: the bench body is English prose, which gzip shrinks several times, so ' +
        'fewer bytes cross NATS (and bodies above max_payload go in fewer parts), against the ' +
        'CPU time of gzip and gunzip on each side.',
    );
  }
  return parts.join(' ');
}
