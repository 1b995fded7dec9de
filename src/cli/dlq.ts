// `llmwire dlq`: a durable queue's dead letters, read and moved through the transport's
// dead-letter API on the broker itself (sqlite, nats, amqp, redis, or any bus behind a
// gateway's /v1/bus endpoint).
import { ConfigError } from '../protocol/index.js';
import type { DeadLetter, DurableQueue } from '../transport/transport.js';
import { parseWithPositionals, type Options } from './args.js';
import { connectTransport } from './connect.js';
import { MissingError } from './errors.js';
import { timeoutFlag } from './status.js';
import { duration, table } from './table.js';

export const DLQ_HELP = `Usage: llmwire dlq <list | show ID | replay [ID...] [--all] | purge [ID...] [--all]> [options]

Reads and manages the dead letters of one durable queue, on the broker that holds it.

  list            the dead letters: id, reason, attempts, age, kind, subject, last error
  show ID         one dead letter in full (envelope, reason, last error) as JSON
  replay ID...    moves those letters back to the queue with attempts reset (--all: every one)
  purge ID...     deletes those letters for good (--all: every one)

Options (each also as an environment variable, e.g. LLMWIRE_TRANSPORT):
  --transport URL   nats://, amqp://, redis://, ws://HOST:PORT/v1/bus, or sqlite (required)
  --queue NAME      the durable queue (required)
  --data-dir DIR    sqlite: the data dir of the running llmwire (default .llmwire)
  --limit N         list: most letters shown (default 100)
  --all             replay, purge: every dead letter of the queue (no LLMWIRE_ALL: it
                    must be typed)
  --timeout-ms N    how long to wait for the broker (default 5000)
  --json            print JSON
  -h, --help        show this help

Replay and purge by id check every id first and change nothing when one is not a dead letter
of the queue (error not_found). Exit codes: 0 done, 2 bad flags or an unknown id, 3 broker
unreachable.
`;

const OPTIONS: Options = {
  transport: { type: 'string' },
  queue: { type: 'string' },
  'data-dir': { type: 'string' },
  limit: { type: 'string' },
  all: { type: 'boolean' },
  'timeout-ms': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
};

/** How many letters are read to find the ids given to show, replay and purge. */
const SCAN_LIMIT = 100_000;

type Flags = Record<string, string | boolean | undefined>;

export async function dlq(args: string[], out: (line: string) => void): Promise<number> {
  const { values: flags, positionals } = parseWithPositionals('dlq', args, OPTIONS, true, ['all']);
  if (flags.help === true || positionals.length === 0) {
    out(DLQ_HELP);
    return flags.help === true ? 0 : 2;
  }
  const [action, ...ids] = positionals;
  if (!['list', 'show', 'replay', 'purge'].includes(action!)) {
    throw new ConfigError(
      `unknown dlq action '${action}': use list, show ID, replay ID...|--all or purge ID...|--all`,
    );
  }
  const spec = required(flags, 'transport', 'the broker, e.g. --transport nats://127.0.0.1:4222');
  const name = required(flags, 'queue', 'the durable queue, e.g. --queue jobs');
  checkArguments(action!, ids, flags);
  const limit = positive('limit', flags.limit, 100);
  const transport = await connectTransport(spec, {
    dataDir: typeof flags['data-dir'] === 'string' ? flags['data-dir'] : '.llmwire',
    timeoutMs: timeoutFlag(flags['timeout-ms']),
    purpose: 'queues',
  });
  try {
    const queue = transport.queue(name);
    const json = flags.json === true;
    switch (action) {
      case 'list':
        printList(await queue.deadLetters({ limit }), json, out);
        return 0;
      case 'show': {
        const [letter] = await find(queue, ids);
        out(JSON.stringify(letter, null, 2));
        return 0;
      }
      default: {
        const all = flags.all === true;
        if (!all) await find(queue, ids);
        const n =
          action === 'replay'
            ? await queue.replayDeadLetters(all ? undefined : ids)
            : await queue.purgeDeadLetters(all ? undefined : ids);
        const verb = action === 'replay' ? 'replayed' : 'purged';
        out(
          json
            ? JSON.stringify({ [verb]: n })
            : `${verb} ${n} dead letter${n === 1 ? '' : 's'} of queue ${name}`,
        );
        return 0;
      }
    }
  } finally {
    await transport.close();
  }
}

function required(flags: Flags, name: string, example: string): string {
  const value = flags[name];
  if (typeof value !== 'string' || value === '') {
    throw new ConfigError(`dlq needs --${name}: ${example}`);
  }
  return value;
}

function positive(name: string, value: string | boolean | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (typeof value !== 'string' || !/^\d+$/.test(value) || n < 1) {
    throw new ConfigError(`--${name} must be a positive integer, got '${String(value)}'`);
  }
  return n;
}

function checkArguments(action: string, ids: string[], flags: Flags): void {
  const all = flags.all === true;
  if (action === 'list' && (ids.length > 0 || all)) {
    throw new ConfigError('dlq list takes no ids; use dlq show ID for one letter');
  }
  if (action === 'show' && ids.length !== 1) {
    throw new ConfigError('dlq show takes exactly one id, e.g. llmwire dlq show 01J...');
  }
  if ((action === 'replay' || action === 'purge') && all === ids.length > 0) {
    throw new ConfigError(`dlq ${action} takes ids or --all (one of the two)`);
  }
}

/** The letters with these ids, in order; MissingError naming every id that is not there. */
async function find(queue: DurableQueue, ids: string[]): Promise<DeadLetter[]> {
  const letters = new Map(
    (await queue.deadLetters({ limit: SCAN_LIMIT })).map((l) => [l.envelope.id, l]),
  );
  const missing = ids.filter((id) => !letters.has(id));
  if (missing.length > 0) {
    throw new MissingError(
      `no dead letter ${missing.join(', ')} in queue ${queue.name}; 'llmwire dlq list' shows the ids`,
    );
  }
  return ids.map((id) => letters.get(id)!);
}

function printList(letters: DeadLetter[], json: boolean, out: (line: string) => void): void {
  if (json) {
    out(JSON.stringify(letters, null, 2));
    return;
  }
  const now = Date.now();
  table(
    [
      ['ID', 'REASON', 'ATTEMPTS', 'AGE', 'KIND', 'SUBJECT', 'ERROR'],
      ...letters.map((l) => [
        l.envelope.id,
        l.reason,
        String(l.attempts),
        duration(Math.max(0, now - l.deadAt)),
        l.envelope.kind,
        l.envelope.subject,
        l.error === undefined ? '' : `${l.error.code}: ${l.error.message}`.slice(0, 60),
      ]),
    ],
    out,
  );
  if (letters.length === 0) out('(no dead letters)');
}
