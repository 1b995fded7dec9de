// Validation of backend options, shared by the backend factories. Options often come from a
// config file, so each error is a ConfigError that names the backend and the field.
import { ConfigError } from '../../protocol/index.js';

export type Fields = Readonly<Record<string, unknown>>;

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

function fail(what: string, key: string, expected: string, value: unknown): never {
  throw new ConfigError(`${what}: '${key}' must be ${expected}, got ${show(value)}`);
}

/** Checks that `value` is a plain object with no field outside `allowed` (typos fail loudly). */
export function readFields(what: string, value: unknown, allowed: readonly string[]): Fields {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ConfigError(`${what}: options must be an object, got ${show(value)}`);
  }
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) {
      throw new ConfigError(`${what}: unknown option '${key}' (known: ${allowed.join(', ')})`);
    }
  }
  return value as Fields;
}

export interface NumberRule {
  integer?: boolean;
  min?: number;
  max?: number;
  /** When true, `min` itself is not allowed. */
  above?: boolean;
}

export function optionalNumber(
  what: string,
  fields: Fields,
  key: string,
  rule: NumberRule = {},
): number | undefined {
  const value = fields[key];
  if (value === undefined) return undefined;
  const kind = rule.integer === true ? 'an integer' : 'a number';
  const min =
    rule.min === undefined ? '' : ` ${rule.above === true ? 'above' : 'of at least'} ${rule.min}`;
  const max = rule.max === undefined ? '' : `${min === '' ? '' : ' and'} at most ${rule.max}`;
  const expected = `${kind}${min}${max}`;
  if (typeof value !== 'number' || !Number.isFinite(value)) fail(what, key, expected, value);
  if (rule.integer === true && !Number.isInteger(value)) fail(what, key, expected, value);
  if (rule.min !== undefined && (rule.above === true ? value <= rule.min : value < rule.min)) {
    fail(what, key, expected, value);
  }
  if (rule.max !== undefined && value > rule.max) fail(what, key, expected, value);
  return value;
}

export function optionalString(what: string, fields: Fields, key: string): string | undefined {
  const value = fields[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.length === 0) fail(what, key, 'a non-empty string', value);
  return value;
}

export function requiredString(what: string, fields: Fields, key: string): string {
  const value = optionalString(what, fields, key);
  if (value === undefined) throw new ConfigError(`${what}: '${key}' is required`);
  return value;
}

export function optionalBoolean(what: string, fields: Fields, key: string): boolean | undefined {
  const value = fields[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'boolean') fail(what, key, 'true or false', value);
  return value;
}

export function optionalEnum<T extends string>(
  what: string,
  fields: Fields,
  key: string,
  values: readonly T[],
): T | undefined {
  const value = fields[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !(values as readonly string[]).includes(value)) {
    fail(what, key, `one of ${values.map((v) => `'${v}'`).join(', ')}`, value);
  }
  return value as T;
}

/** A non-empty array of distinct non-empty strings. */
export function optionalNames(what: string, fields: Fields, key: string): string[] | undefined {
  const value = fields[key];
  if (value === undefined) return undefined;
  const expected = 'a non-empty array of distinct non-empty strings';
  if (!Array.isArray(value) || value.length === 0) fail(what, key, expected, value);
  const names = value as unknown[];
  if (!names.every((v) => typeof v === 'string' && v.length > 0)) fail(what, key, expected, value);
  if (new Set(names).size !== names.length) fail(what, key, expected, value);
  return [...(names as string[])];
}

/** An object whose values are all strings (HTTP headers). */
export function optionalStringRecord(
  what: string,
  fields: Fields,
  key: string,
): Record<string, string> | undefined {
  const value = fields[key];
  if (value === undefined) return undefined;
  const expected = 'an object of string values';
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    fail(what, key, expected, value);
  }
  for (const v of Object.values(value)) if (typeof v !== 'string') fail(what, key, expected, value);
  return { ...(value as Record<string, string>) };
}

export function optionalFunction<F>(what: string, fields: Fields, key: string): F | undefined {
  const value = fields[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'function') fail(what, key, 'a function', value);
  return value as F;
}
