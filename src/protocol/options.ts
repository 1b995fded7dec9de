// One way to check options: a TypeBox schema compiled once, and a ConfigError that names every
// wrong field and what it must be. Options come from code, config files and CLI flags alike,
// so every layer checks them with this helper.
import type { Static, TSchema } from '@sinclair/typebox';
import { TypeCompiler, ValueErrorType, type ValueError } from '@sinclair/typebox/compiler';
import { ConfigError } from './errors.js';

/** Checks a value against the schema; returns it typed, or throws a ConfigError. */
export type OptionsCheck<T extends TSchema> = (value: unknown) => Static<T>;

const MAX_LINES = 20;

/** The dotted field path of a TypeBox error path (`/backoff/initialMs` → `backoff.initialMs`). */
function field(path: string): string {
  return path.replace(/^\//, '').replace(/\//g, '.');
}

function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') {
    return String(value);
  }
  return typeof value; // undefined, a symbol or a function
}

function line(error: ValueError): string {
  const name = field(error.path);
  if (error.type === ValueErrorType.ObjectAdditionalProperties) {
    return `unknown option '${name}'`;
  }
  const message = error.message.replace(/^Expected/, 'expected');
  return name === ''
    ? `${message}, got ${show(error.value)}`
    : `'${name}' ${message}, got ${show(error.value)}`;
}

/**
 * Compiles `schema` once. `what` names the owner in the error (`queue 'jobs'`, `openai backend`).
 * One wrong field reads `what: 'leaseMs' must be …`; several are listed one per line.
 */
export function optionsCheck<T extends TSchema>(what: string, schema: T): OptionsCheck<T> {
  const check = TypeCompiler.Compile(schema);
  return (value) => {
    if (check.Check(value)) return value;
    const lines = [...new Set([...check.Errors(value)].slice(0, MAX_LINES).map(line))];
    if (lines.length === 1) throw new ConfigError(`${what}: ${lines[0]}`);
    throw new ConfigError(`${what}:\n${lines.map((l) => `  ${l}`).join('\n')}`);
  };
}
