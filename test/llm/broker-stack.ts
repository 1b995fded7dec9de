// The LLM path on a real broker, every part its own process: `llmwire gateway --transport URL`
// and `llmwire worker --connect URL` children, all in a namespace of their own so that test
// files running at once on one broker never see each other. Which broker, and what happens
// when it does not answer, is test/helpers/requires.ts's business.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';
import { BROKER_URLS, NEEDS, requires, type BrokerName } from '../helpers/requires.js';
import { spawnProcess, within, type WorkerProcess } from './process-stack.js';
import { waitUntil } from '../wait.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

export { BROKER_URLS, type BrokerName } from '../helpers/requires.js';

/**
 * True when `broker` answers; otherwise a stand-in test says why (skipped, or failed under CI)
 * and the caller registers nothing.
 */
export function brokerAvailable(broker: BrokerName, what: string): Promise<boolean> {
  return requires(what, NEEDS[broker]);
}

/**
 * API keys of the gateway: an unlimited tenant, one allowed 2 requests a minute, one allowed 6,
 * and two unlimited ones weighted 1 and 3 (for the several-gateway tests).
 */
export const KEYS = {
  main: 'sk-broker-main',
  limited: 'sk-broker-limited',
  shared: 'sk-broker-shared',
  light: 'sk-broker-light',
  heavy: 'sk-broker-heavy',
  operator: 'op-broker-operator-0123',
} as const;

export interface WorkerView {
  id: string;
  status: string;
  models: string[];
  inflight: number;
}

export interface BrokerStack {
  readonly broker: BrokerName;
  readonly namespace: string;
  /** The gateway's base URL, http://127.0.0.1:PORT. */
  readonly url: string;
  readonly gatewayProcess: WorkerProcess;
  /** Every gateway's base URL and process, the first one's being `url` and `gatewayProcess`. */
  readonly urls: readonly string[];
  readonly gatewayProcesses: readonly WorkerProcess[];
  readonly workers: Map<string, WorkerProcess>;
  /** An SDK client of gateway `gateway` (default the first). */
  client(key?: string, gateway?: number): OpenAI;
  /** Spawns `llmwire worker --connect URL --namespace NS --id ID ...args`; waits until the gateway lists it ready. */
  startWorker(id: string, args?: string[]): Promise<WorkerProcess>;
  /** Gateway `gateway`'s /v1/llmwire/workers (default the first). */
  listWorkers(gateway?: number): Promise<WorkerView[]>;
  [Symbol.asyncDispose](): Promise<void>;
}

export interface BrokerStackOptions {
  /** Workers started with the stack (ids w1..wN). Default 3. */
  workers?: number;
  /** Extra flags for those workers. */
  workerArgs?: string[];
  /** Gateway settings merged into its config file (gateway.*). */
  gateway?: Record<string, unknown>;
  /** Gateway processes on the same broker and namespace. Default 1. */
  gateways?: number;
}

async function stopProcess(w: WorkerProcess): Promise<void> {
  if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
  await within(w.exited, `${w.id} to exit`, 5000);
}

export async function startBrokerStack(
  broker: BrokerName,
  options: BrokerStackOptions = {},
): Promise<BrokerStack> {
  const brokerUrl = BROKER_URLS[broker];
  const namespace = `t${randomBytes(5).toString('hex')}`;
  const dir = mkdtempSync(join(tmpdir(), 'llmwire-broker-'));
  const config = join(dir, 'gateway.json');
  writeFileSync(
    config,
    JSON.stringify({
      identities: [{ name: 'ops', role: 'operator', key: KEYS.operator }],
      gateway: {
        apiKeys: {
          [KEYS.main]: { name: 'main' },
          [KEYS.limited]: { name: 'limited', requestsPerMinute: 2 },
          [KEYS.shared]: { name: 'shared', requestsPerMinute: 6 },
          [KEYS.light]: { name: 'light', weight: 1 },
          [KEYS.heavy]: { name: 'heavy', weight: 3 },
        },
        ...options.gateway,
      },
    }),
  );
  const processes: WorkerProcess[] = [];
  const workers = new Map<string, WorkerProcess>();
  const gatewayProcesses = Array.from({ length: options.gateways ?? 1 }, (_, i) =>
    spawnProcess(i === 0 ? 'gateway' : `gateway${i + 1}`, CLI, [
      'gateway',
      '--transport',
      brokerUrl,
      '--namespace',
      namespace,
      '--port',
      '0',
      '--data-dir',
      i === 0 ? dir : mkdtempSync(join(dir, 'gateway-')),
      '--config',
      config,
    ]),
  );
  const gatewayProcess = gatewayProcesses[0]!;
  processes.push(...gatewayProcesses);
  const urls: string[] = [];
  const listWorkers = async (gateway = 0): Promise<WorkerView[]> => {
    const res = await fetch(`${urls[gateway]!}/v1/llmwire/workers`, {
      headers: { authorization: `Bearer ${KEYS.operator}` },
    });
    assert.equal(res.status, 200, 'the gateway lists its workers');
    return ((await res.json()) as { workers: WorkerView[] }).workers;
  };
  const startWorker = async (id: string, args: string[] = []): Promise<WorkerProcess> => {
    const w = spawnProcess(id, CLI, [
      'worker',
      '--connect',
      brokerUrl,
      '--namespace',
      namespace,
      '--id',
      id,
      ...args,
    ]);
    processes.push(w);
    workers.set(id, w);
    await w.waitForOutput(/^llmwire worker /m, 20_000);
    // Every gateway hears every worker's heartbeats: each lists it.
    for (let g = 0; g < gatewayProcesses.length; g++) {
      if (gatewayProcesses[g]!.child.exitCode !== null) continue;
      if (gatewayProcesses[g]!.child.signalCode !== null) continue;
      await waitUntilAsync(
        async () => (await listWorkers(g)).some((v) => v.id === id && v.status === 'ready'),
        `worker ${id} to join gateway ${g + 1}`,
      );
    }
    return w;
  };
  const stack: BrokerStack = {
    broker,
    namespace,
    get url() {
      return urls[0] ?? '';
    },
    urls,
    gatewayProcess,
    gatewayProcesses,
    workers,
    client: (key = KEYS.main, gateway = 0) =>
      new OpenAI({
        baseURL: `${urls[gateway]!}/v1`,
        apiKey: key,
        maxRetries: 0,
        timeout: 60_000,
      }),
    startWorker,
    listWorkers,
    async [Symbol.asyncDispose]() {
      await Promise.all(processes.map(stopProcess));
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    for (const g of gatewayProcesses) {
      await g.waitForOutput(/^ready;/m, 20_000);
      const m = /gateway +(http:\/\/[^/\s]+)\/v1/.exec(g.output());
      if (m === null) throw new Error(`gateway printed no URL:\n${g.output()}`);
      urls.push(m[1]!);
    }
    await Promise.all(
      Array.from({ length: options.workers ?? 3 }, (_, i) =>
        startWorker(`w${i + 1}`, options.workerArgs),
      ),
    );
  } catch (err) {
    await stack[Symbol.asyncDispose]();
    throw err;
  }
  return stack;
}

/** waitUntil for an asynchronous check (polled every 50 ms). */
export async function waitUntilAsync(
  check: () => Promise<boolean>,
  what: string,
  timeoutMs = 20_000,
): Promise<void> {
  return waitUntil(check, what, timeoutMs, 50);
}
