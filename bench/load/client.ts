// The bench process's handle on the load generator: forks sse-client.js once per group and sends
// it jobs, so rounds on both sides of a comparison are driven by the same warm client.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { FromClient, LoadJob, LoadResult, ToClient } from './job.js';

const CLIENT = fileURLToPath(new URL('./sse-client.js', import.meta.url));

export class LoadClient {
  private nextId = 1;
  private readonly pending = new Map<
    number,
    { resolve: (r: LoadResult) => void; reject: (e: Error) => void }
  >();

  private constructor(private readonly child: ChildProcess) {
    child.on('message', (message: FromClient) => {
      if (message.type === 'ready') return;
      const waiter = this.pending.get(message.id);
      if (waiter === undefined) return;
      this.pending.delete(message.id);
      if (message.type === 'result') waiter.resolve(message.result);
      else waiter.reject(new Error(`load generator: ${message.message}`));
    });
    child.on('exit', (code, signal) => {
      for (const w of this.pending.values())
        w.reject(new Error(`load generator exited (${signal ?? code})`));
      this.pending.clear();
    });
  }

  /** Starts the child and waits until it can take jobs. */
  static async start(): Promise<LoadClient> {
    // No inherited execArgv: a --cpu-prof or --inspect given to the bench is for the server side.
    const child = fork(CLIENT, [], { execArgv: [], serialization: 'advanced', stdio: 'inherit' });
    await new Promise<void>((resolve, reject) => {
      child.once('message', () => resolve());
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`load generator exited with ${code}`)));
    });
    return new LoadClient(child);
  }

  run(job: LoadJob): Promise<LoadResult> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.child.send({ type: 'run', id, job } satisfies ToClient);
    });
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.send({ type: 'exit' } satisfies ToClient);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 2000);
    await exited;
    clearTimeout(timer);
  }
}
