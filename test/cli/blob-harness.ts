// Helpers of the `llmwire blob` process tests: a `llmwire up` on a free port with its own data
// dir, blob commands as child processes (the put fed from a seeded stream on its standard
// input, never held in memory), and RSS sampled from /proc for every process while they run.
import { spawn, type ChildProcess } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Background, MAIN, type Run } from './helpers.js';

/** A `llmwire up` with no workers and its own data dir; `bus` is its ws:// endpoint. */
export async function startUp(
  extra: string[] = [],
): Promise<{ up: Background; bus: string; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'llmwire-blob-up-'));
  const up = new Background([
    'up',
    '--port',
    '0',
    '--workers',
    '0',
    '--data-dir',
    join(dir, 'data'),
    ...extra,
  ]);
  const until = Date.now() + 30_000;
  while (!/ready; Ctrl-C/.test(up.stdout) && Date.now() < until && up.child.exitCode === null) {
    await new Promise((r) => setTimeout(r, 20));
  }
  const base = /gateway\s+(http:\/\/\S+)\/v1/.exec(up.stdout)?.[1];
  if (base === undefined) throw new Error(`llmwire up did not start:\n${up.stdout}${up.stderr}`);
  return { up, bus: `${base.replace('http', 'ws')}/v1/bus`, dir };
}

/** A child `llmwire` process; `stdin` pipes a source into it. */
export function spawnLlmwire(
  args: string[],
  stdin?: AsyncIterable<Uint8Array>,
): { child: ChildProcess; done: Promise<Run> } {
  const child = spawn(process.execPath, [MAIN, ...args], {
    stdio: [stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (b: Buffer) => (stdout += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
  if (stdin !== undefined) {
    pipeline(stdin, child.stdin!).catch(() => undefined);
  }
  const done = new Promise<Run>((resolve) => {
    child.once('exit', (code, signal) =>
      resolve({ code: code ?? (signal === null ? 1 : 128), stdout, stderr }),
    );
  });
  return { child, done };
}

/**
 * `size` bytes of a seeded keystream (AES-128-CTR over zeros), produced 1 MiB at a time: the
 * same bytes for the same seed, never more than a chunk in memory.
 */
export async function* seededStream(seed: string, size: number): AsyncGenerator<Uint8Array> {
  const key = createHash('sha256').update(seed).digest().subarray(0, 16);
  const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  const zeros = Buffer.alloc(1024 * 1024);
  for (let left = size; left > 0; left -= zeros.byteLength) {
    yield cipher.update(left >= zeros.byteLength ? zeros : zeros.subarray(0, left));
  }
}

/** The SHA-256 (hex) of a seeded stream, computed the same way without keeping it. */
export async function seededSha(seed: string, size: number): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of seededStream(seed, size)) hash.update(chunk);
  return hash.digest('hex');
}

/** The SHA-256 (hex) of a file, read in pieces. */
export async function fileSha(path: string): Promise<string> {
  const { createReadStream } = await import('node:fs');
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    hash.update(chunk as Buffer);
  }
  return hash.digest('hex');
}

/** Samples VmRSS of processes every `everyMs` until stopped; keeps each one's peak. */
export class RssSampler {
  readonly peakKiB = new Map<string, number>();
  readonly samples = new Map<string, number>();
  readonly #pids = new Map<string, number>();
  readonly #timer: NodeJS.Timeout;

  constructor(everyMs = 100) {
    this.#timer = setInterval(() => this.sample(), everyMs);
  }

  watch(label: string, pid: number | undefined): void {
    if (pid !== undefined) this.#pids.set(label, pid);
  }

  sample(): void {
    for (const [label, pid] of this.#pids) {
      let text: string;
      try {
        text = readFileSync(`/proc/${pid}/status`, 'utf8');
      } catch {
        this.#pids.delete(label); // exited
        continue;
      }
      const kib = Number(/VmRSS:\s+(\d+)/.exec(text)?.[1] ?? 0);
      this.peakKiB.set(label, Math.max(this.peakKiB.get(label) ?? 0, kib));
      this.samples.set(label, (this.samples.get(label) ?? 0) + 1);
    }
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
