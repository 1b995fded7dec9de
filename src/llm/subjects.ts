// Subjects of the LLM path (docs/llm.md): heartbeats on one subject, and a private address per
// worker that the router sends to. A namespace puts all of them under `NAME.` so that several
// deployments (or test runs) share one broker without seeing each other's workers or requests.
import { ConfigError } from '../protocol/index.js';

/** Heartbeats: each worker on its own subject, so a permission can say "only your own id". */
export const HEARTBEAT_PREFIX = 'llm.heartbeat';

export function heartbeatSubject(workerId: string): string {
  return `${HEARTBEAT_PREFIX}.${workerId}`;
}

export function workerAddress(workerId: string): string {
  return `llm.worker.${workerId}`;
}
export function chatSubject(workerId: string): string {
  return `${workerAddress(workerId)}.chat`;
}
export function embedSubject(workerId: string): string {
  return `${workerAddress(workerId)}.embed`;
}

const WORKER_ID_RE = /^[A-Za-z0-9_-]{1,64}$/;
export function isValidWorkerId(id: string): boolean {
  return WORKER_ID_RE.test(id);
}

/** The LLM subjects of one namespace. */
export interface LlmSubjects {
  /** The namespace, or undefined for the default (unprefixed) subjects. */
  readonly namespace: string | undefined;
  /** The pattern a registry listens on: every worker's heartbeat subject. */
  readonly heartbeats: string;
  heartbeat(workerId: string): string;
  /** The prefix of every subject a worker is reached on (`llm.worker.<id>`). */
  address(workerId: string): string;
  chat(workerId: string): string;
  embed(workerId: string): string;
  /** The pattern workers listen on for gateways' heartbeats (gateway liveness). */
  readonly gatewayHeartbeats: string;
  /** Where gateway `id` announces that it is alive, and the inbox its requests answer to. */
  gatewayHeartbeat(id: string): string;
  /** Where gateways hear that a background response one of them runs is to be cancelled. */
  readonly responseCancel: string;
  /** Params rollouts (llm/params): push a record (operators), list them, hear new ones. */
  readonly paramsPush: string;
  readonly paramsList: string;
  readonly paramsRollouts: string;
}

/** Subjects of params rollouts (before any namespace). */
export const PARAMS_PUSH_SUBJECT = 'llm.params.push';
export const PARAMS_LIST_SUBJECT = 'llm.params.list';
export const PARAMS_ROLLOUTS_SUBJECT = 'llm.params.rollouts';

/** Gateways' heartbeats, each on `<prefix>.<gateway id>` (before any namespace). */
export const GATEWAY_HEARTBEAT_PREFIX = 'llm.gateway.heartbeat';

/** The subject of background-response cancels between gateways (before any namespace). */
export const RESPONSE_CANCEL_SUBJECT = 'llm.gateway.responses.cancel';

/**
 * The limit store (Transport.limits) where the gateways of a namespace keep tenant rate limits;
 * one token of letters, digits and '-', as NATS bucket and Redis key names take.
 */
export function limitStoreName(namespace?: string): string {
  return namespace === undefined ? 'tenants' : `${namespace}-tenants`;
}

// One subject token on every transport: NATS tokens, AMQP binding-key words and Redis channel
// names all take these characters.
const NAMESPACE_RE = /^[A-Za-z0-9_-]{1,64}$/;

/** Throws ConfigError (code config_invalid) unless `name` is a usable namespace. */
export function validateNamespace(name: string): string {
  if (!NAMESPACE_RE.test(name)) {
    throw new ConfigError(
      `namespace '${name}' must be 1-64 letters, digits, '_' or '-' (one subject token, no dots or spaces)`,
    );
  }
  return name;
}

/** Subjects for `namespace` (validated); the default subjects when it is undefined. */
export function llmSubjects(namespace?: string): LlmSubjects {
  if (namespace === undefined) {
    return {
      namespace,
      heartbeats: `${HEARTBEAT_PREFIX}.*`,
      heartbeat: heartbeatSubject,
      address: workerAddress,
      chat: chatSubject,
      embed: embedSubject,
      gatewayHeartbeats: `${GATEWAY_HEARTBEAT_PREFIX}.*`,
      gatewayHeartbeat: (id) => `${GATEWAY_HEARTBEAT_PREFIX}.${id}`,
      responseCancel: RESPONSE_CANCEL_SUBJECT,
      paramsPush: PARAMS_PUSH_SUBJECT,
      paramsList: PARAMS_LIST_SUBJECT,
      paramsRollouts: PARAMS_ROLLOUTS_SUBJECT,
    };
  }
  const prefix = `${validateNamespace(namespace)}.`;
  return {
    namespace,
    heartbeats: `${prefix}${HEARTBEAT_PREFIX}.*`,
    heartbeat: (id) => prefix + heartbeatSubject(id),
    address: (id) => prefix + workerAddress(id),
    chat: (id) => prefix + chatSubject(id),
    embed: (id) => prefix + embedSubject(id),
    gatewayHeartbeats: `${prefix}${GATEWAY_HEARTBEAT_PREFIX}.*`,
    gatewayHeartbeat: (id) => `${prefix}${GATEWAY_HEARTBEAT_PREFIX}.${id}`,
    responseCancel: prefix + RESPONSE_CANCEL_SUBJECT,
    paramsPush: prefix + PARAMS_PUSH_SUBJECT,
    paramsList: prefix + PARAMS_LIST_SUBJECT,
    paramsRollouts: prefix + PARAMS_ROLLOUTS_SUBJECT,
  };
}
