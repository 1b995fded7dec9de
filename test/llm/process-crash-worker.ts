// A worker process built as `llmwire worker --backend sim` builds one (same defaults, same
// transport, same drain on SIGTERM), plus the simulator's crash injection, which the CLI has no
// flag for: after `crashAfterTokens` deltas the process SIGKILLs itself (failure mode 'exit').
// Argument: one JSON object {connect, id, crashAfterTokens, ttftMs?, itlMs?}.
import { createBus } from '../../src/bus/index.js';
import { createBackend } from '../../src/llm/backends/index.js';
import { createWorker } from '../../src/llm/worker/worker.js';
import { openTransport, untilSignal } from '../../src/cli/runtime.js';

interface Args {
  connect: string;
  id: string;
  crashAfterTokens: number;
  ttftMs?: number;
  itlMs?: number;
}

const args = JSON.parse(process.argv[2] ?? '{}') as Args;
const backend = await createBackend({
  kind: 'sim',
  models: ['sim'],
  ttftMs: args.ttftMs ?? 20,
  itlMs: args.itlMs ?? 10,
  failure: { crashAfterTokens: args.crashAfterTokens, mode: 'exit' },
});
const transport = await openTransport(args.connect, { dataDir: '.llmwire' });
const bus = createBus({ transport, source: 'llmwire-worker' });
await bus.ready;
const worker = createWorker({ bus, backend, id: args.id, concurrency: 16 });
await worker.start();
process.stdout.write(
  `llmwire worker ${worker.id}: sim serving sim via ${args.connect}, crashing after ${args.crashAfterTokens} tokens\n`,
);
await untilSignal();
await worker.drain(30_000);
await bus.close();
await transport.close();
