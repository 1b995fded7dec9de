// Request bodies checked against a TypeBox schema: the first wrong field is named in the error
// (`param`, dotted), after the depth and size limits of fields.ts on what the schema leaves open.
import type { Static, TObject, TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import { InvalidMessageError, type WireError } from '../../protocol/index.js';
import { checkFieldLimits } from './fields.js';

/** A JSON-pointer path as the dotted `param` OpenAI names fields with (`input.0.content`). */
export function paramOf(path: string): string | null {
  return path.replace(/^\//, '').replace(/\//g, '.') || null;
}

/**
 * The error for the first place `value` misses the schema `check` was compiled from, naming the
 * field; `at` is where `value` itself sits in the body (`input.2`), when it is not the body.
 */
export function schemaError(
  check: TypeCheck<TSchema>,
  value: unknown,
  what: string,
  at?: string,
): WireError {
  const first = check.Errors(value).First();
  const sub = paramOf(first?.path ?? '');
  const param = at === undefined ? sub : sub === null ? at : `${at}.${sub}`;
  return new InvalidMessageError(
    `invalid ${what}${param === null ? '' : ` at '${param}'`}: ${first?.message ?? 'does not match the schema'}`,
    { details: { param } },
  );
}

/** A checker for one schema: returns the body typed, or throws InvalidMessageError. */
export function bodyChecker<T extends TObject>(
  schema: T,
  what = 'request',
): (body: unknown) => Static<T> {
  const check = TypeCompiler.Compile(schema);
  const known = new Set(Object.keys(schema.properties));
  return (body) => {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new InvalidMessageError(`${what} body must be a JSON object`);
    }
    checkFieldLimits(body as Record<string, unknown>, known);
    if (!check.Check(body)) throw schemaError(check, body, what);
    return body;
  };
}
