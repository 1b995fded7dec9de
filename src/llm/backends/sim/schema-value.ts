// A small value generator for JSON Schema: the sim's tool-call arguments and structured output.
// It covers the subset tool and response schemas use (type, properties, required, items, enum,
// const, anyOf/oneOf, numeric and length bounds); anything else gives null.
import type { SeededRandom } from './random.js';

const WORDS = ['alpha', 'bravo', 'delta', 'echo', 'kilo', 'lima', 'oscar', 'sierra'] as const;

/** Nesting deeper than this gives null, so a recursive schema still ends. */
const MAX_DEPTH = 8;

type Schema = Record<string, unknown>;

/** A value that validates against `schema`, drawn from `random`. */
export function schemaValue(schema: unknown, random: SeededRandom, depth = 0): unknown {
  if (typeof schema !== 'object' || schema === null || depth > MAX_DEPTH) return null;
  const s = schema as Schema;
  if ('const' in s) return s.const;
  if (Array.isArray(s.enum) && s.enum.length > 0) return s.enum[random.below(s.enum.length)];
  const branches = Array.isArray(s.anyOf) ? s.anyOf : Array.isArray(s.oneOf) ? s.oneOf : [];
  if (branches.length > 0) return schemaValue(branches[0], random, depth + 1);
  switch (typeOf(s)) {
    case 'object':
      return objectValue(s, random, depth);
    case 'array':
      return arrayValue(s, random, depth);
    case 'string':
      return stringValue(s, random);
    case 'integer':
      return numberValue(s, random, true);
    case 'number':
      return numberValue(s, random, false);
    case 'boolean':
      return random.next() < 0.5;
    default:
      return null;
  }
}

function typeOf(s: Schema): string | undefined {
  const type = Array.isArray(s.type) ? s.type.find((t) => t !== 'null') : s.type;
  if (typeof type === 'string') return type;
  if (typeof s.properties === 'object') return 'object';
  if (s.items !== undefined) return 'array';
  return undefined;
}

/** The required properties, in the schema's order. */
function objectValue(s: Schema, random: SeededRandom, depth: number): Record<string, unknown> {
  const properties = (typeof s.properties === 'object' ? s.properties : {}) as Schema;
  const required = Array.isArray(s.required) ? s.required : [];
  const out: Record<string, unknown> = {};
  for (const name of required) {
    if (typeof name === 'string') out[name] = schemaValue(properties[name], random, depth + 1);
  }
  return out;
}

function arrayValue(s: Schema, random: SeededRandom, depth: number): unknown[] {
  const min = typeof s.minItems === 'number' ? s.minItems : 0;
  const max = typeof s.maxItems === 'number' ? s.maxItems : Math.max(min, 2);
  const length = Math.min(max, Math.max(min, 1 + random.below(2)));
  return Array.from({ length }, () => schemaValue(s.items, random, depth + 1));
}

function stringValue(s: Schema, random: SeededRandom): string {
  let text = WORDS[random.below(WORDS.length)] ?? 'alpha';
  const min = typeof s.minLength === 'number' ? s.minLength : 0;
  const max = typeof s.maxLength === 'number' ? s.maxLength : Infinity;
  while (text.length < min) text += 'a';
  return text.slice(0, max);
}

function numberValue(s: Schema, random: SeededRandom, integer: boolean): number {
  const low = typeof s.minimum === 'number' ? s.minimum : 0;
  const high = typeof s.maximum === 'number' ? s.maximum : low + 100;
  if (integer) {
    const lo = Math.ceil(low);
    return lo + random.below(Math.floor(high) - lo + 1);
  }
  const value = Math.round((low + random.next() * (high - low)) * 100) / 100;
  return Math.min(high, Math.max(low, value));
}
