// JSON Schema, as tools and response_format carry it, in the subset node-llama-cpp turns into a
// grammar (its GbnfJsonSchema). That subset reads only some keywords and silently narrows a node
// it does not understand to `null`, so: what has an equivalent is rewritten (anyOf as oneOf,
// `definitions` as `$defs`, a mixed type list as oneOf, a node without type as any value); what
// would change the shapes produced is refused; value constraints it cannot enforce (pattern,
// minimum, ...) are dropped, which leaves the output well-formed but unchecked against them.
import { InvalidMessageError, type WireError } from '../../../protocol/index.js';
import type { GbnfJsonSchema } from './module.js';

/** Keywords whose meaning the grammar cannot keep: dropping them would widen the output. */
const REFUSED = [
  'allOf',
  'not',
  'if',
  'then',
  'else',
  'patternProperties',
  'propertyNames',
  'dependentSchemas',
  'contains',
  'unevaluatedProperties',
  'unevaluatedItems',
] as const;

/** Formats node-llama-cpp has a grammar for; other formats become plain strings. */
const FORMATS = ['date-time', 'time', 'date'];

const PRIMITIVE_TYPES = ['string', 'number', 'boolean', 'null'];
const TYPES = ['string', 'number', 'integer', 'boolean', 'null', 'object', 'array'];

/** Any JSON value, in the subset's terms (an object or array without a schema takes any members). */
const ANY_VALUE: GbnfJsonSchema = {
  oneOf: [
    { type: PRIMITIVE_TYPES },
    { type: 'object', additionalProperties: true },
    { type: 'array' },
  ],
};

const MAX_DEPTH = 64;

type Node = Record<string, unknown>;

/**
 * `schema` as node-llama-cpp's GbnfJsonSchema. `what` names the schema in errors, e.g.
 * "response_format schema". Throws InvalidMessageError for what the grammar cannot express.
 */
export function gbnfSchema(schema: unknown, what: string): GbnfJsonSchema {
  const walk: Walk = {
    fail: (problem, path) =>
      new InvalidMessageError(
        `${what}: ${problem}${path === '' ? '' : ` at ${path}`}; the llama-cpp backend turns schemas into grammars and cannot express this`,
      ),
    defined: new Set(),
    referenced: new Map(),
  };
  const out = convert(schema, '', 0, walk);
  // node-llama-cpp would quietly allow any value for a reference to nothing.
  for (const [name, path] of walk.referenced) {
    if (!walk.defined.has(name)) throw walk.fail(`'$ref' to '${name}', which is not defined`, path);
  }
  return out;
}

interface Walk {
  fail: (problem: string, path: string) => WireError;
  /** Names in every `$defs` seen, and where each referenced name was referenced. */
  defined: Set<string>;
  referenced: Map<string, string>;
}

function convert(schema: unknown, path: string, depth: number, walk: Walk): GbnfJsonSchema {
  const fail = walk.fail;
  if (depth > MAX_DEPTH) throw fail(`nesting deeper than ${MAX_DEPTH}`, path);
  if (schema === true) return ANY_VALUE;
  if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) {
    throw fail('a schema must be an object or true', path);
  }
  const node = schema as Node;
  for (const key of REFUSED) {
    if (key in node) throw fail(`'${key}' is not supported`, path);
  }
  const sub = (value: unknown, at: string) => convert(value, `${path}/${at}`, depth + 1, walk);
  const out: Node = {};
  if (typeof node['description'] === 'string') out['description'] = node['description'];
  const defs = node['$defs'] ?? node['definitions'];
  if (defs !== undefined) {
    if (typeof defs !== 'object' || defs === null) throw fail(`'$defs' must be an object`, path);
    for (const name of Object.keys(defs)) walk.defined.add(name);
    out['$defs'] = Object.fromEntries(
      Object.entries(defs).map(([name, def]) => [name, sub(def, `$defs/${name}`)]),
    );
  }

  if (node['$ref'] !== undefined) {
    const given = node['$ref'];
    const ref = typeof given === 'string' ? given.replace(/^#\/definitions\//, '#/$defs/') : '';
    if (!/^#\/\$defs\/[^/]+$/.test(ref)) {
      throw fail(`'$ref' ${JSON.stringify(given)} is not a '#/$defs/<name>' reference`, path);
    }
    walk.referenced.set(ref.slice('#/$defs/'.length), path);
    return { ...out, $ref: ref };
  }

  const combiner = 'anyOf' in node ? 'anyOf' : 'oneOf';
  const alternatives = node[combiner];
  if (alternatives !== undefined) {
    if ('anyOf' in node && 'oneOf' in node) throw fail(`'anyOf' beside 'oneOf'`, path);
    for (const key of ['type', 'properties', 'items', 'enum', 'const']) {
      if (key in node) throw fail(`'${key}' beside 'anyOf' or 'oneOf'`, path);
    }
    if (!Array.isArray(alternatives) || alternatives.length === 0) {
      throw fail(`'anyOf' or 'oneOf' must be a non-empty array`, path);
    }
    // A value valid for any one alternative is valid for anyOf: the grammar picks one.
    return { ...out, oneOf: alternatives.map((alt, i) => sub(alt, `${combiner}/${i}`)) };
  }

  if ('const' in node) {
    if (!isPrimitive(node['const'])) throw fail(`a 'const' that is an object or array`, path);
    return { ...out, const: node['const'] };
  }
  if ('enum' in node) {
    const values = node['enum'];
    if (!Array.isArray(values) || values.length === 0 || !values.every(isPrimitive)) {
      throw fail(
        `an 'enum' that is not a non-empty list of strings, numbers, booleans or null`,
        path,
      );
    }
    return { ...out, enum: values };
  }

  let type = node['type'];
  if (type === undefined && typeof node['properties'] === 'object') type = 'object';
  if (type === undefined) return { ...ANY_VALUE, ...out };
  const types = Array.isArray(type) ? (type as unknown[]) : [type];
  for (const t of types) {
    if (typeof t !== 'string' || !TYPES.includes(t)) {
      throw fail(`unknown type ${JSON.stringify(t)}`, path);
    }
  }
  const names = types as string[];
  if (names.length === 0) throw fail(`an empty 'type' list`, path);
  if (names.length > 1) {
    // The subset reads a type list for primitive types only.
    if (names.every((t) => t !== 'object' && t !== 'array')) return { ...out, type: names };
    return {
      ...out,
      oneOf: names.map((t) => convert({ ...node, type: t }, path, depth + 1, walk)),
    };
  }
  const only = names[0];
  switch (only) {
    case 'object':
      return { ...out, ...objectSchema(node, sub, path, fail) };
    case 'array':
      return { ...out, ...arraySchema(node, sub, path, fail) };
    case 'string': {
      const format = node['format'];
      if (typeof format === 'string' && FORMATS.includes(format)) {
        return { ...out, type: 'string', format };
      }
      return { ...out, type: 'string', ...pick(node, ['minLength', 'maxLength']) };
    }
    default:
      return { ...out, type: only };
  }
}

function objectSchema(
  node: Node,
  sub: (value: unknown, at: string) => GbnfJsonSchema,
  path: string,
  fail: Walk['fail'],
): Node {
  const out: Node = { type: 'object', ...pick(node, ['minProperties', 'maxProperties']) };
  const properties = node['properties'];
  if (properties !== undefined) {
    if (typeof properties !== 'object' || properties === null || Array.isArray(properties)) {
      throw fail(`'properties' must be an object`, path);
    }
    out['properties'] = Object.fromEntries(
      Object.entries(properties).map(([name, value]) => [name, sub(value, `properties/${name}`)]),
    );
  }
  const additional = node['additionalProperties'];
  // JSON Schema allows other keys by default; generating none of them still matches.
  if (additional === true) out['additionalProperties'] = true;
  else if (typeof additional === 'object' && additional !== null) {
    out['additionalProperties'] = sub(additional, 'additionalProperties');
  } else if (properties === undefined && additional === undefined) {
    out['additionalProperties'] = true;
  }
  return out;
}

function arraySchema(
  node: Node,
  sub: (value: unknown, at: string) => GbnfJsonSchema,
  path: string,
  fail: Walk['fail'],
): Node {
  const out: Node = { type: 'array', ...pick(node, ['minItems', 'maxItems']) };
  const items = node['items'];
  if (Array.isArray(items)) throw fail(`'items' as a list (use 'prefixItems')`, path);
  const prefix = node['prefixItems'];
  if (prefix !== undefined) {
    if (!Array.isArray(prefix)) throw fail(`'prefixItems' must be a list`, path);
    out['prefixItems'] = prefix.map((item, i) => sub(item, `prefixItems/${i}`));
  }
  // Without items, both JSON Schema and node-llama-cpp allow any values (after the prefix).
  if (items === false) out['maxItems'] = Array.isArray(prefix) ? prefix.length : 0;
  else if (items !== undefined && items !== true) out['items'] = sub(items, 'items');
  return out;
}

function pick(node: Node, keys: readonly string[]): Node {
  const out: Node = {};
  for (const key of keys) {
    if (typeof node[key] === 'number') out[key] = node[key];
  }
  return out;
}

function isPrimitive(value: unknown): boolean {
  return value === null || ['string', 'number', 'boolean'].includes(typeof value);
}
