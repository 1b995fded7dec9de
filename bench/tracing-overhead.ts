// What logs and spans cost on the token path: streamed tokens/s through gateway -> memory bus ->
// sim worker with (a) no logger and no tracer (trace ids still travel), (b) JSON logs at info
// to the null device, (c) logs plus spans exported over OTLP/HTTP to a local receiver. Modes
// alternate round by round and each is reported as the median, and as a ratio to (a).
// Run: npx tsc -p . && node dist/bench/tracing-overhead.js [rounds]
import { createServer } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { devNull } from 'node:os';
import { pino } from 'pino';
import { createBus } from '../src/bus/index.js';
import { createSimBackend } from '../src/llm/backends/sim/index.js';
import { createGateway } from '../src/llm/gateway/server.js';
import { createWorker } from '../src/llm/worker/worker.js';
import { createLogger, setupTracing } from '../src/ops/index.js';
import { createMemoryTransport } from '../src/transport/memory/index.js';

const STREAMS = 32;
const TOKENS = 256;
const REQUESTS_PER_STREAM = 4;
type Mode = 'off' | 'logs' | 'logs+otlp';

async function receiver(): Promise<{ endpoint: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    close: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}

async function run(mode: Mode, endpoint: string): Promise<number> {
  const tracing =
    mode === 'logs+otlp'
      ? setupTracing({ serviceName: 'bench', env: { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint } })
      : undefined;
  const logger =
    mode === 'off'
      ? undefined
      : createLogger({
          level: 'info',
          destination: pino.destination({ dest: devNull, sync: true }),
        });
  const obs = {
    ...(logger === undefined ? {} : { logger }),
    ...(tracing?.tracer ? { tracer: tracing.tracer } : {}),
  };
  const transport = createMemoryTransport();
  const bus = createBus({ transport, source: 'bench' });
  await bus.ready;
  const gateway = createGateway({ bus, port: 0, ...obs });
  const url = await gateway.listen();
  const worker = createWorker({
    bus,
    backend: createSimBackend({ models: ['sim'], ttftMs: 0, itlMs: 0 }),
    id: 'bench-1',
    concurrency: STREAMS,
    heartbeatMs: 100,
    ...obs,
  });
  await worker.start();
  while (gateway.registry.forModel('sim').length === 0) await new Promise((r) => setTimeout(r, 5));
  const body = JSON.stringify({
    model: 'sim',
    messages: [{ role: 'user', content: 'count to many' }],
    max_tokens: TOKENS,
    stream: true,
  });
  const headers = {
    'content-type': 'application/json',
    traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
  };
  const start = performance.now();
  await Promise.all(
    Array.from({ length: STREAMS }, async () => {
      for (let i = 0; i < REQUESTS_PER_STREAM; i++) {
        const res = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers, body });
        await res.arrayBuffer();
      }
    }),
  );
  const seconds = (performance.now() - start) / 1000;
  const tokens = worker.stats.tokens;
  await worker.stop();
  await gateway.close();
  await bus.close();
  await transport.close();
  await tracing?.shutdown();
  return tokens / seconds;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

const rounds = Number(process.argv[2] ?? 5);
const otlp = await receiver();
const results: Record<Mode, number[]> = { off: [], logs: [], 'logs+otlp': [] };
await run('off', otlp.endpoint); // warm-up
for (let r = 0; r < rounds; r++) {
  for (const mode of Object.keys(results) as Mode[])
    results[mode].push(await run(mode, otlp.endpoint));
}
await otlp.close();
const base = median(results.off);
for (const mode of Object.keys(results) as Mode[]) {
  const m = median(results[mode]);
  process.stdout.write(
    `${mode.padEnd(10)} ${m.toFixed(0).padStart(8)} tokens/s  ratio ${(m / base).toFixed(3)}  (runs: ${results[mode].map((x) => x.toFixed(0)).join(', ')})\n`,
  );
}
