// `llmwire status`: the gateway's workers and models as a table.
import { parse, type Options } from './args.js';
import { ConfigError } from '../protocol/index.js';

export const STATUS_HELP = `Usage: llmwire status [options]

Shows the gateway's live workers (models, load, state) and its readiness.

Options:
  --url URL    gateway base URL (default http://127.0.0.1:8787)
  --key KEY    API key
  --json       print JSON instead of a table
  -h, --help   show this help
`;

const OPTIONS: Options = {
  url: { type: 'string' },
  key: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
};

interface WorkerRow {
  id: string;
  status: string;
  models: string[];
  capacity: number;
  inflight: number;
  lastSeenMs: number;
}

export async function status(args: string[], out: (line: string) => void): Promise<number> {
  const flags = parse('status', args, OPTIONS);
  if (flags.help === true) {
    out(STATUS_HELP);
    return 0;
  }
  const base = (typeof flags.url === 'string' ? flags.url : 'http://127.0.0.1:8787')
    .replace(/\/+$/, '')
    .replace(/\/v1$/, '');
  const headers: Record<string, string> = {};
  if (typeof flags.key === 'string') headers.authorization = `Bearer ${flags.key}`;
  let res: Response;
  try {
    res = await fetch(`${base}/v1/llmwire/workers`, { headers, signal: AbortSignal.timeout(5000) });
  } catch (cause) {
    throw new ConfigError(
      `cannot reach the gateway at ${base}: ${(cause as Error).message}; is 'llmwire up' running?`,
      { cause },
    );
  }
  if (!res.ok)
    throw new ConfigError(`gateway at ${base} answered ${res.status}: ${await res.text()}`);
  const body = (await res.json()) as { workers: WorkerRow[] };
  if (flags.json === true) {
    out(JSON.stringify(body, null, 2));
    return 0;
  }
  const rows = [
    ['WORKER', 'STATE', 'MODELS', 'LOAD', 'SEEN'],
    ...body.workers.map((w) => [
      w.id,
      w.status,
      w.models.join(','),
      `${w.inflight}/${w.capacity}`,
      `${(w.lastSeenMs / 1000).toFixed(1)}s ago`,
    ]),
  ];
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  for (const r of rows)
    out(
      r
        .map((cell, c) => cell.padEnd(widths[c]!))
        .join('  ')
        .trimEnd(),
    );
  if (body.workers.length === 0) out('(no live workers)');
  return 0;
}
