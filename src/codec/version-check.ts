// The `v` check every encoding shares (docs/protocol.md, "Versioning").
import {
  InvalidMessageError,
  PROTOCOL_VERSION,
  UnsupportedVersionError,
} from '../protocol/index.js';

export function checkVersion(v: unknown): void {
  if (v === PROTOCOL_VERSION) return;
  if (typeof v === 'number' && Number.isInteger(v) && v > 0) {
    throw new UnsupportedVersionError(
      `protocol version ${v} is not supported; this peer speaks ${PROTOCOL_VERSION}`,
      { details: { version: v, supported: [PROTOCOL_VERSION] } },
    );
  }
  throw new InvalidMessageError('frame has no valid protocol version field "v"');
}
