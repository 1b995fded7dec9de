// `llmwire tail`: every message on a subject (wildcards allowed) as it passes, one line each,
// until Ctrl-C. Reads the broker directly, or a gateway's bus through its /v1/bus endpoint.
import type { Envelope } from '../protocol/index.js';
import { ConfigError, InvalidMessageError } from '../protocol/index.js';
import { checkPattern } from '../transport/subject.js';
import { parseWithPositionals, type Options } from './args.js';
import { connectTransport, watchConnection } from './connect.js';
import { maskCredentials } from '../ops/mask.js';
import { untilSignal } from './runtime.js';
import { timeoutFlag } from './status.js';

export const TAIL_HELP = `Usage: llmwire tail SUBJECT [options]

Prints the messages published on SUBJECT as they pass: time, kind, id, subject and a short
summary of the body. '*' matches one token and a final '>' the rest (llm.worker.*.chat,
llm.>). Runs until Ctrl-C; connection changes are reported on stderr.

Options (each also as an environment variable, e.g. LLMWIRE_TRANSPORT):
  --transport URL   nats://, amqp://, redis://, or a gateway's bus ws://HOST:PORT/v1/bus
                    (default ws://127.0.0.1:8787/v1/bus)
  --token KEY       API key for a gateway's bus endpoint, when it requires one
  --count N         exit after N messages
  --timeout-ms N    how long to wait for the first connection (default 5000)
  --json            one JSON envelope per line (NDJSON) instead of the summary
  -h, --help        show this help

Exit codes: 0 stopped, 2 bad flags, 3 broker unreachable.
`;

const OPTIONS: Options = {
  transport: { type: 'string' },
  token: { type: 'string' },
  count: { type: 'string' },
  'timeout-ms': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
};

export async function tail(
  args: string[],
  out: (line: string) => void,
  err: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
): Promise<number> {
  const { values: flags, positionals } = parseWithPositionals('tail', args, OPTIONS);
  if (flags.help === true) {
    out(TAIL_HELP);
    return 0;
  }
  if (positionals.length !== 1) {
    throw new ConfigError("tail takes one subject pattern, e.g. llmwire tail 'llm.>'");
  }
  const pattern = positionals[0]!;
  try {
    checkPattern(pattern);
  } catch (cause) {
    if (cause instanceof InvalidMessageError) throw new ConfigError(cause.message, { cause });
    throw cause;
  }
  let count = Infinity;
  if (flags.count !== undefined) {
    count = Number(flags.count);
    if (typeof flags.count !== 'string' || !/^\d+$/.test(flags.count) || count < 1) {
      throw new ConfigError(`--count must be a positive integer, got '${String(flags.count)}'`);
    }
  }
  const spec = typeof flags.transport === 'string' ? flags.transport : 'ws://127.0.0.1:8787/v1/bus';
  const transport = await connectTransport(spec, {
    dataDir: '.llmwire',
    token: typeof flags.token === 'string' ? flags.token : undefined,
    timeoutMs: timeoutFlag(flags['timeout-ms']),
    purpose: 'messages',
  });
  watchConnection(transport, spec, err);
  let seen = 0;
  let enough: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (enough = resolve));
  const json = flags.json === true;
  const sub = transport.subscribe(pattern, (env) => {
    if (seen >= count) return;
    seen++;
    out(json ? JSON.stringify(env, jsonValue) : line(env));
    if (seen >= count) enough();
  });
  try {
    await sub.ready;
    err(`tailing ${pattern} on ${maskCredentials(spec)}; Ctrl-C to stop`);
    await Promise.race([done, untilSignal()]);
  } finally {
    sub.unsubscribe();
    await transport.close();
  }
  err(`${seen} message${seen === 1 ? '' : 's'}`);
  return 0;
}

/** Bytes in JSON output as base64 (JSON has no bytes). */
function jsonValue(_key: string, value: unknown): unknown {
  return value instanceof Uint8Array ? Buffer.from(value).toString('base64') : value;
}

function line(env: Envelope): string {
  const time = new Date(env.ts).toISOString().slice(11, 23);
  return `${time}  ${env.kind}  ${env.id}  ${env.subject}  ${summary(env)}`;
}

const SUMMARY_CHARS = 100;

/** A short, single-line view of the body. */
export function summary(env: Envelope): string {
  if (env.payload !== undefined) return `<${env.payload.byteLength} sealed bytes>`;
  const body = env.body;
  if (body === undefined) return '';
  let text: string;
  if (body instanceof Uint8Array) text = `<${body.byteLength} bytes>`;
  else if (typeof body === 'string') text = JSON.stringify(body);
  else text = JSON.stringify(body, jsonValue) ?? typeof body;
  text = text.replace(/[\r\n]+/g, ' ');
  return text.length > SUMMARY_CHARS ? `${text.slice(0, SUMMARY_CHARS - 1)}…` : text;
}
