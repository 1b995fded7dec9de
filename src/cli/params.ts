// `llmwire params push | status`: publish a new version of a model's weights or of a LoRA
// adapter to the fleet, and see the current rollouts with how far the workers have got. Both
// reach the bus the way `llmwire worker` does (--connect, default the local `llmwire up`).
import { createBus, type Bus } from '../bus/index.js';
import { WorkerRegistry } from '../llm/gateway/registry.js';
import { GatewayRollouts } from '../llm/gateway/rollouts.js';
import { createParams } from '../llm/params/client.js';
import { llmSubjects, validateNamespace } from '../llm/subjects.js';
import { ConfigError } from '../protocol/index.js';
import type { Transport } from '../transport/transport.js';
import { intFlag, parseWithPositionals, type Options } from './args.js';
import { connectService } from './connect.js';
import { rolloutRows, heldColumn } from './params-table.js';
import { duration, table } from './table.js';
import { BROKER_HELP, BROKER_OPTIONS, brokerFromFlags } from './tls.js';

export const PARAMS_HELP = `Usage: llmwire params push FILE --model M [--adapter A] --version V [--share S]
       llmwire params status

push    puts FILE (weights or a LoRA adapter) as the blob params/M/base or params/M/adapter/A,
        version V, and makes it the current version: every worker serving M downloads it,
        checks its SHA-256, loads it and announces it. With --share S (0 < S <= 1), that share
        of the requests for M (or M@A) that name no version go to V, the rest to the version
        it replaces; push the same version again with --share 1 to complete the rollout.
        Operators only. Running the same push again after an interruption resumes the upload.
status  the current rollouts, how many of the model's workers have loaded each, and what
        every worker holds (heard from their heartbeats for --wait-ms).

Options (each also as an environment variable, e.g. LLMWIRE_CONNECT):
  --connect URL       bus to join (default ws://127.0.0.1:8787/v1/bus), as 'llmwire worker'
  --connect-timeout-ms N  how long to keep trying to reach it (default 10000), then exit 3
  --token KEY         an operator key (push), or an operator or observer key (status)
  --namespace NAME    the deployment's namespace (subjects NAME.llm.*)
  --inbox-prefix P    root of its reply subjects (default _INBOX)
  --model M           push: the model the file belongs to
  --adapter A         push: the LoRA adapter's name; absent: the model's own weights
  --version V         push: the version (letters, digits and "._+-")
  --share S           push: share of the unpinned traffic for V, 0 < S <= 1 (default 1)
  --part-bytes N      push: bytes per blob part (default 4194304)
  --timeout-ms N      how long to wait for the rollout service (default 30000)
  --wait-ms N         status: how long to listen for worker heartbeats (default 2500)
  --json              print JSON
${BROKER_HELP}  -h, --help          show this help

Exit codes: 0 done, 2 bad flags or an error answer (forbidden, not_found), 3 bus unreachable.
`;

const OPTIONS: Options = {
  connect: { type: 'string' },
  'connect-timeout-ms': { type: 'string' },
  token: { type: 'string' },
  namespace: { type: 'string' },
  'inbox-prefix': { type: 'string' },
  model: { type: 'string' },
  adapter: { type: 'string' },
  version: { type: 'string' },
  share: { type: 'string' },
  'part-bytes': { type: 'string' },
  'timeout-ms': { type: 'string' },
  'wait-ms': { type: 'string' },
  json: { type: 'boolean' },
  ...BROKER_OPTIONS,
  help: { type: 'boolean', short: 'h' },
};

type Flags = Record<string, string | boolean | undefined>;

function str(flags: Flags, name: string): string | undefined {
  const v = flags[name];
  return typeof v === 'string' ? v : undefined;
}

function shareFlag(value: string | undefined): number {
  if (value === undefined) return 1;
  const n = Number(value);
  if (!/^(0?\.\d+|1(\.0*)?|0)$/.test(value) || !(n > 0 && n <= 1)) {
    throw new ConfigError(`--share must be a number above 0 and at most 1, got '${value}'`);
  }
  return n;
}

async function join(
  flags: Flags,
  body: (bus: Bus, namespace: string | undefined) => Promise<number>,
): Promise<number> {
  const namespace =
    str(flags, 'namespace') === undefined ? undefined : validateNamespace(str(flags, 'namespace')!);
  const url = str(flags, 'connect') ?? 'ws://127.0.0.1:8787/v1/bus';
  const inboxPrefix = str(flags, 'inbox-prefix');
  const inbox = inboxPrefix === undefined ? {} : { inboxPrefix };
  const transport: Transport = await connectService(
    url,
    {
      dataDir: '.llmwire',
      token: str(flags, 'token'),
      broker: brokerFromFlags(flags),
      ...inbox,
      timeoutMs: intFlag('connect-timeout-ms', flags['connect-timeout-ms'], 10_000),
    },
    (line) => process.stderr.write(`${line}\n`),
  );
  const bus = createBus({ transport, ...inbox, onError: () => undefined });
  try {
    await bus.ready;
    return await body(bus, namespace);
  } finally {
    await bus.close();
    await transport.close();
  }
}

export async function params(args: string[], out: (line: string) => void): Promise<number> {
  const { values: flags, positionals } = parseWithPositionals('params', args, OPTIONS);
  const [sub, ...rest] = positionals;
  if (flags.help === true || sub === undefined) {
    out(PARAMS_HELP);
    return flags.help === true ? 0 : 2;
  }
  const timeoutMs = intFlag('timeout-ms', flags['timeout-ms'], 30_000);
  if (sub === 'push') {
    if (rest.length !== 1) {
      throw new ConfigError(
        `params push takes one FILE, got ${rest.length}; e.g. llmwire params push lora.gguf --model M --adapter A --version v2`,
      );
    }
    const model = str(flags, 'model');
    const version = str(flags, 'version');
    if (model === undefined || version === undefined) {
      throw new ConfigError('params push needs --model and --version');
    }
    const adapter = str(flags, 'adapter');
    const share = shareFlag(str(flags, 'share'));
    const partBytes =
      flags['part-bytes'] === undefined ? undefined : intFlag('part-bytes', flags['part-bytes'], 0);
    return join(flags, async (bus, namespace) => {
      const record = await createParams(bus, namespace === undefined ? {} : { namespace }).push(
        rest[0]!,
        {
          model,
          version,
          share,
          timeoutMs,
          ...(adapter === undefined ? {} : { adapter }),
          ...(partBytes === undefined ? {} : { partBytes }),
        },
      );
      if (flags.json === true) {
        out(JSON.stringify(record, null, 2));
        return 0;
      }
      out(
        `pushed ${record.model}${record.adapter === undefined ? '' : `@${record.adapter}`}:${record.version} (${record.blob.size} bytes, ${record.blob.sum}) share ${record.share}${record.previous === undefined ? '' : `, replacing ${record.previous}`}`,
      );
      return 0;
    });
  }
  if (sub === 'status') {
    if (rest.length > 0) throw new ConfigError(`params status takes no arguments`);
    const waitMs = intFlag('wait-ms', flags['wait-ms'], 2500, 0);
    return join(flags, async (bus, namespace) => {
      const registry = new WorkerRegistry(bus, 3, llmSubjects(namespace));
      await registry.start();
      try {
        const rollouts = new GatewayRollouts(bus, registry, namespace);
        const records = await createParams(bus, namespace === undefined ? {} : { namespace }).list(
          timeoutMs,
        );
        for (const r of records) rollouts.table.put(r);
        await new Promise((r) => setTimeout(r, waitMs));
        const status = rollouts.status();
        const workers = registry.all().sort((a, b) => a.id.localeCompare(b.id));
        if (flags.json === true) {
          out(
            JSON.stringify(
              {
                rollouts: status,
                workers: workers.map((w) => ({ id: w.id, models: w.models, params: w.params })),
              },
              null,
              2,
            ),
          );
          return 0;
        }
        if (status.length === 0) out('(no rollouts)');
        else table(rolloutRows(status), out);
        out('');
        if (workers.length === 0) out(`(no worker heartbeats in ${duration(waitMs)})`);
        else
          table(
            [
              ['WORKER', 'MODELS', 'PARAMS'],
              ...workers.map((w) => [w.id, w.models.join(','), heldColumn(w.params)]),
            ],
            out,
          );
        return 0;
      } finally {
        registry.stop();
      }
    });
  }
  throw new ConfigError(`unknown params command '${sub}'; expected push or status`);
}
