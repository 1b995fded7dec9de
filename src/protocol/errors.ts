// Errors. Two families, never mixed: WireError carries a stable code from ERROR_TABLE across the
// wire and is rebuilt as its typed class on receipt; LocalError (bad configuration, closed bus)
// stays in the process and is never serialized. See docs/protocol.md, "Errors".

/** OpenAI error `type` values used by the gateway's error JSON. */
export type OpenAIErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'permission_error'
  | 'not_found_error'
  | 'rate_limit_error'
  | 'timeout_error'
  | 'server_error';

export interface ErrorSpec {
  readonly status: number;
  readonly type: OpenAIErrorType;
  readonly retryable: boolean;
}

/** The one table: code -> HTTP status, OpenAI error type, retryable. Frozen by a pin test. */
export const ERROR_TABLE = {
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
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERROR_TABLE;

export const ERROR_CODES = Object.keys(ERROR_TABLE) as ErrorCode[];

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_TABLE, value);
}

/** The body of an `error` message, as it crosses the wire. */
export interface WireErrorBody {
  code: ErrorCode;
  message: string;
  retryable: boolean;
  details?: Record<string, unknown>;
}

/** Base of every error that may cross the wire. */
export class WireError extends Error {
  override name = 'WireError';
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;
  /** Retryable unless the sender said otherwise; a sender may narrow it. */
  readonly retryable: boolean;

  constructor(
    code: ErrorCode,
    message: string,
    options: { cause?: unknown; details?: Record<string, unknown>; retryable?: boolean } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options.details;
    this.retryable = options.retryable ?? ERROR_TABLE[code].retryable;
  }

  get status(): number {
    return ERROR_TABLE[this.code].status;
  }

  /** The wire form: code, message, retryable and details; never the stack or the cause. */
  toWire(): WireErrorBody {
    const body: WireErrorBody = {
      code: this.code,
      message: this.message,
      retryable: this.retryable,
    };
    if (this.details !== undefined) body.details = this.details;
    return body;
  }
}

type WireErrorOptions = { cause?: unknown; details?: Record<string, unknown>; retryable?: boolean };

function defineWireError<C extends ErrorCode>(code: C, name: string) {
  const cls = class extends WireError {
    override name = name;
    declare readonly code: C;
    constructor(message: string, options: WireErrorOptions = {}) {
      super(code, message, options);
    }
  };
  Object.defineProperty(cls, 'name', { value: name });
  return cls;
}

export const InvalidMessageError = defineWireError('invalid_message', 'InvalidMessageError');
export const UnsupportedVersionError = defineWireError(
  'unsupported_version',
  'UnsupportedVersionError',
);
export const UnknownKindError = defineWireError('unknown_kind', 'UnknownKindError');
export const IntegrityError = defineWireError('integrity_failed', 'IntegrityError');
export const DecryptionError = defineWireError('decrypt_failed', 'DecryptionError');
export const UnknownKeyError = defineWireError('unknown_key', 'UnknownKeyError');
export const SignatureError = defineWireError('bad_signature', 'SignatureError');
export const ReplayError = defineWireError('replayed', 'ReplayError');
export const ChunkCorruptError = defineWireError('chunk_corrupt', 'ChunkCorruptError');
export const ChunkMissingError = defineWireError('chunk_missing', 'ChunkMissingError');
export const UnauthorizedError = defineWireError('unauthorized', 'UnauthorizedError');
export const ForbiddenError = defineWireError('forbidden', 'ForbiddenError');
export const NotFoundError = defineWireError('not_found', 'NotFoundError');
export const NoRouteError = defineWireError('no_route', 'NoRouteError');
export const PayloadTooLargeError = defineWireError('payload_too_large', 'PayloadTooLargeError');
export const UnsupportedMediaTypeError = defineWireError(
  'unsupported_media_type',
  'UnsupportedMediaTypeError',
);
export const RateLimitedError = defineWireError('rate_limited', 'RateLimitedError');
export const OverloadedError = defineWireError('overloaded', 'OverloadedError');
export const CancelledError = defineWireError('cancelled', 'CancelledError');
export const InternalError = defineWireError('internal', 'InternalError');
export const UpstreamError = defineWireError('upstream_error', 'UpstreamError');
export const NoRespondersError = defineWireError('no_responders', 'NoRespondersError');
export const WorkerLostError = defineWireError('worker_lost', 'WorkerLostError');
export const UnavailableError = defineWireError('unavailable', 'UnavailableError');
export const DeadlineExceededError = defineWireError('deadline_exceeded', 'DeadlineExceededError');

const CLASSES: {
  [C in ErrorCode]: new (message: string, options?: WireErrorOptions) => WireError;
} = {
  invalid_message: InvalidMessageError,
  unsupported_version: UnsupportedVersionError,
  unknown_kind: UnknownKindError,
  integrity_failed: IntegrityError,
  decrypt_failed: DecryptionError,
  unknown_key: UnknownKeyError,
  bad_signature: SignatureError,
  replayed: ReplayError,
  chunk_corrupt: ChunkCorruptError,
  chunk_missing: ChunkMissingError,
  unauthorized: UnauthorizedError,
  forbidden: ForbiddenError,
  not_found: NotFoundError,
  no_route: NoRouteError,
  payload_too_large: PayloadTooLargeError,
  unsupported_media_type: UnsupportedMediaTypeError,
  rate_limited: RateLimitedError,
  overloaded: OverloadedError,
  cancelled: CancelledError,
  internal: InternalError,
  upstream_error: UpstreamError,
  no_responders: NoRespondersError,
  worker_lost: WorkerLostError,
  unavailable: UnavailableError,
  deadline_exceeded: DeadlineExceededError,
};

/** Makes the typed error for a code. */
export function createWireError(code: ErrorCode, message: string, options?: WireErrorOptions) {
  return new CLASSES[code](message, options);
}

/**
 * Rebuilds a typed error from a received `error` body. A body that is not a valid error (an
 * unknown code from a newer peer, a missing message) becomes an InternalError that keeps what
 * was received in `details`.
 */
export function errorFromWire(body: unknown): WireError {
  if (typeof body === 'object' && body !== null) {
    const b = body as Partial<WireErrorBody>;
    if (isErrorCode(b.code) && typeof b.message === 'string') {
      const opts: WireErrorOptions = {};
      if (typeof b.retryable === 'boolean') opts.retryable = b.retryable;
      if (typeof b.details === 'object' && b.details !== null) opts.details = b.details;
      return createWireError(b.code, b.message, opts);
    }
    return new InternalError('peer sent an error this version does not know', {
      details: { received: { code: String(b.code), message: String(b.message) } },
    });
  }
  return new InternalError('peer sent a malformed error body');
}

/**
 * Wraps anything thrown into a WireError for sending. Unknown throws become `internal` with a
 * generic message, so stacks and internal text never reach a client.
 */
export function toWireError(err: unknown): WireError {
  if (err instanceof WireError) return err;
  return new InternalError('internal error', { cause: err });
}

/** Base of errors that stay in the process (configuration, lifecycle). Never serialized. */
export class LocalError extends Error {
  override name = 'LocalError';
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

export class ConfigError extends LocalError {
  override name = 'ConfigError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('config_invalid', message, options);
  }
}

/**
 * An optional package a feature needs is not installed (broker clients, OpenTelemetry export,
 * the SQLite addon): the message names the package to install and what it is for.
 */
export class MissingPackageError extends LocalError {
  override name = 'MissingPackageError';
  /** The npm package to install. */
  readonly packageName: string;
  constructor(packageName: string, use: string, options?: { cause?: unknown }) {
    super('missing_package', `install ${packageName} to use ${use}`, options);
    this.packageName = packageName;
  }
}

export class ClosedError extends LocalError {
  override name = 'ClosedError';
  constructor(what: string) {
    super('closed', `${what} is closed`);
  }
}

export class NotConnectedError extends LocalError {
  override name = 'NotConnectedError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('not_connected', message, options);
  }
}
