// W3C Trace Context (https://www.w3.org/TR/trace-context/): parsing and formatting of the
// `traceparent` and `tracestate` headers, and new trace and span ids. Pure functions, no I/O.
import { randomBytes } from 'node:crypto';

/** One position in a trace: the trace, the span that sent it, its flags and vendor state. */
export interface TraceContext {
  /** 32 lowercase hex digits, not all zero. */
  readonly traceId: string;
  /** 16 lowercase hex digits, not all zero: the span that made this context. */
  readonly spanId: string;
  /** trace-flags; bit 0 (0x01) is `sampled`. */
  readonly flags: number;
  /** The `tracestate` list, already checked, when there is one. */
  readonly tracestate?: string | undefined;
}

export const SAMPLED = 0x01;
const KNOWN_FLAGS = 0x03;
/** Longest `tracestate` carried; the envelope field allows no more (docs/protocol.md). */
export const MAX_TRACESTATE_LENGTH = 512;
const MAX_TRACESTATE_MEMBERS = 32;

const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);
const HEX2 = /^[0-9a-f]{2}$/;
const TRACE_ID = /^[0-9a-f]{32}$/;
const SPAN_ID = /^[0-9a-f]{16}$/;
// Trace Context §3.3.1.3: simple keys and multi-tenant keys (tenant@system).
const TS_KEY =
  /^(?:[a-z][a-z0-9_\-*/]{0,255}|[a-z0-9][a-z0-9_\-*/]{0,240}@[a-z][a-z0-9_\-*/]{0,13})$/;
// Printable ASCII without ',' and '=', the last character not a space.
const TS_VALUE = /^[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]$/;

/**
 * Reads a `traceparent` header (§3.2). Version 00 must be exactly 55 characters; a higher
 * version is read by its first four fields as the spec asks, and `ff` is invalid. Hex must be
 * lowercase and neither id all zeros. Returns undefined for anything invalid: the caller then
 * starts a new trace.
 */
export function parseTraceparent(
  value: string | undefined,
  tracestate?: string | string[],
): TraceContext | undefined {
  if (typeof value !== 'string' || value.length < 55) return undefined;
  const version = value.slice(0, 2);
  if (!HEX2.test(version) || version === 'ff') return undefined;
  if (version === '00' ? value.length !== 55 : value.length > 55 && value[55] !== '-') {
    return undefined;
  }
  if (value[2] !== '-' || value[35] !== '-' || value[52] !== '-') return undefined;
  const traceId = value.slice(3, 35);
  const spanId = value.slice(36, 52);
  const flags = value.slice(53, 55);
  if (!TRACE_ID.test(traceId) || traceId === ZERO_TRACE) return undefined;
  if (!SPAN_ID.test(spanId) || spanId === ZERO_SPAN) return undefined;
  if (!HEX2.test(flags)) return undefined;
  const state = parseTracestate(tracestate);
  return {
    traceId,
    spanId,
    // Defined flags are kept (sampled, and Trace Context Level 2's random); the rest are
    // reserved and a version-00 sender must send them as zero.
    flags: Number.parseInt(flags, 16) & KNOWN_FLAGS,
    ...(state === undefined ? {} : { tracestate: state }),
  };
}

/** Writes a context as a version-00 `traceparent`. */
export function formatTraceparent(ctx: TraceContext): string {
  return `00-${ctx.traceId}-${ctx.spanId}-${(ctx.flags & KNOWN_FLAGS).toString(16).padStart(2, '0')}`;
}

/**
 * Checks a `tracestate` header (§3.3): comma-separated `key=value` members, at most 32, keys
 * unique. An invalid list is dropped whole, as the spec asks; a list longer than 512 characters
 * loses members from its end until it fits. Returns the normalised list (no optional spaces),
 * or undefined when there is nothing to carry.
 */
export function parseTracestate(value: string | string[] | undefined): string | undefined {
  if (value === undefined) return undefined;
  // Several header lines combine into one list (RFC 9110 §5.3).
  const text = Array.isArray(value) ? value.join(',') : value;
  const members: string[] = [];
  const keys = new Set<string>();
  for (const raw of text.split(',')) {
    const member = raw.trim();
    if (member === '') continue;
    const eq = member.indexOf('=');
    if (eq <= 0) return undefined;
    const key = member.slice(0, eq);
    const val = member.slice(eq + 1);
    if (!TS_KEY.test(key) || !TS_VALUE.test(val) || keys.has(key)) return undefined;
    keys.add(key);
    members.push(`${key}=${val}`);
  }
  if (members.length === 0 || members.length > MAX_TRACESTATE_MEMBERS) return undefined;
  let out = members.join(',');
  while (out.length > MAX_TRACESTATE_LENGTH && members.length > 0) {
    members.pop();
    out = members.join(',');
  }
  return members.length === 0 ? undefined : out;
}

/** The trace id of a `traceparent`, or undefined when it is not valid. */
export function traceIdOf(traceparent: string | undefined): string | undefined {
  return parseTraceparent(traceparent)?.traceId;
}

// Random bytes are drawn from the OS a pool at a time: one getrandom() per id cost several
// percent of the gateway's CPU when every request starts four to five spans.
const POOL_BYTES = 4096;
let pool = Buffer.alloc(0);
let poolAt = 0;

function randomHex(bytes: number, zero: string): string {
  for (;;) {
    if (poolAt + bytes > pool.length) {
      pool = randomBytes(POOL_BYTES);
      poolAt = 0;
    }
    const hex = pool.toString('hex', poolAt, poolAt + bytes);
    poolAt += bytes;
    if (hex !== zero) return hex;
  }
}

export function newTraceId(): string {
  return randomHex(16, ZERO_TRACE);
}

export function newSpanId(): string {
  return randomHex(8, ZERO_SPAN);
}

/**
 * A new span's context: under `parent` when given (same trace, flags and state), else the root
 * of a new trace, marked sampled so that a tracer further down records it.
 */
export function childContext(parent: TraceContext | undefined): TraceContext {
  if (parent === undefined) return { traceId: newTraceId(), spanId: newSpanId(), flags: SAMPLED };
  return {
    traceId: parent.traceId,
    spanId: newSpanId(),
    flags: parent.flags,
    ...(parent.tracestate === undefined ? {} : { tracestate: parent.tracestate }),
  };
}

/** The context an envelope carries, if its `traceparent` is valid. */
export function contextOf(header: {
  traceparent?: string | undefined;
  tracestate?: string | undefined;
}): TraceContext | undefined {
  return parseTraceparent(header.traceparent, header.tracestate);
}

/** The envelope fields for a context: `traceparent`, and `tracestate` when there is one. */
export function traceFields(ctx: TraceContext): { traceparent: string; tracestate?: string } {
  const fields: { traceparent: string; tracestate?: string } = {
    traceparent: formatTraceparent(ctx),
  };
  if (ctx.tracestate !== undefined) fields.tracestate = ctx.tracestate;
  return fields;
}
