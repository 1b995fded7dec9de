// `llmwire blob`: put a file as a blob, download one (resuming from its part file), list and
// remove them, on the bus a worker would join: the local `llmwire up` over its WebSocket hub by
// default (its blob service), or a broker whose store every process reaches (nats://, redis://).
import { stat } from 'node:fs/promises';
import { createBus, type BlobPutOptions, type Bus } from '../bus/index.js';
import { ConfigError } from '../protocol/index.js';
import { isValidSubject } from '../transport/subject.js';
import { intFlag, parseWithPositionals, type Options } from './args.js';
import { connectTransport } from './connect.js';
import { MissingError } from './errors.js';
import { bytes, progressBar } from './progress.js';
import { table } from './table.js';
import { BROKER_HELP, BROKER_OPTIONS, brokerFromFlags } from './tls.js';

export const BLOB_HELP = `Usage: llmwire blob <command> [options]

Moves files of any size as blobs: checksummed parts and a manifest on the bus's blob store.

  put FILE --name NAME [--version V]   writes FILE as a blob (- reads standard input, with
                                       --version); a put started again after an
                                       interruption writes only the parts not yet stored
  get NAME --out FILE [--version V]    downloads a blob to FILE (the newest version unless one
                                       is named); parts go into FILE.part first, so a download
                                       started again keeps what it had and fetches the rest
  ls [PREFIX]                          the blobs (whose names start with PREFIX)
  rm NAME [--version V]                removes one version, or the whole blob

Options (each also as an environment variable, e.g. LLMWIRE_CONNECT):
  --connect URL       bus to use (default ws://127.0.0.1:8787/v1/bus, the local 'llmwire up',
                      which serves its store), or a broker whose store every process reaches:
                      nats://HOST:4222, redis://HOST:6379
  --connect-timeout-ms N  how long to keep trying to reach it (default 10000), then exit 3
  --token KEY         API key for the bus endpoint (put and rm need an operator's; get and ls
                      a worker's or an operator's)
  --inbox-prefix P    root of its reply subjects (default _INBOX); on NATS with
                      'llmwire nats-config' users: _INBOX.<its NATS user>
  --name NAME         put: the blob's name (letters, digits and "._/:-", e.g. models/llama/q4)
  --version V         put: the version to write (default: derived from the file's SHA-256, so
                      the same file puts to the same version); get, rm: the version
  --content-type T    put: stored in the manifest (default application/octet-stream)
  --part-bytes N      put: bytes per part, 65536 to 67108864 (default 4 MiB; 1 MiB at most
                      through the blob service of 'llmwire up')
  --concurrency N     parts in flight (default 4)
  --out FILE          get: where the blob goes
  --progress          draw the progress bar even when stderr is not a terminal (it is drawn
                      on a terminal and left out otherwise)
  --json              print the result as JSON
${BROKER_HELP}  -h, --help          show this help

Exit codes: 0 done, 2 bad flags, a missing file or blob, or a refused request (forbidden),
3 bus unreachable.
`;

const OPTIONS: Options = {
  connect: { type: 'string' },
  'connect-timeout-ms': { type: 'string' },
  token: { type: 'string' },
  'inbox-prefix': { type: 'string' },
  name: { type: 'string' },
  version: { type: 'string' },
  'content-type': { type: 'string' },
  'part-bytes': { type: 'string' },
  concurrency: { type: 'string' },
  out: { type: 'string' },
  progress: { type: 'boolean' },
  json: { type: 'boolean' },
  ...BROKER_OPTIONS,
  help: { type: 'boolean', short: 'h' },
};

type Flags = Record<string, string | boolean | undefined>;

/** What each command takes besides the connection flags, for a clear error on the rest. */
const TAKES: Record<string, { args: [number, number]; usage: string; flags: string[] }> = {
  put: {
    args: [1, 1],
    usage: 'put FILE --name NAME',
    flags: ['name', 'version', 'content-type', 'part-bytes', 'concurrency', 'progress'],
  },
  get: {
    args: [1, 1],
    usage: 'get NAME --out FILE',
    flags: ['version', 'out', 'concurrency', 'progress'],
  },
  ls: { args: [0, 1], usage: 'ls [PREFIX]', flags: [] },
  rm: { args: [1, 1], usage: 'rm NAME', flags: ['version'] },
};
const COMMAND_FLAGS = new Set(Object.values(TAKES).flatMap((t) => t.flags));

function str(flags: Flags, name: string): string | undefined {
  const v = flags[name];
  return typeof v === 'string' ? v : undefined;
}

/** Checks the command, its arguments and that no flag of another command was given. */
function checkCommand(command: string | undefined, args: string[], argv: string[]) {
  const takes = command === undefined ? undefined : TAKES[command];
  if (takes === undefined) {
    throw new ConfigError(
      `unknown blob command '${command ?? ''}': use put FILE --name NAME, get NAME --out FILE, ls [PREFIX] or rm NAME`,
    );
  }
  const [min, max] = takes.args;
  if (args.length < min || args.length > max) {
    throw new ConfigError(
      `llmwire blob ${takes.usage}: ${args.length < min ? 'missing' : 'too many'} arguments${args.length > max ? ` ('${args.slice(max).join(' ')}')` : ''}`,
    );
  }
  for (const name of COMMAND_FLAGS) {
    const typed = argv.some((a) => a === `--${name}` || a.startsWith(`--${name}=`));
    if (typed && !takes.flags.includes(name)) {
      throw new ConfigError(`--${name} does not apply to 'llmwire blob ${command}'`);
    }
  }
  return takes;
}

export async function blob(argv: string[], out: (line: string) => void): Promise<number> {
  const { values: flags, positionals } = parseWithPositionals('blob', argv, OPTIONS, true);
  if (flags.help === true || positionals.length === 0) {
    out(BLOB_HELP);
    return flags.help === true ? 0 : 2;
  }
  const [command, ...args] = positionals;
  checkCommand(command, args, argv);
  // Everything that can be checked before connecting is: a typo fails at once.
  const concurrency = intFlag('concurrency', flags.concurrency, 4, 1, 64);
  const partBytes =
    flags['part-bytes'] === undefined
      ? undefined
      : intFlag('part-bytes', flags['part-bytes'], 0, 64 * 1024, 64 * 1024 * 1024);
  let file: { path: string; size: number | undefined } | undefined;
  if (command === 'put') {
    if (str(flags, 'name') === undefined) {
      throw new ConfigError('llmwire blob put FILE needs --name NAME, the name of the blob');
    }
    file = await fileToPut(args[0]!);
    if (file.path === '-' && str(flags, 'version') === undefined) {
      throw new ConfigError(
        'llmwire blob put - (standard input) needs --version V: a stream has no file to derive it from',
      );
    }
  }
  if (command === 'get' && str(flags, 'out') === undefined) {
    throw new ConfigError('llmwire blob get NAME needs --out FILE, where the blob goes');
  }
  const inboxPrefix = str(flags, 'inbox-prefix');
  if (inboxPrefix !== undefined && !isValidSubject(inboxPrefix)) {
    throw new ConfigError(`--inbox-prefix must be a subject, got '${inboxPrefix}'`);
  }
  const url = str(flags, 'connect') ?? 'ws://127.0.0.1:8787/v1/bus';
  const transport = await connectTransport(url, {
    dataDir: '.llmwire',
    token: str(flags, 'token'),
    broker: brokerFromFlags(flags),
    ...(inboxPrefix === undefined ? {} : { inboxPrefix }),
    timeoutMs: intFlag('connect-timeout-ms', flags['connect-timeout-ms'], 10_000),
    purpose: 'messages',
    onRetry: (line) => process.stderr.write(`${line}\n`),
  });
  const bus = createBus({
    transport,
    source: 'llmwire-blob',
    ...(inboxPrefix === undefined ? {} : { inboxPrefix }),
    onError: () => undefined,
  });
  // Ctrl-C stops between parts; what was done stays (a get keeps its part file).
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    await bus.ready;
    const run = { bus, flags, args, out, signal: controller.signal, concurrency };
    switch (command) {
      case 'put':
        return await put(run, file!, partBytes);
      case 'get':
        return await get(run);
      case 'ls':
        return await list(run);
      default:
        return await remove(run);
    }
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    await bus.close();
    await transport.close();
  }
}

interface Run {
  bus: Bus;
  flags: Flags;
  args: string[];
  out: (line: string) => void;
  signal: AbortSignal;
  concurrency: number;
}

async function fileToPut(path: string): Promise<{ path: string; size: number | undefined }> {
  if (path === '-') return { path, size: undefined };
  const info = await stat(path).catch((err: NodeJS.ErrnoException) => {
    throw new MissingError(
      err.code === 'ENOENT'
        ? `no file at ${path}: name the file to put`
        : `cannot read ${path}: ${err.message}`,
      { cause: err },
    );
  });
  if (!info.isFile()) throw new ConfigError(`${path} is not a file: name a file to put`);
  return { path, size: info.size };
}

async function put(run: Run, file: { path: string; size: number | undefined }, partBytes?: number) {
  const name = str(run.flags, 'name')!;
  const version = str(run.flags, 'version');
  const contentType = str(run.flags, 'content-type');
  const bar = progressBar(`put ${name}`, file.size, run.flags.progress === true || undefined);
  let moved = 0;
  let kept = 0;
  try {
    const options: BlobPutOptions = {
      ...(version === undefined ? {} : { version }),
      ...(contentType === undefined ? {} : { contentType }),
      ...(partBytes === undefined ? {} : { partBytes }),
      concurrency: run.concurrency,
      signal: run.signal,
      onProgress: (p) => {
        if (p.moved) moved++;
        else kept++;
        bar.update(p);
      },
    };
    const manifest =
      file.path === '-'
        ? await run.bus.blobs.put(name, process.stdin as AsyncIterable<Uint8Array>, options)
        : await run.bus.blobs.putFile(name, file.path, options);
    bar.done();
    const result = {
      name,
      version: manifest.version,
      size: manifest.size,
      parts: manifest.parts.length,
      moved,
      kept,
      sum: manifest.sum,
    };
    run.out(
      run.flags.json === true
        ? JSON.stringify(result)
        : `put ${name}@${manifest.version}: ${bytes(manifest.size)} in ${manifest.parts.length} parts (${moved} written, ${kept} already stored) ${manifest.sum}`,
    );
    return 0;
  } finally {
    bar.done();
  }
}

async function get(run: Run) {
  const name = run.args[0]!;
  const version = str(run.flags, 'version');
  const path = str(run.flags, 'out')!;
  const bar = progressBar(`get ${name}`, undefined, run.flags.progress === true || undefined);
  try {
    const done = await run.bus.blobs.getFile(name, path, {
      ...(version === undefined ? {} : { version }),
      concurrency: run.concurrency,
      signal: run.signal,
      onProgress: (p) => bar.update(p),
    });
    bar.done();
    const m = done.manifest;
    const result = {
      name,
      version: m.version,
      size: m.size,
      parts: m.parts.length,
      fetched: done.fetched,
      reused: done.reused,
      sum: m.sum,
      out: path,
    };
    run.out(
      run.flags.json === true
        ? JSON.stringify(result)
        : `got ${name}@${m.version} to ${path}: ${bytes(m.size)}, ${done.fetched} parts fetched, ${done.reused} kept from ${path}.part; ${m.sum} verified`,
    );
    return 0;
  } finally {
    bar.done();
  }
}

async function list(run: Run) {
  const entries = await run.bus.blobs.list(run.args[0] ?? '');
  if (run.flags.json === true) {
    run.out(
      JSON.stringify(
        entries.map((e) => ({
          name: e.name,
          versions: e.versions,
          latest: {
            version: e.latest.version,
            size: e.latest.size,
            parts: e.latest.parts.length,
            sum: e.latest.sum,
            contentType: e.latest.contentType,
            createdAt: e.latest.createdAt,
          },
        })),
      ),
    );
    return 0;
  }
  if (entries.length === 0) {
    run.out(run.args[0] === undefined ? 'no blobs' : `no blobs under '${run.args[0]}'`);
    return 0;
  }
  table(
    [
      ['NAME', 'NEWEST', 'VERSIONS', 'SIZE', 'PARTS', 'CREATED'],
      ...entries.map((e) => [
        e.name,
        e.latest.version,
        String(e.versions.length),
        bytes(e.latest.size),
        String(e.latest.parts.length),
        new Date(e.latest.createdAt).toISOString(),
      ]),
    ],
    run.out,
  );
  return 0;
}

async function remove(run: Run) {
  const name = run.args[0]!;
  const version = str(run.flags, 'version');
  const removed = await run.bus.blobs.delete(name, version === undefined ? {} : { version });
  if (!removed) {
    throw new MissingError(
      `no blob '${name}'${version === undefined ? '' : ` version '${version}'`} to remove; 'llmwire blob ls' shows the blobs`,
    );
  }
  run.out(
    run.flags.json === true
      ? JSON.stringify({ removed: name, ...(version === undefined ? {} : { version }) })
      : `removed ${name}${version === undefined ? ' (every version)' : `@${version}`}`,
  );
  return 0;
}
