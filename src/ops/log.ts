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

/** Fields that hold secrets, at the top level and one object down. */
const SECRET_FIELDS = ['apiKey', 'token', 'authorization', 'password', 'secret'];
/** Fields that hold what users said or were told. */
export const BODY_FIELDS = ['body', 'messages', 'prompt', 'input', 'text', 'answer'];

function paths(fields: readonly string[]): string[] {
  return fields.flatMap((f) => [f, `*.${f}`]);
}

const HEADER_PATHS = [
  'headers.authorization',
  'headers["x-api-key"]',
  'headers.cookie',
  '*.headers.authorization',
  '*.headers["x-api-key"]',
  '*.headers.cookie',
];

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

export function createLogger(options: LoggerOptions = {}): Logger {
  checkOptions(options);
  const level = options.level ?? 'info';
  const redact = [
    ...paths(SECRET_FIELDS),
    ...HEADER_PATHS,
    ...(options.logBodies === true ? [] : paths(BODY_FIELDS)),
  ];
  return pino(
    {
      level,
      base: { pid: process.pid, ...options.base },
      redact: { paths: redact, censor: REDACTED },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    options.destination ?? pino.destination({ dest: 2, sync: true }),
  );
}

/** A logger that writes nothing: the default of components given none. */
export const silentLogger: Logger = pino({ level: 'silent' });
