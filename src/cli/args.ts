// Command-line parsing shared by the commands: node:util parseArgs with errors that say what
// to fix, and environment fallbacks (LLMWIRE_<FLAG>).
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { Type, type TInteger } from '@sinclair/typebox';
import { ConfigError } from '../protocol/index.js';
import { optionsCheck, type OptionsCheck } from '../protocol/options.js';

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

const intChecks = new Map<string, OptionsCheck<TInteger>>();

/**
 * An integer flag from `min` to `max`, or `fallback` when it is not given. A wrong value is a
 * ConfigError naming the flag: `--concurrency: expected integer to be greater or equal to 1, got 0`.
 */
export function intFlag(
  flag: string,
  value: string | boolean | undefined,
  fallback: number,
  min = 1,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (value === undefined) return fallback;
  const key = `${flag}:${min}:${max}`;
  let check = intChecks.get(key);
  if (check === undefined) {
    check = optionsCheck(`--${flag}`, Type.Integer({ minimum: min, maximum: max }));
    intChecks.set(key, check);
  }
  // Digits only: Number('') is 0 and Number('1e3') is 1000, neither what was typed.
  return check(typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value);
}
