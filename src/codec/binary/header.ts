// Header fields of a binary frame (docs/protocol.md, "Binary encoding"): the required fields in
// fixed positions, then optional fields as (field id, value) in ascending field id order, each
// checked on the way in against the same limits as the envelope schema.
import { Type, type TString } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { EnvelopeHeaderSchema, InvalidMessageError, type Envelope } from '../../protocol/index.js';
import { checkVersion } from '../version-check.js';
import { COMPRESSIONS, CONTENT_TYPES, KIND_CODE, KIND_CODES, Tag } from './format.js';
import { readId, readTraceparent, writeId, writeTraceparent } from './ids.js';
import { FieldMemo, WriteMemo } from './memo.js';
import type { ByteReader } from './reader.js';
import { readMap, writeValue } from './value.js';
import type { ByteWriter } from './writer.js';

const P = EnvelopeHeaderSchema.properties;

/** [min, max] length of a string field, read from the envelope schema so the two cannot drift. */
function lengths(schema: unknown): [number, number] {
  const s = schema as TString;
  return [s.minLength ?? 0, s.maxLength ?? Infinity];
}
const LEN = {
  id: lengths(P.id),
  kind: lengths(P.kind),
  subject: lengths(P.subject),
  source: lengths(P.source),
  corr: lengths(P.corr),
  replyTo: lengths(P.replyTo),
  key: lengths(P.key),
  tenant: lengths(P.tenant),
  tracestate: lengths(P.tracestate),
};
const KIND_PATTERN = new RegExp(P.kind.pattern!);

/** [min, max] of an integer field. */
function range(schema: unknown): [number, number] {
  const s = schema as { minimum?: number; maximum?: number };
  return [s.minimum ?? 0, s.maximum ?? Number.MAX_SAFE_INTEGER];
}
const RANGE = {
  ts: range(P.ts),
  deadline: range(P.deadline),
  prio: range(P.prio),
  attempt: range(P.attempt),
  seq: range(P.seq),
  credit: range(P.credit),
  batch: range(P.batch),
  items: range(P.items),
};

/** The structured fields, checked by the schema itself when a frame has any of them. */
const STRUCTURED = ['headers', 'chunk', 'sum', 'enc', 'sig'] as const;
const structuredCheck = TypeCompiler.Compile(Type.Pick(EnvelopeHeaderSchema, [...STRUCTURED]));

const memo = {
  subject: new FieldMemo(),
  source: new FieldMemo(),
  corr: { text: new FieldMemo(), uuid: new FieldMemo() },
  replyTo: new FieldMemo(),
  tenant: new FieldMemo(),
};
const utf8 = (r: ByteReader, n: number) => r.utf8(n);

/** The writing side's memos, for the fields that repeat along a stream. */
const written = {
  subject: new WriteMemo(),
  source: new WriteMemo(),
  corr: new WriteMemo(),
  replyTo: new WriteMemo(),
  tenant: new WriteMemo(),
};
const str = (w: ByteWriter, s: string) => w.str(s);

/** A `str` through a field's memo. */
function memoStr(r: ByteReader, m: FieldMemo): string {
  return m.read(r, r.varint(), utf8);
}

function fail(field: string, what: string): never {
  throw new InvalidMessageError(`invalid envelope field /${field}: ${what}`, {
    details: { path: `/${field}` },
  });
}

function checkLength(field: string, s: string, limits: [number, number]): string {
  if (s.length < limits[0] || s.length > limits[1]) {
    fail(field, `length must be ${limits[0]} to ${limits[1]}`);
  }
  return s;
}

function checkRange(field: string, n: number, limits: [number, number]): number {
  if (n < limits[0] || n > limits[1]) fail(field, `must be ${limits[0]} to ${limits[1]}`);
  return n;
}

// ---------------------------------------------------------------------------------------------
// Writing. A value the binary form cannot hold (a wrong type, an integer past 2^53 - 1) is
// refused here: it would be refused by every reader anyway.

function asString(field: string, value: unknown): string {
  if (typeof value !== 'string') fail(field, 'must be a string');
  return value;
}

function asUint(field: string, value: unknown): number {
  if (!Number.isSafeInteger(value) || (value as number) < 0) {
    fail(field, 'must be an integer from 0 to 2^53 - 1');
  }
  return value as number;
}

function asRecord(field: string, value: unknown): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    fail(field, 'must be an object');
  }
  return value as Record<string, unknown>;
}

/** Writes `obj`'s members `names`, all strings, in order; any other member is refused. */
function writeStrings(w: ByteWriter, field: string, value: unknown, names: string[]): void {
  const obj = asRecord(field, value);
  if (Object.keys(obj).some((k) => !names.includes(k))) fail(field, 'has an unknown member');
  for (const name of names) w.str(asString(`${field}/${name}`, obj[name]));
}

function writeCode(w: ByteWriter, field: string, codes: readonly string[], value: unknown): void {
  const code = codes.indexOf(value as string);
  if (code < 0) fail(field, `must be one of ${codes.join(', ')}`);
  w.u8(code);
}

/** `tagOf` of a member without a field id: it goes in the `extra` map. */
const NO_TAG = 0;
/** `tagOf` of a member written elsewhere: a required field, the body or the payload. */
const ELSEWHERE = -1;

/**
 * The field id of header member `key`. A switch over the names, which V8 compiles to compares
 * of interned strings, costs less per member than a Map lookup (this runs for every member of
 * every frame); test/codec/binary.test.ts checks it against HEADER_TAGS and REQUIRED_FIELDS.
 */
export function tagOf(key: string): number {
  switch (key) {
    case 'v':
    case 'id':
    case 'kind':
    case 'subject':
    case 'ts':
    case 'body':
    case 'payload':
      return ELSEWHERE;
    case 'source':
      return Tag.source;
    case 'corr':
      return Tag.corr;
    case 'replyTo':
      return Tag.replyTo;
    case 'deadline':
      return Tag.deadline;
    case 'prio':
      return Tag.prio;
    case 'key':
      return Tag.key;
    case 'attempt':
      return Tag.attempt;
    case 'tenant':
      return Tag.tenant;
    case 'traceparent':
      return Tag.traceparent;
    case 'tracestate':
      return Tag.tracestate;
    case 'seq':
      return Tag.seq;
    case 'eos':
      return Tag.eos;
    case 'credit':
      return Tag.credit;
    case 'batch':
      return Tag.batch;
    case 'items':
      return Tag.items;
    case 'headers':
      return Tag.headers;
    case 'chunk':
      return Tag.chunk;
    case 'ct':
      return Tag.ct;
    case 'zip':
      return Tag.zip;
    case 'sum':
      return Tag.sum;
    case 'enc':
      return Tag.enc;
    case 'sig':
      return Tag.sig;
    default:
      return NO_TAG;
  }
}

export function writeHeader(w: ByteWriter, env: Envelope): void {
  const record = env as unknown as Record<string, unknown>;
  const v = env.v;
  if (!Number.isInteger(v) || v < 1 || v > 255) fail('v', 'must be an integer from 1 to 255');
  w.u8(v);
  w.varint(asUint('ts', env.ts));
  writeId(w, asString('id', env.id));
  const kind = asString('kind', env.kind);
  const code = KIND_CODE.get(kind);
  if (code !== undefined) w.u8(code);
  else {
    w.u8(0);
    w.str(kind);
  }
  written.subject.write(w, asString('subject', env.subject), str);

  let present = 0;
  let extra: Record<string, unknown> | undefined;
  for (const key in record) {
    const value = record[key];
    if (value === undefined) continue;
    const tag = tagOf(key);
    if (tag > 0) present |= 1 << tag;
    else if (tag === NO_TAG) (extra ??= {})[key] = value;
  }
  for (let tag = 1; present !== 0 && tag < Tag.extra; tag++) {
    if ((present & (1 << tag)) === 0) continue;
    present &= ~(1 << tag);
    w.u8(tag);
    writeField(w, tag, record);
  }
  if (extra !== undefined) {
    w.u8(Tag.extra);
    writeValue(w, extra, 0);
  }
}

function writeField(w: ByteWriter, tag: number, e: Record<string, unknown>): void {
  switch (tag) {
    case Tag.source:
      return written.source.write(w, asString('source', e.source), str);
    case Tag.corr:
      return written.corr.write(w, asString('corr', e.corr), writeId);
    case Tag.replyTo:
      return written.replyTo.write(w, asString('replyTo', e.replyTo), str);
    case Tag.deadline:
      return w.varint(asUint('deadline', e.deadline));
    case Tag.prio:
      return w.varint(asUint('prio', e.prio));
    case Tag.key:
      return w.str(asString('key', e.key));
    case Tag.attempt:
      return w.varint(asUint('attempt', e.attempt));
    case Tag.tenant:
      return written.tenant.write(w, asString('tenant', e.tenant), str);
    case Tag.traceparent:
      return writeTraceparent(w, asString('traceparent', e.traceparent));
    case Tag.tracestate:
      return w.str(asString('tracestate', e.tracestate));
    case Tag.seq:
      return w.varint(asUint('seq', e.seq));
    case Tag.eos:
      if (typeof e.eos !== 'boolean') fail('eos', 'must be a boolean');
      return w.u8(e.eos ? 1 : 0);
    case Tag.credit:
      return w.varint(asUint('credit', e.credit));
    case Tag.batch:
      return w.varint(asUint('batch', e.batch));
    case Tag.items:
      return w.varint(asUint('items', e.items));
    case Tag.headers: {
      const headers = asRecord('headers', e.headers);
      const keys = Object.keys(headers);
      w.varint(keys.length);
      for (const k of keys) {
        if (k === '__proto__') fail('headers', "a '__proto__' key cannot be carried");
        w.str(k);
        w.str(asString(`headers/${k}`, headers[k]));
      }
      return;
    }
    case Tag.chunk: {
      const c = asRecord('chunk', e.chunk);
      const names = ['transfer', 'index', 'total', 'size', 'partSum', 'objectSum', 'offset'];
      if (Object.keys(c).some((k) => !names.includes(k))) fail('chunk', 'has an unknown member');
      w.str(asString('chunk/transfer', c.transfer));
      w.varint(asUint('chunk/index', c.index));
      w.varint(asUint('chunk/total', c.total));
      w.varint(asUint('chunk/size', c.size));
      w.str(asString('chunk/partSum', c.partSum));
      w.str(asString('chunk/objectSum', c.objectSum));
      return w.varint(asUint('chunk/offset', c.offset));
    }
    case Tag.ct:
      return writeCode(w, 'ct', CONTENT_TYPES, e.ct);
    case Tag.zip:
      return writeCode(w, 'zip', COMPRESSIONS, e.zip);
    case Tag.sum:
      return w.str(asString('sum', e.sum));
    case Tag.enc:
      return writeStrings(w, 'enc', e.enc, ['alg', 'kid', 'iv', 'tag']);
    case Tag.sig:
      return writeStrings(w, 'sig', e.sig, ['alg', 'kid', 'value']);
  }
}

// ---------------------------------------------------------------------------------------------
// Reading.

/** Whether the header readHeader last read has any of `ct`, `zip`, `sum`, `enc`, `sig`. */
export const headerInfo = { transforms: false };

/**
 * Reads the header into a new record and returns it; the reader is left at the first body or
 * payload field id (or at the end). Every field is checked as the envelope schema checks it.
 */
export function readHeader(r: ByteReader): Record<string, unknown> {
  const v = r.u8();
  checkVersion(v);
  const ts = checkRange('ts', r.varint(), RANGE.ts);
  const id = checkLength('id', readId(r), LEN.id);
  const code = r.u8();
  let kind: string;
  if (code === 0) {
    kind = checkLength('kind', r.str(), LEN.kind);
    if (!KIND_PATTERN.test(kind)) fail('kind', `must match ${KIND_PATTERN.source}`);
  } else {
    const known = KIND_CODES[code - 1];
    if (known === undefined) fail('kind', `unknown kind code ${code}`);
    kind = known;
  }
  const subject = checkLength('subject', memoStr(r, memo.subject), LEN.subject);
  const env: Record<string, unknown> = { v, id, kind, subject, ts };

  let last = 0;
  let structured = false;
  headerInfo.transforms = false;
  while (r.pos < r.end) {
    const tag = r.buf[r.pos]!;
    if (tag > Tag.extra) break;
    r.pos++;
    if (tag <= last) {
      throw new InvalidMessageError(`field id ${tag} is repeated or out of order`);
    }
    last = tag;
    switch (tag) {
      case Tag.source:
        env.source = checkLength('source', memoStr(r, memo.source), LEN.source);
        break;
      case Tag.corr:
        env.corr = checkLength('corr', readId(r, memo.corr), LEN.corr);
        break;
      case Tag.replyTo:
        env.replyTo = checkLength('replyTo', memoStr(r, memo.replyTo), LEN.replyTo);
        break;
      case Tag.deadline:
        env.deadline = checkRange('deadline', r.varint(), RANGE.deadline);
        break;
      case Tag.prio:
        env.prio = checkRange('prio', r.varint(), RANGE.prio);
        break;
      case Tag.key:
        env.key = checkLength('key', r.str(), LEN.key);
        break;
      case Tag.attempt:
        env.attempt = checkRange('attempt', r.varint(), RANGE.attempt);
        break;
      case Tag.tenant:
        env.tenant = checkLength('tenant', memoStr(r, memo.tenant), LEN.tenant);
        break;
      case Tag.traceparent:
        env.traceparent = readTraceparent(r);
        break;
      case Tag.tracestate:
        env.tracestate = checkLength('tracestate', r.str(), LEN.tracestate);
        break;
      case Tag.seq:
        env.seq = checkRange('seq', r.varint(), RANGE.seq);
        break;
      case Tag.eos: {
        const b = r.u8();
        if (b > 1) fail('eos', 'must be 0 or 1');
        env.eos = b === 1;
        break;
      }
      case Tag.credit:
        env.credit = checkRange('credit', r.varint(), RANGE.credit);
        break;
      case Tag.batch:
        env.batch = checkRange('batch', r.varint(), RANGE.batch);
        break;
      case Tag.items:
        env.items = checkRange('items', r.varint(), RANGE.items);
        break;
      case Tag.headers: {
        const n = r.varint();
        if (n * 2 > r.remaining) r.truncated();
        const headers: Record<string, string> = {};
        for (let i = 0; i < n; i++) {
          const k = r.str();
          if (k === '__proto__') fail('headers', "a '__proto__' key cannot be carried");
          if (Object.hasOwn(headers, k)) fail('headers', `member '${k}' is given twice`);
          headers[k] = r.str();
        }
        env.headers = headers;
        structured = true;
        break;
      }
      case Tag.chunk:
        env.chunk = {
          transfer: r.str(),
          index: r.varint(),
          total: r.varint(),
          size: r.varint(),
          partSum: r.str(),
          objectSum: r.str(),
          offset: r.varint(),
        };
        structured = true;
        break;
      case Tag.ct:
        env.ct = readCode(r, 'ct', CONTENT_TYPES);
        break;
      case Tag.zip:
        env.zip = readCode(r, 'zip', COMPRESSIONS);
        break;
      case Tag.sum:
        env.sum = r.str();
        structured = true;
        break;
      case Tag.enc:
        env.enc = { alg: r.str(), kid: r.str(), iv: r.str(), tag: r.str() };
        structured = true;
        break;
      case Tag.sig:
        env.sig = { alg: r.str(), kid: r.str(), value: r.str() };
        structured = true;
        break;
      case Tag.extra:
        readExtra(r, env);
        break;
      default:
        throw new InvalidMessageError(`unknown header field id ${tag}`);
    }
  }
  if (last >= Tag.ct && (env.ct ?? env.zip ?? env.sum ?? env.enc ?? env.sig) !== undefined) {
    headerInfo.transforms = true;
  }
  if (structured && !structuredCheck.Check(env)) {
    const first = structuredCheck.Errors(env).First();
    throw new InvalidMessageError(
      `invalid envelope field ${first?.path ?? ''}: ${first?.message ?? 'bad header'}`,
      { details: { path: first?.path } },
    );
  }
  return env;
}

function readCode(r: ByteReader, field: string, codes: readonly string[]): string {
  const value = codes[r.u8()];
  if (value === undefined) fail(field, 'unknown code');
  return value;
}

/** Members without a field id: names that have one (or name the body) are refused. */
function readExtra(r: ByteReader, env: Record<string, unknown>): void {
  const extra = readMap(r, 'the extra header members');
  for (const key of Object.keys(extra)) {
    if (tagOf(key) !== NO_TAG) {
      throw new InvalidMessageError(`extra header member '${key}' has a field id of its own`);
    }
    env[key] = extra[key];
  }
}
