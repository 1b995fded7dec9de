// Structured logs: one JSON object per line (pino) on stderr by default. Secrets (API keys,
// tokens, Authorization headers) are always redacted; message bodies (prompts, answers, request
// bodies) are redacted unless the operator asks for them.
import { Type } from '@sinclair/typebox';
import { pino, type DestinationStream, type Logger } from 'pino';
import { optionsCheck, type OptionsCheck } from '../protocol/index.js';

export type { Logger };

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const REDACTED = '[redacted]';

/** Fields that hold secrets, censored at the top level and one object down. */
const SECRET_FIELDS = ['apiKey', 'token', 'authorization', 'password', 'secret'];
/** Fields that hold what users said or were told. */
export const BODY_FIELDS = ['body', 'messages', 'prompt', 'input', 'text', 'answer'];

const HEADER_FIELDS = ['authorization', 'x-api-key', 'cookie'];

/**
 * What pino's own redaction covers: the fields at the top level of a line, and `headers` there.
 * Its wildcard paths (`*.token`) cost about 20 µs on every line, redacted or not, so the level
 * below is done by `censorNested`, which costs nothing on a line with no object in it.
 */
function topPaths(fields: readonly string[]): string[] {
  return [...fields, ...HEADER_FIELDS.map((h) => `headers[${JSON.stringify(h)}]`)];
}

const HEADER_SECRETS: ReadonlySet<string> = new Set(HEADER_FIELDS);

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A copy of `obj` with its members named in `names` censored, or `obj` when it has none. */
function censorMembers(
  obj: Record<string, unknown>,
  names: ReadonlySet<string>,
): Record<string, unknown> {
  let out: Record<string, unknown> | undefined;
  for (const key in obj) {
    if (names.has(key) && obj[key] !== undefined) (out ??= { ...obj })[key] = REDACTED;
  }
  return out ?? obj;
}

/**
 * The level below the top of a line: in each object member, the censored fields and its
 * `headers`' secrets, as the wildcard paths `*.token` and `*.headers.authorization` would. The
 * line's own objects are never changed: a member with something to hide is copied first.
 */
function censorNested(line: Record<string, unknown>, fields: ReadonlySet<string>) {
  let out: Record<string, unknown> | undefined;
  for (const key in line) {
    const member = line[key];
    if (!isRecord(member)) continue;
    let copy = censorMembers(member, fields);
    const headers = member.headers;
    if (isRecord(headers)) {
      const censored = censorMembers(headers, HEADER_SECRETS);
      if (censored !== headers) {
        if (copy === member) copy = { ...member };
        copy.headers = censored;
      }
    }
    if (copy !== member) (out ??= { ...line })[key] = copy;
  }
  return out ?? line;
}

const Level = Type.Union(LOG_LEVELS.map((level) => Type.Literal(level)));
/** One compiled check per place a level comes from (a flag, a variable, a config key). */
const levelChecks = new Map<string, OptionsCheck<typeof Level>>();

/** Checks a log level from a flag, an environment variable or a config file. */
export function parseLogLevel(value: unknown, source = '--log-level'): LogLevel {
  let check = levelChecks.get(source);
  if (check === undefined) {
    check = optionsCheck(source, Level);
    levelChecks.set(source, check);
  }
  return check(value);
}

export interface LoggerOptions {
  /** Default 'info'. */
  level?: LogLevel;
  /** Log message bodies (prompts, answers). Off by default: they are replaced by '[redacted]'. */
  logBodies?: boolean;
  /** Fields on every line, e.g. { service: 'llmwire-gateway' }. */
  base?: Record<string, unknown>;
  /** Where lines go. Default stderr (synchronous writes, so a crash loses no line). */
  destination?: DestinationStream;
}

const checkOptions = optionsCheck(
  'logger',
  Type.Object(
    {
      level: Type.Optional(Level),
      logBodies: Type.Optional(Type.Boolean()),
      base: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
      // A stream: pino checks it has `write`.
      destination: Type.Optional(Type.Unknown()),
    },
    { additionalProperties: false },
  ),
);

let isoSecond = NaN;
let isoPrefix = '';

/**
 * pino's `isoTime` member (`,"time":"2026-12-08T01:02:03.456Z"`) for `now` (ms epoch), with
 * everything down to the second formatted once per second: `toISOString` on every line was
 * about a microsecond of each line's cost.
 */
export function isoTimeMember(now: number): string {
  const ms = now % 1000;
  const second = now - ms;
  if (second !== isoSecond) {
    isoSecond = second;
    isoPrefix = `,"time":"${new Date(second).toISOString().slice(0, -4)}`;
  }
  return `${isoPrefix}${ms < 10 ? '00' : ms < 100 ? '0' : ''}${ms}Z"`;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  checkOptions(options);
  const level = options.level ?? 'info';
  const censored = [...SECRET_FIELDS, ...(options.logBodies === true ? [] : BODY_FIELDS)];
  const nested = new Set(censored);
  const logger = pino(
    {
      level,
      base: { pid: process.pid, ...options.base },
      redact: { paths: topPaths(censored), censor: REDACTED },
      timestamp: () => isoTimeMember(Date.now()),
      formatters: {
        level: (label) => ({ level: label }),
        log: (line) => censorNested(line, nested),
        bindings: (bindings) => censorNested(bindings, nested),
      },
    },
    options.destination ?? pino.destination({ dest: 2, sync: true }),
  );
  // A child's bindings skip the formatters: they are censored on the way in. Children are made
  // from their parent's prototype, so every descendant of this logger goes through here.
  // eslint-disable-next-line @typescript-eslint/unbound-method -- called below with its `this`
  const pinoChild = logger.child;
  logger.child = function (this: Logger, bindings: Record<string, unknown>, opts?: unknown) {
    return pinoChild.call(this, censorNested(bindings, nested), opts as never);
  } as Logger['child'];
  return logger;
}

/** A logger that writes nothing: the default of components given none. */
export const silentLogger: Logger = pino({ level: 'silent' });
