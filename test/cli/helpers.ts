// Running the built CLI as a child process: to completion (exit code and output), or in the
// background for the long-running commands, with a wait for a line on stderr.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { WebSocket } from 'ws';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const MAIN = resolve(fileURLToPath(import.meta.url), '../../../src/cli/main.js');

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

export function llmwire(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolvePromise) => {
    execFile(
      process.execPath,
      [MAIN, ...args],
      { env: { ...process.env, ...env }, timeout: 60_000 },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
        resolvePromise({ code, stdout, stderr });
      },
    );
  });
}

/** A CLI process left running; `until` waits for stderr to match, `done` for the exit. */
export class Background implements AsyncDisposable {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  readonly done: Promise<Run>;

  constructor(args: string[]) {
    this.child = spawn(process.execPath, [MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout!.on('data', (b: Buffer) => (this.stdout += b.toString()));
    this.child.stderr!.on('data', (b: Buffer) => (this.stderr += b.toString()));
    this.done = new Promise((resolvePromise) => {
      this.child.once('exit', (code, signal) =>
        resolvePromise({
          code: code ?? (signal === null ? 1 : 128),
          stdout: this.stdout,
          stderr: this.stderr,
        }),
      );
    });
  }

  async until(pattern: RegExp, timeoutMs = 20_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (!pattern.test(this.stderr)) {
      if (this.child.exitCode !== null || Date.now() > until) {
        throw new Error(`no ${String(pattern)} on stderr; got:\n${this.stderr}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGKILL');
      await this.done;
    }
  }
}

/** Tries a WebSocket upgrade (from `origin`, if given); resolves 'open' or the refusal's status. */
export function upgrade(url: string, origin?: string): Promise<'open' | number> {
  return new Promise((resolvePromise, reject) => {
    const ws = new WebSocket(url, origin === undefined ? {} : { origin });
    ws.once('open', () => {
      ws.close();
      resolvePromise('open');
    });
    ws.once('unexpected-response', (_req, res) => {
      resolvePromise(res.statusCode ?? 0);
      res.resume();
    });
    ws.once('error', (err) => reject(err));
  });
}
