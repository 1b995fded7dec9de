// Pins on the protocol's public surface (docs/protocol.md, "Errors" and "Ids"): the error codes
// and their HTTP status, OpenAI type and retryable flag are copied here as a literal, so any
// change to the table is a deliberate edit of two places; typed errors are rebuilt on receipt;
// ids are time-ordered UUIDv7.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CancelledError,
  ChunkCorruptError,
  ChunkMissingError,
  ClosedError,
  ConfigError,
  createEnvelope,
  createId,
  createWireError,
  DeadlineExceededError,
  DecryptionError,
  ERROR_CODES,
  ERROR_TABLE,
  errorFromWire,
  ForbiddenError,
  idTime,
  IntegrityError,
  InternalError,
  InvalidMessageError,
  isErrorCode,
  isId,
  LocalError,
  NoRespondersError,
  NoRouteError,
  NotConnectedError,
  NotFoundError,
  OverloadedError,
  PayloadTooLargeError,
  RateLimitedError,
  ReplayError,
  SignatureError,
  toWireError,
  UnauthorizedError,
  UnavailableError,
  UnknownKeyError,
  UnknownKindError,
  UnsupportedMediaTypeError,
  UnsupportedVersionError,
  UpstreamError,
  WireError,
  WorkerLostError,
  type ErrorCode,
} from '../../src/protocol/index.js';

/** The table as the protocol specifies it. Changing ERROR_TABLE means changing this too. */
const PINNED = {
  invalid_message: { status: 400, type: 'invalid_request_error', retryable: false },
  unsupported_version: { status: 400, type: 'invalid_request_error', retryable: false },
  unknown_kind: { status: 400, type: 'invalid_request_error', retryable: false },
  integrity_failed: { status: 400, type: 'invalid_request_error', retryable: true },
  decrypt_failed: { status: 400, type: 'invalid_request_error', retryable: false },
  unknown_key: { status: 401, type: 'authentication_error', retryable: false },
  bad_signature: { status: 401, type: 'authentication_error', retryable: false },
  replayed: { status: 409, type: 'invalid_request_error', retryable: false },
  chunk_corrupt: { status: 422, type: 'invalid_request_error', retryable: true },
  chunk_missing: { status: 422, type: 'invalid_request_error', retryable: true },
  unauthorized: { status: 401, type: 'authentication_error', retryable: false },
  forbidden: { status: 403, type: 'permission_error', retryable: false },
  not_found: { status: 404, type: 'not_found_error', retryable: false },
  no_route: { status: 404, type: 'not_found_error', retryable: false },
  payload_too_large: { status: 413, type: 'invalid_request_error', retryable: false },
  unsupported_media_type: { status: 415, type: 'invalid_request_error', retryable: false },
  rate_limited: { status: 429, type: 'rate_limit_error', retryable: true },
  overloaded: { status: 429, type: 'rate_limit_error', retryable: true },
  cancelled: { status: 499, type: 'invalid_request_error', retryable: false },
  internal: { status: 500, type: 'server_error', retryable: true },
  upstream_error: { status: 502, type: 'server_error', retryable: true },
  no_responders: { status: 503, type: 'server_error', retryable: true },
  worker_lost: { status: 503, type: 'server_error', retryable: true },
  unavailable: { status: 503, type: 'server_error', retryable: true },
  deadline_exceeded: { status: 504, type: 'timeout_error', retryable: true },
};

/** Code -> the class and name a receiver rebuilds it as. */
const CLASSES: Record<ErrorCode, [new (message: string) => WireError, string]> = {
  invalid_message: [InvalidMessageError, 'InvalidMessageError'],
  unsupported_version: [UnsupportedVersionError, 'UnsupportedVersionError'],
  unknown_kind: [UnknownKindError, 'UnknownKindError'],
  integrity_failed: [IntegrityError, 'IntegrityError'],
  decrypt_failed: [DecryptionError, 'DecryptionError'],
  unknown_key: [UnknownKeyError, 'UnknownKeyError'],
  bad_signature: [SignatureError, 'SignatureError'],
  replayed: [ReplayError, 'ReplayError'],
  chunk_corrupt: [ChunkCorruptError, 'ChunkCorruptError'],
  chunk_missing: [ChunkMissingError, 'ChunkMissingError'],
  unauthorized: [UnauthorizedError, 'UnauthorizedError'],
  forbidden: [ForbiddenError, 'ForbiddenError'],
  not_found: [NotFoundError, 'NotFoundError'],
  no_route: [NoRouteError, 'NoRouteError'],
  payload_too_large: [PayloadTooLargeError, 'PayloadTooLargeError'],
  unsupported_media_type: [UnsupportedMediaTypeError, 'UnsupportedMediaTypeError'],
  rate_limited: [RateLimitedError, 'RateLimitedError'],
  overloaded: [OverloadedError, 'OverloadedError'],
  cancelled: [CancelledError, 'CancelledError'],
  internal: [InternalError, 'InternalError'],
  upstream_error: [UpstreamError, 'UpstreamError'],
  no_responders: [NoRespondersError, 'NoRespondersError'],
  worker_lost: [WorkerLostError, 'WorkerLostError'],
  unavailable: [UnavailableError, 'UnavailableError'],
  deadline_exceeded: [DeadlineExceededError, 'DeadlineExceededError'],
};

test('errors - the code -> status, OpenAI type, retryable table is pinned', () => {
  assert.deepEqual(ERROR_TABLE, PINNED);
});

test('errors - the codes are pinned, in table order', () => {
  assert.deepEqual(ERROR_CODES, Object.keys(PINNED));
  for (const code of ERROR_CODES) assert.ok(isErrorCode(code));
  for (const notCode of ['', 'Internal', 'timeout', 'toString', '__proto__', 42, undefined]) {
    assert.equal(isErrorCode(notCode), false, String(notCode));
  }
});

test('errors - every code is rebuilt from the wire as its typed class with its name', () => {
  for (const code of ERROR_CODES) {
    const [cls, name] = CLASSES[code];
    const err = errorFromWire({ code, message: `m-${code}`, retryable: !PINNED[code].retryable });
    assert.ok(err instanceof cls, code);
    assert.ok(err instanceof WireError && err instanceof Error, code);
    assert.equal(err.name, name);
    assert.equal(cls.name, name);
    assert.equal(err.code, code);
    assert.equal(err.message, `m-${code}`);
    assert.equal(err.status, PINNED[code].status);
    // The sender's retryable flag wins over the table's default.
    assert.equal(err.retryable, !PINNED[code].retryable);
    assert.equal(errorFromWire({ code, message: 'x' }).retryable, PINNED[code].retryable);
  }
});

test('errors - a typed error survives the wire form unchanged', () => {
  for (const code of ERROR_CODES) {
    const [cls] = CLASSES[code];
    const sent = new cls(`lost ${code}`);
    assert.equal(sent.code, code);
    const wire = sent.toWire();
    assert.deepEqual(Object.keys(wire), ['code', 'message', 'retryable']);
    const back = errorFromWire(JSON.parse(JSON.stringify(wire)));
    assert.ok(back instanceof cls);
    assert.deepEqual(back.toWire(), wire);
    assert.ok(createWireError(code, 'x') instanceof cls);
  }
  const withDetails = new OverloadedError('busy', { details: { retryAfterMs: 500 } });
  assert.deepEqual(errorFromWire(withDetails.toWire()).details, { retryAfterMs: 500 });
});

test('errors - an unknown code from a newer peer becomes InternalError keeping what it got', () => {
  const err = errorFromWire({ code: 'quota_exhausted', message: 'out of quota', retryable: false });
  assert.ok(err instanceof InternalError);
  assert.equal(err.name, 'InternalError');
  assert.equal(err.code, 'internal');
  assert.deepEqual(err.details, { received: { code: 'quota_exhausted', message: 'out of quota' } });
  for (const bad of [null, undefined, 'overloaded', 42, { code: 'overloaded' }]) {
    const e = errorFromWire(bad);
    assert.ok(e instanceof InternalError, JSON.stringify(bad));
    assert.equal(e.code, 'internal');
  }
});

test('errors - toWireError hides what it does not know', () => {
  const secret = new Error('password=hunter2 at /srv/app/db.js:12');
  const wrapped = toWireError(secret);
  assert.ok(wrapped instanceof InternalError);
  assert.equal(wrapped.message, 'internal error');
  assert.equal(wrapped.cause, secret, 'the cause stays in the process');
  const wire = JSON.stringify(wrapped.toWire());
  assert.equal(wire, '{"code":"internal","message":"internal error","retryable":true}');
  assert.ok(!wire.includes('hunter2'));
  for (const thrown of ['text', 42, null, undefined, { code: 'overloaded', message: 'x' }]) {
    assert.equal(toWireError(thrown).message, 'internal error');
  }
  const typed = new NoRouteError('no worker serves model x');
  assert.equal(toWireError(typed), typed, 'a WireError passes through as it is');
});

test('errors - local errors are never wire errors', () => {
  const locals = [
    new ConfigError('bad option'),
    new ClosedError('bus'),
    new NotConnectedError('no broker'),
  ];
  const expected = [
    ['ConfigError', 'config_invalid'],
    ['ClosedError', 'closed'],
    ['NotConnectedError', 'not_connected'],
  ];
  locals.forEach((err, i) => {
    assert.ok(err instanceof LocalError && err instanceof Error);
    assert.equal(err instanceof WireError, false);
    assert.equal(err.name, expected[i]![0]);
    assert.equal(err.code, expected[i]![1]);
    assert.equal(isErrorCode(err.code), false, 'a local code is not a wire code');
    assert.equal(toWireError(err).code, 'internal', 'sent as internal, its text hidden');
    assert.equal(toWireError(err).message, 'internal error');
  });
});

// ---------------------------------------------------------------------------------------------
// Ids.

const UUIDV7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

test('ids - createId gives lower-case UUIDv7 text: version 7, variant 10xx', () => {
  for (let i = 0; i < 1000; i++) {
    const id = createId();
    assert.match(id, UUIDV7);
    assert.ok(isId(id));
    const bytes = Buffer.from(id.replaceAll('-', ''), 'hex');
    assert.equal(bytes.length, 16);
    assert.equal(bytes[6]! >> 4, 7, 'version nibble');
    assert.equal(bytes[8]! >> 6, 0b10, 'variant bits');
  }
});

test('ids - 100k ids are unique and sort in creation order', () => {
  const ids: string[] = [];
  for (let i = 0; i < 100_000; i++) ids.push(createId());
  assert.equal(new Set(ids).size, ids.length);
  for (let i = 1; i < ids.length; i++) {
    if (!(ids[i - 1]! < ids[i]!)) assert.fail(`id ${i} (${ids[i]}) sorts before ${ids[i - 1]}`);
  }
});

test('ids - idTime returns the millisecond of creation', () => {
  const before = Date.now();
  const id = createId();
  const after = Date.now();
  const t = idTime(id);
  assert.ok(t >= before && t <= after, `${t} within [${before}, ${after}]`);
  assert.equal(idTime('019b76da-a800-7000-8000-000000000001'), 1_767_225_600_000);
  assert.equal(new Date(idTime(id)).getTime(), t);
});

test("ids - a new envelope's id and ts name the same millisecond", () => {
  // A clock that moves on every read, so two reads could never agree.
  const realNow = Date.now;
  let t = realNow();
  Date.now = () => ++t;
  let env;
  try {
    env = createEnvelope({ kind: 'event', subject: 'a.b', body: 0 });
  } finally {
    Date.now = realNow;
  }
  assert.equal(idTime(env.id), env.ts);
  // Either given: it is kept, and the other made now.
  const given = createEnvelope({ kind: 'event', subject: 'a.b', body: 0, ts: 5 });
  assert.equal(given.ts, 5);
  assert.ok(Math.abs(idTime(given.id) - Date.now()) < 5000);
});
