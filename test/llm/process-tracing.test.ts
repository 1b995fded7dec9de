// The trace across real processes: `llmwire gateway` and `llmwire worker` (openai backend in
// front of a local upstream), both exporting spans to a local OTLP receiver; the trace id of
// the caller is found in the response header, the upstream request, both processes' JSON logs
// and the spans both export.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';
import { parseTraceparent } from '../../src/ops/index.js';
import { startOtlpReceiver } from '../ops/otlp-receiver.js';
import { echoScript, startUpstream } from './backends/openai-upstream.js';
import { waitUntil } from './process-stack.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const TRACE = '5c1b6f0e7a2d4c3b9e8f7a6b5c4d3e2f';
const INCOMING = `00-${TRACE}-1a2b3c4d5e6f7a8b-01`;

interface Child {
  proc: ChildProcess;
  stdout: string;
  stderr: string;
  exited: Promise<unknown>;
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

function start(args: string[], env: NodeJS.ProcessEnv): Child {
  const proc = spawn(process.execPath, [CLI, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(proc);
  const child: Child = { proc, stdout: '', stderr: '', exited: once(proc, 'exit') };
  void child.exited.then(() => live.delete(proc));
  proc.stdout.setEncoding('utf8').on('data', (d: string) => (child.stdout += d));
  proc.stderr.setEncoding('utf8').on('data', (d: string) => (child.stderr += d));
  return child;
}

function jsonLines(text: string): Record<string, unknown>[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

test('process tracing - one trace id across gateway and worker processes', async () => {
  await using receiver = await startOtlpReceiver();
  await using upstream = await startUpstream(echoScript(['alpha', ' beta']));
  const otel = { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_SERVICE_NAME: '' };
  const gateway = start(['gateway', '--port', '0', '--transport', 'memory'], otel);
  let worker: Child | undefined;
  try {
    await waitUntil(() => /gateway\s+http:\/\/\S+\/v1/.test(gateway.stdout), 'gateway', 20_000);
    const base = /gateway\s+(http:\/\/\S+)\/v1/.exec(gateway.stdout)![1]!;
    worker = start(
      [
        'worker',
        '--connect',
        `${base.replace('http', 'ws')}/v1/bus`,
        '--backend',
        'openai',
        '--upstream',
        upstream.baseURL,
        '--model',
        'm-one',
        '--id',
        'proc-w1',
        '--heartbeat-ms',
        '100',
      ],
      { ...otel, LLMWIRE_LOG_LEVEL: 'debug' },
    );
    const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'none', maxRetries: 0 });
    const until = Date.now() + 20_000;
    while (!(await client.models.list()).data.some((m) => m.id === 'm-one')) {
      assert.ok(Date.now() < until, `worker did not join: ${worker.stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const { data: stream, response } = await client.chat.completions
      .create(
        { model: 'm-one', messages: [{ role: 'user', content: 'hi' }], stream: true },
        { headers: { traceparent: INCOMING } },
      )
      .withResponse();
    let text = '';
    for await (const c of stream) text += c.choices[0]?.delta.content ?? '';
    assert.equal(text, 'alpha beta');
    assert.equal(
      parseTraceparent(response.headers.get('traceparent') ?? undefined)?.traceId,
      TRACE,
    );
    const call = upstream.calls.find((c) => c.path.endsWith('/chat/completions'))!;
    assert.equal(parseTraceparent(call.headers.traceparent as string)?.traceId, TRACE);

    // SIGTERM: both drain, flush their spans and exit.
    worker.proc.kill('SIGTERM');
    await worker.exited;
    gateway.proc.kill('SIGTERM');
    await gateway.exited;

    const gatewayLogs = jsonLines(gateway.stderr);
    const workerLogs = jsonLines(worker.stderr);
    const finished = gatewayLogs.find((l) => l.msg === 'request finished' && l.traceId === TRACE);
    assert.ok(finished, gateway.stderr);
    assert.equal(finished.service, 'llmwire-gateway');
    assert.equal(finished.worker, 'proc-w1');
    assert.ok(gatewayLogs.some((l) => l.msg === 'worker joined' && l.worker === 'proc-w1'));
    const done = workerLogs.find((l) => l.msg === 'request done' && l.traceId === TRACE);
    assert.ok(done, worker.stderr);
    assert.equal(done.requestId, finished.requestId);
    assert.equal(done.service, 'llmwire-worker');

    const services = new Set(
      receiver.spans.filter((s) => s.traceId === TRACE).map((s) => `${s.service}:${s.name}`),
    );
    for (const expected of [
      'llmwire-gateway:POST /v1/chat/completions',
      'llmwire-gateway:dispatch',
      'llmwire-worker:worker handle',
      'llmwire-worker:upstream chat',
    ]) {
      assert.ok(services.has(expected), `${expected} in ${[...services].join(', ')}`);
    }
  } finally {
    for (const c of [worker, gateway]) {
      if (c !== undefined && c.proc.exitCode === null && c.proc.signalCode === null) {
        c.proc.kill('SIGKILL');
        await c.exited;
      }
    }
  }
});
