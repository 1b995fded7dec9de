// Several gateways on NATS (gateways-shared.ts).
import { gatewaysShared } from './gateways-shared.js';

await gatewaysShared('nats');
