#!/usr/bin/env node
// The llmwire command line: one entry, one module per command, each loaded only when run so a
// command starts without loading every broker client.
import { readFileSync } from 'node:fs';
import { maskCredentials } from '../ops/mask.js';
import { ConfigError, LocalError, WireError } from '../protocol/index.js';
import { EXIT, exitCodeOf } from './errors.js';

const HELP = `Usage: llmwire <command> [options]

Commands:
  up         run the bus, the gateway and simulated workers in this process (npm start)
  gateway    run the bus and the gateway only; workers join over /v1/bus
  worker     run one worker process joined to a bus
  send       send a chat request to the gateway and stream the answer
  status     show the gateway's workers, admission queues and bus; durable queue counts
  tail       print the messages on a subject as they pass
  dlq        list, show, replay or purge a durable queue's dead letters
  params     push a new version of a model's weights or a LoRA adapter; show rollouts
  blob       put, get, list and remove blobs (files of any size, resumable)
  bench      load a gateway (or one started here) and report throughput and latency
  nats-config  print the nats-server authorization block for the config's identities
  keygen     write new signing and encryption keys and print their config section
  version    print the version
  help       show this help

Run 'llmwire <command> --help' for a command's options.

Exit codes: 0 done, 1 unexpected failure, 2 bad flags, configuration or an error answer,
3 gateway or broker unreachable. Errors print one line: llmwire: MESSAGE [CODE].
`;

const VERSION_HELP = `Usage: llmwire version (or llmwire --version)

Prints the version of llmwire, e.g. 0.1.0, and exits 0.
`;

function version(): string {
  const pkg = JSON.parse(
    readFileSync(new URL('../../../package.json', import.meta.url), 'utf8'),
  ) as {
    version: string;
  };
  return pkg.version;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const out = (line: string) => process.stdout.write(`${line}\n`);
  switch (command) {
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      out(HELP);
      return command === undefined ? 2 : 0;
    case 'version':
    case '--version':
      if (rest.includes('--help') || rest.includes('-h')) {
        out(VERSION_HELP);
        return 0;
      }
      if (rest.length > 0) {
        throw new ConfigError(
          `version takes no arguments, got '${rest.join(' ')}'; run 'llmwire version --help'`,
        );
      }
      out(version());
      return 0;
    case 'up':
      return (await import('./up.js')).up(rest, out);
    case 'gateway':
      return (await import('./up.js')).gateway(rest, out);
    case 'worker':
      return (await import('./worker.js')).worker(rest, out);
    case 'send':
      return (await import('./send.js')).send(rest, out);
    case 'status':
      return (await import('./status.js')).status(rest, out);
    case 'tail':
      return (await import('./tail.js')).tail(rest, out);
    case 'dlq':
      return (await import('./dlq.js')).dlq(rest, out);
    case 'params':
      return (await import('./params.js')).params(rest, out);
    case 'blob':
      return (await import('./blob.js')).blob(rest, out);
    case 'bench':
      return (await import('./bench.js')).bench(rest, out);
    case 'nats-config':
      return (await import('./nats-config.js')).natsConfig(rest, out);
    case 'keygen':
      return (await import('./keygen.js')).keygen(rest, out);
    default:
      process.stderr.write(`llmwire: unknown command '${command}'\n\n${HELP}`);
      return 2;
  }
}

// A closed pipe (llmwire up | head) ends the output quietly instead of crashing the process.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') throw err;
});

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof LocalError || err instanceof WireError) {
      process.stderr.write(`llmwire: ${maskCredentials(err.message)} [${err.code}]\n`);
      process.exitCode = exitCodeOf(err);
      exitSoon();
    } else {
      process.stderr.write(
        `llmwire: unexpected failure: ${maskCredentials(String((err as Error)?.stack ?? err))}\n`,
      );
      process.exitCode = EXIT.failure;
      exitSoon();
    }
  },
);

/**
 * A command that failed has closed what it opened; should a client library still hold a
 * socket or timer, the process exits anyway once the error is written, never serving half-started.
 */
function exitSoon(): void {
  setTimeout(() => process.exit(), 2000).unref();
}
