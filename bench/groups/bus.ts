// The bus group: in-process pub/sub, request/reply and streams through createBus over the memory
// transport, against the bare Node EventEmitter code that does the same delivery.
import { EventEmitter } from 'node:events';
import { createBus, type Bus } from '../../src/bus/index.js';
import { createEnvelope } from '../../src/protocol/index.js';
import { createMemoryTransport } from '../../src/transport/memory/index.js';
import { chunkBodies } from '../fixtures.js';
import type { BenchGroup, GroupContext } from '../group.js';
import { drive, sink, type Work } from '../harness.js';

const IN_FLIGHT = 256;
const STREAM_CHUNKS = 256;
const STREAM_CREDIT = 64;
const bodies = chunkBodies();

/** Publishes n messages to one handler; checks every one arrived before returning. */
function busPublish(bus: Bus): Work {
  let delivered = 0;
  bus.subscribe('bench.pub', () => {
    delivered++;
  });
  return (n) => {
    const start = delivered;
    for (let i = 0; i < n; i++) bus.publish('bench.pub', bodies[i & 63]);
    if (delivered - start !== n) throw new Error(`bus delivered ${delivered - start} of ${n}`);
  };
}

/** Sends ready-made envelopes: publish minus envelope creation, to show where time goes. */
function busSend(bus: Bus): Work {
  let delivered = 0;
  bus.subscribe('bench.send', () => {
    delivered++;
  });
  const envs = bodies.map((body) => createEnvelope({ kind: 'event', subject: 'bench.send', body }));
  return (n) => {
    const start = delivered;
    for (let i = 0; i < n; i++) bus.send(envs[i & 63]!);
    if (delivered - start !== n) throw new Error(`bus delivered ${delivered - start} of ${n}`);
  };
}

function emitterPublish(): Work {
  const ee = new EventEmitter();
  let delivered = 0;
  ee.on('msg', () => {
    delivered++;
  });
  return (n) => {
    const start = delivered;
    for (let i = 0; i < n; i++) ee.emit('msg', bodies[i & 63]);
    if (delivered - start !== n) throw new Error(`emitter delivered ${delivered - start} of ${n}`);
  };
}

/** The bare request/reply: a Promise per call, a Map of pending ids, an emitter each way. */
function emitterRequest(): () => Promise<unknown> {
  const ee = new EventEmitter();
  const pending = new Map<number, (reply: unknown) => void>();
  let next = 0;
  ee.on('request', (m: { id: number; body: unknown }) => ee.emit('reply', m.id, m.body));
  ee.on('reply', (id: number, body: unknown) => {
    const resolve = pending.get(id);
    if (resolve === undefined) return;
    pending.delete(id);
    resolve(body);
  });
  return (body: unknown = bodies[0]) =>
    new Promise((resolve) => {
      const id = ++next;
      pending.set(id, resolve);
      ee.emit('request', { id, body });
    });
}

async function* items(n: number) {
  for (let i = 0; i < n; i++) yield bodies[i & 63];
}

async function consume(iterable: AsyncIterable<unknown>): Promise<number> {
  let count = 0;
  for await (const item of iterable) {
    sink(item);
    count++;
  }
  return count;
}

async function measure(ctx: GroupContext, client: Bus, server: Bus): Promise<void> {
  await ctx.rate({
    name: 'publish → 1 subscriber (bus.publish)',
    unit: 'msgs/s',
    subject: busPublish(client),
    baselineName: 'EventEmitter emit/on',
    baseline: emitterPublish(),
    target: { on: 'value', min: 5_000_000 },
  });
  await ctx.rate({
    name: 'prebuilt envelope → 1 subscriber (bus.send)',
    unit: 'msgs/s',
    subject: busSend(client),
    baselineName: 'EventEmitter emit/on',
    baseline: emitterPublish(),
  });

  server.serve('bench.rr', (msg) => msg.body);
  const bareRequest = emitterRequest();
  const busRequest = () => client.request('bench.rr', bodies[0]);
  await ctx.rate({
    name: `request/reply, ${IN_FLIGHT} in flight (bus.serve + bus.request)`,
    unit: 'round trips/s',
    subject: (n) => drive(n, IN_FLIGHT, busRequest),
    baselineName: 'Promise + EventEmitter + Map of pending ids',
    baseline: (n) => drive(n, IN_FLIGHT, () => bareRequest()),
    minN: IN_FLIGHT,
    target: { on: 'value', min: 500_000 },
  });
  await ctx.latency({
    name: 'request/reply latency, 1 in flight',
    subject: busRequest,
    baselineName: 'Promise + EventEmitter + Map of pending ids',
    baseline: () => bareRequest(),
  });

  server.serve('bench.stream', (msg) => items((msg.body as { n: number }).n));
  const stream = async () => {
    const s = client.stream('bench.stream', { n: STREAM_CHUNKS }, { credit: STREAM_CREDIT });
    const got = await consume(s);
    if (got !== STREAM_CHUNKS) throw new Error(`stream gave ${got} of ${STREAM_CHUNKS} chunks`);
  };
  await ctx.rate({
    name: `stream of ${STREAM_CHUNKS} chunks, credit ${STREAM_CREDIT} (bus.stream)`,
    unit: 'chunks/s',
    subject: async (n) => {
      for (let i = 0; i < n; i++) await stream();
    },
    baselineName: 'for await over a bare async generator',
    baseline: async (n) => {
      for (let i = 0; i < n; i++) await consume(items(STREAM_CHUNKS));
    },
    opsPer: STREAM_CHUNKS,
  });
}

export const busGroup: BenchGroup = {
  name: 'bus',
  about:
    'In-process messaging through `createBus` over `createMemoryTransport` (no codec on the ' +
    'transport, so no bytes are made). Publish: one subscriber handler counts deliveries of ' +
    'small chunk bodies; baseline is `EventEmitter` emit/on of the same objects. Request/reply: ' +
    `\`bus.serve\` echoes the body, ${IN_FLIGHT} \`bus.request\` calls in flight on a second ` +
    'bus; baseline is a Promise + EventEmitter round trip with a Map of pending ids. The ' +
    'stream row reads whole streams through `bus.stream` with credit flow control and the ' +
    'default coalescing (the chunks a generator yields in one turn travel as one message; ' +
    'informational).',
  async run(ctx) {
    const transport = createMemoryTransport();
    const errors: unknown[] = [];
    const onError = (err: unknown) => errors.push(err);
    const client = createBus({ transport, source: 'bench-client', onError });
    const server = createBus({ transport, source: 'bench-server', onError });
    try {
      await Promise.all([client.ready, server.ready]);
      await measure(ctx, client, server);
    } finally {
      await client.close();
      await server.close();
      await transport.close();
    }
    if (errors.length > 0)
      throw new Error(`bus reported ${errors.length} errors`, { cause: errors[0] });
    return { rows: ctx.rows };
  },
};
