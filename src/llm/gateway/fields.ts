// Limits on what a request body may carry beyond its kind's schema. The schemas check every
// field they name, but unknown extra fields (kept for vLLM-style extensions) and the free-form
// ones (`tool_choice`, tool `parameters`) are opaque to them: without these limits a body nested
// thousands deep is accepted here and only fails when the bus encodes it (codec MAX_DEPTH).
import { MAX_DEPTH } from '../../codec/msgpack.js';
import { InvalidMessageError } from '../../protocol/index.js';

/**
 * Deepest nesting of one top-level field's value (an object or array counts one level). Half
 * the codec's frame limit, which also holds the envelope, the body and a coalesced batch.
 */
export const MAX_FIELD_DEPTH = MAX_DEPTH / 2;
/** Extra fields (not in the schema) one request may carry. */
export const MAX_EXTRA_FIELDS = 64;
/** Longest name of an extra field, as the schema's longest named string (`model`). */
export const MAX_EXTRA_NAME_CHARS = 256;
/** Largest value of one extra field, as JSON. */
export const MAX_EXTRA_FIELD_BYTES = 256 * 1024;

/**
 * Checks every top-level field's nesting, and the count, names and sizes of the fields not in
 * `known`; InvalidMessageError names the field (`param`).
 */
export function checkFieldLimits(body: Record<string, unknown>, known: ReadonlySet<string>): void {
  let extras = 0;
  for (const [name, value] of Object.entries(body)) {
    const extra = !known.has(name);
    const param = name.length > MAX_EXTRA_NAME_CHARS ? name.slice(0, 64) : name;
    if (extra) {
      extras++;
      if (extras > MAX_EXTRA_FIELDS) {
        throw new InvalidMessageError(
          `a request may carry at most ${MAX_EXTRA_FIELDS} fields the API does not define`,
          { details: { param } },
        );
      }
      if (name.length > MAX_EXTRA_NAME_CHARS) {
        throw new InvalidMessageError(
          `field names are limited to ${MAX_EXTRA_NAME_CHARS} characters`,
          { details: { param } },
        );
      }
    }
    if (exceedsDepth(value, MAX_FIELD_DEPTH)) {
      throw new InvalidMessageError(`'${param}' nests deeper than ${MAX_FIELD_DEPTH} levels`, {
        details: { param },
      });
    }
    if (extra && Buffer.byteLength(JSON.stringify(value) ?? '') > MAX_EXTRA_FIELD_BYTES) {
      throw new InvalidMessageError(
        `'${param}' is larger than ${MAX_EXTRA_FIELD_BYTES} bytes as JSON`,
        { details: { param } },
      );
    }
  }
}

/** True when `value` holds objects or arrays more than `levels` deep; stops looking there. */
function exceedsDepth(value: unknown, levels: number): boolean {
  if (typeof value !== 'object' || value === null) return false;
  if (levels === 0) return true;
  const children = Array.isArray(value) ? value : Object.values(value);
  for (const child of children) if (exceedsDepth(child, levels - 1)) return true;
  return false;
}
