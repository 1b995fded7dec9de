// Command-line parsing shared by the commands: node:util parseArgs with errors that say what
// to fix, and environment fallbacks (LLMWIRE_<FLAG>).
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ConfigError } from '../protocol/index.js';

export type Options = NonNullable<ParseArgsConfig['options']>;

export function parse(
  command: string,
  args: string[],
  options: Options,
): Record<string, string | boolean | undefined> {
  return parseWithPositionals(command, args, options, false).values;
}

export function parseWithPositionals(
  command: string,
  args: string[],
  options: Options,
  allowPositionals = true,
  /** Flags with no environment fallback: destructive ones must be typed on the command line. */
  flagOnly: readonly string[] = [],
): { values: Record<string, string | boolean | undefined>; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({ args, options, strict: true, allowPositionals });
    const out = values as Record<string, string | boolean | undefined>;
    for (const name of Object.keys(options)) {
      if (out[name] !== undefined || name === 'help' || flagOnly.includes(name)) continue;
      const env = process.env[`LLMWIRE_${name.toUpperCase().replace(/-/g, '_')}`];
      if (env !== undefined && env !== '') {
        out[name] = options[name]!.type === 'boolean' ? env === '1' || env === 'true' : env;
      }
    }
    return { values: out, positionals };
  } catch (cause) {
    throw new ConfigError(
      `${(cause as Error).message}; run 'llmwire ${command} --help' for the options`,
      { cause },
    );
  }
}
