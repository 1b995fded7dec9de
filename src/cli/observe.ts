// Logs and traces for the long-running commands (up, gateway, worker): the shared flags, the
// JSON logger on stderr, span export when the OTEL_* environment asks for it, and log lines for
// the transport's connection status.
import {
  createLogger,
  maskCredentials,
  parseLogLevel,
  setupTracing,
  type Logger,
  type Tracer,
} from '../ops/index.js';
import type { Transport } from '../transport/transport.js';
import type { Options } from './args.js';

export const OBSERVE_OPTIONS: Options = {
  'log-level': { type: 'string' },
  'log-bodies': { type: 'boolean' },
};

export const OBSERVE_HELP = `  --log-level L     JSON logs on stderr at this level: fatal, error, warn, info (default),
                    debug, trace or silent
  --log-bodies      also log prompts and answers (redacted by default)
  Spans are exported over OTLP/HTTP when OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_TRACES_EXPORTER=otlp)
  is set; see docs/tracing.md.
`;

export interface Observability {
  logger: Logger;
  tracer: Tracer | undefined;
  logBodies: boolean;
  /** Options for createGateway and createWorker. */
  readonly options: { logger: Logger; tracer?: Tracer; logBodies: boolean };
  /** Flushes buffered spans; call before the process exits. */
  shutdown(): Promise<void>;
}

export function observe(
  flags: Record<string, string | boolean | undefined>,
  service: string,
): Observability {
  const level =
    flags['log-level'] === undefined ? 'info' : parseLogLevel(flags['log-level'], '--log-level');
  const logBodies = flags['log-bodies'] === true;
  const logger = createLogger({ level, logBodies, base: { service } });
  const tracing = setupTracing({
    serviceName: service,
    warn: (message) => logger.warn(message),
  });
  if (tracing.endpoint !== undefined) {
    logger.info({ endpoint: tracing.endpoint }, 'exporting spans over OTLP/HTTP');
  }
  return {
    logger,
    tracer: tracing.tracer,
    logBodies,
    options: {
      logger,
      logBodies,
      ...(tracing.tracer === undefined ? {} : { tracer: tracing.tracer }),
    },
    shutdown: () => tracing.shutdown(),
  };
}

/** Logs each connection status change of a transport until it closes. */
export function logTransportStatus(transport: Transport, logger: Logger): void {
  const log = logger.child({ transport: transport.name });
  void (async () => {
    for await (const s of transport.status()) {
      switch (s.type) {
        case 'connected':
        case 'connecting':
        case 'closed':
          log.info({ status: s.type }, `transport ${s.type}`);
          break;
        case 'reconnecting':
          log.warn({ status: s.type, attempt: s.attempt }, 'transport reconnecting');
          break;
        case 'disconnected':
          log.warn(
            { status: s.type, reason: maskCredentials(s.error?.message ?? '') },
            'transport disconnected',
          );
          break;
        case 'error':
          log.error(
            { status: s.type, reason: maskCredentials(s.error.message) },
            'transport error',
          );
          break;
      }
    }
  })().catch((err: unknown) =>
    log.error({ reason: maskCredentials(String(err)) }, 'transport status failed'),
  );
}
