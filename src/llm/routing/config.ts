// Checks on policy and admission options. Options often come from a configuration file, so each
// value is checked at run time and a bad one is named in a ConfigError.
import { ConfigError } from '../../protocol/index.js';

function describe(value: unknown): string {
  return typeof value === 'number' ? String(value) : typeof value;
}

/** A number in [min, max]; `undefined` gives `fallback`. */
export function numberOption(
  owner: string,
  name: string,
  value: unknown,
  fallback: number,
  min: number,
  max = Number.POSITIVE_INFINITY,
): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || Number.isNaN(value) || value < min || value > max) {
    const range = max === Number.POSITIVE_INFINITY ? `>= ${min}` : `in [${min}, ${max}]`;
    throw new ConfigError(
      `${owner}: option '${name}' must be a number ${range}, got ${describe(value)}`,
    );
  }
  return value;
}

/** A whole number >= min; `undefined` gives `fallback`. */
export function integerOption(
  owner: string,
  name: string,
  value: unknown,
  fallback: number,
  min: number,
): number {
  const n = numberOption(owner, name, value, fallback, min);
  if (!Number.isInteger(n)) {
    throw new ConfigError(`${owner}: option '${name}' must be a whole number, got ${n}`);
  }
  return n;
}

/** A function option; `undefined` gives `fallback`. */
export function functionOption<F>(owner: string, name: string, value: unknown, fallback: F): F {
  if (value === undefined) return fallback;
  if (typeof value !== 'function') {
    throw new ConfigError(`${owner}: option '${name}' must be a function`);
  }
  return value as F;
}
