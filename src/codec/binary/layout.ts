// Fixed layouts for the bodies of the hot kinds (docs/protocol.md, "Body layouts"): a mask of
// the members present, their values by position without names, then the members that did not
// fit as one MessagePack map. Member order is kept: the fixed members are those that come first
// in the body, in layout order and of the layout's type; the first member that breaks either
// rule and every member after it go in the map.
import { InvalidMessageError } from '../../protocol/index.js';
import type { ByteReader } from './reader.js';
import { readMap, writeValue } from './value.js';
import type { ByteWriter } from './writer.js';

type MemberType =
  | { t: 'str' }
  | { t: 'uint' }
  | { t: 'num' }
  | { t: 'bool' }
  | { t: 'enum'; values: readonly string[] }
  | { t: 'list'; of: Layout };

export interface Layout {
  readonly names: readonly string[];
  readonly types: readonly MemberType[];
  readonly index: ReadonlyMap<string, number>;
  /** Width of the mask in bytes; its top bit says a map of other members follows. */
  readonly maskBytes: 1 | 2 | 3 | 4;
}

function layout(members: [string, MemberType][], maskBytes: 1 | 2 | 3 | 4): Layout {
  if (members.length >= maskBytes * 8) throw new Error('layout has more members than mask bits');
  return {
    names: members.map(([n]) => n),
    types: members.map(([, t]) => t),
    index: new Map(members.map(([n], i) => [n, i])),
    maskBytes,
  };
}

/** The code of `null` in an enumerated member (e.g. `finish_reason: null`). */
const NULL_CODE = 0xff;

const str = { t: 'str' } as const;
const uint = { t: 'uint' } as const;
const num = { t: 'num' } as const;
const bool = { t: 'bool' } as const;

/** A chat message: role as a code, then its text members. */
export const MESSAGE_LAYOUT = layout(
  [
    ['role', { t: 'enum', values: ['system', 'developer', 'user', 'assistant', 'tool'] }],
    ['content', str],
    ['name', str],
    ['tool_call_id', str],
    ['reasoning', str],
  ],
  1,
);

export const CHUNK_LAYOUT = layout(
  [
    ['text', str],
    ['index', uint],
    ['reasoning', str],
    ['refusal', str],
    ['finish_reason', { t: 'enum', values: ['stop', 'length', 'tool_calls', 'content_filter'] }],
  ],
  1,
);

export const REQUEST_LAYOUT = layout(
  [
    ['model', str],
    ['messages', { t: 'list', of: MESSAGE_LAYOUT }],
    ['prompt', str],
    ['temperature', num],
    ['top_p', num],
    ['n', uint],
    ['max_tokens', uint],
    ['max_completion_tokens', uint],
    ['stop', str],
    ['seed', num],
    ['presence_penalty', num],
    ['frequency_penalty', num],
    ['logprobs', bool],
    ['top_logprobs', uint],
    ['parallel_tool_calls', bool],
    ['reasoning_effort', { t: 'enum', values: ['minimal', 'low', 'medium', 'high'] }],
    ['user', str],
    ['stream', bool],
    ['continue_from', str],
    ['continue_reasoning', str],
  ],
  3,
);

/** A plain object a layout can write (not an array, not bytes, not null). */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    !(value instanceof Uint8Array)
  );
}

function fits(type: MemberType, value: unknown): boolean {
  switch (type.t) {
    case 'str':
      return typeof value === 'string';
    case 'uint':
      return Number.isSafeInteger(value) && (value as number) >= 0;
    case 'num':
      return typeof value === 'number';
    case 'bool':
      return typeof value === 'boolean';
    case 'enum':
      return value === null || (typeof value === 'string' && type.values.includes(value));
    case 'list':
      return Array.isArray(value) && value.every(isRecord);
  }
}

/** Writes `obj` (which sits `depth` levels into the frame) in `lay`. */
export function writeLayout(
  w: ByteWriter,
  obj: Record<string, unknown>,
  lay: Layout,
  depth: number,
): void {
  w.ensure(lay.maskBytes);
  const maskAt = w.pos;
  w.pos += lay.maskBytes;
  let mask = 0;
  let last = -1;
  let rest: Record<string, unknown> | undefined;
  for (const key of Object.keys(obj)) {
    const value = obj[key];
    if (value === undefined) continue;
    if (rest === undefined) {
      const i = lay.index.get(key);
      if (i !== undefined && i > last && fits(lay.types[i]!, value)) {
        last = i;
        mask |= 1 << i;
        writeMember(w, lay.types[i]!, value, depth + 1);
        continue;
      }
      rest = {};
    }
    rest[key] = value;
  }
  if (rest !== undefined) {
    mask = (mask | (1 << (lay.maskBytes * 8 - 1))) >>> 0;
    writeValue(w, rest, depth);
  }
  for (let b = lay.maskBytes - 1; b >= 0; b--) {
    w.buf[maskAt + b] = mask & 0xff;
    mask >>>= 8;
  }
}

function writeMember(w: ByteWriter, type: MemberType, value: unknown, depth: number): void {
  switch (type.t) {
    case 'str':
      w.str(value as string);
      return;
    case 'uint':
      w.varint(value as number);
      return;
    case 'num':
      w.f64(value as number);
      return;
    case 'bool':
      w.u8(value === true ? 1 : 0);
      return;
    case 'enum':
      w.u8(value === null ? NULL_CODE : type.values.indexOf(value as string));
      return;
    case 'list': {
      const items = value as Record<string, unknown>[];
      w.varint(items.length);
      for (const item of items) writeLayout(w, item, type.of, depth + 1);
      return;
    }
  }
}

export function readLayout(r: ByteReader, lay: Layout): Record<string, unknown> {
  if (lay.maskBytes === 1 && r.pos < r.end && (r.buf[r.pos]! & 0x80) === 0) {
    // The common case of the small layouts, with members stored by name (which V8 turns into
    // fixed object shapes) rather than by computed key.
    if (lay === CHUNK_LAYOUT) return readChunk(r);
    if (lay === MESSAGE_LAYOUT) return readMessage(r);
  }
  let mask = 0;
  for (let b = 0; b < lay.maskBytes; b++) mask = mask * 256 + r.u8();
  const restBit = 2 ** (lay.maskBytes * 8 - 1);
  const hasRest = mask >= restBit;
  if (hasRest) mask -= restBit;
  if (mask >= 2 ** lay.names.length) {
    throw new InvalidMessageError('body layout names a member this version does not define');
  }
  const out: Record<string, unknown> = {};
  for (let i = 0; mask !== 0; i++, mask >>>= 1) {
    if ((mask & 1) === 0) continue;
    out[lay.names[i]!] = readMember(r, lay.types[i]!);
  }
  if (hasRest) {
    const rest = readMap(r, 'the other members of a body layout');
    for (const key of Object.keys(rest)) {
      if (Object.hasOwn(out, key)) {
        throw new InvalidMessageError(`body member '${key}' is given twice`);
      }
      out[key] = rest[key];
    }
  }
  return out;
}

function readMember(r: ByteReader, type: MemberType): unknown {
  switch (type.t) {
    case 'str':
      return r.str();
    case 'uint':
      return r.varint();
    case 'num':
      return r.f64();
    case 'bool': {
      const b = r.u8();
      if (b > 1) throw new InvalidMessageError('a boolean must be 0 or 1');
      return b === 1;
    }
    case 'enum':
      return readEnum(r, type.values);
    case 'list': {
      const n = r.varint();
      // Each item takes at least its mask: a count beyond the bytes left is a lie.
      if (n * type.of.maskBytes > r.remaining) r.truncated();
      const items: Record<string, unknown>[] = new Array(n);
      for (let i = 0; i < n; i++) items[i] = readLayout(r, type.of);
      return items;
    }
  }
}

function readEnum(r: ByteReader, values: readonly string[]): string | null {
  const code = r.u8();
  if (code === NULL_CODE) return null;
  const value = values[code];
  if (value === undefined) throw new InvalidMessageError('unknown code in a body layout');
  return value;
}

/**
 * The last body of each hand-read layout, kept so that its shape outlives a full GC: V8 holds
 * shapes of objects built field by field weakly, and drops the optimized reader when one goes
 * (see KEEP_SHAPE in reader.ts).
 */
const lastShapes: { chunk?: object; message?: object } = {};

const FINISH_REASONS = (CHUNK_LAYOUT.types[4] as { values: readonly string[] }).values;
const ROLES = (MESSAGE_LAYOUT.types[0] as { values: readonly string[] }).values;

/** CHUNK_LAYOUT without other members. */
function readChunk(r: ByteReader): Record<string, unknown> {
  const mask = r.u8();
  if (mask >= 1 << CHUNK_LAYOUT.names.length) {
    throw new InvalidMessageError('body layout names a member this version does not define');
  }
  const out: { text?: string; index?: number; reasoning?: string; refusal?: string } & Record<
    string,
    unknown
  > = {};
  if ((mask & 1) !== 0) out.text = r.str();
  if ((mask & 2) !== 0) out.index = r.varint();
  if ((mask & 4) !== 0) out.reasoning = r.str();
  if ((mask & 8) !== 0) out.refusal = r.str();
  if ((mask & 16) !== 0) out.finish_reason = readEnum(r, FINISH_REASONS);
  lastShapes.chunk = out;
  return out;
}

/** MESSAGE_LAYOUT without other members. */
function readMessage(r: ByteReader): Record<string, unknown> {
  const mask = r.u8();
  if (mask >= 1 << MESSAGE_LAYOUT.names.length) {
    throw new InvalidMessageError('body layout names a member this version does not define');
  }
  const out: { role?: string | null; content?: string } & Record<string, unknown> = {};
  if ((mask & 1) !== 0) out.role = readEnum(r, ROLES);
  if ((mask & 2) !== 0) out.content = r.str();
  if ((mask & 4) !== 0) out.name = r.str();
  if ((mask & 8) !== 0) out.tool_call_id = r.str();
  if ((mask & 16) !== 0) out.reasoning = r.str();
  lastShapes.message = out;
  return out;
}
