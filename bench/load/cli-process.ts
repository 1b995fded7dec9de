// Any `llmwire` command as a child process (gateway, worker), as an operator runs it: started
// from the built CLI, ready once it prints a line, measured from /proc like `llmwire up`.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { cpuMsOf, rssOf } from './up-process.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

export interface CliProcess {
  pid: number;
  /** Everything it printed so far (stdout and stderr). */
  output(): string;
  rss(): number;
  cpuMs(): number;
  /** SIGTERM, SIGKILL if it has not exited within `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

/** Runs `llmwire ARGS` and resolves once its output matches `ready`. */
export async function startCli(args: string[], ready: RegExp, timeoutMs = 15_000) {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('LLMWIRE_')),
  );
  const child: ChildProcess = spawn(process.execPath, [CLI, ...args], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const match = await new Promise<RegExpExecArray>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`llmwire ${args[0]} did not get ready in ${timeoutMs} ms:\n${output}`));
    }, timeoutMs);
    const onText = (chunk: Buffer) => {
      output += chunk.toString();
      const m = ready.exec(output);
      if (m !== null) {
        clearTimeout(timer);
        resolve(m);
      }
    };
    child.stdout!.on('data', onText);
    child.stderr!.on('data', onText);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(
        new Error(`llmwire ${args[0]} exited (${signal ?? code}) before it was ready:\n${output}`),
      );
    });
  });
  const pid = child.pid!;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const proc: CliProcess = {
    pid,
    output: () => output,
    rss: () => rssOf(pid),
    cpuMs: () => cpuMsOf(pid),
    async stop(graceMs = 10_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
  return { proc, match };
}
