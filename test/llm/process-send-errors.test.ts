// `llmwire send` as a child process against a gateway that refuses the request: the gateway's
// answer is an ordinary outcome and should be printed as one line with its code, exit 2, as
// every other error the CLI knows is.
//
// Errors thrown by the openai SDK (APIError for an error status, APIConnectionError for an
// unreachable gateway) become one line with their code, not a stack trace.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startStack } from './stack.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

function send(args: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, 'send', ...args], { timeout: 20_000 }, (err, _out, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stderr });
    });
  });
}

test(
  'cli - send reports a gateway error as one line with its code and exit 2',
  { timeout: 30_000 },
  async () => {
    await using stack = await startStack({ workers: 1 });
    const r = await send(['--url', `${stack.url}/v1`, '--model', 'nope', 'hello']);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    assert.match(r.stderr, /^llmwire: .*model 'nope'.*\[not_found\]\n$/);
    assert.equal(r.code, 2);
  },
);
