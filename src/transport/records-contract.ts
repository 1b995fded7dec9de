// The record-store contract every transport's store passes through: the names, keys, options and
// values a store takes, the answer each bad one gets, and the closed check. Adapters wrap their
// store with `contractRecords`, so the same input gets the same answer on every transport
// (test/conformance/records.ts runs the table against each one).
import { Type } from '@sinclair/typebox';
import { ClosedError, ConfigError, optionsCheck, PayloadTooLargeError } from '../protocol/index.js';
import type { RecordStore, RecordStoreOptions } from './records.js';
import type { Clock } from './clock.js';
import { SYSTEM_CLOCK } from './queue-policy.js';

/** Store names: one token of a NATS bucket name, a Redis hash tag, a SQLite column value. */
export const RECORD_STORE_NAME_RE = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * Keys: NATS KV's rules (ADR-8: `[-/=.\w]`, no empty subject token), less `/`, which other
 * clients read as a path, and less the `_kv` prefix ADR-8 reserves. The strictest of the stores,
 * so a key that works on one transport works on all.
 */
const KEY_RE = /^[A-Za-z0-9_=-]+(?:\.[A-Za-z0-9_=-]+)*$/;
export const MAX_RECORD_KEY_LENGTH = 200;

/** Shortest TTL: JetStream expires messages on a timer of about a second. */
export const MIN_RECORD_TTL_MS = 1000;

/** Largest value on stores with no tighter limit of their own (memory, sqlite, redis). */
export const DEFAULT_MAX_RECORD_BYTES = 16 * 1024 * 1024;

export type RecordsAnswer =
  { readonly error: 'config_invalid' | 'payload_too_large' } | { readonly accepts: true };

/** One call on a record store with the argument under test. */
export type RecordsCall =
  | { readonly method: 'records'; readonly name?: unknown; readonly options?: unknown }
  | { readonly method: 'put'; readonly key?: unknown; readonly value?: unknown }
  | { readonly method: 'get' | 'delete'; readonly key: unknown };

export interface RecordsRow {
  readonly call: RecordsCall;
  readonly answer: RecordsAnswer;
  readonly why?: string;
}

const CONFIG = { error: 'config_invalid' } as const;
const ACCEPTS = { accepts: true } as const;

/** Every bad argument and the answer it gets, on every transport (sizes are tested apart). */
export const RECORDS_ARGUMENT_TABLE: readonly RecordsRow[] = [
  { call: { method: 'records', name: '' }, answer: CONFIG },
  { call: { method: 'records', name: 'has space' }, answer: CONFIG },
  { call: { method: 'records', name: 'dot.ted' }, answer: CONFIG, why: 'a NATS bucket name' },
  { call: { method: 'records', name: 'x'.repeat(65) }, answer: CONFIG },
  { call: { method: 'records', name: 7 }, answer: CONFIG },
  { call: { method: 'records', name: `A-z_0${'9'.repeat(59)}` }, answer: ACCEPTS },
  { call: { method: 'records', options: { ttlMs: 999 } }, answer: CONFIG },
  { call: { method: 'records', options: { ttlMs: 1500.5 } }, answer: CONFIG },
  { call: { method: 'records', options: { ttlMs: Number.NaN } }, answer: CONFIG },
  { call: { method: 'records', options: { ttlMs: Number.POSITIVE_INFINITY } }, answer: CONFIG },
  {
    call: { method: 'records', options: { ttl: 5000 } },
    answer: CONFIG,
    why: 'an unknown option is most often a misspelt one',
  },
  { call: { method: 'records', options: { clock: {} } }, answer: CONFIG },
  { call: { method: 'records', options: { ttlMs: 1000 } }, answer: ACCEPTS },
  { call: { method: 'records', options: {} }, answer: ACCEPTS },

  { call: { method: 'put', key: '' }, answer: CONFIG },
  { call: { method: 'put', key: 'has space' }, answer: CONFIG },
  { call: { method: 'put', key: '.lead' }, answer: CONFIG, why: 'an empty NATS subject token' },
  { call: { method: 'put', key: 'trail.' }, answer: CONFIG },
  { call: { method: 'put', key: 'a..b' }, answer: CONFIG },
  { call: { method: 'put', key: 'a/b' }, answer: CONFIG },
  { call: { method: 'put', key: 'a*' }, answer: CONFIG, why: 'a NATS wildcard' },
  { call: { method: 'put', key: 'a>' }, answer: CONFIG },
  { call: { method: 'put', key: '_kv.x' }, answer: CONFIG, why: 'reserved by NATS KV (ADR-8)' },
  { call: { method: 'put', key: 'x'.repeat(201) }, answer: CONFIG },
  { call: { method: 'put', key: 5 }, answer: CONFIG },
  { call: { method: 'put', key: 'x'.repeat(200) }, answer: ACCEPTS },
  { call: { method: 'put', key: 'resp_0.a=b-c_D' }, answer: ACCEPTS },
  { call: { method: 'put', value: 'text' }, answer: CONFIG, why: 'values are bytes' },
  { call: { method: 'put', value: [1, 2] }, answer: CONFIG },
  { call: { method: 'put', value: undefined }, answer: CONFIG },
  { call: { method: 'put', value: new Uint8Array(0) }, answer: ACCEPTS },
  { call: { method: 'get', key: 'a b' }, answer: CONFIG },
  { call: { method: 'get', key: 'absent' }, answer: ACCEPTS },
  { call: { method: 'delete', key: '' }, answer: CONFIG },
  { call: { method: 'delete', key: 'absent' }, answer: ACCEPTS },
];

const checkOptions = optionsCheck(
  'record store options',
  Type.Object(
    {
      ttlMs: Type.Optional(Type.Integer({ minimum: MIN_RECORD_TTL_MS })),
      clock: Type.Optional(Type.Object({ now: Type.Function([], Type.Number()) })),
    },
    { additionalProperties: false },
  ),
);

export interface ResolvedRecordOptions {
  /** Undefined: kept until deleted. */
  readonly ttlMs: number | undefined;
  readonly clock: Clock;
}

/** Checks a store's name and options (when it is opened); throws ConfigError naming the field. */
export function resolveRecordOptions(
  name: unknown,
  options: RecordStoreOptions = {},
): ResolvedRecordOptions {
  if (typeof name !== 'string' || !RECORD_STORE_NAME_RE.test(name)) {
    throw new ConfigError(
      `record store name ${shown(name)} must be 1-64 characters of letters, digits, '_' or '-'`,
    );
  }
  checkOptions(options);
  return { ttlMs: options.ttlMs, clock: options.clock ?? SYSTEM_CLOCK };
}

export function checkRecordKey(key: unknown): asserts key is string {
  if (
    typeof key !== 'string' ||
    key.length > MAX_RECORD_KEY_LENGTH ||
    !KEY_RE.test(key) ||
    key.startsWith('_kv')
  ) {
    throw new ConfigError(
      `record key ${shown(key)} must be 1-${MAX_RECORD_KEY_LENGTH} characters of letters, ` +
        `digits, '_', '-', '=' and '.' (not at either end, not twice in a row), not starting '_kv'`,
    );
  }
}

function checkValue(store: RecordStore, value: unknown): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) {
    throw new ConfigError(`record value must be a Uint8Array, got ${describe(value)}`);
  }
  if (value.byteLength > store.maxValueBytes) {
    throw new PayloadTooLargeError(
      `record value is ${value.byteLength} bytes; record store '${store.name}' takes at most ${store.maxValueBytes}`,
      { details: { limit: store.maxValueBytes, size: value.byteLength } },
    );
  }
}

function shown(value: unknown): string {
  return typeof value === 'string' ? `'${value.slice(0, 80)}'` : describe(value);
}

export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

/**
 * The value as a plain Uint8Array: broker clients hand out Node Buffers, which compare unequal
 * to the same bytes in a Uint8Array (and whose `slice` shares memory). No copy is made.
 */
export function plain(value: Uint8Array | undefined): Uint8Array | undefined {
  if (value === undefined || Object.getPrototypeOf(value) === Uint8Array.prototype) return value;
  return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
}

/** What a store's contract needs of its transport: whether it is closed, and its name for the error. */
export interface StoreGuard {
  isClosed(): boolean;
  /** As in the transport's ClosedError (`'nats transport'`). */
  readonly what: string;
}

export function guarded<T>(
  guard: StoreGuard,
  check: () => void,
  run: () => Promise<T>,
): Promise<T> {
  try {
    if (guard.isClosed()) throw new ClosedError(guard.what);
    check();
  } catch (err) {
    return Promise.reject(err instanceof Error ? err : new ConfigError(String(err)));
  }
  return run();
}

/**
 * `store` with every argument checked before the adapter sees it, and every call refused once
 * the transport is closed (the transport's own ClosedError), so adapters may assume well-formed
 * input on an open transport.
 */
export function contractRecords(store: RecordStore, guard: StoreGuard): RecordStore {
  return {
    name: store.name,
    get maxValueBytes() {
      return store.maxValueBytes;
    },
    put: (key, value) =>
      guarded(
        guard,
        () => {
          checkRecordKey(key);
          checkValue(store, value);
        },
        () => store.put(key, value),
      ),
    get: (key) =>
      guarded(
        guard,
        () => checkRecordKey(key),
        async () => plain(await store.get(key)),
      ),
    delete: (key) =>
      guarded(
        guard,
        () => checkRecordKey(key),
        () => store.delete(key),
      ),
  };
}
