// Small checks for Anthropic bodies: each failure is an InvalidMessageError whose message and
// `param` name the field by its path in the body, as Anthropic's own errors do.
import { InvalidMessageError } from '../../../protocol/index.js';

export function fail(param: string | null, message: string): never {
  throw new InvalidMessageError(message, { details: { param } });
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function string(value: unknown, param: string): string {
  if (typeof value !== 'string') fail(param, `${param}: must be a string`);
  return value;
}

/** An optional field of a primitive type; null counts as absent. */
export function optional<T extends 'string' | 'boolean'>(
  value: unknown,
  param: string,
  type: T,
): (T extends 'string' ? string : boolean) | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== type) fail(param, `${param}: must be a ${type}`);
  return value as T extends 'string' ? string : boolean;
}

/** Refuses fields of an object other than `allowed`, as Anthropic does. */
export function onlyFields(
  value: Record<string, unknown>,
  param: string,
  allowed: readonly string[],
): void {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) {
      const at = `${param === '' ? '' : `${param}.`}${key.slice(0, 64)}`;
      fail(at, `${at}: Extra inputs are not permitted`);
    }
  }
}
