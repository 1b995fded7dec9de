// Runs a compiled fixture script as a child process, collects its stdout lines, and kills it
// with SIGKILL when a line says so: the crash tests' way to stop a process mid-run for real.
import { spawn } from 'node:child_process';

export interface ChildRun {
  lines: string[];
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

/**
 * Runs `script`; `killWhen` sees each complete line and returns true to SIGKILL it. A child
 * still running after `limitMs` is killed too, so a stuck run fails its assertions, not the clock.
 */
export function runChild(
  script: string,
  args: string[],
  killWhen: (line: string) => boolean = () => false,
  limitMs = 60_000,
  env: Record<string, string> = {},
): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    });
    const limit = setTimeout(() => child.kill('SIGKILL'), limitMs);
    const lines: string[] = [];
    let partial = '';
    let stderr = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      const parts = (partial + chunk).split('\n');
      partial = parts.pop() ?? ''; // a line cut by the kill is not a claim
      for (const line of parts) {
        lines.push(line);
        if (child.exitCode === null && !child.killed && killWhen(line)) child.kill('SIGKILL');
      }
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(limit);
      resolve({ lines, code, signal, stderr });
    });
  });
}
