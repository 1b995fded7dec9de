// `llmwire status`: the gateway's workers, admission queues and bus connection as tables, and
// with --transport and --queue the counts of durable queues read from the broker itself.
import { ConfigError } from '../protocol/index.js';
import type { QueueStats } from '../transport/transport.js';
import type { GatewayStatus } from '../llm/gateway/status.js';
import { parse, type Options } from './args.js';
import { connectTransport } from './connect.js';
import { maskCredentials } from '../ops/mask.js';
import { UnreachableError } from './errors.js';
import { heldColumn, rolloutRows } from './params-table.js';
import { duration, table } from './table.js';

export const STATUS_HELP = `Usage: llmwire status [options]

Shows the gateway's live workers (models, load, heartbeat), each model's admission queue
(depth, oldest wait) and the gateway's bus connection. With --transport and --queue, also the
counts of durable queues read straight from the broker.

Options (each also as an environment variable, e.g. LLMWIRE_GATEWAY):
  --gateway URL        gateway base URL (default http://127.0.0.1:8787; --url is the same)
  --key KEY            an operator or observer key, when the gateway has credentials
  --transport URL      broker holding durable queues: nats://, amqp://, redis://, ws://HOST/v1/bus,
                       or sqlite (the journal in --data-dir); without --gateway, only the broker
                       is asked
  --queue NAMES        durable queue(s) to count, comma-separated (with --transport)
  --data-dir DIR       sqlite: the data dir of the running llmwire (default .llmwire)
  --timeout-ms N       how long to wait for the gateway or broker (default 5000)
  --json               print JSON instead of tables
  -h, --help           show this help

Exit codes: 0 shown, 2 bad flags or an error answer, 3 gateway or broker unreachable.
`;

const OPTIONS: Options = {
  gateway: { type: 'string' },
  url: { type: 'string' },
  key: { type: 'string' },
  transport: { type: 'string' },
  queue: { type: 'string' },
  'data-dir': { type: 'string' },
  'timeout-ms': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
};

export interface QueueCounts extends QueueStats {
  name: string;
}

export function timeoutFlag(value: string | boolean | undefined, fallback = 5000): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (typeof value !== 'string' || !/^\d+$/.test(value) || n < 1) {
    throw new ConfigError(`--timeout-ms must be a positive integer, got '${String(value)}'`);
  }
  return n;
}

export function queueNames(value: string | boolean | undefined): string[] {
  const names = typeof value === 'string' ? value.split(',').map((q) => q.trim()) : [];
  if (names.length === 0 || names.some((q) => q === '')) {
    throw new ConfigError(
      '--queue needs a queue name (several comma-separated), e.g. --queue jobs',
    );
  }
  return names;
}

export async function status(args: string[], out: (line: string) => void): Promise<number> {
  const flags = parse('status', args, OPTIONS);
  if (flags.help === true) {
    out(STATUS_HELP);
    return 0;
  }
  const timeoutMs = timeoutFlag(flags['timeout-ms']);
  const transport = typeof flags.transport === 'string' ? flags.transport : undefined;
  if (transport === undefined && flags.queue !== undefined) {
    throw new ConfigError('--queue needs --transport: the broker that holds the queue');
  }
  const given = flags.gateway ?? flags.url;
  const askGateway = given !== undefined || transport === undefined;
  const base = (typeof given === 'string' ? given : 'http://127.0.0.1:8787')
    .replace(/\/+$/, '')
    .replace(/\/v1$/, '');
  const key = typeof flags.key === 'string' ? flags.key : undefined;
  const gateway = askGateway ? await fetchStatus(base, key, timeoutMs) : undefined;
  const queues =
    transport === undefined
      ? undefined
      : await queueCounts(transport, queueNames(flags.queue), {
          dataDir: typeof flags['data-dir'] === 'string' ? flags['data-dir'] : '.llmwire',
          timeoutMs,
        });
  if (flags.json === true) {
    out(
      JSON.stringify({ ...(gateway ?? {}), ...(queues ? { durableQueues: queues } : {}) }, null, 2),
    );
    return 0;
  }
  if (gateway !== undefined) printGateway(base, gateway, out);
  if (queues !== undefined) {
    if (gateway !== undefined) out('');
    table(
      [
        ['QUEUE', 'READY', 'DELAYED', 'IN-FLIGHT', 'DEAD'],
        ...queues.map((q) => [q.name, q.ready, q.delayed, q.leased, q.dead].map(String)),
      ],
      out,
    );
  }
  return 0;
}

async function fetchStatus(
  base: string,
  key: string | undefined,
  timeoutMs: number,
): Promise<GatewayStatus> {
  const headers: Record<string, string> =
    key === undefined ? {} : { authorization: `Bearer ${key}` };
  let res: Response;
  try {
    res = await fetch(`${base}/v1/llmwire/status`, {
      headers,
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (cause) {
    const reason = (cause as Error).cause ?? cause;
    throw new UnreachableError(
      `cannot reach the gateway at ${maskCredentials(base)}: ${(reason as Error).message}; is 'llmwire up' or 'llmwire gateway' running there?`,
      { cause },
    );
  }
  if (!res.ok) {
    throw new ConfigError(
      `gateway at ${maskCredentials(base)} answered ${res.status}: ${await res.text()}`,
    );
  }
  return (await res.json()) as GatewayStatus;
}

/** Counts of durable queues straight from the broker. */
export async function queueCounts(
  spec: string,
  names: string[],
  options: { dataDir: string; timeoutMs: number },
): Promise<QueueCounts[]> {
  const transport = await connectTransport(spec, { ...options, purpose: 'queues' });
  try {
    const out: QueueCounts[] = [];
    for (const name of names) out.push({ name, ...(await transport.queue(name).stats()) });
    return out;
  } finally {
    await transport.close();
  }
}

function printGateway(base: string, s: GatewayStatus, out: (line: string) => void): void {
  const since = duration(Math.max(0, s.time - s.bus.since));
  out(
    `gateway ${maskCredentials(base)}  bus ${s.bus.transport} ${s.bus.state} (for ${since})${s.bus.lastError ? `  last error: ${s.bus.lastError}` : ''}`,
  );
  out('');
  table(
    [
      ['WORKER', 'STATE', 'MODELS', 'LOAD', 'HEARTBEAT', 'HEALTH', 'PARAMS'],
      ...s.workers.map((w) => [
        w.id,
        w.status,
        w.models.join(','),
        `${w.inflight}/${w.capacity}`,
        `${duration(w.lastHeartbeatAgeMs)} ago`,
        w.health,
        heldColumn(w.params ?? []),
      ]),
    ],
    out,
  );
  if (s.workers.length === 0) out('(no live workers)');
  if (s.rollouts !== undefined && s.rollouts.length > 0) {
    out('');
    table(rolloutRows(s.rollouts), out);
  }
  if (s.queues.length === 0) return;
  out('');
  table(
    [
      ['MODEL', 'QUEUED', 'IN-FLIGHT', 'SHARE', 'OLDEST WAIT', 'SERVICE'],
      ...s.queues.map((q) => [
        q.model,
        String(q.depth),
        `${q.inflight}/${q.capacity}`,
        String(q.share),
        q.oldestWaitMs === null ? '-' : duration(q.oldestWaitMs),
        q.serviceMs === null ? '-' : duration(q.serviceMs),
      ]),
    ],
    out,
  );
}
