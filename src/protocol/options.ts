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
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'object':
      return value === null ? 'null' : Array.isArray(value) ? 'an array' : 'an object';
    case 'function':
      return 'a function';
    case 'symbol':
      return value.toString();
    default:
      return String(value);
  }
}

/** `'a', 'b'` for a union of string literals (an enumeration); undefined for other schemas. */
function literals(schema: TSchema): string | undefined {
  const anyOf = (schema as { anyOf?: unknown }).anyOf;
  if (!Array.isArray(anyOf)) return undefined;
  const values = anyOf.map((s) => (s as { const?: unknown }).const);
  if (!values.every((v) => typeof v === 'string')) return undefined;
  return values.map((v) => `'${String(v)}'`).join(', ');
}

function line(error: ValueError): string {
  const name = field(error.path);
  if (error.type === ValueErrorType.ObjectAdditionalProperties) {
    return `unknown option '${name}'`;
  }
  if (error.type === ValueErrorType.ObjectRequiredProperty) return `'${name}' is required`;
  const choices = literals(error.schema);
  if (error.type === ValueErrorType.Union && choices !== undefined) {
    const expected = `expected one of ${choices}, got ${show(error.value)}`;
    return name === '' ? expected : `'${name}' ${expected}`;
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
    const errors = [...check.Errors(value)];
    // A missing field also fails its type check; `is required` says it all.
    const missing = new Set(
      errors.filter((e) => e.type === ValueErrorType.ObjectRequiredProperty).map((e) => e.path),
    );
    const said = errors.filter(
      (e) => e.type === ValueErrorType.ObjectRequiredProperty || !missing.has(e.path),
    );
    const lines = [...new Set(said.slice(0, MAX_LINES).map(line))];
    if (lines.length === 1) throw new ConfigError(`${what}: ${lines[0]}`);
    throw new ConfigError(`${what}:\n${lines.map((l) => `  ${l}`).join('\n')}`);
  };
}
