// The sizing plan: a deployment for a given load, worked out from the per-request and per-token
// CPU costs the `sizing` bench group measured (bench/results.json) and the RSS per open stream
// the `scale` group measured. Run: node dist/bench/sizing/plan.js [--streams N] [...].
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Row } from '../harness.js';
import type { ResultsFile } from '../results.js';

const RESULTS = fileURLToPath(new URL('../../../bench/results.json', import.meta.url));

export interface Load {
  /** Streams open at once. */
  streams: number;
  /** Tokens per second each stream receives. */
  tokensPerSecond: number;
  /** Tokens in an answer: with the rate, how long a stream lasts and so how many start a second. */
  answerTokens: number;
  /** Worker processes' llmwire side only: the model's own compute is not in these figures. */
  coalesceMs: number;
}

export interface Costs {
  /** µs of CPU per streamed token and per request, by component. */
  gateway: { perToken: number; perRequest: number };
  worker: { perToken: number; perRequest: number };
  nats: { perToken: number; perRequest: number };
  /** Bytes of RSS per open stream in a gateway process. */
  bytesPerStream: number;
  /** RSS of an idle gateway process. */
  idleBytes: number;
}

export interface Limits {
  /** Share of a core a process is planned to use, leaving room for bursts. */
  utilization: number;
  /** RSS a gateway process is allowed (a Node process, one event loop). */
  gatewayRssBytes: number;
  /** Cores per NATS server in the cluster. */
  natsCoresPerServer: number;
  /**
   * Servers a message crosses: 1 when publisher and subscriber share a server, 2 when the
   * cluster routes it (the usual case in a cluster of n: (n-1)/n of messages).
   */
  natsHops: number;
}

export interface Plan {
  requestsPerSecond: number;
  tokensPerSecond: number;
  messagesPerSecond: number;
  gatewayCores: number;
  gatewaysForCpu: number;
  gatewaysForMemory: number;
  gateways: number;
  natsCores: number;
  natsServers: number;
  workerCores: number;
  bound: string;
}

export function plan(load: Load, costs: Costs, limits: Limits): Plan {
  const requestsPerSecond = load.streams / (load.answerTokens / load.tokensPerSecond);
  const tokensPerSecond = load.streams * load.tokensPerSecond;
  // With coalescing, tokens produced within coalesceMs of each other share a message: at most
  // one message per stream per window, never more than one per token.
  const messagesPerStream =
    load.coalesceMs > 0
      ? Math.min(load.tokensPerSecond, 1000 / load.coalesceMs)
      : load.tokensPerSecond;
  const messagesPerSecond = load.streams * messagesPerStream;
  const cores = (c: { perToken: number; perRequest: number }, perSecond: number) =>
    (perSecond * c.perToken + requestsPerSecond * c.perRequest) / 1e6;
  // The gateway still writes every token to its client as an SSE event, coalesced or not: it
  // is charged per token. The broker and the workers' bus see one message per coalesced group.
  const gatewayCores = cores(costs.gateway, tokensPerSecond);
  const gatewaysForCpu = Math.ceil(gatewayCores / limits.utilization);
  const perGatewayStreams = Math.floor(
    (limits.gatewayRssBytes - costs.idleBytes) / costs.bytesPerStream,
  );
  const gatewaysForMemory = Math.ceil(load.streams / perGatewayStreams);
  const natsCores = cores(costs.nats, messagesPerSecond) * limits.natsHops;
  const natsServers = Math.max(
    3,
    Math.ceil(natsCores / limits.utilization / limits.natsCoresPerServer),
  );
  const workerCores = cores(costs.worker, messagesPerSecond);
  const gateways = Math.max(gatewaysForCpu, gatewaysForMemory);
  const bound = gatewaysForMemory > gatewaysForCpu ? 'gateway memory' : 'gateway CPU';
  return {
    requestsPerSecond,
    tokensPerSecond,
    messagesPerSecond,
    gatewayCores,
    gatewaysForCpu,
    gatewaysForMemory,
    gateways,
    natsCores,
    natsServers,
    workerCores,
    bound,
  };
}

function row(rows: readonly Row[], name: string): Row {
  const found = rows.find((r) => r.name === name);
  if (found === undefined)
    throw new Error(
      `bench/results.json has no row '${name}'; run npm run bench -- --only sizing,scale`,
    );
  return found;
}

/** The measured costs, from bench/results.json. */
export function measuredCosts(results: ResultsFile): Costs {
  const sizing = results.groups['sizing']?.rows ?? [];
  const scale = results.groups['scale']?.rows ?? [];
  const pair = (who: string) => ({
    perToken: row(sizing, `${who}: CPU per streamed token`).value,
    perRequest: row(sizing, `${who}: CPU per request`).value,
  });
  const rss = row(scale, 'peak RSS of llmwire up with 1,000 streams open');
  const MB = 1024 * 1024;
  return {
    gateway: pair('llmwire gateway'),
    worker: pair('llmwire worker ×2 (sim model included)'),
    nats: pair('nats-server'),
    bytesPerStream: ((rss.value - rss.baselineValue) * MB) / 1000,
    idleBytes: rss.baselineValue * MB,
  };
}

const USAGE = `usage: node dist/bench/sizing/plan.js [options]
  --streams N            streams open at once (default 100000)
  --tokens-per-second N  tokens each stream receives per second (default 30)
  --answer-tokens N      tokens per answer (default 400)
  --coalesce-ms N        worker coalescing window (default 0)
  --utilization F        planned share of each core, 0-1 (default 0.6)
  --gateway-rss-mb N     RSS allowed per gateway process (default 1024)
  --nats-cores N         cores per NATS server (default 8)`;

function main(): void {
  const parsed = (() => {
    try {
      return parseArgs({
        options: {
          streams: { type: 'string', default: '100000' },
          'tokens-per-second': { type: 'string', default: '30' },
          'answer-tokens': { type: 'string', default: '400' },
          'coalesce-ms': { type: 'string', default: '0' },
          utilization: { type: 'string', default: '0.6' },
          'gateway-rss-mb': { type: 'string', default: '1024' },
          'nats-cores': { type: 'string', default: '8' },
          help: { type: 'boolean', default: false },
        },
      });
    } catch (err) {
      console.error(`${(err as Error).message}\n${USAGE}`);
      process.exit(2);
    }
  })();
  const { values } = parsed;
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const num = (name: keyof typeof values, max = Infinity): number => {
    const n = Number(values[name]);
    if (!Number.isFinite(n) || n <= 0 || n > max) {
      console.error(
        `--${name} must be a positive number${max < Infinity ? ` up to ${max}` : ''}\n${USAGE}`,
      );
      process.exit(2);
    }
    return n;
  };
  const load: Load = {
    streams: num('streams'),
    tokensPerSecond: num('tokens-per-second'),
    answerTokens: num('answer-tokens'),
    coalesceMs: values['coalesce-ms'] === '0' ? 0 : num('coalesce-ms', 1000),
  };
  const limits: Limits = {
    utilization: num('utilization', 1),
    gatewayRssBytes: num('gateway-rss-mb') * 1024 * 1024,
    natsCoresPerServer: num('nats-cores'),
    natsHops: 2,
  };
  const results = JSON.parse(readFileSync(RESULTS, 'utf8')) as ResultsFile;
  const costs = measuredCosts(results);
  const p = plan(load, costs, limits);
  const f = (n: number, d = 0) => n.toLocaleString('en', { maximumFractionDigits: d });
  console.log(
    [
      `| | |`,
      `|---|--:|`,
      `| streams open | ${f(load.streams)} |`,
      `| tokens/s (${f(load.tokensPerSecond)} per stream) | ${f(p.tokensPerSecond)} |`,
      `| stream messages/s (coalescing ${load.coalesceMs} ms) | ${f(p.messagesPerSecond)} |`,
      `| requests/s (${f(load.answerTokens)}-token answers) | ${f(p.requestsPerSecond)} |`,
      `| gateway CPU (${f(costs.gateway.perToken, 1)} µs/token, ${f(costs.gateway.perRequest)} µs/request) | ${f(p.gatewayCores, 1)} cores |`,
      `| gateways for CPU (one core each at ${f(limits.utilization * 100)}%) | ${f(p.gatewaysForCpu)} |`,
      `| gateways for memory (${f(costs.bytesPerStream / 1024)} KB/stream, ${f(limits.gatewayRssBytes / 2 ** 20)} MB each) | ${f(p.gatewaysForMemory)} |`,
      `| **gateways** (bound by ${p.bound}) | **${f(p.gateways)}** |`,
      `| nats-server CPU (${f(costs.nats.perToken, 1)} µs/message, ${limits.natsHops} hops) | ${f(p.natsCores, 1)} cores |`,
      `| **NATS servers** (${limits.natsCoresPerServer} cores each, at least 3) | **${f(p.natsServers)}** |`,
      `| llmwire CPU inside workers, model excluded (${f(costs.worker.perToken, 1)} µs/message) | ${f(p.workerCores, 1)} cores |`,
    ].join('\n'),
  );
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main();
