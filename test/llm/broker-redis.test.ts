// The LLM path (gateway and worker processes, official openai client) on Redis; see broker-suite.ts.
import { brokerSuite } from './broker-suite.js';

await brokerSuite('redis');
