// What a test needs from the machine, checked in one place: system tools (promtool, Chromium,
// server binaries) and brokers (NATS, Redis, RabbitMQ). When a need is met the test runs. When
// it is not, the test is skipped with a printed notice naming what is missing and how to get
// it — except under CI (CI=true), where a missing need fails the run. LLMWIRE_TEST_WITHOUT
// (e.g. `promtool,chromium,nats`) makes the named needs count as missing, to see what a
// machine without them does.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { test } from 'node:test';

import { AMQP_URL, NATS_URL, REDIS_URL } from './broker-urls.js';

export { AMQP_URL, BROKER_URLS, NATS_URL, REDIS_URL, type BrokerName } from './broker-urls.js';

/** The nats-server binary tests start their own servers with (LLMWIRE_NATS_SERVER). */
export const NATS_SERVER_BIN = process.env['LLMWIRE_NATS_SERVER'] ?? '/usr/sbin/nats-server';

/** The Chromium the browser tests drive (LLMWIRE_CHROMIUM, default /usr/bin/chromium). */
export const CHROMIUM_PATH = process.env['LLMWIRE_CHROMIUM'] ?? '/usr/bin/chromium';
/** The promtool the metrics tests run (LLMWIRE_PROMTOOL, default `promtool` on PATH). */
export const PROMTOOL_PATH = process.env['LLMWIRE_PROMTOOL'] ?? 'promtool';

/** True under CI: CI set to anything but '', '0' or 'false'. */
export const IN_CI = (() => {
  const ci = process.env['CI'];
  return ci !== undefined && ci !== '' && ci !== '0' && ci.toLowerCase() !== 'false';
})();

const WITHOUT = new Set(
  (process.env['LLMWIRE_TEST_WITHOUT'] ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
);

/** Something a test needs: its name, how to check for it, and how to get it. */
export interface Need {
  readonly name: string;
  /** Undefined when present; otherwise why it is missing. */
  readonly check: () => string | undefined | Promise<string | undefined>;
  /** How to get it, for the notice. */
  readonly hint: string;
}

function masked(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** An executable file at a fixed path (e.g. /usr/sbin/nats-server). */
export function executable(name: string, path: string, hint: string): Need {
  return {
    name,
    hint,
    check: () => {
      try {
        accessSync(path, constants.X_OK);
        return undefined;
      } catch {
        return `no executable ${path}`;
      }
    },
  };
}

/** A command found on PATH (or a path) that answers `args` with exit status 0. */
function command(name: string, cmd: string, args: string[], hint: string): Need {
  return {
    name,
    hint,
    check: () => {
      const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 10_000 });
      if (r.error !== undefined) return `cannot run ${cmd} (${r.error.message})`;
      return r.status === 0 ? undefined : `${cmd} ${args.join(' ')} exited ${r.status}`;
    },
  };
}

async function natsAnswers(): Promise<string | undefined> {
  const { connect } = await import('@nats-io/transport-node');
  try {
    const nc = await connect({ servers: NATS_URL, timeout: 3000, maxReconnectAttempts: 0 });
    await nc.close();
    return undefined;
  } catch (err) {
    return `no NATS at ${masked(NATS_URL)} (${message(err)})`;
  }
}

async function redisAnswers(): Promise<string | undefined> {
  const { Redis } = await import('ioredis');
  const client = new Redis(REDIS_URL, {
    lazyConnect: true,
    connectTimeout: 3000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  let cause: Error | undefined; // the socket's error says more than the failed connect()
  client.on('error', (err: Error) => (cause ??= err));
  try {
    await client.connect();
    await client.ping();
    return undefined;
  } catch (err) {
    return `no Redis at ${masked(REDIS_URL)} (${(cause ?? (err as Error)).message})`;
  } finally {
    client.disconnect();
  }
}

async function amqpAnswers(): Promise<string | undefined> {
  const { default: amqp } = await import('amqplib');
  try {
    const conn = await amqp.connect(AMQP_URL, { timeout: 3000 });
    await conn.close();
    return undefined;
  } catch (err) {
    return `no RabbitMQ at ${masked(AMQP_URL)} (${message(err) || 'connection refused'})`;
  }
}

/** The needs most tests name. */
export const NEEDS = {
  promtool: command(
    'promtool',
    PROMTOOL_PATH,
    ['--version'],
    "install Prometheus's promtool (Debian/Ubuntu: apt-get install prometheus) or set LLMWIRE_PROMTOOL to it",
  ),
  chromium: executable(
    'chromium',
    CHROMIUM_PATH,
    'install Chromium (Debian/Ubuntu: apt-get install chromium) or set LLMWIRE_CHROMIUM to it',
  ),
  nats: {
    name: 'nats',
    check: natsAnswers,
    hint: 'start nats-server -js (scripts/ensure-brokers.sh) or set LLMWIRE_NATS_URL',
  },
  redis: {
    name: 'redis',
    check: redisAnswers,
    hint: 'start redis-server (scripts/ensure-brokers.sh) or set LLMWIRE_REDIS_URL',
  },
  amqp: {
    name: 'amqp',
    check: amqpAnswers,
    hint: 'start rabbitmq-server (scripts/ensure-brokers.sh) or set LLMWIRE_AMQP_URL',
  },
  natsServer: executable(
    'nats-server',
    NATS_SERVER_BIN,
    'install nats-server (Debian/Ubuntu: apt-get install nats-server) or set LLMWIRE_NATS_SERVER',
  ),
} satisfies Record<string, Need>;

const checked = new Map<Need, Promise<string | undefined>>();

/** Why `need` is missing (checked once per process), or undefined when it is here. */
export function missing(need: Need): Promise<string | undefined> {
  let found = checked.get(need);
  if (found === undefined) {
    found = WITHOUT.has(need.name)
      ? Promise.resolve(`${need.name} listed in LLMWIRE_TEST_WITHOUT`)
      : Promise.resolve(need.check());
    checked.set(need, found);
  }
  return found;
}

/** One line per missing need: what is missing, why, and how to get it. */
async function problems(needs: Need[]): Promise<string[]> {
  const out: string[] = [];
  for (const need of needs) {
    const why = await missing(need);
    if (why !== undefined) out.push(`needs ${need.name}: ${why}; ${need.hint}`);
  }
  return out;
}

function standIn(what: string, needs: Need[], why: string): void {
  if (IN_CI) {
    test(`${what} - ${needs.map((n) => n.name).join(', ')} present`, () => {
      assert.fail(`${why} (CI is set, so a missing need fails the run)`);
    });
  } else {
    console.log(`skipped: ${what}: ${why}`);
    test(what, { skip: why }, () => undefined);
  }
}

/**
 * Gate for a suite, called at a file's top level: true when every need is met. Otherwise
 * registers a stand-in test — under CI a failing one, elsewhere a skipped one after a printed
 * notice — and returns false, so the caller registers nothing else.
 */
export async function requires(what: string, ...needs: Need[]): Promise<boolean> {
  const found = await problems(needs);
  if (found.length === 0) return true;
  standIn(what, needs, found.join('; '));
  return false;
}

/**
 * Options for the tests (or subtests) that need `needs`, called at a file's top level: `{}`
 * when they are met. Otherwise `{ skip }` naming what is missing, with a printed notice, and
 * under CI also one failing test saying the same, so the run fails.
 */
export async function skipUnless(what: string, ...needs: Need[]): Promise<{ skip?: string }> {
  const found = await problems(needs);
  if (found.length === 0) return {};
  const why = found.join('; ');
  if (IN_CI) standIn(what, needs, why);
  else console.log(`skipping: ${what}: ${why}`);
  return { skip: why };
}
