// Several gateways on Redis (gateways-shared.ts).
import { gatewaysShared } from './gateways-shared.js';

await gatewaysShared('redis');
