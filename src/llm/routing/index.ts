// Routing policies by name: the gateway's configuration names one per model and gets a fresh
// policy from createPolicy, with its options checked.
import { ConfigError } from '../../protocol/index.js';
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
  type TenantLimits,
} from './admission.js';
export { priorityClass, type PriorityClass } from './fair-queue.js';
export { estimateTokens } from './estimate.js';

/** Options of every policy; each policy accepts only its own (see OPTIONS_BY_POLICY). */
export type PolicyOptions = PowerOfTwoOptions & SessionAffinityOptions & PrefixAffinityOptions;

const OPTIONS_BY_POLICY: Readonly<Record<PolicyName, readonly string[]>> = {
  'round-robin': [],
  'least-outstanding': [],
  'power-of-two': ['random'],
  'session-affinity': ['epsilon', 'virtualNodes'],
  'prefix-affinity': ['maxImbalance', 'rememberMs', 'maxRemembered', 'now'],
};

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
  const allowed = OPTIONS_BY_POLICY[name];
  for (const [key, value] of Object.entries(options)) {
    if (value !== undefined && !allowed.includes(key)) {
      throw new ConfigError(
        `routing policy '${name}' has no option '${key}'` +
          (allowed.length > 0 ? `; it takes ${allowed.join(', ')}` : '; it takes none'),
      );
    }
  }
  switch (name) {
    case 'round-robin':
      return new RoundRobinPolicy();
    case 'least-outstanding':
      return new LeastOutstandingPolicy();
    case 'power-of-two':
      return new PowerOfTwoPolicy(options);
    case 'session-affinity':
      return new SessionAffinityPolicy(options);
    case 'prefix-affinity':
      return new PrefixAffinityPolicy(options);
  }
}
