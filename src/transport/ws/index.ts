// The WebSocket bus endpoint: a hub that lets other processes join this process's bus, and the
// client transport they join with (docs/ws-bus.md).
export { createBusHub, type BusHub, type BusHubOptions, type PeerInfo } from './hub.js';
export {
  createWebSocketTransport,
  type WebSocketTransport,
  type WebSocketTransportOptions,
} from './client.js';
export { CloseCode, DEFAULT_PATH, WIRE_VERSION } from './wire.js';
