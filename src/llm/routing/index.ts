// Routing policies by name: the gateway's configuration names one per model and gets a fresh
// policy from createPolicy, with its options checked.
import { Type } from '@sinclair/typebox';
import { ConfigError, optionsCheck } from '../../protocol/index.js';
import { LeastOutstandingPolicy } from './least-outstanding.js';
import { POLICY_NAMES, type PolicyName, type RoutingPolicy } from './policy.js';
import { PowerOfTwoPolicy, type PowerOfTwoOptions } from './power-of-two.js';
import { PrefixAffinityPolicy, type PrefixAffinityOptions } from './prefix-affinity.js';
import { RoundRobinPolicy } from './round-robin.js';
import { SessionAffinityPolicy, type SessionAffinityOptions } from './session-affinity.js';

export type { PolicyName, RouteContext, RoutingPolicy, WorkerView } from './policy.js';
export { POLICY_NAMES } from './policy.js';
export { LeastOutstandingPolicy } from './least-outstanding.js';
export { PowerOfTwoPolicy, type PowerOfTwoOptions } from './power-of-two.js';
export { PrefixAffinityPolicy, type PrefixAffinityOptions } from './prefix-affinity.js';
export { RoundRobinPolicy } from './round-robin.js';
export { SessionAffinityPolicy, type SessionAffinityOptions } from './session-affinity.js';
export {
  AdmissionController,
  type AdmissionClock,
  type AdmissionOptions,
  type AdmissionTicket,
  type Lease,
  type ModelSnapshot,
  type ModelQueueLimits,
  type SlotSharing,
  type TenantLimits,
} from './admission.js';
export {
  allocateSlots,
  PeerDemand,
  type GatewayWant,
  type ModelDemand,
  type TenantWant,
} from './shared-slots.js';
export { priorityClass, type PriorityClass } from './fair-queue.js';
export { estimateTokens } from './estimate.js';

/** Options of every policy; each policy accepts only its own. */
export type PolicyOptions = PowerOfTwoOptions & SessionAffinityOptions & PrefixAffinityOptions;

/** The policies that take no options. */
const checkNoOptions = new Map(
  (['round-robin', 'least-outstanding'] as const).map((name) => [
    name,
    optionsCheck(`routing policy '${name}'`, Type.Object({}, { additionalProperties: false })),
  ]),
);

function isPolicyName(name: string): name is PolicyName {
  return (POLICY_NAMES as readonly string[]).includes(name);
}

/**
 * A new policy (policies keep state: a turn, a ring, recent placements; use one per model).
 * Throws ConfigError for an unknown name, an option the policy does not take, or a bad value.
 */
export function createPolicy(name: string, options: PolicyOptions = {}): RoutingPolicy {
  if (!isPolicyName(name)) {
    throw new ConfigError(
      `unknown routing policy '${name}'; expected one of ${POLICY_NAMES.join(', ')}`,
    );
  }
  // Options a config file leaves unset arrive as undefined; only those set are checked.
  const set = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
  switch (name) {
    case 'round-robin':
      checkNoOptions.get(name)!(set);
      return new RoundRobinPolicy();
    case 'least-outstanding':
      checkNoOptions.get(name)!(set);
      return new LeastOutstandingPolicy();
    case 'power-of-two':
      return new PowerOfTwoPolicy(set);
    case 'session-affinity':
      return new SessionAffinityPolicy(set);
    case 'prefix-affinity':
      return new PrefixAffinityPolicy(set);
  }
}
