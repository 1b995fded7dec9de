// 1,000 concurrent streams and a worker SIGKILL on NATS; see broker-fault.ts.
import { brokerFault } from './broker-fault.js';

await brokerFault('nats');
