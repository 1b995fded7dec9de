// Request bodies checked against a TypeBox schema: the first wrong field is named in the error
// (`param`, dotted), after the depth and size limits of fields.ts on what the schema leaves open.
import type { Static, TObject } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { InvalidMessageError } from '../../protocol/index.js';
import { checkFieldLimits } from './fields.js';

/** A JSON-pointer path as the dotted `param` OpenAI names fields with (`input.0.content`). */
export function paramOf(path: string): string | null {
  return path.replace(/^\//, '').replace(/\//g, '.') || null;
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
    if (!check.Check(body)) {
      const first = check.Errors(body).First();
      const param = paramOf(first?.path ?? '');
      throw new InvalidMessageError(
        `invalid ${what}${param === null ? '' : ` at '${param}'`}: ${first?.message ?? 'does not match the schema'}`,
        { details: { param } },
      );
    }
    return body;
  };
}
