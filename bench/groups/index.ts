// Every bench group, in the order they run and appear in BENCHMARKS.md. A new group (gateway,
// nats, ...) is a module in this folder added to this list.
import type { BenchGroup } from '../group.js';
import { blobsGroup } from './blobs.js';
import { batchGroup } from './batch.js';
import { brokersQueueGroup } from './brokers-queue.js';
import { busGroup } from './bus.js';
import { codecGroup } from './codec.js';
import { curvesGroup } from './curves.js';
import { gatewayGroup } from './gateway.js';
import { gatewayApisGroup } from './gateway-apis.js';
import { gatewaysGroup } from './gateways.js';
import { instrumentationGroup } from './instrumentation.js';
import { natsGroup } from './nats.js';
import { proxyGroup } from './proxy.js';
import { routingGroup } from './routing.js';
import { scaleGroup } from './scale.js';
import { scatterGroup } from './scatter.js';
import { securityGroup } from './security.js';
import { sizingGroup } from './sizing.js';
import { sqliteQueueGroup } from './sqlite-queue.js';

export const GROUPS: readonly BenchGroup[] = [
  codecGroup,
  busGroup,
  sqliteQueueGroup,
  gatewayGroup,
  gatewayApisGroup,
  proxyGroup,
  instrumentationGroup,
  scaleGroup,
  batchGroup,
  routingGroup,
  natsGroup,
  gatewaysGroup,
  securityGroup,
  brokersQueueGroup,
  blobsGroup,
  scatterGroup,
  sizingGroup,
  curvesGroup,
];
