// 1,000 concurrent streams and a worker SIGKILL on RabbitMQ; see broker-fault.ts.
import { brokerFault } from './broker-fault.js';

await brokerFault('amqp');
