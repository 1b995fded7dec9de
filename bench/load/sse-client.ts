// The load generator, run as a child process so its CPU is not counted against the server it
// loads: keeps N requests to one of the gateway's APIs in flight over keep-alive HTTP/1.1
// connections and reports time to first token, tokens received and whether every stream ended
// with its API's end event.
import { performance } from 'node:perf_hooks';
import { APIS } from './apis.js';
import { Http1Connection, MarkerCounter } from './http1.js';
import type { FromClient, LoadJob, LoadResult, ToClient } from './job.js';

/** xorshift32: the same sequence of bodies for the same seed, on both sides of a comparison. */
function random(seed: number): () => number {
  let x = seed >>> 0 || 0x9e3779b9;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x1_0000_0000;
  };
}

async function run(job: LoadJob): Promise<LoadResult> {
  const url = new URL(job.url);
  const path = `${url.pathname}${url.search}`;
  const result: LoadResult = {
    requests: 0,
    completed: 0,
    errors: 0,
    tokens: 0,
    latencyMs: [],
    elapsedMs: 0,
    peakOpen: 0,
    cpuMs: 0,
  };
  const api = APIS[job.api ?? 'chat'];
  const next = random(job.seed ?? 1);
  let open = 0;
  const fail = (message: string) => {
    result.errors++;
    result.firstError ??= message;
  };

  const one = (conn: Http1Connection, body: string) =>
    new Promise<void>((resolve) => {
      const t0 = performance.now();
      const tokens = new MarkerCounter(api.delta);
      const ends = api.end.map((marker) => new MarkerCounter(marker));
      let first = true;
      let opened = false;
      let ended = false;
      conn.request(path, body, {
        body(chunk) {
          if (!opened) {
            opened = true;
            open++;
            if (open > result.peakOpen) result.peakOpen = open;
          }
          if (!job.stream) return;
          const n = tokens.count(chunk);
          if (n > 0 && first) {
            first = false;
            result.latencyMs.push(performance.now() - t0);
          }
          result.tokens += n;
          for (const end of ends) if (end.count(chunk) > 0) ended = true;
        },
        end(status) {
          if (opened) open--;
          if (status !== 200) fail(`status ${status}`);
          else if (!job.stream) {
            result.latencyMs.push(performance.now() - t0);
            result.completed++;
          } else if (ended) result.completed++;
          else
            fail(
              `stream ended without ${api.end.map((m) => `'${m.toString().trim()}'`).join(' or ')}`,
            );
          resolve();
        },
        error(err) {
          if (opened) open--;
          fail(err.message);
          resolve();
        },
      });
    });

  const cpu = process.cpuUsage();
  const start = performance.now();
  const until = job.durationMs === undefined ? Infinity : start + job.durationMs;
  const limit = job.requests ?? Infinity;
  const slot = async () => {
    // One keep-alive connection per slot, as a pool of `concurrency` sockets would give.
    const conn = new Http1Connection(url.hostname, Number(url.port), job.apiKey);
    try {
      while (result.requests < limit && performance.now() < until) {
        const seq = result.requests++;
        const template = job.bodies[Math.floor(next() * job.bodies.length)]!;
        const body =
          job.uniqueMarker === undefined
            ? template
            : template.replaceAll(job.uniqueMarker, String(seq));
        await one(conn, body);
      }
    } finally {
      conn.close();
    }
  };
  await Promise.all(Array.from({ length: job.concurrency }, slot));
  result.elapsedMs = performance.now() - start;
  const used = process.cpuUsage(cpu);
  result.cpuMs = (used.user + used.system) / 1000;
  return result;
}

function send(message: FromClient): void {
  process.send?.(message);
}

process.on('message', (message: ToClient) => {
  if (message.type === 'exit') {
    process.disconnect?.();
    return;
  }
  run(message.job).then(
    (result) => send({ type: 'result', id: message.id, result }),
    (err: unknown) =>
      send({ type: 'failed', id: message.id, message: (err as Error).message ?? String(err) }),
  );
});
send({ type: 'ready' });
