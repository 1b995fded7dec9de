// 1,000 concurrent streams and a worker SIGKILL on Redis; see broker-fault.ts.
import { brokerFault } from './broker-fault.js';

await brokerFault('redis');
