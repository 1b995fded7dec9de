// `llmwire up`: starts the embedded bus (in-process pub/sub plus the SQLite journal for durable
// queues), checks every path once, and keeps running until interrupted.
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createBus } from '../bus/index.js';
import { createSqliteTransport } from '../transport/sqlite/index.js';
import { parse, type Options } from './args.js';

export const UP_HELP = `Usage: llmwire up [options]

Starts llmwire embedded in this process: in-process publish/subscribe, request/reply and
streams, with durable queues journaled in SQLite (WAL) under the data directory.

Options:
  --data-dir DIR   where the journal lives (default .llmwire, env LLMWIRE_DATA_DIR)
  --once           check every path, print the report and exit
  -h, --help       show this help
`;

const OPTIONS: Options = {
  'data-dir': { type: 'string' },
  once: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
};

export async function up(args: string[], out: (line: string) => void): Promise<number> {
  const flags = parse('up', args, OPTIONS);
  if (flags.help === true) {
    out(UP_HELP);
    return 0;
  }
  const dataDir = resolve(String(flags['data-dir'] ?? '.llmwire'));
  mkdirSync(dataDir, { recursive: true });
  const journal = join(dataDir, 'journal.db');
  const transport = createSqliteTransport({ path: journal });
  const bus = createBus({ transport, source: 'llmwire-up' });
  await bus.ready;

  const report = await selfCheck(bus);
  out(`llmwire up: embedded bus running (pid ${process.pid})`);
  out(`  transport   ${transport.name}: in-process pub/sub, durable queues in ${journal} (WAL)`);
  out(`  inbox       ${bus.inbox}`);
  for (const line of report) out(`  ${line}`);

  if (flags.once === true) {
    await bus.close();
    await transport.close();
    return 0;
  }
  out('ready; Ctrl-C to stop');
  await new Promise<void>((resolveStop) => {
    const stop = () => resolveStop();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  out('stopping: closing the bus and the journal');
  await bus.close();
  await transport.close();
  return 0;
}

/** Sends one message down every path and reports how each went. */
async function selfCheck(bus: ReturnType<typeof createBus>): Promise<string[]> {
  const lines: string[] = [];
  const echo = bus.serve('llmwire.selfcheck.echo', (req) => req.body);
  const tokens = bus.serve('llmwire.selfcheck.stream', async function* () {
    for (const t of ['llm', 'wire', ' is', ' up']) yield { text: t };
  });
  await Promise.all([echo.ready, tokens.ready]);

  let t0 = performance.now();
  const reply = await bus.request('llmwire.selfcheck.echo', { ping: 1 }, { timeoutMs: 2000 });
  lines.push(
    `request     ok in ${(performance.now() - t0).toFixed(2)} ms (${JSON.stringify(reply.body)})`,
  );

  t0 = performance.now();
  let text = '';
  for await (const c of bus.stream<{ text: string }>(
    'llmwire.selfcheck.stream',
    {},
    { timeoutMs: 2000 },
  )) {
    text += c.text;
  }
  lines.push(`stream      ok in ${(performance.now() - t0).toFixed(2)} ms ("${text}")`);

  t0 = performance.now();
  const queue = bus.queue<{ check: number }>('llmwire-selfcheck', { leaseMs: 5000 });
  const { id } = await queue.enqueue({ check: 1 });
  const [delivery] = await queue.durable.receive({ max: 1, waitMs: 2000 });
  if (delivery?.envelope.id !== id) throw new Error('self-check: queued message did not come back');
  await delivery.ack();
  const stats = await queue.stats();
  lines.push(
    `queue       ok in ${(performance.now() - t0).toFixed(2)} ms (enqueue, receive, ack; ready ${stats.ready}, dead ${stats.dead})`,
  );
  echo.unsubscribe();
  tokens.unsubscribe();
  return lines;
}
