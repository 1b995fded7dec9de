// `llmwire nats-config`: the nats-server `authorization` block that gives each configured identity
// its role on NATS (llm/security/nats-config.ts), printed or written to a file only the owner
// may read (it holds every key).
import { writeFileSync } from 'node:fs';
import { natsAuthorization, type NatsUserInput } from '../llm/security/nats-config.js';
import { ConfigError } from '../protocol/index.js';
import { parse, type Options } from './args.js';
import { DEFAULT_CONFIG, merge, readConfigFile, validateConfig } from './config.js';
import { identityTable } from './identities.js';
import { readSecret } from './secrets.js';

export const NATS_CONFIG_HELP = `Usage: llmwire nats-config --config FILE [options]

Prints the nats-server 'authorization { users = [...] }' block for the config's identities: one
NATS user per identity (user = its name, password = its key) with its role's permissions, in the
config's namespace. Include it in nats-server's config ('include ./auth.conf'). The output holds
every key: keep it readable by nats-server only.

Each process then connects as its user (nats://NAME:KEY@HOST:PORT) and runs with
--inbox-prefix _INBOX.NAME (the only reply subjects its user may subscribe to).

Options (each also as an environment variable, e.g. LLMWIRE_CONFIG):
  --config FILE                  YAML or JSON configuration with identities (required)
  --out FILE                     write the block to FILE (mode 0600) instead of printing it
  --gateway-user NAME            add a NATS user for 'llmwire gateway': publishes requests to
                                 workers, subscribes heartbeats and _INBOX.NAME.>
  --gateway-password-file FILE   the gateway user's password (first line; 16+ characters)
  -h, --help                     show this help
`;

const OPTIONS: Options = {
  config: { type: 'string' },
  out: { type: 'string' },
  'gateway-user': { type: 'string' },
  'gateway-password-file': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
};

export function natsConfig(args: string[], out: (line: string) => void): number {
  const flags = parse('nats-config', args, OPTIONS);
  if (flags.help === true) {
    out(NATS_CONFIG_HELP);
    return 0;
  }
  if (typeof flags.config !== 'string') {
    throw new ConfigError("nats-config needs --config FILE; run 'llmwire nats-config --help'");
  }
  const config = validateConfig(merge(DEFAULT_CONFIG, readConfigFile(flags.config)), flags.config);
  // The same checks as the gateway makes (key lengths, distinct keys and names, role fields).
  const identities = identityTable(config).identities();
  const users: NatsUserInput[] = (config.identities ?? []).map((spec, i) => ({
    identity: identities[i]!,
    password: readSecret(spec.key, `identities[${i}] (${spec.name}).key`),
  }));
  if (users.length === 0) {
    throw new ConfigError(`${flags.config} has no identities to make NATS users of`);
  }
  const gatewayUser = flags['gateway-user'];
  const passwordFile = flags['gateway-password-file'];
  if ((gatewayUser === undefined) !== (passwordFile === undefined)) {
    throw new ConfigError('--gateway-user and --gateway-password-file go together');
  }
  let gateway: { name: string; password: string } | undefined;
  if (typeof gatewayUser === 'string' && typeof passwordFile === 'string') {
    const password = readSecret({ file: passwordFile }, '--gateway-password-file');
    if (password.length < 16) {
      throw new ConfigError('--gateway-password-file: the password must be at least 16 characters');
    }
    gateway = { name: gatewayUser, password };
  }
  const text = natsAuthorization({ users, gateway, namespace: config.namespace });
  if (typeof flags.out === 'string') {
    try {
      writeFileSync(flags.out, text, { mode: 0o600 });
    } catch (cause) {
      throw new ConfigError(`cannot write ${flags.out}: ${(cause as Error).message}`, { cause });
    }
    out(
      `wrote the authorization of ${users.length + (gateway ? 1 : 0)} NATS users to ${flags.out}`,
    );
  } else {
    process.stdout.write(text);
  }
  return 0;
}
